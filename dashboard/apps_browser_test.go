package dashboard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/browsertest"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// TestBrowserConnectedApps is the path in a real headless Chromium: the admin
// logs in, approves an application through /oauth/consent (a PKCE authorization code flow,
// the code exchanged with golang.org/x/oauth2), finds it on Connected apps (through the
// topbar's Apps link) and on the server page's Access section, and clicks Revoke access.
// Then its access token is refused at the gate within a second, its refresh token is
// refused (invalid_grant), and authorizing again shows the consent page instead of
// redirecting at once. Every page is a screenshot in testdata/artifacts, passes axe-core
// and has no control cut off.
func TestBrowserConnectedApps(t *testing.T) {
	connectedApps(t, testenv.Options{})
}

// TestBrowserConnectedAppsPostgres is the same path on Postgres.
func TestBrowserConnectedAppsPostgres(t *testing.T) {
	connectedApps(t, testenv.Options{Postgres: true})
}

func connectedApps(t *testing.T, opts testenv.Options) {
	b := browsertest.Start(t)
	e := testenv.New(t, opts)
	v := &visit{t: t, b: b, e: e}
	ctx := context.Background()

	// The application's callback: a loopback server that records the query it gets.
	got := make(chan string, 4)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" { // the browser asks for /favicon.ico too
			http.NotFound(w, r)
			return
		}
		select {
		case got <- r.URL.RawQuery:
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html lang="en"><title>Connected</title><main><h1 id="done">Connected</h1></main></html>`))
	}))
	t.Cleanup(cb.Close)
	redirect := cb.URL + "/callback"
	srv := e.ServerByPath("acme/sales-api")
	client, _ := e.CreateClient(provider.ClientSpec{ServerID: srv.ID, Name: "Claude Desktop", Public: true,
		Scopes:       []string{provider.ScopeToolsRead, provider.ScopeToolsExecute, provider.ScopeResourcesRead},
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{redirect}})
	conf := &oauth2.Config{ClientID: client.ID, RedirectURL: redirect,
		Scopes:   []string{provider.ScopeToolsRead, provider.ScopeToolsExecute},
		Endpoint: oauth2.Endpoint{AuthURL: e.URL + urls.Consent, TokenURL: e.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
	authorize := func(verifier string) string {
		return conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier),
			oauth2.SetAuthURLParam("resource", e.ResourceURL("acme", "sales-api")))
	}
	// A self-registered app the admin approved earlier, so the page shows both kinds.
	admin, err := e.Store.UserByEmail(ctx, app.DemoAdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	dyn := &storage.Client{ID: "dcr_example", Name: "Notes helper", Public: true, Scopes: provider.ScopeToolsRead,
		GrantTypes: "authorization_code", TokenEndpointAuthMethod: "none", Source: storage.ClientSourceDynamic}
	if err := e.Store.CreateClient(ctx, dyn); err != nil {
		t.Fatal(err)
	}
	if err := e.Store.SaveConsent(ctx, &storage.Consent{UserID: admin.ID, ClientID: dyn.ID, ServerID: srv.ID, Scopes: provider.ScopeToolsRead}); err != nil {
		t.Fatal(err)
	}

	// Log in, then approve the app on the consent page.
	v.open(urls.Login)
	v.submit("log in", `form[action="/login"]`,
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=email]`), app.DemoAdminEmail),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), testenv.AdminPassword),
	)
	verifier := oauth2.GenerateVerifier()
	v.load("authorize", chromedp.Navigate(authorize(verifier)))
	if p := b.Path(); !strings.HasPrefix(p, urls.Consent) {
		t.Fatalf("the authorization request led to %s, want the consent page", p)
	}
	v.page("consent")
	v.load("approve", chromedp.Click(chromedp.CSS(`button[name=decision][value=approve]`)))
	var query string
	select {
	case query = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the callback never received the browser")
	}
	q, err := url.ParseQuery(query)
	if err != nil || q.Get("code") == "" {
		t.Fatalf("callback query %q has no code", query)
	}
	tok, err := conf.Exchange(e.Context(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	if got := v.mcp(tok.AccessToken); got.StatusCode != http.StatusOK {
		t.Fatalf("the app's token at the gate: status %d, want 200", got.StatusCode)
	}

	// Connected apps, through the topbar's Apps link.
	v.open(urls.Dashboard)
	v.follow("open Connected apps", `a[data-testid="apps-link"]`)
	if p := b.Path(); p != urls.AccountApps {
		t.Fatalf("the Apps link led to %s, want %s", p, urls.AccountApps)
	}
	v.page("connected apps")
	row := v.rowOf(client.ID)
	for _, want := range []string{"Claude Desktop", "Verified", "Sales API", "acme/sales-api", provider.ScopeToolsRead, provider.ScopeToolsExecute, "First approved 20", "Last used 20"} {
		if !strings.Contains(row, want) {
			t.Errorf("the app's row on Connected apps lacks %q: %q", want, row)
		}
	}
	if row := v.rowOf(dyn.ID); !strings.Contains(strings.ToLower(row), "self-registered") || !strings.Contains(row, "Last used Never") {
		t.Errorf("the self-registered app's row: %q, want Self-registered and never used", row)
	}

	// The admin's server page lists the grant in its Access section, and the script that
	// got a token.
	e.Token(e.ClientID, e.ClientSecret, provider.ScopeToolsRead)
	v.open(browserServerPage)
	if _, err := chromedp.Run(b.Step(10*time.Second), chromedp.Evaluate[bool](`document.getElementById("access").scrollIntoView(), true`)); err != nil {
		t.Fatalf("scroll to the Access section: %v", err)
	}
	v.page("server page access section")
	access, err := chromedp.Run(b.Step(10*time.Second), chromedp.Evaluate[string](`document.getElementById("access").parentElement.innerText`))
	if err != nil || !strings.Contains(access, "Claude Desktop") || !strings.Contains(access, app.DemoAdminEmail) {
		t.Errorf("the Access section does not list the admin's grant to Claude Desktop: %q (%v)", access, err)
	}
	if !strings.Contains(access, "Demo script\n"+e.ClientID+"\t1\t") {
		t.Errorf("the Access section does not list Demo script with 1 token in 24 h: %q", access)
	}

	// Revoke access.
	v.open(urls.AccountApps)
	start := time.Now()
	v.submit("revoke access", `tr:has(input[name=client][value="`+client.ID+`"]) form[action="`+urls.AccountAppsRevoke+`"]`)
	v.page("connected apps after revoking")
	if !v.has(`[data-testid="revoked"]`) || !strings.Contains(v.text(), "Access revoked: Claude Desktop on acme/sales-api") {
		t.Errorf("no notice of the revocation; page text:\n%s", v.text())
	}
	if v.has(`input[name=client][value="` + client.ID + `"]`) {
		t.Error("Connected apps still lists the revoked app")
	}
	if !v.has(`input[name=client][value="` + dyn.ID + `"]`) {
		t.Error("revoking one app removed the other from Connected apps")
	}
	// Refused at the gate within a second of the click (the bound), polled.
	for {
		status := v.mcp(tok.AccessToken).StatusCode
		if status == http.StatusUnauthorized {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("the revoked app's access token still gets %d at the gate a second after Revoke access", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := refreshError(t, e, client.ID, tok.RefreshToken); code != "invalid_grant" {
		t.Errorf("the revoked app's refresh token: error %q, want invalid_grant", code)
	}

	// Authorizing again asks again: the consent page, not a redirect to the app.
	v.load("authorize again", chromedp.Navigate(authorize(oauth2.GenerateVerifier())))
	if p := b.Path(); !strings.HasPrefix(p, urls.Consent) || !v.has(`button[name=decision][value=approve]`) {
		t.Fatalf("authorizing after the revocation led to %s, want the consent page", p)
	}
	select {
	case q := <-got:
		t.Fatalf("the app got a new callback (%s) without consent", q)
	default:
	}
	v.page("consent again")
}
