package provider_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// registerPublic registers a public client (as MCP clients do) and returns its ID.
func registerPublic(t *testing.T, e *testenv.Env, redirectURI string) string {
	t.Helper()
	r := registerJSON(t, e, map[string]any{"client_name": "test", "token_endpoint_auth_method": "none", "redirect_uris": []string{redirectURI}})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", r.StatusCode, r.Body)
	}
	id, _ := r.JSON(t)["client_id"].(string)
	return id
}

// RFC 8707: a resource that is unknown, elsewhere, malformed or not the client's is
// invalid_target (400) at the token endpoint.
func TestResourceInvalidTargetAtTokenEndpoint(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	e.CreateServer("acme/other-api")
	auth := &testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret}
	for _, tt := range []struct{ name, resource string }{
		{"unknown server", e.URL + "/mcp/acme/no-such-server"},
		{"unknown org", e.URL + "/mcp/nobody/sales-api"},
		{"other host", "https://evil.example/mcp/acme/sales-api"},
		{"other port", "http://127.0.0.1:1/mcp/acme/sales-api"},
		{"fragment", e.ResourceURL("acme", "sales-api") + "#x"},
		{"query", e.ResourceURL("acme", "sales-api") + "?x=1"},
		{"not an MCP path", e.URL + "/api/oauth/token"},
		{"relative", "/mcp/acme/sales-api"},
		{"another server than the client's", e.ResourceURL("acme", "other-api")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.PostForm("/api/oauth/token", url.Values{"grant_type": {"client_credentials"}, "resource": {tt.resource}}, auth)
			if r.StatusCode != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_target" {
				t.Errorf("status %d: %s", r.StatusCode, r.Body)
			}
		})
	}
	// The client's own server is fine, also spelled with an upper-case scheme and a trailing
	// slash.
	own := "HTTP" + strings.TrimPrefix(e.ResourceURL("acme", "sales-api"), "http") + "/"
	if r := e.PostForm("/api/oauth/token", url.Values{"grant_type": {"client_credentials"}, "resource": {own}}, auth); r.StatusCode != http.StatusOK {
		t.Errorf("own server, non-canonical spelling: %d %s", r.StatusCode, r.Body)
	}
}

// At the authorization endpoint the same mistakes are redirected to the client as
// invalid_target, and a registered client (bound to no server) must name one.
func TestResourceInvalidTargetAtAuthorize(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	e.CreateServer("acme/other-api")
	const redirect = "http://127.0.0.1:9999/callback"
	dyn := registerPublic(t, e, redirect)
	ctx := context.Background()

	for _, tt := range []struct {
		name, client, resource string
		omit                   bool
	}{
		{"unknown server", dyn, e.URL + "/mcp/acme/nope", false},
		{"other host", dyn, "https://evil.example/mcp/acme/sales-api", false},
		{"fragment", dyn, e.ResourceURL("acme", "sales-api") + "#f", false},
		{"registered client without resource", dyn, "", true},
		{"bound client, another server", e.PublicClientID, e.ResourceURL("acme", "other-api"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			redir := redirect
			if tt.client == e.PublicClientID {
				redir = "http://localhost:3000/callback"
			}
			q := authorizeQuery(e, tt.client, redir)
			if tt.omit {
				q.Del("resource")
			} else {
				q.Set("resource", tt.resource)
			}
			_, aerr := e.Provider.ParseAuthorize(ctx, q)
			if aerr == nil || aerr.Code != "invalid_target" || !aerr.Redirect {
				t.Fatalf("got %+v, want invalid_target redirected to the client", aerr)
			}
			if u := aerr.RedirectURL(e.URL); !strings.HasPrefix(u, redir+"?") || !strings.Contains(u, "error=invalid_target") {
				t.Errorf("redirect = %s", u)
			}
		})
	}
	// Two resources: a token is for exactly one server.
	q := authorizeQuery(e, dyn, redirect)
	q.Add("resource", e.ResourceURL("acme", "other-api"))
	if _, aerr := e.Provider.ParseAuthorize(ctx, q); aerr == nil || aerr.Code != "invalid_target" {
		t.Errorf("two resources: %+v", aerr)
	}
}

// A refresh token stays with its server: naming it again works, naming another is
// invalid_target, naming none keeps it.
func TestResourceRefreshCannotSwitchServer(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			e := testenv.New(t, testenv.Options{Postgres: db == "postgres"})
			e.CreateServer("acme/other-api")
			const redirect = "http://127.0.0.1:9999/callback"
			id := registerPublic(t, e, redirect)
			r := exchangeCode(t, e, id, nil, redirect)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("code exchange: %d %s", r.StatusCode, r.Body)
			}
			refresh, _ := r.JSON(t)["refresh_token"].(string)
			if refresh == "" {
				t.Fatalf("no refresh token: %s", r.Body)
			}
			try := func(resource string) *testenv.Response {
				f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {id}}
				if resource != "" {
					f.Set("resource", resource)
				}
				return e.PostForm("/api/oauth/token", f, nil)
			}
			if r := try(e.ResourceURL("acme", "other-api")); r.StatusCode != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_target" {
				t.Fatalf("refresh for another server: %d %s", r.StatusCode, r.Body)
			}
			for _, res := range []string{e.ResourceURL("acme", "sales-api"), ""} {
				r := try(res)
				if r.StatusCode != http.StatusOK {
					t.Fatalf("refresh (resource %q): %d %s", res, r.StatusCode, r.Body)
				}
				body := r.JSON(t)
				refresh, _ = body["refresh_token"].(string) // public clients' refresh tokens rotate
				jwt := e.VerifyJWT(body["access_token"].(string))
				if aud := jwt.Claims["aud"]; !cmp.Equal(aud, e.ResourceURL("acme", "sales-api")) && !cmp.Equal(aud, []any{e.ResourceURL("acme", "sales-api")}) {
					t.Errorf("aud after refresh = %v", aud)
				}
			}
		})
	}
}

