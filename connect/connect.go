// Package connect is `conexor connect URL`: a local stdio MCP server for clients that only
// start local processes (Claude Desktop's claude_desktop_config.json). It finds the
// authorization server of a remote Conexor MCP endpoint, gets tokens (client credentials
// with a secret, else the browser flow with PKCE on a loopback redirect), renews them
// before they expire, and relays every JSON-RPC message unchanged in both directions
// between standard input/output and the remote Streamable HTTP endpoint.
//
// Standard output carries only the protocol; logs go to standard error.
package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Options configure Run.
type Options struct {
	// URL is the remote MCP endpoint, e.g. https://app.example/mcp/acme/sales-api.
	URL string
	// ClientID and ClientSecret are an OAuth client's credentials. With a secret, tokens
	// come from the client credentials grant. Without one the browser flow runs, for the
	// public client ClientID (registered with the redirect URI http://127.0.0.1/callback;
	// any port matches) or, when ClientID is empty too, for a client registered
	// dynamically at the first start and reused afterwards (StateDir).
	ClientID, ClientSecret string
	// Scopes to ask for; empty means the client's own (client credentials), else the 401
	// challenge's scope, else the ones the server advertises (browser flow; a
	// pre-registered client then asks for none and gets what it may have).
	Scopes []string
	// ClientMetadataURL is an https URL serving this client's client ID metadata document;
	// when the authorization server supports those, it is the client ID and nothing is
	// registered.
	ClientMetadataURL string
	// AuthorizationCode makes a client with a secret use the browser flow (authorization
	// code) instead of the client credentials grant.
	AuthorizationCode bool

	// In and Out are the MCP client's end of the stdio transport; nil means os.Stdin and
	// os.Stdout.
	In  io.Reader
	Out io.Writer
	// Log receives diagnostics; nil discards them. It must not write to Out.
	Log *slog.Logger
	// Stderr shows the person the authorization URL of the browser flow; nil means
	// os.Stderr.
	Stderr io.Writer
	// HTTPClient is used for every request; nil means a client with sensible timeouts.
	HTTPClient *http.Client
	// OpenBrowser shows the authorization URL to the person; nil opens the system browser.
	// The URL is always logged as well.
	OpenBrowser func(ctx context.Context, url string) error
	// AuthTimeout bounds the wait for the browser flow; zero means five minutes.
	AuthTimeout time.Duration
	// StateDir keeps, per endpoint, the client the browser flow registered and its refresh
	// token for the next start (never a client secret). Empty means $CONEXOR_CONNECT_STATE_DIR,
	// else os.UserConfigDir()/conexor/connect.
	StateDir string
}

// Run connects and relays until the MCP client closes standard input (nil) or the remote
// connection fails.
func Run(ctx context.Context, opts Options) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.In == nil {
		opts.In = os.Stdin
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = 5 * time.Minute
	}
	if opts.OpenBrowser == nil {
		opts.OpenBrowser = openSystemBrowser
	}
	endpoint, err := canonicalEndpoint(opts.URL)
	if err != nil {
		return err
	}
	if opts.ClientMetadataURL != "" {
		if u, err := url.Parse(opts.ClientMetadataURL); err != nil || u.Scheme != "https" || strings.Trim(u.Path, "/") == "" {
			return fmt.Errorf("client metadata URL %q: a client ID metadata document URL is https with a path, e.g. https://example.com/conexor-connect.json", opts.ClientMetadataURL)
		}
	}
	api := opts.HTTPClient
	if api == nil {
		api = &http.Client{Timeout: 30 * time.Second}
	}
	fmt.Fprintf(opts.Stderr, "conexor connect: connecting to %s\n", endpoint)
	if opts.ClientSecret != "" && opts.ClientID == "" {
		return errors.New("a client secret needs its client ID: set CONEXOR_CLIENT_ID (or --client-id) too")
	}
	var authz authorizer
	disc, err := discover(ctx, api, endpoint)
	switch {
	case errors.Is(err, errNoAuthorization):
		opts.Log.Info("the MCP server asks for no authorization; relaying without a token", "endpoint", endpoint)
	case err != nil:
		return err
	case opts.ClientSecret != "" && !opts.AuthorizationCode:
		opts.Log.Info("authorization server found", "resource", disc.resource, "issuer", disc.asm.Issuer)
		authz = newClientCredentials(disc, api, opts)
	default:
		opts.Log.Info("authorization server found", "resource", disc.resource, "issuer", disc.asm.Issuer)
		b, err := newBrowserFlow(ctx, disc, api, opts)
		if err != nil {
			return err
		}
		defer b.Close()
		authz = b
	}
	var handler auth.OAuthHandler
	if authz != nil {
		if err := authz.start(ctx); err != nil {
			return err
		}
		handler = authz
	}

	version := &protocolVersion{}
	mcpClient := &http.Client{Transport: &versionTransport{base: transportOf(opts.HTTPClient), version: version}}
	remote, err := (&mcp.StreamableClientTransport{
		Endpoint:     endpoint,
		HTTPClient:   mcpClient,
		OAuthHandler: handler,
	}).Connect(ctx)
	if err != nil {
		return fmt.Errorf("could not open an MCP session with %s (%w): check the URL and your network, then restart the MCP client", endpoint, err)
	}
	fmt.Fprintf(opts.Stderr, "conexor connect: connected to %s\n", endpoint)
	local, err := (&mcp.IOTransport{Reader: io.NopCloser(opts.In), Writer: nopWriteCloser{opts.Out}}).Connect(ctx)
	if err != nil {
		remote.Close()
		return err
	}
	opts.Log.Info("relaying MCP messages", "endpoint", endpoint)
	stream := &standaloneStream{endpoint: endpoint, client: mcpClient, oauth: handler, remote: remote, local: local, log: opts.Log}
	return relay(ctx, local, remote, version, stream, opts.Log)
}

// canonicalEndpoint checks the endpoint URL and drops a trailing slash, so it matches the
// resource the server's metadata names.
func canonicalEndpoint(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an MCP endpoint URL such as https://app.example/mcp/acme/sales-api", raw)
	}
	if u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: the MCP endpoint URL must not contain a fragment or user info", raw)
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

func transportOf(c *http.Client) http.RoundTripper {
	if c != nil && c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
