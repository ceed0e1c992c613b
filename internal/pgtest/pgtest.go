// Package pgtest gives tests a fresh Postgres schema in the database named by
// CONEXOR_TEST_POSTGRES_DSN. It depends on nothing of Conexor's, so every package's tests
// (storage, provider's internal tests, the e2e harness) can share it without import cycles.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, to create and drop schemas
)

// DSNEnv names the variable holding the Postgres URL. .ci/run sets it.
const DSNEnv = "CONEXOR_TEST_POSTGRES_DSN"

// Schema creates an empty schema, drops it when tb ends (after tb's other cleanups, so
// stores opened on it are closed first), and returns the DSN with search_path pointing at it.
// Without the variable it skips tb, except in CI (CI=true), where every suite must run and
// a missing database is a failure.
func Schema(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(DSNEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but %s is not set: .ci/run points it at the local Postgres", DSNEnv)
		}
		tb.Skipf("Postgres variant skipped: set %s (e.g. %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", DSNEnv, DSNEnv)
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("pgtest: %s must be a postgres:// URL", DSNEnv)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatalf("pgtest: open %s: %v", DSNEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		tb.Fatalf("pgtest: Postgres at %s unreachable: %v", DSNEnv, err)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("pgtest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
