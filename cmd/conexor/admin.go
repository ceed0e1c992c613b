package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// env is what an admin command works with.
type env struct {
	cfg   config.Config
	log   *slog.Logger
	store *storage.Store
	p     *provider.Provider
}

func (g *globals) open(cmd *cobra.Command, withProvider bool) (*env, error) {
	cfg, err := g.loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	log := g.logger(cfg)
	// An admin command pointed at a SQLite file that does not exist would otherwise quietly
	// create an empty database (and a new secret) there and report on that one.
	var created string
	if path := cfg.SQLitePath(); path != "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			created = path
		}
	}
	store, err := app.Open(cmd.Context(), &cfg, log)
	if err != nil {
		return nil, err
	}
	if created != "" {
		log.Warn("created a new, empty database: if you meant an existing one, pass its --database-url (or set CONEXOR_DATABASE_URL) and run this command from the server's working directory",
			"database", cfg.DatabaseURL)
	}
	e := &env{cfg: cfg, log: log, store: store}
	if withProvider {
		e.p, err = app.NewProvider(cmd.Context(), cfg, store, log, prometheus.NewRegistry(), nil)
		if err != nil {
			store.Close()
			return nil, err
		}
	}
	return e, nil
}

func (e *env) Close() { e.store.Close() }

func splitPath(s string) (org, server string, err error) {
	parts := strings.Split(s, "/")
	if len(parts) != 2 || !validSlug(parts[0]) || !validSlug(parts[1]) {
		return "", "", fmt.Errorf("%q must be ORG/SERVER, each 1-64 of a-z, 0-9 and '-', starting with a letter or digit", s)
	}
	return parts[0], parts[1], nil
}

