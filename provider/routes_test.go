package provider_test

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/conexor/conexor/internal/testenv"
)

// route is one request pushed through the real router and what must come back
// (zitadel/oidc's TestRoutes style).
type route struct {
	name   string
	method string
	path   string
	form   url.Values
	// body, when set, is sent as is instead of form (with contentType).
	body        string
	contentType string
	auth        *testenv.Auth
	wantCode    int
	// wantError is the RFC 6749 error code; "" means the body is not checked for one.
	wantError string
	// check, when set, checks the rest of the response.
	check func(t *testing.T, r *testenv.Response)
}

func cc(extra ...string) url.Values {
	v := url.Values{"grant_type": {"client_credentials"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Add(extra[i], extra[i+1])
	}
	return v
}

func header(name, want string) func(*testing.T, *testenv.Response) {
	return func(t *testing.T, r *testenv.Response) {
		t.Helper()
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func headerPrefix(name, want string) func(*testing.T, *testenv.Response) {
	return func(t *testing.T, r *testenv.Response) {
		t.Helper()
		if got := r.Header.Get(name); !strings.HasPrefix(got, want) {
			t.Errorf("%s = %q, want it to start with %q", name, got, want)
		}
	}
}

func description(want string) func(*testing.T, *testenv.Response) {
	return func(t *testing.T, r *testenv.Response) {
		t.Helper()
		if got, _ := r.JSON(t)["error_description"].(string); !strings.Contains(got, want) {
			t.Errorf("error_description = %q, want it to mention %q", got, want)
		}
	}
}

func all(checks ...func(*testing.T, *testenv.Response)) func(*testing.T, *testenv.Response) {
	return func(t *testing.T, r *testenv.Response) {
		t.Helper()
		for _, c := range checks {
			c(t, r)
		}
	}
}

// send builds and sends rt's request.
func send(t *testing.T, e *testenv.Env, rt route) *testenv.Response {
	t.Helper()
	if rt.body == "" && rt.form == nil && rt.method == http.MethodPost && rt.contentType == "" {
		// An empty form POST.
		rt.contentType = "application/x-www-form-urlencoded"
	}
	form := url.Values{}
	for k, v := range rt.form {
		form[k] = append([]string(nil), v...)
	}
	if rt.auth != nil && !rt.auth.Basic {
		form.Set("client_id", rt.auth.ID)
		form.Set("client_secret", rt.auth.Secret)
	}
	body, ct := rt.body, rt.contentType
	if body == "" && len(form) > 0 {
		body = form.Encode()
		if ct == "" {
			ct = "application/x-www-form-urlencoded"
		}
	}
	var req *http.Request
	if body == "" {
		req = e.NewRequest(rt.method, rt.path, nil)
	} else {
		req = e.NewRequest(rt.method, rt.path, strings.NewReader(body))
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if rt.auth != nil && rt.auth.Basic {
		req.SetBasicAuth(url.QueryEscape(rt.auth.ID), url.QueryEscape(rt.auth.Secret))
	}
	return e.Do(req)
}

// TestRoutes pushes every kind of good and bad request through the real router and checks
// the exact status and RFC 6749 error code, then that no response leaks internals or secrets.
func TestRoutes(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	other := e.CreateServer("other/api")
	_ = other
	otherID, otherSecret := e.CreateServerClient("other/api", "mcp:tools:read")
	post := &testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret}
	basic := &testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret, Basic: true}
	wrongPost := &testenv.Auth{ID: e.ClientID, Secret: "secret_" + strings.Repeat("x", 43)}
	wrongBasic := &testenv.Auth{ID: e.ClientID, Secret: "secret_" + strings.Repeat("x", 43), Basic: true}
	unknown := &testenv.Auth{ID: "client_doesnotexist", Secret: e.ClientSecret}
	unknownBasic := &testenv.Auth{ID: "client_doesnotexist", Secret: e.ClientSecret, Basic: true}
	public := &testenv.Auth{ID: e.PublicClientID}
	tok := e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read")
	big := "grant_type=client_credentials&pad=" + strings.Repeat("a", 1<<20)

	const (
		token      = "/api/oauth/token"
		revoke     = "/api/oauth/revoke"
		introspect = "/api/oauth/introspect"
	)
	noStore := header("Cache-Control", "no-store")
	routes := []route{
		// Token endpoint: what works.
		{name: "client_secret_post", method: "POST", path: token, form: cc(), auth: post, wantCode: 200, check: noStore},
		{name: "client_secret_basic", method: "POST", path: token, form: cc(), auth: basic, wantCode: 200, check: noStore},
		{name: "scope subset", method: "POST", path: token, form: cc("scope", "mcp:tools:read"), auth: post, wantCode: 200},
		{name: "scopes separated by commas", method: "POST", path: token, form: cc("scope", "mcp:tools:read,mcp:tools:execute"), auth: post, wantCode: 200},
		{name: "own resource", method: "POST", path: token, form: cc("resource", e.ResourceURL("acme", "sales-api")), auth: post, wantCode: 200},
		{name: "form content type with charset", method: "POST", path: token, body: cc().Encode() + "&client_id=" + e.ClientID + "&client_secret=" + e.ClientSecret,
			contentType: "application/x-www-form-urlencoded; charset=UTF-8", wantCode: 200},

		// Token endpoint: client authentication.
		{name: "wrong secret (post)", method: "POST", path: token, form: cc(), auth: wrongPost, wantCode: 401, wantError: "invalid_client", check: noStore},
		{name: "wrong secret (basic)", method: "POST", path: token, form: cc(), auth: wrongBasic, wantCode: 401, wantError: "invalid_client",
			check: all(headerPrefix("WWW-Authenticate", "Basic"), noStore)},
		{name: "unknown client (post)", method: "POST", path: token, form: cc(), auth: unknown, wantCode: 401, wantError: "invalid_client"},
		{name: "unknown client (basic)", method: "POST", path: token, form: cc(), auth: unknownBasic, wantCode: 401, wantError: "invalid_client",
			check: headerPrefix("WWW-Authenticate", "Basic")},
		{name: "no client authentication", method: "POST", path: token, form: cc(), wantCode: 401, wantError: "invalid_client"},
		{name: "client_id without secret", method: "POST", path: token, form: cc("client_id", e.ClientID), wantCode: 401, wantError: "invalid_client"},
		{name: "other client's secret", method: "POST", path: token, form: cc(), auth: &testenv.Auth{ID: e.ClientID, Secret: otherSecret}, wantCode: 401, wantError: "invalid_client"},
		{name: "public client cannot use client_credentials", method: "POST", path: token, form: cc(), auth: public, wantCode: 400, wantError: "invalid_grant"},

		// Token endpoint: scopes, grants, resources.
		{name: "scope the client lacks", method: "POST", path: token, form: cc("scope", "mcp:server:manage"), auth: post, wantCode: 400, wantError: "invalid_scope"},
		{name: "one scope of two lacking", method: "POST", path: token, form: cc("scope", "mcp:tools:read mcp:server:manage"), auth: post, wantCode: 400, wantError: "invalid_scope"},
		{name: "unknown scope", method: "POST", path: token, form: cc("scope", "admin"), auth: post, wantCode: 400, wantError: "invalid_scope"},
		{name: "unknown grant", method: "POST", path: token, form: url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}, auth: post,
			wantCode: 400, wantError: "unsupported_grant_type", check: description("password")},
		{name: "missing grant_type", method: "POST", path: token, form: url.Values{"scope": {"mcp:tools:read"}}, auth: post, wantCode: 400, wantError: "invalid_request",
			check: description("grant_type")},
		{name: "grant the client may not use", method: "POST", path: token, form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"ory_rt_x.y"}}, auth: post,
			wantCode: 400, wantError: "unauthorized_client"},
		{name: "resource of another server", method: "POST", path: token, form: cc("resource", e.ResourceURL("other", "api")), auth: post, wantCode: 400, wantError: "invalid_target"},
		{name: "resource of no server", method: "POST", path: token, form: cc("resource", e.ResourceURL("acme", "nope")), auth: post, wantCode: 400, wantError: "invalid_target"},
		{name: "resource on another host", method: "POST", path: token, form: cc("resource", "https://evil.example/mcp/acme/sales-api"), auth: post, wantCode: 400, wantError: "invalid_target"},
		{name: "two resources", method: "POST", path: token, form: cc("resource", e.ResourceURL("acme", "sales-api"), "resource", e.ResourceURL("other", "api")), auth: post,
			wantCode: 400, wantError: "invalid_target"},

		// Token endpoint: malformed requests.
		{name: "GET instead of POST", method: "GET", path: token + "?grant_type=client_credentials", wantCode: 405, wantError: "invalid_request",
			check: all(header("Allow", "POST"), description("POST"), noStore)},
		{name: "PUT", method: "PUT", path: token, form: cc(), auth: post, wantCode: 405, wantError: "invalid_request", check: header("Allow", "POST")},
		{name: "JSON body", method: "POST", path: token, body: `{"grant_type":"client_credentials"}`, contentType: "application/json", wantCode: 400, wantError: "invalid_request",
			check: description("x-www-form-urlencoded")},
		{name: "no content type", method: "POST", path: token, body: cc().Encode(), contentType: "", wantCode: 400, wantError: "invalid_request", check: description("x-www-form-urlencoded")},
		{name: "empty body", method: "POST", path: token, wantCode: 400, wantError: "invalid_request", check: description("empty")},
		{name: "1 MB body", method: "POST", path: token, body: big, contentType: "application/x-www-form-urlencoded", wantCode: 413, wantError: "invalid_request",
			check: description("larger")},
		{name: "repeated parameter", method: "POST", path: token, body: "grant_type=client_credentials&grant_type=client_credentials&client_id=" + e.ClientID + "&client_secret=" + e.ClientSecret,
			contentType: "application/x-www-form-urlencoded", wantCode: 400, wantError: "invalid_request", check: description("grant_type")},
		{name: "malformed form", method: "POST", path: token, body: "grant_type=%zz", contentType: "application/x-www-form-urlencoded", wantCode: 400, wantError: "invalid_request"},

		// Revocation endpoint.
		{name: "revoke unknown token", method: "POST", path: revoke, form: url.Values{"token": {"no-such-token"}}, auth: post, wantCode: 200, check: noStore},
		{name: "revoke without client", method: "POST", path: revoke, form: url.Values{"token": {tok}}, wantCode: 401, wantError: "invalid_client"},
		{name: "revoke without token", method: "POST", path: revoke, form: url.Values{"token_type_hint": {"access_token"}}, auth: post, wantCode: 400, wantError: "invalid_request"},
		{name: "revoke with wrong secret", method: "POST", path: revoke, form: url.Values{"token": {tok}}, auth: wrongBasic, wantCode: 401, wantError: "invalid_client",
			check: headerPrefix("WWW-Authenticate", "Basic")},
		{name: "revoke another client's token", method: "POST", path: revoke, form: url.Values{"token": {tok}}, auth: &testenv.Auth{ID: otherID, Secret: otherSecret},
			wantCode: 400, wantError: "unauthorized_client"},
		{name: "revoke with GET", method: "GET", path: revoke + "?token=x", wantCode: 405, wantError: "invalid_request", check: header("Allow", "POST")},
		{name: "revoke JSON body", method: "POST", path: revoke, body: `{"token":"x"}`, contentType: "application/json", wantCode: 400, wantError: "invalid_request"},

		// Introspection endpoint.
		{name: "introspect", method: "POST", path: introspect, form: url.Values{"token": {tok}}, auth: basic, wantCode: 200, check: noStore},
		{name: "introspect with wrong secret", method: "POST", path: introspect, form: url.Values{"token": {tok}}, auth: wrongBasic, wantCode: 401, wantError: "invalid_client",
			check: headerPrefix("WWW-Authenticate", "Basic")},
		{name: "introspect without client", method: "POST", path: introspect, form: url.Values{"token": {tok}}, wantCode: 401, wantError: "invalid_client"},
		{name: "introspect as public client", method: "POST", path: introspect, form: url.Values{"token": {tok}}, auth: public, wantCode: 401, wantError: "invalid_client"},
		{name: "introspect without token", method: "POST", path: introspect, form: url.Values{"token_type_hint": {"access_token"}}, auth: post, wantCode: 400, wantError: "invalid_request"},
		{name: "introspect with GET", method: "GET", path: introspect, wantCode: 405, wantError: "invalid_request", check: header("Allow", "POST")},

		// Everything else.
		{name: "JWKS", method: "GET", path: "/.well-known/jwks.json", wantCode: 200, check: header("Content-Type", "application/jwk-set+json")},
		{name: "JWKS by POST", method: "POST", path: "/.well-known/jwks.json", form: cc(), wantCode: 405},
		{name: "healthz", method: "GET", path: "/healthz", wantCode: 200},
		{name: "unknown path", method: "GET", path: "/api/oauth/nope", wantCode: 404},
		{name: "token path with trailing slash", method: "POST", path: token + "/", form: cc(), auth: post, wantCode: 404},
		{name: "dot segments are not cleaned into the token endpoint", method: "POST", path: "/api/x/../oauth/token", form: cc(), auth: post, wantCode: 404},
	}

	secrets := []string{e.ClientSecret, otherSecret}
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			r := send(t, e, rt)
			if r.StatusCode != rt.wantCode {
				t.Fatalf("%s %s: status %d, want %d; body %s", rt.method, rt.path, r.StatusCode, rt.wantCode, truncate(r.Body))
			}
			if rt.wantError != "" {
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
				if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
				body := r.JSON(t)
				if got := body["error"]; got != rt.wantError {
					t.Errorf("error = %v, want %q (body %s)", got, rt.wantError, r.Body)
				}
				if d, _ := body["error_description"].(string); d == "" {
					t.Errorf("no error_description: a person needs to know what to fix (body %s)", r.Body)
				}
			}
			if rt.check != nil {
				rt.check(t, r)
			}
			assertNoLeak(t, r.Body, secrets...)
		})
	}
}

