package provider_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	_ "github.com/mattn/go-sqlite3" // raw access to the test database, to make writes fail

	"github.com/conexor/conexor/internal/testenv"
)

var inactive = map[string]any{"active": false}

// forEachDatabase runs f in parallel subtests on SQLite and on Postgres; the Postgres one is
// skipped, saying why, when CONEXOR_TEST_POSTGRES_DSN is unset.
func forEachDatabase(t *testing.T, f func(t *testing.T, opts testenv.Options)) {
	t.Helper()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			f(t, testenv.Options{Postgres: db == "postgres"})
		})
	}
}

// TestRevocation covers RFC 7009 for access tokens: revoked tokens are inactive at
// introspection, unknown tokens answer 200, and no client can revoke another's token.
func TestRevocation(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testRevocation)
}

func testRevocation(t *testing.T, opts testenv.Options) {
	e := testenv.New(t, opts)
	// A second confidential client of the same server: it may introspect the seeded
	// client's tokens but not revoke them.
	peerID, peerSecret := e.CreateServerClient("acme/sales-api", "mcp:tools:read")

	tok := e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read")
	kept := e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read")

	// Another client's token: refused, and the token stays active.
	r := e.Revoke(peerID, peerSecret, tok)
	if r.StatusCode != http.StatusBadRequest || r.JSON(t)["error"] != "unauthorized_client" {
		t.Fatalf("revoke another client's token: %d %s, want 400 unauthorized_client", r.StatusCode, r.Body)
	}
	if got := e.Introspect(e.ClientID, e.ClientSecret, tok)["active"]; got != true {
		t.Fatalf("after a refused revocation active = %v, want true", got)
	}

	// The owner revokes it: 200, then inactive for everyone who could see it, at once,
	// although tok was introspected above and so is answered from the verified-claims
	// cache: the revocation set has it before the 200 (mcp.Gateway.AfterRevocation).
	r = e.Revoke(e.ClientID, e.ClientSecret, tok)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s, want 200", r.StatusCode, r.Body)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("revoke Cache-Control = %q, want no-store", got)
	}
	for _, caller := range []struct{ id, secret string }{{e.ClientID, e.ClientSecret}, {peerID, peerSecret}} {
		if diff := cmp.Diff(inactive, e.Introspect(caller.id, caller.secret, tok)); diff != "" {
			t.Errorf("introspect revoked token as %s (-want +got):\n%s", caller.id, diff)
		}
	}
	if _, err := e.Provider.VerifyAccessToken(context.Background(), tok); err != nil {
		// The signature is still good: revocation is what the resource server must check.
		t.Errorf("VerifyAccessToken of a revoked token: %v (the JWT itself is intact)", err)
	}
	// Revoking only that token, not the client's others.
	if got := e.Introspect(e.ClientID, e.ClientSecret, kept)["active"]; got != true {
		t.Errorf("another token of the same client: active = %v, want true", got)
	}

	// Again, and with Basic auth and a wrong hint: still 200 (RFC 7009 2.2).
	r = e.PostForm("/api/oauth/revoke", url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}},
		&testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret, Basic: true})
	if r.StatusCode != http.StatusOK {
		t.Errorf("revoke an already revoked token: %d %s, want 200", r.StatusCode, r.Body)
	}
	// Unknown tokens: 200.
	for _, unknown := range []string{"not-a-token", "a.b.c", strings.Repeat("x", 4000)} {
		if r := e.Revoke(e.ClientID, e.ClientSecret, unknown); r.StatusCode != http.StatusOK {
			t.Errorf("revoke unknown token %.20q: %d %s, want 200", unknown, r.StatusCode, r.Body)
		}
	}
	// The hint access_token is honoured as well.
	r = e.PostForm("/api/oauth/revoke", url.Values{"token": {kept}, "token_type_hint": {"access_token"}}, &testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("revoke with hint access_token: %d %s", r.StatusCode, r.Body)
	}
	if diff := cmp.Diff(inactive, e.Introspect(e.ClientID, e.ClientSecret, kept)); diff != "" {
		t.Errorf("introspect after revocation with hint (-want +got):\n%s", diff)
	}
}

