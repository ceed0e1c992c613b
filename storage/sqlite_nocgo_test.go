//go:build !cgo

package storage

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// sqliteClassification are modernc.org/sqlite's cases of TestUnavailableClassification.
// Its errors cannot be built by hand, so each is provoked on a real database.
func sqliteClassification(t *testing.T) []classification {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(dsn string) *sql.DB {
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	path := filepath.Join(dir, "c.db")
	db := open("file:" + path + "?_pragma=journal_mode(WAL)")
	if _, err := db.Exec("CREATE TABLE t (k TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO t VALUES ('a')"); err != nil {
		t.Fatal(err)
	}
	_, constraint := db.Exec("INSERT INTO t VALUES ('a')")
	if constraint == nil {
		t.Fatal("inserting a duplicate key succeeded")
	}

	// One connection holds the write lock; another, with no busy timeout, is refused.
	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	_, busy := open("file:" + path + "?_pragma=busy_timeout(0)").Exec("INSERT INTO t VALUES ('b')")
	if _, err := holder.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}

	_, readonly := open("file:" + path + "?_pragma=query_only(1)").Exec("INSERT INTO t VALUES ('c')")
	cantOpen := open("file:" + filepath.Join(dir, "missing", "c.db")).Ping()
	return []classification{
		{"sqlite busy", busy, true},
		{"sqlite read-only", readonly, true},
		{"sqlite cannot open", cantOpen, true},
		{"sqlite constraint", constraint, false},
	}
}
