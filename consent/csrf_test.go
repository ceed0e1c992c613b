package consent_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/internal/secret"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// TestCSRF: every POST (login, consent, logout) needs the session's token; without it, or
// with another one, the answer is 403 and nothing happens.
func TestCSRF(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)

	loginPage := b.get("/login")
	for name, edit := range map[string]func(url.Values){
		"missing": func(v url.Values) { v.Del("csrf_token") },
		"wrong":   func(v url.Values) { v.Set("csrf_token", secret.RandomToken(32)) },
	} {
		p := b.submit(loginPage, "/login", "", func(v url.Values) {
			v.Set("email", app.DemoAdminEmail)
			v.Set("password", adminPassword)
			edit(v)
		})
		if p.status != http.StatusForbidden {
			t.Errorf("login with %s CSRF token: status %d, want 403", name, p.status)
		}
	}
	if p := b.get("/login"); strings.Contains(p.body, signedIn) {
		t.Fatal("a login without a valid CSRF token logged in")
	}

	f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
	consentPage := b.loginFrom(b.get(f.authURL()), app.DemoAdminEmail, adminPassword)
	for name, edit := range map[string]func(url.Values){
		"missing": func(v url.Values) { v.Del("csrf_token") },
		"wrong":   func(v url.Values) { v.Set("csrf_token", secret.RandomToken(32)) },
		// The pre-login token is worthless after login: the session got a new one.
		"pre-login": func(v url.Values) { v.Set("csrf_token", findForm(t, loginPage, "/login").values("").Get("csrf_token")) },
	} {
		p := b.submit(consentPage, "/oauth/consent", "decision=approve", edit)
		if p.status != http.StatusForbidden || p.header.Get("Location") != "" {
			t.Errorf("consent with %s CSRF token: status %d Location %q, want 403 and no redirect", name, p.status, p.header.Get("Location"))
		}
	}
	// Another person's valid token does not work in this session either.
	other := newBrowser(t, e)
	otherPage := other.loginFrom(other.get(f.authURL()), app.DemoAdminEmail, adminPassword)
	theirs := findForm(t, otherPage, "/oauth/consent").values("").Get("csrf_token")
	if p := b.submit(consentPage, "/oauth/consent", "decision=approve", func(v url.Values) { v.Set("csrf_token", theirs) }); p.status != http.StatusForbidden {
		t.Errorf("consent with another session's CSRF token: status %d", p.status)
	}

	for name, form := range map[string]url.Values{"missing": {}, "wrong": {"csrf_token": {"x"}}} {
		if p := b.post("/logout", form); p.status != http.StatusForbidden {
			t.Errorf("logout with %s CSRF token: status %d, want 403", name, p.status)
		}
	}
	if p := b.get(f.authURL()); p.status != http.StatusOK || p.url.Path != "/oauth/consent" {
		t.Error("a refused logout ended the session")
	}
	// With the right token, the form still works.
	if cb := b.submit(consentPage, "/oauth/consent", "decision=approve", nil).location(t); cb.Query().Get("code") == "" {
		t.Errorf("valid consent: %s", cb)
	}
}

// TestNonMemberCannotApprove: only members of the org that owns the server may approve; a
// user of another org sees a 403 page saying whom to ask, and a forged POST gets no code.
func TestNonMemberCannotApprove(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	ctx := context.Background()
	hash, err := password.Hash("bob's long password")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := e.Store.CreateUser(ctx, "bob@globex.test", hash)
	if err != nil {
		t.Fatal(err)
	}
	globex, err := e.Store.CreateOrg(ctx, "globex", "Globex Corp.")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.AddMember(ctx, globex.ID, bob.ID, storage.RoleAdmin); err != nil {
		t.Fatal(err)
	}

	// The admin's consent form, with the request and scopes a member would send.
	admin := newBrowser(t, e)
	f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
	memberForm := findForm(t, admin.loginFrom(admin.get(f.authURL()), app.DemoAdminEmail, adminPassword), "/oauth/consent").values("decision=approve")

	b := newBrowser(t, e)
	p := b.loginFrom(b.get(f.authURL()), "bob@globex.test", "bob's long password")
	if p.status != http.StatusForbidden {
		t.Fatalf("non-member: status %d, want 403:\n%s", p.status, p.body)
	}
	for _, want := range []string{"not a member of Acme Inc.", "bob@globex.test", "Ask an administrator of Acme Inc."} {
		if !strings.Contains(p.body, want) {
			t.Errorf("403 page lacks %q", want)
		}
	}
	checkPageHeaders(t, "not-a-member page", p)

	// Bob forges the decision with his own valid CSRF token.
	memberForm.Set("csrf_token", findForm(t, p, "/logout").values("").Get("csrf_token"))
	r := b.post("/oauth/consent", memberForm)
	if r.status != http.StatusForbidden || r.header.Get("Location") != "" {
		t.Errorf("non-member approving: status %d Location %q, want 403", r.status, r.header.Get("Location"))
	}
	// "Log out and use another account" leads back to the login page for the same request.
	p = b.submit(p, "/logout", "", nil)
	if p.url.Path != "/login" || !strings.HasPrefix(p.url.Query().Get("return_to"), "/oauth/consent?") {
		t.Errorf("after logout: at %s", p.url)
	}
	if cb := approve(t, b, p.url.String(), nil); cb.Query().Get("code") == "" {
		t.Error("logging in as a member after switching accounts did not lead to a code")
	}
}