// TestRevocationStorageFailure: when the database fails, revocation must answer 503 so the
// client retries; a 200 would leave a token alive that its owner believes dead.
func TestRevocationStorageFailure(t *testing.T) {
	t.Parallel()

	t.Run("writes fail", func(t *testing.T) {
		t.Parallel()
		e := testenv.New(t, testenv.Options{})
		tok := e.Token(e.ClientID, e.ClientSecret)
		raw := rawSQLite(t, e)
		mustExec(t, raw, `CREATE TRIGGER fail_revocation BEFORE UPDATE ON oauth_access_tokens
			BEGIN SELECT RAISE(ABORT, 'disk on fire in sql'); END`)

		r := e.Revoke(e.ClientID, e.ClientSecret, tok)
		checkUnavailable(t, r, e.ClientSecret)
		if strings.Contains(string(r.Body), "disk on fire") {
			t.Errorf("the database error reached the client: %s", r.Body)
		}

		// Once the database works again the same request succeeds.
		mustExec(t, raw, `DROP TRIGGER fail_revocation`)
		if r := e.Revoke(e.ClientID, e.ClientSecret, tok); r.StatusCode != http.StatusOK {
			t.Fatalf("revoke after recovery: %d %s", r.StatusCode, r.Body)
		}
		if diff := cmp.Diff(inactive, e.Introspect(e.ClientID, e.ClientSecret, tok)); diff != "" {
			t.Errorf("introspect after recovery (-want +got):\n%s", diff)
		}
	})

	t.Run("reads fail", func(t *testing.T) {
		t.Parallel()
		e := testenv.New(t, testenv.Options{})
		tok := e.Token(e.ClientID, e.ClientSecret)
		raw := rawSQLite(t, e)
		mustExec(t, raw, `ALTER TABLE oauth_access_tokens RENAME TO oauth_access_tokens_away`)
		checkUnavailable(t, e.PostForm("/api/oauth/revoke", url.Values{"token": {tok}, "token_type_hint": {"access_token"}},
			&testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret}), e.ClientSecret)
		checkUnavailable(t, e.Revoke(e.ClientID, e.ClientSecret, "unknown-token"), e.ClientSecret)
		mustExec(t, raw, `ALTER TABLE oauth_access_tokens_away RENAME TO oauth_access_tokens`)
		if r := e.Revoke(e.ClientID, e.ClientSecret, tok); r.StatusCode != http.StatusOK {
			t.Fatalf("revoke after recovery: %d %s", r.StatusCode, r.Body)
		}
	})

	t.Run("database closed", func(t *testing.T) {
		t.Parallel()
		forEachDatabase(t, revokeWithDatabaseClosed)
	})
}

// revokeWithDatabaseClosed: with the database gone, client authentication cannot be
// decided; that is a 503, not invalid_client (the credentials are fine) and never a 200.
func revokeWithDatabaseClosed(t *testing.T, opts testenv.Options) {
	e := testenv.New(t, opts)
	tok := e.Token(e.ClientID, e.ClientSecret)
	if err := e.Store.Close(); err != nil {
		t.Fatal(err)
	}
	checkUnavailable(t, e.Revoke(e.ClientID, e.ClientSecret, tok), e.ClientSecret)
	// The same outage is not the client's fault at the other endpoints either.
	checkUnavailable(t, e.PostForm("/api/oauth/token", url.Values{"grant_type": {"client_credentials"}},
		&testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret, Basic: true}), e.ClientSecret)
	checkUnavailable(t, e.PostForm("/api/oauth/introspect", url.Values{"token": {tok}},
		&testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret}), e.ClientSecret)
}

func checkUnavailable(t *testing.T, r *testenv.Response, secret string) {
	t.Helper()
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d %s, want 503", r.StatusCode, r.Body)
		return
	}
	if got := r.JSON(t)["error"]; got != "temporarily_unavailable" {
		t.Errorf("error = %v, want temporarily_unavailable", got)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("no Retry-After on a 503")
	}
	if r.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("WWW-Authenticate on a 503: the credentials were not at fault")
	}
	assertNoLeak(t, r.Body, secret)
}

// rawSQLite opens a second connection to the Env's SQLite file.
func rawSQLite(t *testing.T, e *testenv.Env) *sql.DB {
	t.Helper()
	path, ok := strings.CutPrefix(e.Config.DatabaseURL, "sqlite://")
	if !ok {
		t.Fatalf("not a SQLite Env: %s", e.Config.DatabaseURL)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
