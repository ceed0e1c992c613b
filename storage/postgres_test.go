package storage_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/storage/storagetest"
)

// postgresDSNEnv names the variable holding a Postgres URL for these tests. CI sets it.
const postgresDSNEnv = "CONEXOR_TEST_POSTGRES_DSN"

// postgresAdmin returns the base DSN and a connection used to create and drop the per-test
// schemas, or skips t when no database is configured.
func postgresAdmin(t *testing.T) (string, *sql.DB) {
	t.Helper()
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		t.Skipf("Postgres tests skipped: set %s, e.g. %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable", postgresDSNEnv, postgresDSNEnv)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", postgresDSNEnv, err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.PingContext(context.Background()); err != nil {
		t.Fatalf("Postgres at %s unreachable: %v", postgresDSNEnv, err)
	}
	return dsn, admin
}

// freshSchema creates an empty schema, drops it when t ends, and returns dsn pointed at it
// through pgx's search_path runtime parameter.
func freshSchema(t *testing.T, dsn string, admin *sql.DB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", postgresDSNEnv)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openPostgres opens and migrates a store in a fresh schema; it is closed before the schema
// is dropped.
func openPostgres(t *testing.T, dsn string, admin *sql.DB) (*storage.Store, string) {
	t.Helper()
	ctx := context.Background()
	schemaDSN := freshSchema(t, dsn, admin)
	s, err := storage.Open(ctx, schemaDSN)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if got := s.Dialect(); got != "postgres" {
		t.Fatalf("Dialect = %q, want postgres", got)
	}
	return s, schemaDSN
}

// TestPostgres runs the conformance suite against Postgres, one schema per subtest.
func TestPostgres(t *testing.T) {
	dsn, admin := postgresAdmin(t)
	storagetest.RunTests(t, func(t *testing.T) *storage.Store {
		s, _ := openPostgres(t, dsn, admin)
		return s
	})
}

// TestPostgresOnlyHashesStored reads the token tables through a second connection to prove
// no raw token signature is written.
func TestPostgresOnlyHashesStored(t *testing.T) {
	dsn, admin := postgresAdmin(t)
	s, schemaDSN := openPostgres(t, dsn, admin)
	raw, err := sql.Open("pgx", schemaDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	checkOnlyHashesStored(t, s, raw)
}

// TestPostgresMigrateIdempotent: a second Migrate on a populated schema succeeds.
func TestPostgresMigrateIdempotent(t *testing.T) {
	dsn, admin := postgresAdmin(t)
	s, _ := openPostgres(t, dsn, admin)
	ctx := context.Background()
	if _, err := s.EnsureOrg(ctx, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if _, err := s.OrgBySlug(ctx, "acme"); err != nil {
		t.Fatalf("org lost across migrate: %v", err)
	}
}