func validSlug(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func newServersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "servers", Short: "Manage MCP servers"}
	var name, upstream, description string
	create := &cobra.Command{
		Use:   "create ORG/SERVER --name NAME [--upstream URL]",
		Short: "Create an MCP server (and its org if missing)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			orgSlug, slug, err := splitPath(args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(name) == "" {
				return errors.New("--name is required")
			}
			if upstream != "" {
				if u, err := url.Parse(upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return fmt.Errorf("--upstream %q must be an http(s) URL of a Streamable HTTP MCP endpoint", upstream)
				}
			}
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			srv := &storage.Server{Slug: slug, Name: name, Description: description, Upstream: upstream, Enabled: true}
			err = e.store.InTx(ctx, func(ctx context.Context) error {
				org, err := e.store.EnsureOrg(ctx, orgSlug, orgSlug)
				if err != nil {
					return err
				}
				srv.OrgID, srv.OrgSlug = org.ID, org.Slug
				return e.store.CreateServer(ctx, srv)
			})
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("server %s already exists", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s: %s\n", srv.Path(), storage.ResourceURL(e.cfg.Issuer, orgSlug, slug))
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "display name (required)")
	create.Flags().StringVar(&upstream, "upstream", "", "proxy MCP traffic to this Streamable HTTP endpoint")
	create.Flags().StringVar(&description, "description", "", "description shown to users")

	list := &cobra.Command{
		Use:   "list",
		Short: "List MCP servers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			servers, err := e.store.ListServers(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVER\tNAME\tENABLED\tUPSTREAM\tURL")
			for _, s := range servers {
				up := s.Upstream
				if up == "" {
					up = "(built-in demo)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\n", s.Path(), s.Name, s.Enabled, up, storage.ResourceURL(e.cfg.Issuer, s.OrgSlug, s.Slug))
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}

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
			orgSlug, slug, err := splitPath(server)
			if err != nil {
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
			srv, err := e.store.ServerByPath(ctx, orgSlug, slug)
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no server %s: create it with `conexor servers create %s --name NAME`", server, server)
			}
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
				return err
			}
			out := map[string]any{
				"client_id":   c.ID,
				"name":        c.Name,
				"server":      srv.Path(),
				"resource":    storage.ResourceURL(e.cfg.Issuer, srv.OrgSlug, srv.Slug),
				"scope":       c.Scopes,
				"grant_types": c.GetGrantTypes(),
				"public":      c.Public,
				"token_url":   e.cfg.Issuer + "/api/oauth/token",
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
	f.StringSliceVar(&grantTypes, "grant-types", nil, "client_credentials,authorization_code,refresh_token (default: client_credentials, or authorization_code,refresh_token with --public)")
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
			orgSlug, slug, err := splitPath(listServer)
			if err != nil {
				return fmt.Errorf("--server: %w", err)
			}
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			srv, err := e.store.ServerByPath(cmd.Context(), orgSlug, slug)
			if err != nil {
				return fmt.Errorf("server %s: %w", listServer, err)
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
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			if err := e.store.RevokeClient(cmd.Context(), args[0]); errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no client %s", args[0])
			} else if err != nil {
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
	cmd.AddCommand(create, list, revoke, rotate)
	return cmd
}

func newUsersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users"}
	var email, org, role string
	var fromStdin bool
	create := &cobra.Command{
		Use:   "create --email EMAIL --org ORG [--role admin|member] --password-stdin",
		Short: "Create a user (or add an existing one to an org)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !fromStdin {
				return errors.New("pass the password on standard input with --password-stdin (never as an argument)")
			}
			if role != storage.RoleAdmin && role != storage.RoleMember {
				return fmt.Errorf("--role must be admin or member, not %q", role)
			}
			if !strings.Contains(email, "@") || len(email) > 320 {
				return fmt.Errorf("--email %q is not an email address", email)
			}
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			hash, err := password.Hash(pw)
			if err != nil {
				return err
			}
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			return e.store.InTx(ctx, func(ctx context.Context) error {
				o, err := e.store.OrgBySlug(ctx, org)
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no org %q (create a server in it first: conexor servers create %s/NAME --name ...)", org, org)
				}
				if err != nil {
					return err
				}
				// An existing user (of another org) is added to this one; their password
				// stays as it is.
				if u, err := e.store.UserByEmail(ctx, email); err == nil {
					if _, err := e.store.Membership(ctx, o.ID, u.ID); err == nil {
						return fmt.Errorf("a user %s already exists and is a member of %s", u.Email, org)
					} else if !errors.Is(err, storage.ErrNotFound) {
						return err
					}
					if err := e.store.AddMember(ctx, o.ID, u.ID, role); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "added existing user %s to %s as %s (their password is unchanged)\n", u.Email, org, role)
					return nil
				} else if !errors.Is(err, storage.ErrNotFound) {
					return err
				}
				u, err := e.store.CreateUser(ctx, email, hash)
				if errors.Is(err, storage.ErrConflict) {
					return fmt.Errorf("a user %s already exists", email)
				}
				if err != nil {
					return err
				}
				if err := e.store.AddMember(ctx, o.ID, u.ID, role); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created user %s (%s of %s)\n", u.Email, role, org)
				return nil
			})
		},
	}
	create.Flags().StringVar(&email, "email", "", "email address (required)")
	create.Flags().StringVar(&org, "org", "", "org slug (required)")
	create.Flags().StringVar(&role, "role", storage.RoleMember, "admin or member")
	create.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input")
	_ = create.MarkFlagRequired("email")
	_ = create.MarkFlagRequired("org")
	cmd.AddCommand(create)
	return cmd
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < password.MinLength {
		return "", fmt.Errorf("the password must be at least %d characters", password.MinLength)
	}
	return pw, nil
}

func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage token signing keys"}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Create a new signing key; old keys stay published until their tokens expire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer e.Close()
			kid, err := e.p.Keys().Rotate(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new signing key %s (%s); running servers pick it up within 30 s\n", kid, e.cfg.SigningAlg)
			return nil
		},
	}
	cmd.AddCommand(rotate)
	return cmd
}
