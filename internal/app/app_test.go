package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// seededScopes are the scopes of the seeded "Demo script" client, in the order it holds them.
var seededScopes = []string{provider.ScopeToolsRead, provider.ScopeToolsExecute, provider.ScopeResourcesRead, provider.ScopeServerRead}

// TestClientCredentialsEndToEnd gets tokens over real HTTP with x/oauth2's
// clientcredentials package, both client authentication styles, and checks the response
// and the JWT (verified with the published JWKS) exactly. It runs on SQLite and, when
// CONEXOR_TEST_POSTGRES_DSN is set, on Postgres.
func TestClientCredentialsEndToEnd(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			e := testenv.New(t, testenv.Options{Postgres: db == "postgres"})
			if got := e.Store.Dialect(); got != db {
				t.Fatalf("Dialect = %q, want %q", got, db)
			}
			for _, style := range []struct {
				name  string
				style oauth2.AuthStyle
			}{{"client_secret_post", oauth2.AuthStyleInParams}, {"client_secret_basic", oauth2.AuthStyleInHeader}} {
				t.Run(style.name, func(t *testing.T) {
					checkClientCredentials(t, e, style.style)
				})
			}
		})
	}
}

func checkClientCredentials(t *testing.T, e *testenv.Env, style oauth2.AuthStyle) {
	requested := []string{provider.ScopeToolsRead, provider.ScopeToolsExecute}
	rec := &recorder{base: e.Client.Transport}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rec})
	cc := e.ClientCredentials(e.ClientID, e.ClientSecret, style, requested...)

	before := time.Now().Add(-time.Second).Unix()
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	after := time.Now().Unix()

	// The raw response: exactly the product page's shape, never cached.
	raw := rec.last()
	if raw.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", raw.StatusCode, raw.Body)
	}
	if got := raw.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := raw.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	body := raw.JSON(t)
	wantBody := map[string]any{
		"access_token": tok.AccessToken,
		"token_type":   "Bearer",
		"expires_in":   json.Number("3600"),
		"scope":        "mcp:tools:read mcp:tools:execute",
	}
	if diff := cmp.Diff(wantBody, body); diff != "" {
		t.Errorf("token response (-want +got):\n%s", diff)
	}
	if tok.TokenType != "Bearer" {
		t.Errorf("oauth2 TokenType = %q", tok.TokenType)
	}

	// The JWT, verified with the JWKS as a resource server would.
	j := e.VerifyJWT(tok.AccessToken)
	if j.Typ != "at+jwt" {
		t.Errorf("typ header = %q, want at+jwt", j.Typ)
	}
	if j.Header.KeyID == "" || j.Header.KeyID != e.Provider.Keys().CurrentKID() {
		t.Errorf("kid = %q, want the current key %q", j.Header.KeyID, e.Provider.Keys().CurrentKID())
	}
	if j.Header.Algorithm != "ES256" {
		t.Errorf("alg = %q, want ES256 (the default)", j.Header.Algorithm)
	}
	iat := claimInt(t, j.Claims, "iat")
	exp := claimInt(t, j.Claims, "exp")
	if iat < before || iat > after {
		t.Errorf("iat = %d, want within [%d, %d]", iat, before, after)
	}
	if exp != iat+3600 {
		t.Errorf("exp = %d, want iat+3600 = %d", exp, iat+3600)
	}
	jti, _ := j.Claims["jti"].(string)
	if len(jti) < 16 {
		t.Errorf("jti = %q, want a random identifier", jti)
	}
	wantClaims := map[string]any{
		"iss":       e.URL,
		"sub":       e.ClientID,
		"aud":       e.URL + "/mcp/acme/sales-api",
		"client_id": e.ClientID,
		"scope":     "mcp:tools:read mcp:tools:execute",
		"iat":       j.Claims["iat"],
		"exp":       j.Claims["exp"],
		"jti":       jti,
	}
	if diff := cmp.Diff(wantClaims, j.Claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}

	// A second token has its own jti.
	tok2, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("second Token: %v", err)
	}
	if jti2, _ := e.VerifyJWT(tok2.AccessToken).Claims["jti"].(string); jti2 == jti || jti2 == "" {
		t.Errorf("second token's jti = %q, first %q: want two different values", jti2, jti)
	}

	// No scope: every scope of the client.
	all, err := e.ClientCredentials(e.ClientID, e.ClientSecret, style).Token(ctx)
	if err != nil {
		t.Fatalf("Token without scope: %v", err)
	}
	if got := rec.last().JSON(t)["scope"]; got != strings.Join(seededScopes, " ") {
		t.Errorf("scope without a scope parameter = %q, want all of the client's: %q", got, strings.Join(seededScopes, " "))
	}
	if got, _ := e.VerifyJWT(all.AccessToken).Claims["scope"].(string); !sameSet(strings.Fields(got), seededScopes) {
		t.Errorf("scope claim = %q, want %q", got, seededScopes)
	}
}

