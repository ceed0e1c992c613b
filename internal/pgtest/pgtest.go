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

// Role creates a login role with every privilege on the schema of schemaDSN (a DSN Schema
// returned) and returns that DSN connecting as the role, and a switch that makes the role's
// sessions read-only or writable again, as a failover onto a replica and back would: it sets
// default_transaction_read_only for the role and ends the role's open sessions, so that
// clients reconnect into the new state. The role is dropped when tb ends. It needs the
// superuser DSN of DSNEnv (trust authentication for the new role, as on the test machine).
func Role(tb testing.TB, schemaDSN string) (dsn string, setReadOnly func(bool)) {
	tb.Helper()
	admin, err := sql.Open("pgx", os.Getenv(DSNEnv))
	if err != nil {
		tb.Fatalf("pgtest: open %s: %v", DSNEnv, err)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	role := "conexor_role_" + hex.EncodeToString(b)
	u, err := url.Parse(schemaDSN)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	schema := u.Query().Get("search_path")
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT ALL ON SCHEMA " + schema + " TO " + role,
		// Tables the superuser creates there later (another server on the same schema) too.
		"ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " GRANT ALL ON TABLES TO " + role,
		"ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " GRANT ALL ON SEQUENCES TO " + role,
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			admin.Close()
			tb.Fatalf("pgtest: %s: %v", q, err)
		}
	}
	endSessions := func() error {
		_, err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		return err
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if err := endSessions(); err != nil {
			tb.Errorf("pgtest: end the sessions of %s: %v", role, err)
		}
		if _, err := admin.Exec("DROP OWNED BY " + role + " CASCADE"); err != nil {
			tb.Errorf("pgtest: drop what %s owns: %v", role, err)
		}
		if _, err := admin.Exec("DROP ROLE " + role); err != nil {
			tb.Errorf("pgtest: drop role %s: %v", role, err)
		}
	})
	u.User = url.User(role)
	return u.String(), func(readOnly bool) {
		tb.Helper()
		q := "ALTER ROLE " + role + " RESET default_transaction_read_only"
		if readOnly {
			q = "ALTER ROLE " + role + " SET default_transaction_read_only = on"
		}
		if _, err := admin.ExecContext(ctx, q); err != nil {
			tb.Fatalf("pgtest: %s: %v", q, err)
		}
		if err := endSessions(); err != nil {
			tb.Fatalf("pgtest: end the sessions of %s: %v", role, err)
		}
	}
}
