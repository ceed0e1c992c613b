package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/conexor/conexor/connect"
	"github.com/conexor/conexor/provider"
)

func newConnectCmd(g *globals) *cobra.Command {
	var clientID, clientSecret, scopes, clientMetadataURL string
	cmd := &cobra.Command{
		Use:   "connect URL",
		Short: "Run a local stdio MCP server that relays to a Conexor MCP endpoint (for Claude Desktop)",
		Long: `connect is a stdio MCP server for clients that only start local commands, such as
Claude Desktop's claude_desktop_config.json. It relays every MCP message to the
Streamable HTTP endpoint URL and handles OAuth itself:

  with --client-secret   tokens come from the client credentials grant
  without a secret       the browser flow runs (PKCE, a redirect to 127.0.0.1), for the
                         public client --client-id, for the client ID metadata document
                         --client-metadata-url when the server accepts those, or for a
                         client it registers itself

Scopes: --scopes, else the scope the server's 401 names, else the server's scopes_supported
(a --client-id without a secret asks for none: the server grants what that client may have).

Tokens are renewed before they expire. The browser flow's client and refresh token are
kept for the next start in the user's config directory (conexor/connect, one 0600 file
per URL; CONEXOR_CONNECT_STATE_DIR moves it); client secrets never are. Standard output carries only the protocol; logs
go to standard error. Flags also read CONEXOR_CLIENT_ID, CONEXOR_CLIENT_SECRET and
CONEXOR_SCOPES and CONEXOR_CLIENT_METADATA_URL.`,
		Example: `  CONEXOR_CLIENT_ID=client_... CONEXOR_CLIENT_SECRET=secret_... conexor connect https://app.example/mcp/acme/sales-api`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// connect is a client: of the server's settings it reads only the log level, so
			// a server's conexor.yaml or CONEXOR_* variables in the same shell cannot stop it.
			level, err := connectLogLevel(cmd)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(g.errOut, &slog.HandlerOptions{Level: level}))
			return connect.Run(cmd.Context(), connect.Options{
				URL:               args[0],
				ClientID:          clientID,
				ClientSecret:      clientSecret,
				Scopes:            provider.ParseScopeParam(scopes),
				ClientMetadataURL: clientMetadataURL,
				In:                cmd.InOrStdin(),
				Out:               cmd.OutOrStdout(),
				Log:               log,
				Stderr:            g.errOut,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&clientID, "client-id", "", "OAuth client ID (env CONEXOR_CLIENT_ID)")
	f.StringVar(&clientSecret, "client-secret", "", "OAuth client secret: client credentials grant (env CONEXOR_CLIENT_SECRET; prefer the environment, ps shows flags)")
	f.StringVar(&clientMetadataURL, "client-metadata-url", "", "https URL of this client's client ID metadata document, used when the server supports those (env CONEXOR_CLIENT_METADATA_URL)")
	f.StringVar(&scopes, "scopes", "", "space- or comma-separated scopes (env CONEXOR_SCOPES; default: the client's, else the 401's scope, else what the server advertises)")
	return cmd
}

// connectLogLevel is --log-level, else CONEXOR_LOG_LEVEL, else info.
func connectLogLevel(cmd *cobra.Command) (slog.Level, error) {
	level, src := "info", ""
	if f := cmd.Flags().Lookup("log-level"); f != nil && f.Changed {
		level, src = f.Value.String(), "--log-level"
	} else if v, ok := os.LookupEnv("CONEXOR_LOG_LEVEL"); ok && v != "" {
		level, src = v, "CONEXOR_LOG_LEVEL"
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return l, fmt.Errorf("%s=%q: want debug, info, warn or error", src, level)
	}
	return l, nil
}