// leakMarkers are what must never reach a client: SQL, Go source positions, stack traces.
var leakMarkers = []string{"sql", "SQL", "SELECT", ".go:", "goroutine", "panic", "gorm", "sqlite"}

// randomRun matches what a token, a key or an ID looks like: a long run of base64url (or JWT)
// characters. Such values are random and now and then contain "sql" by chance; words of an
// error message never are this long without a space.
var randomRun = regexp.MustCompile(`[A-Za-z0-9_.-]{20,}`)

func assertNoLeak(t *testing.T, body []byte, secrets ...string) {
	t.Helper()
	text := randomRun.ReplaceAllString(string(body), "")
	for _, m := range leakMarkers {
		if strings.Contains(text, m) {
			t.Errorf("response body contains %q: %s", m, truncate(body))
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(string(body), s) {
			t.Errorf("response body contains a client secret: %s", truncate(body))
		}
	}
}

func truncate(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "…"
	}
	return string(b)
}

// TestClientCredentialsRefusedByOAuth2Client checks refusals as x/oauth2 reports them to an
// application, in both authentication styles.
func TestClientCredentialsRefusedByOAuth2Client(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		for _, tc := range []struct {
			name, id, secret string
			scopes           []string
			wantCode         int
			wantError        string
		}{
			{"wrong secret", e.ClientID, "secret_nope", nil, 401, "invalid_client"},
			{"unknown client", "client_nope", e.ClientSecret, nil, 401, "invalid_client"},
			{"scope the client lacks", e.ClientID, e.ClientSecret, []string{"mcp:server:manage"}, 400, "invalid_scope"},
		} {
			_, err := e.ClientCredentials(tc.id, tc.secret, style, tc.scopes...).Token(e.Context())
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Errorf("style %d, %s: err = %v, want *oauth2.RetrieveError", style, tc.name, err)
				continue
			}
			if re.Response.StatusCode != tc.wantCode || re.ErrorCode != tc.wantError {
				t.Errorf("style %d, %s: %d %q, want %d %q", style, tc.name, re.Response.StatusCode, re.ErrorCode, tc.wantCode, tc.wantError)
			}
			if style == oauth2.AuthStyleInHeader && tc.wantCode == 401 {
				if got := re.Response.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic") {
					t.Errorf("%s with Basic: WWW-Authenticate = %q, want Basic", tc.name, got)
				}
			}
		}
	}
}
