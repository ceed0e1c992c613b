package dashboard_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

// appFlow is one PKCE authorization of the seeded public client ("Demo app") of
// acme/sales-api, exchanged with golang.org/x/oauth2.
type appFlow struct {
	e        *testenv.Env
	conf     *oauth2.Config
	verifier string
	state    string
}

func newAppFlow(e *testenv.Env) *appFlow {
	return &appFlow{e: e, verifier: oauth2.GenerateVerifier(), state: "st-" + oauth2.GenerateVerifier()[:12],
		conf: &oauth2.Config{ClientID: e.PublicClientID, RedirectURL: app.DemoRedirectURI,
			Scopes:   []string{"mcp:tools:read", "mcp:tools:execute"},
			Endpoint: oauth2.Endpoint{AuthURL: e.URL + urls.Consent, TokenURL: e.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}}
}

// authPath is the authorization request, as a path on the server.
func (f *appFlow) authPath() string {
	u := f.conf.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier),
		oauth2.SetAuthURLParam("resource", f.e.ResourceURL("acme", "sales-api")))
	return strings.TrimPrefix(u, f.e.URL)
}

// exchange takes the code out of the callback URL the consent step redirected to and
// redeems it with the verifier.
func (f *appFlow) exchange(t testing.TB, callback string) *oauth2.Token {
	t.Helper()
	cb, err := url.Parse(callback)
	if err != nil || !strings.HasPrefix(callback, app.DemoRedirectURI) {
		t.Fatalf("redirected to %q, want the app's callback %s", callback, app.DemoRedirectURI)
	}
	if cb.Query().Get("code") == "" || cb.Query().Get("state") != f.state {
		t.Fatalf("callback %s: no code, or not the flow's state", callback)
	}
	tok, err := f.conf.Exchange(f.e.Context(), cb.Query().Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("the code exchange returned no refresh token")
	}
	return tok
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="(csrf_token|request)" value="([^"]*)">`)

// approveApp runs the app's authorization in b (logged in): the consent page must be
// shown, and is approved with every permission ticked. It returns the tokens.
func approveApp(t testing.TB, e *testenv.Env, b *browser) *oauth2.Token {
	t.Helper()
	f := newAppFlow(e)
	p := b.get(f.authPath())
	if p.status != http.StatusOK || !strings.Contains(p.body, `action="/oauth/consent"`) {
		t.Fatalf("the authorization answered %d without the consent page (location %q)", p.status, p.header.Get("Location"))
	}
	form := url.Values{"decision": {"approve"}, "scope": f.conf.Scopes}
	for _, m := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	p = b.do(http.MethodPost, urls.Consent, form)
	if p.status != http.StatusSeeOther {
		t.Fatalf("approve: status %d, want 303 to the app", p.status)
	}
	return f.exchange(t, p.header.Get("Location"))
}

// gate is the status of an MCP request with token at acme/sales-api.
func gate(e *testenv.Env, token string) int {
	req := e.NewRequest(http.MethodPost, "/mcp/acme/sales-api", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	return e.Do(req).StatusCode
}

// refreshError is the OAuth error of a refresh_token grant with rt by the public client
// clientID, "" when it succeeds.
func refreshError(t testing.TB, e *testenv.Env, clientID, rt string) string {
	t.Helper()
	r := e.PostForm(urls.Token, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}}, nil)
	if r.StatusCode == http.StatusOK {
		return ""
	}
	code, _ := r.JSON(t)["error"].(string)
	return code
}

