package storage_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/conexor/conexor/internal/pgtest"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/storage/storagetest"
)

// openPostgres opens and migrates a store in a fresh schema; it is closed before the schema
// is dropped.
func openPostgres(t *testing.T) (*storage.Store, string) {
	t.Helper()
	ctx := context.Background()
	schemaDSN := pgtest.Schema(t)
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
	pgtest.Schema(t) // skip (or, in CI, fail) once rather than in every subtest
	storagetest.RunTests(t, func(t *testing.T) *storage.Store {
		s, _ := openPostgres(t)
		return s
	})
}

// twoPostgres opens two stores on one fresh schema, as two replicas are.
func twoPostgres(t *testing.T) (a, b *storage.Store) {
	t.Helper()
	a, schemaDSN := openPostgres(t)
	b, err := storage.Open(context.Background(), schemaDSN)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return a, b
}

// TestPostgresShared runs the cases of two stores on one schema, and those of the change
// notifications between them.
func TestPostgresShared(t *testing.T) {
	pgtest.Schema(t)
	storagetest.RunSharedTests(t, twoPostgres)
	storagetest.RunNotifiedTests(t, twoPostgres)
}

// TestPostgresOnlyHashesStored reads the token tables through a second connection to prove
// no raw token signature is written.
func TestPostgresOnlyHashesStored(t *testing.T) {
	s, schemaDSN := openPostgres(t)
	raw, err := sql.Open("pgx", schemaDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	checkOnlyHashesStored(t, s, raw)
}

// TestPostgresMigrateIdempotent: a second Migrate on a populated schema succeeds.
func TestPostgresMigrateIdempotent(t *testing.T) {
	s, _ := openPostgres(t)
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
