package storage

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// The sqlite:// URL's one option picks the durability level; anything else is refused.
func TestSQLiteSynchronousOption(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{"", 1}, {"?synchronous=normal", 1}, {"?synchronous=full", 2}, {"?synchronous=FULL", 2}} {
		s, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "s.db")+tc.query)
		if err != nil {
			t.Fatalf("%q: %v", tc.query, err)
		}
		var got int
		if err := s.db.Raw("PRAGMA synchronous").Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got != tc.want {
			t.Errorf("%q: PRAGMA synchronous = %d, want %d", tc.query, got, tc.want)
		}
	}
	for _, bad := range []string{"?synchronous=off", "?journal_mode=delete", "?synchronous=%zz"} {
		_, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "s.db")+bad)
		if err == nil || !strings.Contains(err.Error(), "sqlite URL") && !strings.Contains(err.Error(), "synchronous") {
			t.Errorf("%q: got %v, want an error naming the option", bad, err)
		}
	}
}

// Both SQLite drivers (go-sqlite3 with cgo, modernc.org/sqlite without) get the same pragmas
// from their DSN: WAL, foreign keys and the busy timeout (the store's timeout, DefaultTimeout).
func TestSQLitePragmas(t *testing.T) {
	s, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "3000"} {
		var got string
		if err := s.db.Raw("PRAGMA " + pragma).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}
