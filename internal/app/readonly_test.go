package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/pgtest"
	"github.com/conexor/conexor/internal/testenv"
)

// TestPostgresTurnsReadOnly: the database of a running server becomes read-only, as after
// a failover onto a replica (here its role gets default_transaction_read_only and its
// sessions are ended, so the pool reconnects to a read-only session). /readyz says "not
// ready: database is read-only" and the token endpoint and the login page answer 503 (they
// answered 500 "The error is unrecognizable", issue 12 item 5); once writable again, all
// recover.
func TestPostgresTurnsReadOnly(t *testing.T) {
	dsn, setReadOnly := pgtest.Role(t, pgtest.Schema(t))
	e := testenv.New(t, testenv.Options{DatabaseURL: dsn})
	e.Token(e.ClientID, e.ClientSecret)

	setReadOnly(true)
	awaitReadyz(t, e, http.StatusServiceUnavailable, "not ready: database is read-only\n")
	tok := e.PostForm("/api/oauth/token", url.Values{"grant_type": {"client_credentials"}},
		&testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret})
	if tok.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(tok.Body), `"temporarily_unavailable"`) || tok.Header.Get("Retry-After") == "" {
		t.Errorf("token on a read-only database = %d %s, want 503 temporarily_unavailable with Retry-After", tok.StatusCode, tok.Body)
	}
	login := e.Get("/login")
	if login.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(login.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /login on a read-only database = %d %s", login.StatusCode, login.Header.Get("Content-Type"))
	}

	setReadOnly(false)
	awaitReadyz(t, e, http.StatusOK, "ready\n")
	e.Token(e.ClientID, e.ClientSecret)
}

// awaitReadyz polls /readyz until it answers status and body, for a generous while.
func awaitReadyz(t *testing.T, e *testenv.Env, status int, body string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.Get("/readyz")
		if r.StatusCode == status && string(r.Body) == body {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %q, want %d %q", r.StatusCode, r.Body, status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
