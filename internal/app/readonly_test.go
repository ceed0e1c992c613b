package app_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to administer the test role

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
	ctx := context.Background()
	dsn := os.Getenv(pgtest.DSNEnv)
	if dsn == "" {
		pgtest.Schema(t) // skips, or fails in CI, with the usual message
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	role := "conexor_ro_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		admin.Close()
		t.Fatalf("create role (needs a superuser DSN): %v", err)
	}
	endSessions := func() {
		if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { // after the schema is dropped (registered before it)
		defer admin.Close()
		if _, err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role); err != nil {
			t.Errorf("end sessions: %v", err)
		}
		if _, err := admin.Exec("DROP ROLE " + role); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	u, err := url.Parse(pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "GRANT ALL ON SCHEMA "+u.Query().Get("search_path")+" TO "+role); err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	e := testenv.New(t, testenv.Options{DatabaseURL: u.String()})
	e.Token(e.ClientID, e.ClientSecret)

	if _, err := admin.ExecContext(ctx, "ALTER ROLE "+role+" SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	endSessions()
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

	if _, err := admin.ExecContext(ctx, "ALTER ROLE "+role+" RESET default_transaction_read_only"); err != nil {
		t.Fatal(err)
	}
	endSessions()
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