// TestTamperedConsentForm: the decision can only grant a non-empty subset of what the
// re-validated request asks for.
func TestTamperedConsentForm(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
	p := b.loginFrom(b.get(f.authURL()), app.DemoAdminEmail, adminPassword)

	if r := b.submit(p, "/oauth/consent", "decision=approve", func(v url.Values) { v.Add("scope", execute) }); r.status != http.StatusBadRequest {
		t.Errorf("approving an unrequested scope: status %d, want 400", r.status)
	}
	r := b.submit(p, "/oauth/consent", "decision=approve", func(v url.Values) { v.Del("scope") })
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Choose at least one permission") {
		t.Errorf("approving nothing: status %d, want the page again with a message", r.status)
	}
	if r := b.submit(p, "/oauth/consent", "", nil); r.status != http.StatusBadRequest {
		t.Errorf("no decision: status %d, want 400", r.status)
	}
	// A request edited to widen its scope is re-validated: the client may not have it.
	r = b.submit(p, "/oauth/consent", "decision=approve", func(v url.Values) {
		q, _ := url.ParseQuery(v.Get("request"))
		q.Set("scope", provider.ScopeServerManage)
		v.Set("request", q.Encode())
		v.Set("scope", provider.ScopeServerManage)
	})
	if cb := r.location(t); cb.Query().Get("error") != "invalid_scope" || cb.Query().Has("code") {
		t.Errorf("widened request: %s, want invalid_scope", cb)
	}
}

// TestOnlyAdminsGrantManage: mcp:server:manage changes a server for everyone in the org
// (disable it, point its upstream elsewhere), so only an org admin can hand it to an
// application. A member approving a request that asks for it grants the rest; a request for
// it alone is refused with an explanation, and a forged tick for it is refused too.
func TestOnlyAdminsGrantManage(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	ctx := context.Background()
	hash, err := password.Hash("mia's long password")
	if err != nil {
		t.Fatal(err)
	}
	mia, err := e.Store.CreateUser(ctx, "mia@acme.test", hash)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.AddMember(ctx, e.ServerByPath("acme/sales-api").OrgID, mia.ID, storage.RoleMember); err != nil {
		t.Fatal(err)
	}
	const redirect = "http://127.0.0.1:7777/cb"
	c, _ := e.CreateClient(provider.ClientSpec{ServerID: e.ServerByPath("acme/sales-api").ID, Name: "Admin tool", Public: true,
		Scopes:     []string{provider.ScopeToolsRead, provider.ScopeServerManage},
		GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{redirect}})
	login := func(b *browser, p *page, email, pw string) *page {
		if p.url.Path == "/login" {
			return b.loginFrom(p, email, pw)
		}
		return p
	}

	// A member: manage is withheld, the rest granted.
	member := newBrowser(t, e)
	f := newFlow(oauthConfig(e, c.ID, "", redirect, provider.ScopeToolsRead, provider.ScopeServerManage))
	p := login(member, member.get(f.authURL()), "mia@acme.test", "mia's long password")
	if p.status != http.StatusOK || strings.Contains(p.body, `value="`+provider.ScopeServerManage+`"`) || !strings.Contains(p.body, `value="`+provider.ScopeToolsRead+`"`) {
		t.Errorf("member's consent page (status %d) offers %s", p.status, provider.ScopeServerManage)
	}
	forged := member.submit(p, "/oauth/consent", "decision=approve", func(v url.Values) { v.Add("scope", provider.ScopeServerManage) })
	if forged.status != http.StatusBadRequest || forged.header.Get("Location") != "" {
		t.Errorf("member ticking a forged %s: status %d Location %q", provider.ScopeServerManage, forged.status, forged.header.Get("Location"))
	}
	tok, err := f.exchange(e, codeFrom(t, e, member.submit(p, "/oauth/consent", "decision=approve", nil).location(t), f.state))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Extra("scope"); got != provider.ScopeToolsRead {
		t.Errorf("member granted %q, want %q", got, provider.ScopeToolsRead)
	}
	// Asking for manage alone: an explanation, no redirect.
	f = newFlow(oauthConfig(e, c.ID, "", redirect, provider.ScopeServerManage))
	if p := member.get(f.authURL()); p.status != http.StatusForbidden || !strings.Contains(p.body, "administrator") {
		t.Errorf("member asked for manage alone: status %d:\n%s", p.status, p.body)
	}

	// The org's admin can grant it.
	f = newFlow(oauthConfig(e, c.ID, "", redirect, provider.ScopeToolsRead, provider.ScopeServerManage))
	admin := newBrowser(t, e)
	p = login(admin, admin.get(f.authURL()), app.DemoAdminEmail, adminPassword)
	tok, err = f.exchange(e, codeFrom(t, e, admin.submit(p, "/oauth/consent", "decision=approve", nil).location(t), f.state))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Extra("scope"); got != provider.ScopeToolsRead+" "+provider.ScopeServerManage {
		t.Errorf("admin granted %q", got)
	}
}
