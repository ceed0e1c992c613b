package app

import (
	"context"
	"fmt"
	"io"

	"github.com/conexor/conexor/audit"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// The demo data of DESIGN.md.
const (
	DemoOrg        = "acme"
	DemoServer     = "sales-api"
	DemoAdminEmail = "admin@acme.test"
	// DemoRedirectURI is the product page's callback.
	DemoRedirectURI = "http://localhost:3000/callback"
)

// SeedResult is what a first start created; secrets appear here once and nowhere else.
type SeedResult struct {
	AdminEmail, AdminPassword string
	PasswordGenerated         bool
	ScriptClientID            string
	ScriptClientSecret        string
	AppClientID               string
}

// Seed creates, on an empty database only, the demo org acme with its MCP server sales-api,
// the admin user, a confidential client for the client-credentials curl and a public client
// for the PKCE steps. It returns nil when the database already had data.
//
// The check and the writes are one transaction, and New runs Seed under the startup lock:
// of replicas started together on an empty database exactly one seeds (on SQLite the
// transaction alone serializes them, as it begins IMMEDIATE).
func Seed(ctx context.Context, store *storage.Store, p *provider.Provider, cfg config.Config) (*SeedResult, error) {
	// Every later start stops here, before hashing a password it would not use.
	if n, err := store.CountOrgs(ctx); err != nil || n > 0 {
		return nil, err
	}
	// What the first start creates, Conexor created: its audit events say so.
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.KindSystem, Name: "first start"})
	res := &SeedResult{AdminEmail: DemoAdminEmail, AdminPassword: cfg.AdminPassword}
	if res.AdminPassword == "" {
		res.AdminPassword, res.PasswordGenerated = password.Generate(), true
	}
	hash, err := password.Hash(res.AdminPassword)
	if err != nil {
		return nil, err
	}
	empty := false
	err = store.InTx(ctx, func(ctx context.Context) error {
		// Again inside the transaction: another replica may have seeded meanwhile.
		if n, err := store.CountOrgs(ctx); err != nil || n > 0 {
			return err
		}
		empty = true
		org, err := store.CreateOrg(ctx, DemoOrg, "Acme Inc.")
		if err != nil {
			return err
		}
		// The same entry point as the CLI and the server API; it joins this transaction.
		srv, err := p.CreateServer(ctx, provider.ServerSpec{Org: DemoOrg, Slug: DemoServer, Name: "Sales API",
			Description: "Demo sales data: customers, products and orders, with how-to skills."})
		if err != nil {
			return err
		}
		u, err := store.CreateUser(ctx, DemoAdminEmail, hash)
		if err != nil {
			return err
		}
		if err := store.AddMember(ctx, org.ID, u.ID, storage.RoleAdmin); err != nil {
			return err
		}
		script, secret, err := p.CreateClient(ctx, provider.ClientSpec{
			ServerID: srv.ID, Name: "Demo script",
			Scopes:     []string{provider.ScopeToolsRead, provider.ScopeToolsExecute, provider.ScopeResourcesRead, provider.ScopeServerRead},
			GrantTypes: []string{"client_credentials"},
		})
		if err != nil {
			return err
		}
		appClient, _, err := p.CreateClient(ctx, provider.ClientSpec{
			ServerID: srv.ID, Name: "Demo app", Public: true,
			Scopes:       []string{provider.ScopeToolsRead, provider.ScopeToolsExecute, provider.ScopeResourcesRead, provider.ScopeServerRead},
			GrantTypes:   []string{"authorization_code", "refresh_token"},
			RedirectURIs: []string{DemoRedirectURI},
		})
		if err != nil {
			return err
		}
		res.ScriptClientID, res.ScriptClientSecret, res.AppClientID = script.ID, secret, appClient.ID
		return nil
	})
	if err != nil || !empty {
		return nil, err
	}
	return res, nil
}

// Print writes the first-start banner: how to log in and a curl that works as pasted.
func (r *SeedResult) Print(w io.Writer, issuer string) {
	pw := r.AdminPassword
	if !r.PasswordGenerated {
		pw = "(the password in CONEXOR_ADMIN_PASSWORD)"
	}
	fmt.Fprintf(w, `
Conexor is set up with demo data (shown once; secrets are stored only as hashes):
  org acme, MCP server %s
  log in at %s as %s with password %s

  Client credentials (confidential client "Demo script"):
    client_id:     %s
    client_secret: %s

    curl -X POST %s -d "grant_type=client_credentials" -d "client_id=%s" -d "client_secret=%s" -d "scope=mcp:tools:read mcp:tools:execute"

  Authorization code + PKCE (public client "Demo app", redirect %s):
    client_id:     %s

`, urls.Resource(issuer, DemoOrg, DemoServer), urls.Endpoint(issuer, urls.Login), r.AdminEmail, pw,
		r.ScriptClientID, r.ScriptClientSecret,
		urls.Endpoint(issuer, urls.Token), r.ScriptClientID, r.ScriptClientSecret,
		DemoRedirectURI, r.AppClientID)
}
