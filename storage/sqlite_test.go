package storage_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/storage/storagetest"
)

// openSQLite opens and migrates a store at url and closes it when t ends.
func openSQLite(t *testing.T, url string) *storage.Store {
	t.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if got := s.Dialect(); got != "sqlite" {
		t.Fatalf("Dialect = %q, want sqlite", got)
	}
	return s
}

// TestSQLiteFile runs the conformance suite against a fresh SQLite file per subtest.
func TestSQLiteFile(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) *storage.Store {
		return openSQLite(t, "sqlite://"+filepath.Join(t.TempDir(), "c.db"))
	})
}

// TestSQLiteShared runs the cases of two stores on one SQLite file, as the server and
// `conexor clients revoke` are.
func TestSQLiteShared(t *testing.T) {
	storagetest.RunSharedTests(t, func(t *testing.T) (a, b *storage.Store) {
		url := "sqlite://" + filepath.Join(t.TempDir(), "c.db")
		return openSQLite(t, url), openSQLite(t, url)
	})
}

// TestSQLiteMemory runs the conformance suite against in-memory SQLite (one connection).
func TestSQLiteMemory(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) *storage.Store {
		return openSQLite(t, "sqlite://:memory:")
	})
}

// TestSQLiteOnlyHashesStored reads the database file directly to prove no raw token
// signature is written.
func TestSQLiteOnlyHashesStored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := openSQLite(t, "sqlite://"+path)
	raw, err := openRawSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	checkOnlyHashesStored(t, s, raw)
}

// TestSQLiteMigrateIdempotent: Migrate runs on every start, so a second run must succeed
// and keep the data.
func TestSQLiteMigrateIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s := openSQLite(t, "sqlite://"+path)
	if _, err := s.EnsureOrg(ctx, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	s2 := openSQLite(t, "sqlite://"+path)
	if _, err := s2.OrgBySlug(ctx, "acme"); err != nil {
		t.Fatalf("org lost across reopen and migrate: %v", err)
	}
}

// TestOpenRejectsUnknownURL: only sqlite:// and postgres:// are accepted, and the error does
// not echo a password.
func TestOpenRejectsUnknownURL(t *testing.T) {
	_, err := storage.Open(context.Background(), "mysql://user:secret@host/db")
	if err == nil {
		t.Fatal("Open(mysql://) succeeded")
	}
	if got := err.Error(); strings.Contains(got, "secret") {
		t.Fatalf("error leaks the password: %s", got)
	}
	if _, err := storage.Open(context.Background(), "sqlite://"); err == nil {
		t.Fatal("Open(sqlite://) without a path succeeded")
	}
}