func claimInt(t *testing.T, claims map[string]any, name string) int64 {
	t.Helper()
	n, ok := claims[name].(json.Number)
	if !ok {
		t.Fatalf("claim %s = %#v, want a number", name, claims[name])
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("claim %s = %s: %v", name, n, err)
	}
	return v
}

func sameSet(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return cmp.Equal(a, b)
}

// recorder keeps the last response that passed through it, so tests can check the raw
// headers and body of what x/oauth2 parsed.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	resp *testenv.Response
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.resp = &testenv.Response{StatusCode: resp.StatusCode, Header: resp.Header.Clone(), Body: body}
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) last() *testenv.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resp
}

// TestFirstStart checks what an empty database gets: the demo org, server, admin and
// clients, and a banner whose curl command names a client that works.
func TestFirstStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.DatabaseURL = "sqlite://" + filepath.Join(t.TempDir(), "first.db")
	cfg.Issuer = "http://127.0.0.1:18080"
	cfg.AdminPassword = "" // generated and printed once
	var out bytes.Buffer
	a, err := app.New(ctx, cfg, nil, app.Options{Out: &out})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { a.Close() })

	s := a.Seeded
	if s == nil {
		t.Fatal("Seeded is nil on an empty database")
	}
	if !s.PasswordGenerated || len(s.AdminPassword) < 16 {
		t.Errorf("admin password generated=%v len=%d, want a generated password", s.PasswordGenerated, len(s.AdminPassword))
	}
	banner := out.String()
	for _, want := range []string{
		"admin@acme.test", s.AdminPassword, s.ScriptClientID, s.ScriptClientSecret,
		`curl -X POST http://127.0.0.1:18080/api/oauth/token -d "grant_type=client_credentials" -d "client_id=` + s.ScriptClientID + `"`,
		"http://127.0.0.1:18080/mcp/acme/sales-api",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}

	srv, err := a.Store.ServerByPath(ctx, app.DemoOrg, app.DemoServer)
	if err != nil {
		t.Fatalf("demo server: %v", err)
	}
	u, err := a.Store.UserByEmail(ctx, app.DemoAdminEmail)
	if err != nil {
		t.Fatalf("admin user: %v", err)
	}
	if ok, err := password.Verify(u.PasswordHash, s.AdminPassword); err != nil || !ok {
		t.Errorf("the printed admin password does not verify: ok=%v err=%v", ok, err)
	}
	m, err := a.Store.Membership(ctx, srv.OrgID, u.ID)
	if err != nil || m.Role != storage.RoleAdmin {
		t.Errorf("admin membership = %+v, %v; want role admin", m, err)
	}
	script, err := a.Store.ClientByID(ctx, s.ScriptClientID)
	if err != nil {
		t.Fatal(err)
	}
	if script.Public || script.ServerID == nil || *script.ServerID != srv.ID || !cmp.Equal([]string(script.GetGrantTypes()), []string{"client_credentials"}) {
		t.Errorf("script client = %+v, want confidential client_credentials client of acme/sales-api", script)
	}
	pub, err := a.Store.ClientByID(ctx, s.AppClientID)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Public || pub.SecretHash != "" || !cmp.Equal(pub.RedirectURIs(), []string{app.DemoRedirectURI}) {
		t.Errorf("app client = %+v, want a public client with redirect %s", pub, app.DemoRedirectURI)
	}

	// A second start on the same database seeds nothing and prints nothing.
	a.Close()
	out.Reset()
	cfg.Secret = keptSecret(t, cfg)
	b, err := app.New(ctx, cfg, nil, app.Options{Out: &out})
	if err != nil {
		t.Fatalf("second New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	if b.Seeded != nil || out.Len() != 0 {
		t.Errorf("second start: Seeded=%+v banner=%q, want nothing", b.Seeded, out.String())
	}
	if n, err := b.Store.CountOrgs(ctx); err != nil || n != 1 {
		t.Errorf("orgs after second start = %d, %v; want 1", n, err)
	}
}

// keptSecret reads the secret the first start generated beside the SQLite file: a restart
// without CONEXOR_SECRET must find the same one.
func keptSecret(t *testing.T, cfg config.Config) string {
	t.Helper()
	c := cfg
	c.Secret = ""
	msg, err := config.EnsureSecret(&c)
	if err != nil || msg != "" || len(c.Secret) < 32 {
		t.Fatalf("EnsureSecret on restart: secret len %d, msg %q, err %v; want the kept secret", len(c.Secret), msg, err)
	}
	return c.Secret
}

