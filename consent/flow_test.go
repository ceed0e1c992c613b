package consent_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

var (
	read    = provider.ScopeToolsRead
	execute = provider.ScopeToolsExecute
	res     = provider.ScopeResourcesRead
)

// TestAuthorizationCodeFlowPublicClient is the product page's PKCE flow end to end with
// x/oauth2: the browser logs in, sees the consent page, unticks one scope and approves;
// the token carries exactly the granted scopes. On SQLite always, on Postgres when
// CONEXOR_TEST_POSTGRES_DSN is set.
func TestAuthorizationCodeFlowPublicClient(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			e := testenv.New(t, testenv.Options{Postgres: db == "postgres"})
			b := newBrowser(t, e)
			f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read, execute, res))

			p := b.get(f.authURL())
			if p.url.Path != "/login" || p.status != http.StatusOK {
				t.Fatalf("not logged in: want the login page, got %d at %s", p.status, p.url)
			}
			if rt := p.url.Query().Get("return_to"); !strings.HasPrefix(rt, "/oauth/consent?") {
				t.Errorf("return_to = %q, want the consent URL", rt)
			}
			p = b.loginFrom(p, app.DemoAdminEmail, adminPassword)
			if p.url.Path != "/oauth/consent" || p.status != http.StatusOK {
				t.Fatalf("after login: want the consent page, got %d at %s:\n%s", p.status, p.url, p.body)
			}
			if diff := cmp.Diff(map[string]bool{read: true, execute: true, res: true}, consentScopes(t, p)); diff != "" {
				t.Errorf("consent checkboxes (-want +got):\n%s", diff)
			}
			for _, want := range []string{"Demo app", "Sales API", "acme/sales-api", "Acme Inc.", "You will be sent back to <strong>localhost:3000</strong>",
				"List available tools", "Execute tools (query data)", "Read resources (skills)", `value="approve"`, `value="deny"`} {
				if !strings.Contains(p.body, want) {
					t.Errorf("consent page lacks %q", want)
				}
			}

			resp := b.submit(p, "/oauth/consent", "decision=approve", untick(res))
			cb := resp.location(t)
			if got := cb.Scheme + "://" + cb.Host + cb.Path; got != app.DemoRedirectURI {
				t.Errorf("redirected to %s, want %s", got, app.DemoRedirectURI)
			}
			code := codeFrom(t, e, cb, f.state)

			tok, err := f.exchange(e, code)
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if got := tok.Extra("scope"); got != read+" "+execute {
				t.Errorf("token response scope = %v, want %q", got, read+" "+execute)
			}
			if tok.RefreshToken == "" {
				t.Error("no refresh token for a client with the refresh_token grant")
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("token_type = %q", tok.TokenType)
			}
			jwt := e.VerifyJWT(tok.AccessToken)
			admin, err := e.Store.UserByEmail(t.Context(), app.DemoAdminEmail)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"iss": e.URL, "sub": admin.ID, "aud": e.ResourceURL("acme", "sales-api"),
				"client_id": e.PublicClientID, "scope": read + " " + execute,
			}
			for k, v := range want {
				if jwt.Claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, jwt.Claims[k], v)
				}
			}
			if jwt.Typ != "at+jwt" {
				t.Errorf("typ = %q", jwt.Typ)
			}
		})
	}
}

// TestAuthorizationCodeFlowConfidentialClient: a confidential client must authenticate at
// the token endpoint; with its secret (HTTP Basic) the code is exchanged.
func TestAuthorizationCodeFlowConfidentialClient(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	const redirect = "https://app.example.com/oauth/callback"
	c, secret := createAppClient(t, e, "Team dashboard", false, redirect)
	b := newBrowser(t, e)

	// Without the secret the code is refused, and stays usable.
	f := newFlow(oauthConfig(e, c.ID, "", redirect, read))
	code := codeFrom(t, e, approve(t, b, f.authURL(), nil), f.state)
	if _, err := f.exchange(e, code); err == nil {
		t.Fatal("a confidential client's code was exchanged without its secret")
	} else if got, _ := oauthErrorCode(t, err); got != "invalid_client" {
		t.Errorf("without secret: error %q, want invalid_client", got)
	}
	f.conf.ClientSecret = "secret_wrong"
	f.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	if _, err := f.exchange(e, code); err == nil {
		t.Fatal("exchanged with a wrong secret")
	}

	f = newFlow(oauthConfig(e, c.ID, secret, redirect, read, execute))
	code = codeFrom(t, e, approve(t, b, f.authURL(), nil), f.state)
	tok, err := f.exchange(e, code)
	if err != nil {
		t.Fatalf("exchange with client_secret_basic: %v", err)
	}
	if got := tok.Extra("scope"); got != read+" "+execute {
		t.Errorf("scope = %v", got)
	}
	if got := e.VerifyJWT(tok.AccessToken).Claims["client_id"]; got != c.ID {
		t.Errorf("client_id claim = %v", got)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token")
	}
}

