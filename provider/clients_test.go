package provider_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// TestCreateClientDefaultGrants: without grant types, a redirect URI means the code grant
// (for confidential clients too), as does a public client; anything else is a
// client_credentials client.
func TestCreateClientDefaultGrants(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	srv := e.ServerByPath("acme/sales-api").ID
	code := []string{"authorization_code", "refresh_token"}
	for name, tc := range map[string]struct {
		spec       provider.ClientSpec
		want       []string
		wantSecret bool
	}{
		"confidential with a redirect URI": {provider.ClientSpec{RedirectURIs: []string{"https://app.example/cb"}}, code, true},
		"public with a redirect URI":       {provider.ClientSpec{Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}}, code, false},
		"confidential without":             {provider.ClientSpec{}, []string{"client_credentials"}, true},
		"explicit grants are kept":         {provider.ClientSpec{GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example/cb"}}, []string{"authorization_code"}, true},
	} {
		tc.spec.ServerID, tc.spec.Name, tc.spec.Scopes = srv, name, []string{provider.ScopeToolsRead}
		c, secret, err := e.Provider.CreateClient(context.Background(), tc.spec)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := []string(c.GetGrantTypes()); !cmp.Equal(got, tc.want) || (secret != "") != tc.wantSecret {
			t.Errorf("%s: grants %v, secret %t; want %v, %t", name, got, secret != "", tc.want, tc.wantSecret)
		}
	}
	// A public client without a redirect URI cannot have the code grant it defaults to.
	_, _, err := e.Provider.CreateClient(context.Background(), provider.ClientSpec{ServerID: srv, Name: "p", Public: true, Scopes: []string{provider.ScopeToolsRead}})
	if !errors.Is(err, provider.ErrInvalidClientSpec) || !strings.Contains(err.Error(), "needs at least one redirect URI") {
		t.Errorf("public client without a redirect URI: %v", err)
	}
}

func TestUpdateClient(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testUpdateClient)
}

func testUpdateClient(t *testing.T, opts testenv.Options) {
	e := testenv.New(t, opts)
	ctx := context.Background()
	p := e.Provider
	c, _ := e.CreateClient(provider.ClientSpec{
		ServerID: e.ServerByPath("acme/sales-api").ID, Name: "Web", Scopes: []string{provider.ScopeToolsRead},
		RedirectURIs: []string{"https://app.example/cb"},
	})
	ptr := func(s ...string) *[]string { return &s }
	name := "Web v2"

	got, err := p.UpdateClient(ctx, c.ID, provider.ClientUpdate{Name: &name, Scopes: ptr(provider.ScopeToolsRead, provider.ScopeToolsExecute)})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.Store.ClientByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*storage.Client{got, stored} {
		if cl.Name != "Web v2" || cl.Scopes != "mcp:tools:read mcp:tools:execute" || !cmp.Equal(cl.RedirectURIs(), []string{"https://app.example/cb"}) ||
			cl.GrantTypes != "authorization_code refresh_token" || cl.SecretHash != c.SecretHash || cl.ServerPath != "acme/sales-api" {
			t.Errorf("after updating name and scopes: %+v (redirect URIs %v)", cl, cl.RedirectURIs())
		}
	}
	if _, err := p.UpdateClient(ctx, c.ID, provider.ClientUpdate{RedirectURIs: ptr("https://app.example/new", "http://127.0.0.1/cb")}); err != nil {
		t.Fatal(err)
	}
	if stored, _ := e.Store.ClientByID(ctx, c.ID); !cmp.Equal(stored.RedirectURIs(), []string{"https://app.example/new", "http://127.0.0.1/cb"}) || stored.Name != "Web v2" {
		t.Errorf("after updating redirect URIs: %+v %v", stored, stored.RedirectURIs())
	}

	// The rules of create, every problem at once; nothing is stored.
	_, err = p.UpdateClient(ctx, c.ID, provider.ClientUpdate{Scopes: ptr("crm:read", provider.ScopeToolsRead, "x:y"), RedirectURIs: ptr()})
	var se *provider.SpecError
	if !errors.As(err, &se) || !errors.Is(err, provider.ErrInvalidClientSpec) {
		t.Fatalf("bad update: %v, want a *SpecError", err)
	}
	if !cmp.Equal(se.UnknownScopes, []string{"crm:read", "x:y"}) || len(se.Problems) != 3 || !strings.Contains(se.Problems[2], "the authorization_code grant needs at least one redirect URI") {
		t.Errorf("bad update: unknown %v, problems %q", se.UnknownScopes, se.Problems)
	}
	if _, err := p.UpdateClient(ctx, c.ID, provider.ClientUpdate{RedirectURIs: ptr("http://app.example/cb")}); !errors.Is(err, provider.ErrInvalidClientSpec) {
		t.Errorf("an http redirect URI on a public host: %v", err)
	}
	if stored, _ := e.Store.ClientByID(ctx, c.ID); stored.Scopes != "mcp:tools:read mcp:tools:execute" || len(stored.RedirectURIs()) != 2 {
		t.Errorf("a refused update changed the client: %+v", stored)
	}

	if _, err := p.UpdateClient(ctx, "client_nope", provider.ClientUpdate{Name: &name}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown client: %v, want storage.ErrNotFound", err)
	}

	// Revoking: once, then a *RevokedError that says when; a revoked client cannot change.
	if err := p.RevokeClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	revoked, _ := e.Store.ClientByID(ctx, c.ID)
	var re *provider.RevokedError
	if err := p.RevokeClient(ctx, c.ID); !errors.As(err, &re) || re.ClientID != c.ID || !re.At.Equal(*revoked.RevokedAt) {
		t.Errorf("second revoke: %v, want a RevokedError at %v", err, revoked.RevokedAt)
	}
	if _, err := p.UpdateClient(ctx, c.ID, provider.ClientUpdate{Name: &name}); !errors.As(err, &re) || !strings.Contains(err.Error(), "cannot be changed") {
		t.Errorf("update of a revoked client: %v", err)
	}
	if err := p.RevokeClient(ctx, "client_nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("revoke of an unknown client: %v", err)
	}
}

// A client whose metadata document defines it cannot be changed by hand: the next fetch of
// the document would undo it.
func TestUpdateMetadataClientRefused(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	ctx := context.Background()
	c := &storage.Client{ID: "https://app.example/client.json", Name: "Doc", Public: true, Scopes: provider.ScopeToolsRead,
		GrantTypes: "authorization_code", TokenEndpointAuthMethod: "none", Source: storage.ClientSourceMetadata}
	c.SetRedirectURIs([]string{"https://app.example/cb"})
	if err := e.Store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	name := "Renamed"
	if _, err := e.Provider.UpdateClient(ctx, c.ID, provider.ClientUpdate{Name: &name}); !errors.Is(err, provider.ErrInvalidClientSpec) || !strings.Contains(err.Error(), "metadata document") {
		t.Errorf("update of a metadata-document client: %v", err)
	}
}