// TestOperationsEndpoints covers /healthz, /readyz (which must notice a dead database) and
// /metrics (which counts issued and refused tokens).
func TestOperationsEndpoints(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	if r := e.Get("/healthz"); r.StatusCode != http.StatusOK || string(r.Body) != "ok\n" {
		t.Errorf("/healthz = %d %q", r.StatusCode, r.Body)
	}
	if r := e.Get("/readyz"); r.StatusCode != http.StatusOK || string(r.Body) != "ready\n" {
		t.Errorf("/readyz = %d %q", r.StatusCode, r.Body)
	}

	e.Token(e.ClientID, e.ClientSecret)
	e.PostForm("/api/oauth/token", map[string][]string{"grant_type": {"client_credentials"}},
		&testenv.Auth{ID: e.ClientID, Secret: "secret_wrong"})
	m := e.Get("/metrics")
	if m.StatusCode != http.StatusOK {
		t.Fatalf("/metrics = %d", m.StatusCode)
	}
	for _, want := range []string{
		`conexor_tokens_issued_total{grant_type="client_credentials"} 1`,
		`conexor_tokens_refused_total{grant_type="client_credentials",reason="invalid_client"} 1`,
		`conexor_http_request_duration_seconds_count{code="200",method="POST",route="/api/oauth/token"} 1`,
	} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	if err := e.Store.Close(); err != nil {
		t.Fatal(err)
	}
	r := e.Get("/readyz")
	if r.StatusCode != http.StatusServiceUnavailable || string(r.Body) != "database unreachable\n" {
		t.Errorf("/readyz with the database closed = %d %q, want 503", r.StatusCode, r.Body)
	}
}

// TestUnroutedRequests covers what no route takes: a wrong method answers 405 with an Allow
// header and an error a person can act on (JSON for programs, an HTML page with the page
// headers for the browser flow and for browsers), an unknown path 404 the same way, and the
// operations endpoints take only GET and HEAD. The router's own defaults were an empty 405
// without Allow and a bare text 404.
func TestUnroutedRequests(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	pageHeaders := map[string]string{
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
	}
	checkPage := func(t *testing.T, what string, r *testenv.Response) {
		t.Helper()
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type = %q, want an HTML page", what, ct)
		}
		for k, v := range pageHeaders {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", what, k, got, v)
			}
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy = %q", what, csp)
		}
	}

	for _, tc := range []struct {
		method, path, allow string
	}{
		{http.MethodPost, "/.well-known/jwks.json", "GET, HEAD"},
		{http.MethodPost, "/.well-known/oauth-authorization-server", "GET, HEAD"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodPost, "/readyz", "GET, HEAD"},
		{http.MethodDelete, "/metrics", "GET, HEAD"},
	} {
		r := e.Do(e.NewRequest(tc.method, tc.path, nil))
		if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d, Allow %q; want 405, Allow %q", tc.method, tc.path, r.StatusCode, r.Header.Get("Allow"), tc.allow)
			continue
		}
		body := r.JSON(t)
		if body["error"] != "invalid_request" || !strings.Contains(body["error_description"].(string), "accepts GET or HEAD") {
			t.Errorf("%s %s body = %v", tc.method, tc.path, body)
		}
	}
	if r := e.Do(e.NewRequest(http.MethodHead, "/healthz", nil)); r.StatusCode != http.StatusOK {
		t.Errorf("HEAD /healthz = %d, want 200", r.StatusCode)
	}

	// The browser flow's paths answer a wrong method with a page.
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/logout", "POST"},
		{http.MethodPut, "/login", "GET, POST"},
		{http.MethodDelete, "/oauth/consent", "GET, POST"},
	} {
		r := e.Do(e.NewRequest(tc.method, tc.path, nil))
		if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d, Allow %q; want 405, Allow %q", tc.method, tc.path, r.StatusCode, r.Header.Get("Allow"), tc.allow)
		}
		checkPage(t, tc.method+" "+tc.path, r)
		if !strings.Contains(string(r.Body), tc.path+" accepts") {
			t.Errorf("%s %s page does not say what the path accepts:\n%s", tc.method, tc.path, r.Body)
		}
	}

	// Unknown paths: JSON for programs (a trailing slash is not the token endpoint), a page
	// for browsers.
	r := e.Do(e.NewRequest(http.MethodPost, "/api/oauth/token/", nil))
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("POST /api/oauth/token/ = %d, want 404", r.StatusCode)
	}
	if body := r.JSON(t); body["error"] != "not_found" || !strings.Contains(body["error_description"].(string), e.URL+"/.well-known/oauth-authorization-server") {
		t.Errorf("404 body = %v", body)
	}
	req := e.NewRequest(http.MethodGet, "/nowhere", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	r = e.Do(req)
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nowhere from a browser = %d, want 404", r.StatusCode)
	}
	checkPage(t, "GET /nowhere from a browser", r)

	// The redirect to the login page is a browser-flow response too.
	r = e.Get("/oauth/consent?" + url.Values{
		"client_id": {e.PublicClientID}, "response_type": {"code"}, "redirect_uri": {app.DemoRedirectURI},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
	}.Encode())
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("consent without a session = %d %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
	}
	for k, v := range pageHeaders {
		if got := r.Header.Get(k); got != v {
			t.Errorf("redirect to /login: %s = %q, want %q", k, got, v)
		}
	}
}
