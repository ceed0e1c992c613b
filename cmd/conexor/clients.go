package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// newClientsCmd is `conexor clients create|update|list|revoke|rotate-secret`; secrets are
// printed once.
func newClientsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Manage OAuth clients"}
	var (
		server, name, scopes string
		grantTypes           []string
		redirects            []string
		public, asJSON       bool
	)
	create := &cobra.Command{
		Use:   "create --server ORG/SERVER --name NAME --scopes \"SCOPE ...\"",
		Short: "Create an OAuth client for an MCP server; the secret is shown once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := urls.SplitServerPath(server); err != nil { // before touching the database
				return fmt.Errorf("--server: %w", err)
			}
			if strings.TrimSpace(name) == "" {
				return errors.New("--name must not be empty: it is shown to users on the consent page")
			}
			if len(provider.ParseScopeParam(scopes)) == 0 {
				return errors.New(`--scopes must name at least one scope, e.g. --scopes "mcp:tools:read mcp:tools:execute"`)
			}
			e, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			srv, err := e.server(ctx, server)
			if err != nil {
				return err
			}
			var grants []string
			for _, gt := range grantTypes {
				grants = append(grants, provider.ParseScopeParam(gt)...)
			}
			c, secret, err := e.p.CreateClient(ctx, provider.ClientSpec{
				ServerID: srv.ID, Name: name, Scopes: provider.ParseScopeParam(scopes),
				GrantTypes: grants, RedirectURIs: redirects, Public: public,
			})
			if err != nil {
				return g.withScopeHint(err)
			}
			out := map[string]any{
				"client_id":   c.ID,
				"name":        c.Name,
				"server":      srv.Path(),
				"resource":    urls.Resource(e.cfg.Issuer, srv.OrgSlug, srv.Slug),
				"scope":       c.Scopes,
				"grant_types": c.GetGrantTypes(),
				"public":      c.Public,
				"token_url":   urls.Endpoint(e.cfg.Issuer, urls.Token),
			}
			if uris := c.RedirectURIs(); len(uris) > 0 {
				out["redirect_uris"] = uris
			}
			if secret != "" {
				out["client_secret"] = secret
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			fmt.Fprintf(w, "client_id:     %s\n", c.ID)
			if secret != "" {
				fmt.Fprintf(w, "client_secret: %s\n(the secret is shown only now; store it securely)\n", secret)
			}
			fmt.Fprintf(w, "server:        %s\nscopes:        %s\ngrant types:   %s\n", srv.Path(), c.Scopes, c.GrantTypes)
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&server, "server", "", "ORG/SERVER the client belongs to (required)")
	f.StringVar(&name, "name", "", "display name shown on the consent page (required)")
	f.StringVar(&scopes, "scopes", "", "space- or comma-separated scopes the client may request (required)")
	f.StringSliceVar(&grantTypes, "grant-types", nil, "client_credentials,authorization_code,refresh_token (default: authorization_code,refresh_token with --public or a --redirect-uri, else client_credentials)")
	f.StringArrayVar(&redirects, "redirect-uri", nil, "redirect URI (repeatable); needed for authorization_code")
	f.BoolVar(&public, "public", false, "a public client (native or browser app): no secret, PKCE only")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	_ = create.MarkFlagRequired("server")
	_ = create.MarkFlagRequired("name")
	_ = create.MarkFlagRequired("scopes")

	var listServer string
	var listJSON bool
	list := &cobra.Command{
		Use:   "list --server ORG/SERVER",
		Short: "List a server's clients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := urls.SplitServerPath(listServer); err != nil {
				return fmt.Errorf("--server: %w", err)
			}
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			srv, err := e.server(cmd.Context(), listServer)
			if err != nil {
				return err
			}
			clients, err := e.store.ListClients(cmd.Context(), srv.ID)
			if err != nil {
				return err
			}
			if listJSON {
				rows := []map[string]any{}
				for _, c := range clients {
					rows = append(rows, map[string]any{"client_id": c.ID, "name": c.Name, "scope": c.Scopes,
						"grant_types": c.GetGrantTypes(), "public": c.Public, "revoked": c.Revoked(), "created_at": c.CreatedAt})
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tSCOPES\tSTATUS")
			for _, c := range clients {
				typ, status := "confidential", "active"
				if c.Public {
					typ = "public"
				}
				if c.Revoked() {
					status = "revoked"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, typ, c.Scopes, status)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&listServer, "server", "", "ORG/SERVER (required)")
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	_ = list.MarkFlagRequired("server")

	revoke := &cobra.Command{
		Use:   "revoke CLIENT_ID",
		Short: "Revoke a client and every token issued to it",
		Long: `Revoke a client and every token issued to it. Revoking a client that is already
revoked changes nothing, says since when, and exits 0: the client is revoked either way.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer e.Close()
			err = e.p.RevokeClient(cmd.Context(), args[0])
			var already *provider.RevokedError
			switch {
			case errors.As(err, &already):
				fmt.Fprintf(cmd.OutOrStdout(), "%s was already revoked on %s\n", args[0], already.At.UTC().Format("2006-01-02 15:04 MST"))
				return nil
			case errors.Is(err, storage.ErrNotFound):
				return fmt.Errorf("no client %s", args[0])
			case err != nil:
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s and its tokens\n", args[0])
			return nil
		},
	}
	var rotateJSON bool
	rotate := &cobra.Command{
		Use:   "rotate-secret CLIENT_ID",
		Short: "Give a confidential client a new secret (the old one stops working)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer e.Close()
			secret, err := e.p.RotateSecret(cmd.Context(), args[0])
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no active client %s", args[0])
			}
			if err != nil {
				return err
			}
			if rotateJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{"client_id": args[0], "client_secret": secret})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "client_id:     %s\nclient_secret: %s\n(the secret is shown only now)\n", args[0], secret)
			return nil
		},
	}
	rotate.Flags().BoolVar(&rotateJSON, "json", false, "print JSON")
	cmd.AddCommand(create, newClientsUpdateCmd(g), list, revoke, rotate)
	return cmd
}

// newClientsUpdateCmd is `conexor clients update`: the flags given replace the client's
// name, scopes or redirect URIs; provider.UpdateClient checks the result as create does.
func newClientsUpdateCmd(g *globals) *cobra.Command {
	var name, scopes string
	var redirects []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID [--name NAME] [--scopes \"SCOPE ...\"] [--redirect-uri URI]...",
		Short: "Change a client's name, scopes or redirect URIs (tokens already issued keep their scopes)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u provider.ClientUpdate
			f := cmd.Flags()
			if f.Changed("name") {
				if strings.TrimSpace(name) == "" {
					return errors.New("--name must not be empty: it is shown to users on the consent page")
				}
				u.Name = &name
			}
			if f.Changed("scopes") {
				list := provider.ParseScopeParam(scopes)
				if len(list) == 0 {
					return errors.New(`--scopes must name at least one scope, e.g. --scopes "mcp:tools:read mcp:tools:execute"`)
				}
				u.Scopes = &list
			}
			if f.Changed("redirect-uri") {
				u.RedirectURIs = &redirects
			}
			if u == (provider.ClientUpdate{}) {
				return errors.New("nothing to change: pass --name, --scopes or --redirect-uri")
			}
			e, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer e.Close()
			c, err := e.p.UpdateClient(cmd.Context(), args[0], u)
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no client %s", args[0])
			}
			if err != nil {
				return g.withScopeHint(err)
			}
			w := cmd.OutOrStdout()
			if asJSON {
				out := map[string]any{"client_id": c.ID, "name": c.Name, "scope": c.Scopes, "grant_types": c.GetGrantTypes(),
					"public": c.Public, "redirect_uris": c.RedirectURIs()}
				return json.NewEncoder(w).Encode(out)
			}
			fmt.Fprintf(w, "updated %s\nname:          %s\nscopes:        %s\ngrant types:   %s\n", c.ID, c.Name, c.Scopes, c.GrantTypes)
			if uris := c.RedirectURIs(); len(uris) > 0 {
				fmt.Fprintf(w, "redirect URIs: %s\n", strings.Join(uris, " "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "new display name shown on the consent page")
	f.StringVar(&scopes, "scopes", "", "the scopes the client may request from now on (space- or comma-separated; replaces the list)")
	f.StringArrayVar(&redirects, "redirect-uri", nil, "redirect URI (repeatable; replaces the list)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	commandLineOnly(f, "name", "scopes", "redirect-uri")
	return cmd
}

// withScopeHint adds to an unknown-scope error where scopes come from: scopes beyond the
// built-in ones are defined in the config file, which this command must read too.
func (g *globals) withScopeHint(err error) error {
	var se *provider.SpecError
	if !errors.As(err, &se) || len(se.UnknownScopes) == 0 {
		return err
	}
	read := "no config file was read"
	if g.loaded.File != "" {
		read = "read " + g.loaded.File + ", which does not define them"
	}
	return fmt.Errorf("%w\n(scopes beyond the built-in ones are defined in the config file the server uses; %s: "+
		"pass it with --config or CONEXOR_CONFIG, or keep it beside the database as %s)", err, read, config.DefaultFileName)
}
