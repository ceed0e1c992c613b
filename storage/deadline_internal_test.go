package storage

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/pgtest"
)

// slack is what a bounded call may take beyond its bound on a slow, shared CI machine.
const slack = 2 * time.Second

// TestTimeoutBoundsSQLiteWriters: a writer queued behind a transaction that holds SQLite's
// write lock gives up at the store's timeout with ErrUnavailable (busy_timeout and the
// deadline agree), where it used to wait 10 s whatever storage_timeout said.
func TestTimeoutBoundsSQLiteWriters(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"), WithTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// A caller's own deadline is kept, even past the store's timeout: this transaction
	// holds the write lock for a second.
	long, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	holder, err := s.BeginTX(long)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.InTx(ctx, func(context.Context) error { return nil })
	took := time.Since(start)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("write behind a held lock = %v, want ErrUnavailable", err)
	}
	if took > 300*time.Millisecond+slack {
		t.Errorf("write behind a held lock gave up after %v, want about 300ms", took)
	}
	time.Sleep(time.Second)
	if err := s.Commit(holder); err != nil {
		t.Errorf("the long transaction, past the store's timeout but within its own deadline: %v", err)
	}
}

// TestPostgresDeadlines: a statement without a deadline ends at the store's timeout with
// ErrUnavailable; one whose caller gave a longer deadline runs to it; the server-side
// statement_timeout is the store's timeout plus a second unless the URL sets one.
func TestPostgresDeadlines(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	s, err := Open(ctx, dsn, WithTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	start := time.Now()
	err = s.db.WithContext(ctx).Exec("SELECT pg_sleep(5)").Error
	if took := time.Since(start); !errors.Is(err, ErrUnavailable) || took > 500*time.Millisecond+slack {
		t.Errorf("pg_sleep(5) under a 500ms timeout = %v after %v, want ErrUnavailable after about 500ms", err, took)
	}
	long, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.db.WithContext(long).Exec("SELECT pg_sleep(1)").Error; err != nil {
		t.Errorf("pg_sleep(1) within the caller's 10s deadline: %v", err)
	}
	// Past statement_timeout (1.5s here) too, inside LongRunning.
	err = s.LongRunning(long, func(ctx context.Context) error {
		return s.conn(ctx).Exec("SELECT pg_sleep(2)").Error
	})
	if err != nil {
		t.Errorf("pg_sleep(2) in LongRunning within the caller's 10s deadline: %v", err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Errorf("Ready after a timed-out statement: %v", err)
	}

	// Every pooled connection is back at the default, LongRunning's and the startup lock's
	// included: all of them are read, held at once so that none is read twice.
	if err := s.WithStartupLock(ctx, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for i, got := range everyConn(t, s, "SHOW statement_timeout") {
		if got != "1500ms" {
			t.Errorf("connection %d: statement_timeout = %q; want 1500ms", i, got)
		}
	}
	var got string
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("statement_timeout", "60000")
	u.RawQuery = q.Encode()
	s2, err := Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.db.Raw("SHOW statement_timeout").Scan(&got).Error; err != nil || got != "1min" {
		t.Errorf("statement_timeout set in the URL = %q, %v; want 1min", got, err)
	}
}
