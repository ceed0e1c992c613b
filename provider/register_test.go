package provider_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// register POSTs body (a JSON document, sent as is) to the registration endpoint.
func register(e *testenv.Env, body string) *testenv.Response {
	req := e.NewRequest(http.MethodPost, "/api/oauth/register", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return e.Do(req)
}

func registerJSON(t *testing.T, e *testenv.Env, doc map[string]any) *testenv.Response {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return register(e, string(b))
}

var allScopes = "mcp:tools:read mcp:tools:execute mcp:resources:read mcp:prompts:read mcp:server:read mcp:server:manage"

// What Claude, Cursor and the SDKs send is registered, every registered field is echoed,
// unknown fields are ignored, and the client belongs to no server.
func TestRegisterRealClients(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	tests := []struct {
		name string
		body string
		want map[string]any // fields of the response besides client_id and client_id_issued_at
	}{
		{
			name: "claude.ai",
			body: `{"client_name":"claudeai","token_endpoint_auth_method":"none","scope":"claudeai","grant_types":["authorization_code","refresh_token"],"redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}`,
			want: map[string]any{
				"client_name": "claudeai", "token_endpoint_auth_method": "none", "scope": allScopes,
				"grant_types": []any{"authorization_code", "refresh_token"}, "response_types": []any{"code"},
				"redirect_uris": []any{"https://claude.ai/api/mcp/auth_callback"}, "client_secret_expires_at": float64(0),
			},
		},
		{
			name: "Cursor, three redirect URIs",
			body: `{"client_name":"Cursor","redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback","https://cursor.com/oauth/callback","http://localhost:8787/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"]}`,
			want: map[string]any{
				"client_name": "Cursor", "token_endpoint_auth_method": "none", "scope": allScopes,
				"grant_types": []any{"authorization_code", "refresh_token"}, "response_types": []any{"code"},
				"redirect_uris":            []any{"cursor://anysphere.cursor-mcp/oauth/callback", "https://cursor.com/oauth/callback", "http://localhost:8787/callback"},
				"client_secret_expires_at": float64(0),
			},
		},
		{
			name: "every field echoed, unknown ones ignored, defaults filled in",
			body: `{"client_name":"VS Code","redirect_uris":["http://127.0.0.1:33418/","https://vscode.dev/redirect"],"token_endpoint_auth_method":"none",
				"client_uri":"https://code.visualstudio.com","logo_uri":"https://code.visualstudio.com/logo.png","tos_uri":"https://example.com/tos",
				"policy_uri":"https://example.com/privacy","contacts":["dev@example.com"],"software_id":"vscode","software_version":"1.99",
				"application_type":"native","scope":"offline_access openid","x_vendor":{"nested":[1,2]},"jwks_uri":"https://example.com/jwks"}`,
			want: map[string]any{
				"client_name": "VS Code", "token_endpoint_auth_method": "none", "scope": allScopes,
				"grant_types": []any{"authorization_code", "refresh_token"}, "response_types": []any{"code"},
				"redirect_uris": []any{"http://127.0.0.1:33418/", "https://vscode.dev/redirect"},
				"client_uri":    "https://code.visualstudio.com", "logo_uri": "https://code.visualstudio.com/logo.png",
				"tos_uri": "https://example.com/tos", "policy_uri": "https://example.com/privacy", "contacts": []any{"dev@example.com"},
				"software_id": "vscode", "software_version": "1.99", "application_type": "native", "client_secret_expires_at": float64(0),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := register(e, tt.body)
			if r.StatusCode != http.StatusCreated {
				t.Fatalf("status %d: %s", r.StatusCode, r.Body)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			var got map[string]any
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatal(err)
			}
			id, _ := got["client_id"].(string)
			if !strings.HasPrefix(id, "client_") {
				t.Errorf("client_id = %v", got["client_id"])
			}
			if iat, _ := got["client_id_issued_at"].(float64); iat <= 0 {
				t.Errorf("client_id_issued_at = %v", got["client_id_issued_at"])
			}
			delete(got, "client_id")
			delete(got, "client_id_issued_at")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			c, err := e.Store.ClientByID(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if c.ServerID != nil || c.Source != storage.ClientSourceDynamic || !c.Public || c.SecretHash != "" {
				t.Errorf("stored client = %+v, want public, dynamic, bound to no server", c)
			}
		})
	}
}

// A confidential client gets a generated secret, once, and may authenticate with it either
// way (client_secret_basic and client_secret_post) whichever it registered.
func TestRegisterConfidentialClient(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			e := testenv.New(t, testenv.Options{Postgres: db == "postgres"})
			for _, method := range []string{"client_secret_post", "client_secret_basic", ""} {
				t.Run("method="+method, func(t *testing.T) {
					doc := map[string]any{"client_name": "n8n", "redirect_uris": []string{"https://n8n.example/rest/oauth2-credential/callback"}}
					if method != "" {
						doc["token_endpoint_auth_method"] = method
					}
					r := registerJSON(t, e, doc)
					if r.StatusCode != http.StatusCreated {
						t.Fatalf("status %d: %s", r.StatusCode, r.Body)
					}
					got := r.JSON(t)
					secret, _ := got["client_secret"].(string)
					id, _ := got["client_id"].(string)
					wantMethod := method
					if wantMethod == "" {
						wantMethod = "client_secret_basic" // RFC 7591 section 2's default
					}
					if !strings.HasPrefix(secret, "secret_") || got["token_endpoint_auth_method"] != wantMethod || got["client_secret_expires_at"] != json.Number("0") {
						t.Fatalf("response = %s", r.Body)
					}
					for _, basic := range []bool{false, true} {
						tok := exchangeCode(t, e, id, &testenv.Auth{ID: id, Secret: secret, Basic: basic}, "https://n8n.example/rest/oauth2-credential/callback")
						if tok.StatusCode != http.StatusOK {
							t.Errorf("code exchange (basic=%v): %d %s", basic, tok.StatusCode, tok.Body)
						}
					}
					wrong := exchangeCode(t, e, id, &testenv.Auth{ID: id, Secret: secret + "x"}, "https://n8n.example/rest/oauth2-credential/callback")
					if wrong.StatusCode != http.StatusUnauthorized {
						t.Errorf("wrong secret: %d %s", wrong.StatusCode, wrong.Body)
					}
				})
			}
		})
	}
}