// Some MCP clients send no state: the request is still valid, the answer carries no state,
// and everything else (PKCE, iss, the exchange) is unchanged.
func TestAuthorizeWithoutState(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	const redirect = "http://127.0.0.1:9999/callback"
	id := registerPublic(t, e, redirect)
	q := authorizeQuery(e, id, redirect)
	q.Del("state")
	ctx := context.Background()
	ar, aerr := e.Provider.ParseAuthorize(ctx, q)
	if aerr != nil {
		t.Fatalf("ParseAuthorize without state: %v", aerr)
	}
	u, err := e.Store.UserByEmail(ctx, "admin@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	redirectTo, err := e.Provider.IssueCode(ctx, ar, u.ID, ar.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	ru, _ := url.Parse(redirectTo)
	if ru.Query().Has("state") || ru.Query().Get("code") == "" || ru.Query().Get("iss") != e.URL {
		t.Fatalf("redirect = %s", redirectTo)
	}
	r := e.PostForm("/api/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {ru.Query().Get("code")},
		"client_id": {id}, "redirect_uri": {redirect}, "code_verifier": {testVerifier}}, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %s", r.StatusCode, r.Body)
	}
	// PKCE is still required without state.
	q.Del("code_challenge")
	if _, aerr := e.Provider.ParseAuthorize(ctx, q); aerr == nil || aerr.Code != "invalid_request" {
		t.Errorf("no state and no PKCE: %+v", aerr)
	}
}

// Scopes this server does not know (claudeai, offline_access, openid) are ignored, not
// invalid_scope.
func TestAuthorizeIgnoresUnknownScopes(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	const redirect = "http://127.0.0.1:9999/callback"
	id := registerPublic(t, e, redirect)
	q := authorizeQuery(e, id, redirect)
	q.Set("scope", "claudeai offline_access mcp:tools:read openid")
	ar, aerr := e.Provider.ParseAuthorize(context.Background(), q)
	if aerr != nil {
		t.Fatalf("ParseAuthorize: %v", aerr)
	}
	if diff := cmp.Diff([]string{"mcp:tools:read"}, ar.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"claudeai", "offline_access", "openid"}, ar.Ignored); diff != "" {
		t.Errorf("ignored (-want +got):\n%s", diff)
	}
	// A registered client may ask for mcp:server:manage (step-up), though it is not
	// advertised.
	q.Set("scope", "mcp:server:manage")
	if ar, aerr := e.Provider.ParseAuthorize(context.Background(), q); aerr != nil || !cmp.Equal(ar.Scopes, []string{"mcp:server:manage"}) {
		t.Errorf("mcp:server:manage: %+v %v", ar, aerr)
	}
}

// TestClientCredentialsNeedsABoundClient: nobody approves a client_credentials token, so
// only the MCP server a client was created for may be its audience. A client bound to no
// server cannot be created with that grant, and one that exists anyway (an old row, a
// hand-made one) must not mint tokens for whatever server it names.
func TestClientCredentialsNeedsABoundClient(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	ctx := context.Background()
	for name, spec := range map[string]provider.ClientSpec{
		"explicit grant": {Name: "m2m", Scopes: []string{provider.ScopeToolsRead}, GrantTypes: []string{"client_credentials"}},
		"default grant":  {Name: "m2m", Scopes: []string{provider.ScopeToolsRead}},
		"mixed grants":   {Name: "m2m", GrantTypes: []string{"client_credentials", "authorization_code"}, RedirectURIs: []string{"https://app.example/cb"}},
	} {
		if _, _, err := e.Provider.CreateClient(ctx, spec); !errors.Is(err, provider.ErrInvalidClientSpec) {
			t.Errorf("%s: unbound client_credentials client created (err %v)", name, err)
		}
	}
	secret := provider.NewClientSecret()
	c := &storage.Client{ID: provider.NewClientID(), Name: "hand-made", Scopes: provider.ScopeToolsRead,
		GrantTypes: "client_credentials", SecretHash: e.Provider.Hasher().HashString(secret), Source: storage.ClientSourceAdmin}
	if err := e.Store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	r := e.PostForm("/api/oauth/token", url.Values{"grant_type": {"client_credentials"}, "resource": {e.ResourceURL("acme", "sales-api")}},
		&testenv.Auth{ID: c.ID, Secret: secret})
	if r.StatusCode == http.StatusOK {
		t.Fatalf("an unbound client got a client_credentials token: %s", r.Body)
	}
	if r.StatusCode != http.StatusBadRequest || r.JSON(t)["error"] != "unauthorized_client" {
		t.Errorf("status %d %s, want 400 unauthorized_client", r.StatusCode, r.Body)
	}
}