// consentEvents returns the flushed consent events of one action and result.
func consentEvents(t testing.TB, e *testenv.Env, action, result string) []storage.AuditEvent {
	t.Helper()
	if err := e.App.Audit.Flush(context.Background()); err != nil {
		t.Fatalf("flush the audit events: %v", err)
	}
	evs, err := e.Store.AuditEvents(context.Background(), storage.AuditFilter{Action: action, Result: result})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestAdminRevokesGrantFromAccessSection(t *testing.T) {
	adminRevokesGrant(t, testenv.Options{})
}

func TestAdminRevokesGrantFromAccessSectionPostgres(t *testing.T) {
	adminRevokesGrant(t, testenv.Options{Postgres: true})
}

// adminRevokesGrant: the admin and a member both approve the demo app; the admin's server
// page lists both grants and the script that got a token, a member's has no Access
// section; a member's revoke is refused (403, recorded), an outsider's is not found, a
// forged one is refused, and the admin's ends exactly the member's grant: its access token
// is refused at the gate as soon as the 200 arrives, its refresh token is refused, the
// member's next authorization shows the consent page, and the admin's own grant works on.
func adminRevokesGrant(t *testing.T, opts testenv.Options) {
	r := newRoles(t, opts)
	e := r.e
	ctx := context.Background()
	member, err := e.Store.UserByEmail(ctx, "member@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := e.Store.UserByEmail(ctx, app.DemoAdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	memberTok := approveApp(t, e, r.member)
	adminTok := approveApp(t, e, r.admin)
	e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read")
	e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read")

	if got := consentEvents(t, e, audit.ConsentGranted, audit.OK); len(got) != 2 ||
		got[1].ActorID != member.ID || got[0].ActorID != admin.ID || got[0].Target != e.PublicClientID ||
		got[0].TargetName != "Demo app" || got[0].ServerPath != "acme/sales-api" || got[0].OrgID == "" {
		t.Fatalf("consent.granted events = %+v, want one per approval (member's, then the admin's) naming the app", got)
	}

	p := r.admin.get(serverPage)
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="access"`) {
		t.Fatalf("admin's server page: status %d, no Access section", p.status)
	}
	access := p.body[strings.Index(p.body, `id="access"`):]
	if n := strings.Count(access, `data-testid="grant-row"`); n != 2 ||
		!strings.Contains(access, "member@acme.test") || !strings.Contains(access, app.DemoAdminEmail) {
		t.Errorf("the Access section lists %d grants, want the member's and the admin's", n)
	}
	if !strings.Contains(access, `data-testid="service-row"><td><span class="strong">Demo script</span><br><code class="muted-code">`+e.ClientID+`</code></td><td class="num">2</td>`) {
		t.Errorf("the Access section does not list Demo script with 2 tokens in 24 h:\n%s", access)
	}
	if p := r.member.get(serverPage); p.status != http.StatusOK || strings.Contains(p.body, `id="access"`) {
		t.Errorf("a member's server page: status %d, shows the Access section: %v", p.status, strings.Contains(p.body, `id="access"`))
	}

	revoke := serverPage + "/grants/revoke"
	form := url.Values{"user": {member.ID}, "client": {e.PublicClientID}}
	if p := r.member.post(revoke, form); p.status != http.StatusForbidden || !strings.Contains(p.body, "Only admins") {
		t.Fatalf("a member's revoke: status %d, want the 403 page", p.status)
	}
	if got := consentEvents(t, e, audit.ConsentRevoked, audit.Refused); len(got) != 1 || got[0].ActorID != member.ID || got[0].Target != e.PublicClientID {
		t.Errorf("refused consent.revoked events = %+v, want one by the member", got)
	}
	if p := r.outsider.post(revoke, form); p.status != http.StatusNotFound {
		t.Errorf("an outsider's revoke: status %d, want 404", p.status)
	}
	forged := url.Values{"user": {member.ID}, "client": {e.PublicClientID}, "csrf_token": {"forged"}}
	if p := r.admin.post(revoke, forged); p.status != http.StatusForbidden {
		t.Errorf("a revoke with a forged CSRF token: status %d, want 403", p.status)
	}
	// The member may not revoke the admin's grant from their own apps page either.
	srv := e.ServerByPath("acme/sales-api")
	if p := r.member.post(urls.AccountAppsRevoke, url.Values{"client": {e.PublicClientID}, "server": {srv.ID}}); p.status != http.StatusOK {
		t.Fatalf("the member revoking their own grant first... status %d", p.status)
	}
	if p := r.member.post(urls.AccountAppsRevoke, url.Values{"client": {e.PublicClientID}, "server": {srv.ID}}); p.status != http.StatusNotFound {
		t.Errorf("the member revoking a grant they no longer hold (only the admin's exists): status %d, want 404", p.status)
	}
	if gate(e, adminTok.AccessToken) != http.StatusOK || gate(e, memberTok.AccessToken) != http.StatusUnauthorized {
		t.Fatal("after the member revoked their own grant: the admin's token must work and the member's be refused")
	}

	// The member approves again; the admin revokes it from the Access section.
	memberTok = approveApp(t, e, r.member)
	if gate(e, memberTok.AccessToken) != http.StatusOK {
		t.Fatal("the member's new token is refused at the gate")
	}
	p = r.admin.post(revoke, form)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Access revoked") || !strings.Contains(p.body, "member@acme.test") {
		t.Fatalf("the admin's revoke: status %d, want the notice naming the member:\n%s", p.status, p.body)
	}
	// AfterRevocation: the 200 leaves once this process refuses the tokens.
	if got := gate(e, memberTok.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("the revoked grant's access token: gate status %d, want 401", got)
	}
	if got := refreshError(t, e, e.PublicClientID, memberTok.RefreshToken); got != "invalid_grant" {
		t.Errorf("the revoked grant's refresh token: error %q, want invalid_grant", got)
	}
	if got := gate(e, adminTok.AccessToken); got != http.StatusOK {
		t.Errorf("the admin's own grant: gate status %d after revoking the member's, want 200", got)
	}
	if got := refreshError(t, e, e.PublicClientID, adminTok.RefreshToken); got != "" {
		t.Errorf("the admin's own refresh token: error %q after revoking the member's grant", got)
	}
	if p := r.admin.post(revoke, form); p.status != http.StatusNotFound {
		t.Errorf("revoking the same grant again: status %d, want 404", p.status)
	}
	ok := consentEvents(t, e, audit.ConsentRevoked, audit.OK)
	if len(ok) != 2 || ok[0].ActorID != admin.ID || ok[0].Target != e.PublicClientID || ok[0].TargetName != "Demo app" ||
		!strings.Contains(ok[0].Detail, "member@acme.test") || ok[1].ActorID != member.ID {
		t.Errorf("consent.revoked events = %+v, want the member's own, then the admin's naming the member", ok)
	}
	// The member's next authorization asks again.
	f := newAppFlow(e)
	if p := r.member.get(f.authPath()); p.status != http.StatusOK || !strings.Contains(p.body, `action="/oauth/consent"`) {
		t.Errorf("the member's authorization after the revoke: status %d, want the consent page", p.status)
	}
	if p := r.member.get(urls.AccountApps); p.status != http.StatusOK || strings.Contains(p.body, `data-testid="app-row"`) {
		t.Errorf("the member's apps page after the revoke: status %d, still lists an app", p.status)
	}
	if p := r.admin.get(urls.AccountApps); p.status != http.StatusOK || strings.Count(p.body, `data-testid="app-row"`) != 1 {
		t.Errorf("the admin's apps page: status %d, want the admin's one app", p.status)
	}
}

// TestAccountAppsBadInput: the apps page needs a login, its revoke a CSRF token, and a
// made-up or empty pair is the one not-found page, never a 500.
func TestAccountAppsBadInput(t *testing.T) {
	r := newRoles(t, testenv.Options{})
	e := r.e
	approveApp(t, e, r.admin)
	anon := newBrowser(t, e)
	if p := anon.get(urls.AccountApps); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login") {
		t.Errorf("GET %s logged out: %d to %q, want the login page", urls.AccountApps, p.status, p.header.Get("Location"))
	}
	srv := e.ServerByPath("acme/sales-api")
	for name, form := range map[string]url.Values{
		"empty":          {},
		"unknown client": {"client": {"nope"}, "server": {srv.ID}},
		"no server":      {"client": {e.PublicClientID}},
		"nul":            {"client": {"a\x00b"}, "server": {srv.ID}},
	} {
		if p := r.member.post(urls.AccountAppsRevoke, form); p.status != http.StatusNotFound || !strings.Contains(p.body, "Page not found") {
			t.Errorf("%s: status %d, want the not-found page", name, p.status)
		}
	}
	member, err := e.Store.UserByEmail(context.Background(), "member@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	if evs := consentEvents(t, e, audit.ConsentRevoked, audit.Refused); len(evs) != 4 || evs[0].ActorID != member.ID {
		t.Errorf("refused consent.revoked events = %d (%+v), want one per refused revoke by the member", len(evs), evs)
	}
	if p := r.admin.post(urls.AccountAppsRevoke, url.Values{"client": {e.PublicClientID}, "server": {srv.ID}, "csrf_token": {"x"}}); p.status != http.StatusForbidden {
		t.Errorf("forged CSRF: status %d, want 403", p.status)
	}
	if p := r.admin.get(urls.AccountApps); strings.Count(p.body, `data-testid="app-row"`) != 1 {
		t.Error("a refused revoke removed the admin's app")
	}
}

// TestRevokeUserGrants: provider.RevokeUserGrants (what removing a member calls) ends every
// grant of the user on the org's servers, tokens included, records one consent.revoked per
// grant with the context's actor, and leaves other users' grants and other orgs alone.
func TestRevokeUserGrants(t *testing.T) {
	r := newRoles(t, testenv.Options{})
	e := r.e
	ctx := context.Background()
	member, err := e.Store.UserByEmail(ctx, "member@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	acme, err := e.Store.OrgBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	globex, err := e.Store.OrgBySlug(ctx, "globex")
	if err != nil {
		t.Fatal(err)
	}
	memberTok := approveApp(t, e, r.member)
	adminTok := approveApp(t, e, r.admin)

	if n, err := e.Provider.RevokeUserGrants(ctx, member.ID, globex.ID); err != nil || n != 0 {
		t.Fatalf("RevokeUserGrants(member, globex) = %d, %v; want 0 (no grant there)", n, err)
	}
	if gate(e, memberTok.AccessToken) != http.StatusOK {
		t.Fatal("revoking the member's grants on another org refused their token")
	}
	actx := audit.WithActor(ctx, audit.Operator())
	if n, err := e.Provider.RevokeUserGrants(actx, member.ID, acme.ID); err != nil || n != 1 {
		t.Fatalf("RevokeUserGrants(member, acme) = %d, %v; want 1", n, err)
	}
	deadline := time.Now().Add(time.Second)
	for gate(e, memberTok.AccessToken) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the removed member's access token is still accepted at the gate a second later")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := refreshError(t, e, e.PublicClientID, memberTok.RefreshToken); got != "invalid_grant" {
		t.Errorf("the removed member's refresh token: error %q, want invalid_grant", got)
	}
	if gate(e, adminTok.AccessToken) != http.StatusOK {
		t.Error("removing the member refused the admin's token")
	}
	if _, err := e.Store.ConsentFor(ctx, member.ID, e.PublicClientID, e.ServerByPath("acme/sales-api").ID); err == nil {
		t.Error("the member's consent survived")
	}
	evs := consentEvents(t, e, audit.ConsentRevoked, audit.OK)
	if len(evs) != 1 || evs[0].ActorKind != audit.KindOperator || evs[0].Target != e.PublicClientID || !strings.Contains(evs[0].Detail, "member@acme.test") {
		t.Errorf("consent.revoked events = %+v, want one by the operator naming the member", evs)
	}
}