// TestRememberedConsent: once approved, the same scopes (or fewer) skip the page; more
// scopes, or prompt=consent, show it again.
func TestRememberedConsent(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	conf := oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read, execute)
	tokens(t, e, b, newFlow(conf), nil)

	for _, scopes := range [][]string{{read, execute}, {read}} {
		conf.Scopes = scopes
		f := newFlow(conf)
		p := b.get(f.authURL())
		if p.status != http.StatusSeeOther {
			t.Fatalf("scopes %v: remembered consent should redirect at once, got %d at %s", scopes, p.status, p.url)
		}
		tok, err := f.exchange(e, codeFrom(t, e, p.location(t), f.state))
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Extra("scope"); got != strings.Join(scopes, " ") {
			t.Errorf("remembered: scope = %v, want %v", got, scopes)
		}
	}

	conf.Scopes = []string{read, execute, res}
	f := newFlow(conf)
	p := b.get(f.authURL())
	if p.status != http.StatusOK || p.url.Path != "/oauth/consent" {
		t.Fatalf("more scopes: want the consent page again, got %d", p.status)
	}
	if diff := cmp.Diff(map[string]bool{read: true, execute: true, res: true}, consentScopes(t, p)); diff != "" {
		t.Errorf("checkboxes (-want +got):\n%s", diff)
	}

	conf.Scopes = []string{read}
	f = newFlow(conf)
	p = b.get(f.authURL() + "&prompt=consent")
	if p.status != http.StatusOK || p.url.Path != "/oauth/consent" {
		t.Fatalf("prompt=consent: want the consent page, got %d", p.status)
	}
}

// TestCommaSeparatedScopesAndNoState: the product page's URL separates scopes with commas
// and some MCP clients send no state; both work, and unknown scopes are dropped with a note.
func TestCommaSeparatedScopesAndNoState(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI))
	q := url.Values{
		"client_id": {e.PublicClientID}, "response_type": {"code"},
		"scope":        {"mcp:tools:read,mcp:tools:execute,claudeai"},
		"redirect_uri": {app.DemoRedirectURI}, "code_challenge": {oauth2S256(f.verifier)}, "code_challenge_method": {"S256"},
	}
	p := b.get("/oauth/consent?" + q.Encode())
	p = b.loginFrom(p, app.DemoAdminEmail, adminPassword)
	if diff := cmp.Diff(map[string]bool{read: true, execute: true}, consentScopes(t, p)); diff != "" {
		t.Errorf("checkboxes (-want +got):\n%s", diff)
	}
	if !strings.Contains(p.body, "claudeai") || !strings.Contains(p.body, "ignored") {
		t.Error("the page does not say the unknown scope claudeai was ignored")
	}
	cb := b.submit(p, "/oauth/consent", "decision=approve", nil).location(t)
	if cb.Query().Has("state") {
		t.Errorf("callback has a state although none was sent: %s", cb)
	}
	code := codeFrom(t, e, cb, "")
	tok, err := f.exchange(e, code)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Extra("scope"); got != read+" "+execute {
		t.Errorf("scope = %v", got)
	}

	// A one-character state is echoed as sent (fosite's own endpoint would demand 8).
	q.Set("state", "x")
	cb = b.get("/oauth/consent?" + q.Encode()).location(t) // consent is remembered now
	if _, err := f.exchange(e, codeFrom(t, e, cb, "x")); err != nil {
		t.Fatal(err)
	}
}

// TestDenyRedirectsAccessDenied: Deny sends the browser back with access_denied, the state
// and iss, and no code.
func TestDenyRedirectsAccessDenied(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
	p := b.loginFrom(b.get(f.authURL()), app.DemoAdminEmail, adminPassword)
	cb := b.submit(p, "/oauth/consent", "decision=deny", nil).location(t)
	q := cb.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != f.state || q.Get("iss") != e.URL || q.Has("code") {
		t.Errorf("deny callback = %s", cb)
	}
	// Denying remembers nothing: the page comes back next time.
	if p := b.get(newFlow(f.conf).authURL()); p.status != http.StatusOK {
		t.Errorf("after deny: status %d, want the consent page", p.status)
	}
}

// oauth2S256 is BASE64URL(SHA256(verifier)) without padding (RFC 7636 4.2).
func oauth2S256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