const testVerifier = "test-verifier-test-verifier-test-verifier-0123456789"

func testChallenge() string {
	sum := sha256.Sum256([]byte(testVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// issueCode runs the authorization request for clientID through the provider as the consent
// page does once the demo admin approved it, and returns the code.
func issueCode(t *testing.T, e *testenv.Env, q url.Values, scopes ...string) string {
	t.Helper()
	ctx := context.Background()
	ar, aerr := e.Provider.ParseAuthorize(ctx, q)
	if aerr != nil {
		t.Fatalf("ParseAuthorize: %v", aerr)
	}
	u, err := e.Store.UserByEmail(ctx, app.DemoAdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	if len(scopes) == 0 {
		scopes = ar.Scopes
	}
	redirect, err := e.Provider.IssueCode(ctx, ar, u.ID, scopes)
	if err != nil {
		t.Fatal(err)
	}
	ru, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	if ru.Query().Get("iss") != e.URL {
		t.Errorf("iss = %q, want %q", ru.Query().Get("iss"), e.URL)
	}
	return ru.Query().Get("code")
}

func authorizeQuery(e *testenv.Env, clientID, redirectURI string) url.Values {
	return url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirectURI},
		"code_challenge": {testChallenge()}, "code_challenge_method": {"S256"}, "state": {"state-0123456789"},
		"scope": {"mcp:tools:read mcp:tools:execute"}, "resource": {e.ResourceURL("acme", "sales-api")},
	}
}

// exchangeCode gets a code for clientID and exchanges it at the token endpoint, with the
// resource indicator, authenticated as auth says (nil: public client).
func exchangeCode(t *testing.T, e *testenv.Env, clientID string, auth *testenv.Auth, redirectURI string) *testenv.Response {
	t.Helper()
	code := issueCode(t, e, authorizeQuery(e, clientID, redirectURI))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"code_verifier": {testVerifier}, "resource": {e.ResourceURL("acme", "sales-api")}}
	if auth == nil {
		form.Set("client_id", clientID)
	}
	return e.PostForm("/api/oauth/token", form, auth)
}

// Every class of bad input is refused with RFC 7591's error code, and nothing is stored.
func TestRegisterRefusals(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	good := `"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"`
	tests := []struct {
		name, contentType, body string
		wantStatus              int
		wantError               string
	}{
		{"javascript: redirect URI", "", `{"redirect_uris":["javascript:alert(1)"]}`, 400, "invalid_redirect_uri"},
		{"data: redirect URI", "", `{"redirect_uris":["data:text/html,<script>alert(1)</script>"]}`, 400, "invalid_redirect_uri"},
		{"file: redirect URI", "", `{"redirect_uris":["file:///etc/passwd"]}`, 400, "invalid_redirect_uri"},
		{"fragment", "", `{"redirect_uris":["https://app.example/cb#frag"]}`, 400, "invalid_redirect_uri"},
		{"user info", "", `{"redirect_uris":["https://user:pw@app.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"wildcard", "", `{"redirect_uris":["https://*.app.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"http off loopback", "", `{"redirect_uris":["http://app.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"one bad among good ones", "", `{"redirect_uris":["https://app.example/cb","javascript:alert(1)"]}`, 400, "invalid_redirect_uri"},
		{"no redirect URIs", "", `{"client_name":"x"}`, 400, "invalid_redirect_uri"},
		{"caller-chosen secret", "", `{` + good + `,"client_secret":"my-own-secret"}`, 400, "invalid_client_metadata"},
		{"client_credentials", "", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"client_secret_basic","grant_types":["client_credentials"]}`, 400, "invalid_client_metadata"},
		{"implicit", "", `{` + good + `,"grant_types":["implicit"]}`, 400, "invalid_client_metadata"},
		{"response_type token", "", `{` + good + `,"response_types":["token"]}`, 400, "invalid_client_metadata"},
		{"private_key_jwt", "", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, 400, "invalid_client_metadata"},
		{"javascript logo_uri", "", `{` + good + `,"logo_uri":"javascript:alert(1)"}`, 400, "invalid_client_metadata"},
		{"malformed JSON", "", `{"redirect_uris":["https://app.example/cb"]`, 400, "invalid_client_metadata"},
		{"not an object", "", `["https://app.example/cb"]`, 400, "invalid_client_metadata"},
		{"redirect_uris not an array", "", `{"redirect_uris":"https://app.example/cb"}`, 400, "invalid_client_metadata"},
		{"form body", "application/x-www-form-urlencoded", `redirect_uris=https://app.example/cb`, 400, "invalid_client_metadata"},
		{"oversized body", "", `{` + good + `,"client_name":"` + strings.Repeat("a", provider.MaxRegistrationBytes) + `"}`, 413, "invalid_client_metadata"},
	}
	if len(tests) > 20 {
		t.Fatalf("%d requests would exceed the registration burst of one address", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := e.NewRequest(http.MethodPost, "/api/oauth/register", strings.NewReader(tt.body))
			ct := tt.contentType
			if ct == "" {
				ct = "application/json; charset=utf-8"
			}
			req.Header.Set("Content-Type", ct)
			r := e.Do(req)
			if r.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tt.wantStatus, r.Body)
			}
			got := r.JSON(t)
			if got["error"] != tt.wantError {
				t.Errorf("error = %v, want %s (%v)", got["error"], tt.wantError, got["error_description"])
			}
			if d, _ := got["error_description"].(string); d == "" || strings.Contains(d, "sql") || strings.Contains(d, ".go:") {
				t.Errorf("error_description = %q", d)
			}
		})
	}
}

func TestRegisterMethodNotAllowed(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	r := e.Get("/api/oauth/register")
	if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: %d Allow=%q %s", r.StatusCode, r.Header.Get("Allow"), r.Body)
	}
}

// Registration is rate-limited per address: the burst passes, the next request is 429 with
// Retry-After and a JSON error.
func TestRegisterRateLimit(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	for i := 0; i < 20; i++ {
		if r := register(e, `{`); r.StatusCode != http.StatusBadRequest {
			t.Fatalf("request %d: %d %s", i+1, r.StatusCode, r.Body)
		}
	}
	r := register(e, `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`)
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("request 21: %d %s", r.StatusCode, r.Body)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	if got := r.JSON(t); got["error"] != "too_many_requests" {
		t.Errorf("body = %s", r.Body)
	}
	// Other endpoints are not affected.
	if m := e.Get("/.well-known/oauth-authorization-server"); m.StatusCode != http.StatusOK {
		t.Errorf("metadata after the limit: %d", m.StatusCode)
	}
}

// TestRegisterUnstorableText: text a database cannot store (a NUL character, invalid
// UTF-8) is refused before storage with invalid_client_metadata naming the member, not
// left to fail in PostgreSQL (SQLSTATE 22021) as a 500. Unknown members are still ignored.
func TestRegisterUnstorableText(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	good := `"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"`
	for _, tc := range []struct{ name, body, field string }{
		{"NUL in client_name", `{` + good + `,"client_name":"a\u0000b"}`, "client_name"},
		{"invalid UTF-8 in client_name", "{" + good + ",\"client_name\":\"caf\xe9\"}", "client_name"},
		{"NUL in contacts", `{` + good + `,"contacts":["a@example.com\u0000"]}`, "contacts"},
		{"invalid UTF-8 in software_version", "{" + good + ",\"software_version\":\"1\xff\"}", "software_version"},
		{"NUL in a redirect URI", `{"redirect_uris":["https://app.example/cb\u0000"],"token_endpoint_auth_method":"none"}`, "redirect_uris"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := register(e, tc.body)
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.StatusCode, r.Body)
			}
			got := r.JSON(t)
			if d, _ := got["error_description"].(string); got["error"] != "invalid_client_metadata" || !strings.HasPrefix(d, tc.field+" ") {
				t.Errorf("error %v, description %q: want invalid_client_metadata naming %s", got["error"], d, tc.field)
			}
		})
	}
	if r := register(e, "{"+good+",\"x_vendor\":\"\\u0000\xff\"}"); r.StatusCode != http.StatusCreated {
		t.Errorf("an unknown member with such text: status %d, want 201 (ignored): %s", r.StatusCode, r.Body)
	}
}
