package provider_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/pgtest"
	"github.com/conexor/conexor/internal/testenv"
)

// wantUnavailable checks a 503 with Retry-After that names temporarily_unavailable and
// shows nothing of the database (no SQL, no driver message).
func wantUnavailable(t *testing.T, what string, r *testenv.Response) {
	t.Helper()
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("%s: status %d, Retry-After %q, want 503 with Retry-After: %s", what, r.StatusCode, r.Header.Get("Retry-After"), r.Body)
	}
	if !bytes.Contains(r.Body, []byte("temporarily_unavailable")) {
		t.Errorf("%s: body does not name temporarily_unavailable: %s", what, r.Body)
	}
	for _, leak := range []string{"SELECT", "INSERT", "UPDATE", "sql:", "database is closed", "SQLSTATE", "read-only", "read only"} {
		if bytes.Contains(r.Body, []byte(leak)) {
			t.Errorf("%s: body shows %q: %s", what, leak, r.Body)
		}
	}
}

func registerBody() *strings.Reader {
	b, _ := json.Marshal(map[string]any{"client_name": "x", "token_endpoint_auth_method": "none",
		"redirect_uris": []string{"http://127.0.0.1:9999/callback"}})
	return strings.NewReader(string(b))
}

// unavailableRequests sends each kind of request the storage failure must answer with 503:
// the token endpoint, revocation of token, introspection (when introspect is set),
// registration and a browser page (the consent page, or the login page when login is set).
func unavailableRequests(t *testing.T, e *testenv.Env, clientID, secret, token string, introspect, login bool) {
	t.Helper()
	auth := &testenv.Auth{ID: clientID, Secret: secret}
	wantUnavailable(t, "token", e.PostForm("/api/oauth/token", url.Values{"grant_type": {"client_credentials"}}, auth))
	wantUnavailable(t, "revoke", e.PostForm("/api/oauth/revoke", url.Values{"token": {token}}, auth))
	if introspect {
		wantUnavailable(t, "introspect", e.PostForm("/api/oauth/introspect", url.Values{"token": {token}}, auth))
	}
	req := e.NewRequest(http.MethodPost, "/api/oauth/register", registerBody())
	req.Header.Set("Content-Type", "application/json")
	wantUnavailable(t, "register", e.Do(req))
	q := url.Values{"client_id": {e.PublicClientID}, "response_type": {"code"}, "redirect_uri": {"http://localhost:3000/callback"},
		"code_challenge": {testChallenge()}, "code_challenge_method": {"S256"}, "state": {"state-0123456789"},
		"resource": {e.ResourceURL("acme", "sales-api")}}
	page := "/oauth/consent?" + q.Encode()
	if login {
		page = "/login"
	}
	r := e.Get(page)
	wantUnavailable(t, page, r)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: content type %q, want an HTML page", page, ct)
	}
}

// A database that is gone (closed, as at shutdown or when the connection pool is lost)
// answers 503 temporarily_unavailable with Retry-After on every endpoint, never a 500
// "The error is unrecognizable", an invalid_client or an "inactive" introspection.
func TestStorageUnavailableClosed(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	token := e.Token(e.ClientID, e.ClientSecret)
	if err := e.Store.Close(); err != nil {
		t.Fatal(err)
	}
	unavailableRequests(t, e, e.ClientID, e.ClientSecret, token, true, false)
}

// A read-only Postgres (a replica, or default_transaction_read_only as here) answers 503 to
// every request that must write; what only reads (introspection, the consent page's
// redirect to log in) still works. The login page writes a pre-login session. A server does
// not start on a read-only database (storage.ErrReadOnly), so this one turns read-only
// while it runs, as after a failover onto a replica.
func TestStorageUnavailableReadOnlyPostgres(t *testing.T) {
	schema := pgtest.Schema(t)
	roleDSN, setReadOnly := pgtest.Role(t, schema)
	rw := testenv.New(t, testenv.Options{DatabaseURL: schema})
	token := rw.Token(rw.ClientID, rw.ClientSecret)
	ro := testenv.New(t, testenv.Options{
		DatabaseURL: roleDSN,
		Secret:      rw.Config.Secret,
		// Same issuer, so the tokens of rw are this server's too.
		Configure: func(c *config.Config) { c.Issuer = rw.URL },
	})
	setReadOnly(true)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r := ro.Get("/readyz"); string(r.Body) == "not ready: database is read-only\n" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("/readyz after the database turned read-only = %d %q", r.StatusCode, r.Body)
		}
	}
	ro.PublicClientID = rw.PublicClientID
	r := ro.PostForm("/api/oauth/introspect", url.Values{"token": {token}}, &testenv.Auth{ID: rw.ClientID, Secret: rw.ClientSecret})
	if r.StatusCode != http.StatusOK || r.JSON(t)["active"] != true {
		t.Fatalf("introspection on a read-only database: %d %s", r.StatusCode, r.Body)
	}
	unavailableRequests(t, ro, rw.ClientID, rw.ClientSecret, token, false, true)
}
