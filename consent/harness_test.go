package consent_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/secret"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// adminPassword is the seeded admin's password in every testenv.
const adminPassword = "correct horse battery staple"

// signedIn is in every page a logged-in person lands on at /login (the dashboard's header
// with their email).
const signedIn = `data-testid="user-email"`

// browser is a person's browser: a cookie jar, following redirects within Conexor and
// stopping at the first redirect that leaves it (the client's redirect URI), as a browser
// handing the answer to an application would.
type browser struct {
	t      testing.TB
	base   string
	client *http.Client
}

func newBrowser(t testing.TB, e *testenv.Env) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	base := e.URL
	return &browser{t: t, base: base, client: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !strings.HasPrefix(req.URL.String(), base+"/") {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}}
}

// page is one response, read in full.
type page struct {
	status int
	header http.Header
	body   string
	// url is the URL that produced this response (after redirects within Conexor).
	url *url.URL
}

// location is the redirect target of a response that left Conexor (the client's callback).
func (p *page) location(t testing.TB) *url.URL {
	t.Helper()
	if p.status != http.StatusSeeOther {
		t.Fatalf("status %d at %s, want 303 to the client; body:\n%s", p.status, p.url, p.body)
	}
	u, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatalf("Location %q: %v", p.header.Get("Location"), err)
	}
	return u
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return &page{status: resp.StatusCode, header: resp.Header, body: string(body), url: resp.Request.URL}
}

func (b *browser) get(rawURL string) *page {
	b.t.Helper()
	if strings.HasPrefix(rawURL, "/") {
		rawURL = b.base + rawURL
	}
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(rawURL string, form url.Values) *page {
	b.t.Helper()
	if strings.HasPrefix(rawURL, "/") {
		rawURL = b.base + rawURL
	}
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// submit posts the page's form whose action is action, as a browser would: hidden and
// text fields, ticked checkboxes, and the named submit button. edit may change the values
// first (to leave a box unticked or forge a field).
func (b *browser) submit(p *page, action, button string, edit func(url.Values)) *page {
	b.t.Helper()
	f := findForm(b.t, p, action)
	v := f.values(button)
	if edit != nil {
		edit(v)
	}
	target, err := p.url.Parse(f.action)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.post(target.String(), v)
}

// login logs in through the login page (following from wherever the browser was sent).
func (b *browser) login(email, password string) *page {
	b.t.Helper()
	return b.loginFrom(b.get("/login"), email, password)
}

// loginFrom fills in the login form of p.
func (b *browser) loginFrom(p *page, email, password string) *page {
	b.t.Helper()
	if p.status != http.StatusOK || p.url.Path != "/login" {
		b.t.Fatalf("expected the login page, got %d at %s:\n%s", p.status, p.url, p.body)
	}
	return b.submit(p, "/login", "", func(v url.Values) {
		v.Set("email", email)
		v.Set("password", password)
	})
}

// cookie returns the session cookie the jar holds for Conexor.
func (b *browser) cookie() *http.Cookie {
	u, _ := url.Parse(b.base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "conexor_session" {
			return c
		}
	}
	return nil
}

// oauthConfig is an x/oauth2 configuration of a client of this Env.
func oauthConfig(e *testenv.Env, clientID, secret, redirect string, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if secret == "" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: e.URL + "/oauth/consent", TokenURL: e.TokenURL(), AuthStyle: style},
	}
}

// flow is one authorization in progress: a client configuration and its PKCE verifier.
type flow struct {
	conf     *oauth2.Config
	verifier string
	state    string
}

func newFlow(conf *oauth2.Config) *flow {
	return &flow{conf: conf, verifier: oauth2.GenerateVerifier(), state: secret.RandomToken(12)}
}

// authURL is the authorization URL with PKCE (S256) and extra parameters.
func (f *flow) authURL(opts ...oauth2.AuthCodeOption) string {
	return f.conf.AuthCodeURL(f.state, append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier)}, opts...)...)
}

// exchange redeems a code with the flow's verifier.
func (f *flow) exchange(e *testenv.Env, code string) (*oauth2.Token, error) {
	return f.conf.Exchange(e.Context(), code, oauth2.VerifierOption(f.verifier))
}

// approve runs the browser from the authorization URL through login (when the browser is
// not logged in yet) and the consent page (unless a remembered consent skips it), approving
// with the edit applied, and returns the callback URL the browser was sent to.
func approve(t testing.TB, b *browser, authURL string, edit func(url.Values)) *url.URL {
	t.Helper()
	p := b.get(authURL)
	if p.status == http.StatusSeeOther { // a remembered consent answers at once
		return p.location(t)
	}
	if p.url.Path == "/login" {
		p = b.loginFrom(p, app.DemoAdminEmail, adminPassword)
	}
	if p.status != http.StatusOK || p.url.Path != "/oauth/consent" {
		t.Fatalf("expected the consent page, got %d at %s:\n%s", p.status, p.url, p.body)
	}
	return b.submit(p, "/oauth/consent", "decision=approve", edit).location(t)
}

// codeFrom checks a successful callback (code, state and iss) and returns the code.
func codeFrom(t testing.TB, e *testenv.Env, cb *url.URL, state string) string {
	t.Helper()
	q := cb.Query()
	if q.Get("error") != "" {
		t.Fatalf("callback has error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("code") == "" {
		t.Fatalf("callback %s has no code", cb)
	}
	if got := q.Get("state"); got != state {
		t.Errorf("callback state = %q, want %q", got, state)
	}
	if got := q.Get("iss"); got != e.URL {
		t.Errorf("callback iss = %q, want %q (RFC 9207)", got, e.URL)
	}
	return q.Get("code")
}

// tokens runs a whole authorization for the seeded public client as the admin, granting
// what edit leaves ticked, and returns the tokens.
func tokens(t testing.TB, e *testenv.Env, b *browser, f *flow, edit func(url.Values)) *oauth2.Token {
	t.Helper()
	code := codeFrom(t, e, approve(t, b, f.authURL(), edit), f.state)
	tok, err := f.exchange(e, code)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// createAppClient creates a client of acme/sales-api with the code and refresh grants.
func createAppClient(t testing.TB, e *testenv.Env, name string, public bool, redirects ...string) (*storage.Client, string) {
	t.Helper()
	return e.CreateClient(provider.ClientSpec{
		ServerID: e.ServerByPath("acme/sales-api").ID, Name: name, Public: public,
		Scopes:       []string{provider.ScopeToolsRead, provider.ScopeToolsExecute, provider.ScopeResourcesRead, provider.ScopeServerRead},
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: redirects,
	})
}

// refresh posts a refresh_token grant; auth nil means a public client (client_id in form).
func refresh(e *testenv.Env, clientID string, auth *testenv.Auth, rt string, extra url.Values) *testenv.Response {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	if auth == nil {
		form.Set("client_id", clientID)
	}
	return e.PostForm("/api/oauth/token", form, auth)
}

// active asks introspection (as the seeded confidential client of the same server) whether
// a token is active.
func active(t testing.TB, e *testenv.Env, token, hint string) bool {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	r := e.PostForm("/api/oauth/introspect", form, &testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("introspect: %d %s", r.StatusCode, r.Body)
	}
	v, _ := r.JSON(t)["active"].(bool)
	return v
}

// oauthErrorCode extracts the RFC 6749 error code of a failed x/oauth2 exchange.
func oauthErrorCode(t testing.TB, err error) (code, description string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an OAuth error response", err)
	}
	return re.ErrorCode, re.ErrorDescription
}
