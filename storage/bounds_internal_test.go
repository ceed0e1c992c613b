package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/conexor/conexor/internal/pgtest"
)

// TestPurgeLimitsRunsOnLongRunningConnection: the background purge runs PurgeLimits under
// LongRunning, whose pinned connection carries the purge's statement_timeout; PurgeLimits
// must use it, not the pool (where the requests' statement_timeout applies). With a pool of
// one connection, pinned by LongRunning, a PurgeLimits that went to the pool would wait for
// a connection until the deadline.
func TestPurgeLimitsRunsOnLongRunningConnection(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Create(&limitBucket{Key: "old", FullMS: 1, EveryMS: 1, Burst: 1}).Error; err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := s.db.DB()
	sqlDB.SetMaxOpenConns(1)
	long, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var n int64
	err = s.LongRunning(long, func(ctx context.Context) error {
		var err error
		n, err = s.PurgeLimits(ctx, time.Now())
		return err
	})
	if err != nil || n != 1 {
		t.Fatalf("PurgeLimits under LongRunning = %d, %v; want 1 row deleted on the pinned connection", n, err)
	}
}

// TestCommitAfterDeadlineIsUnavailable: a transaction whose deadline fired before Commit has
// been rolled back by database/sql, and Commit says only sql.ErrTxDone; that is a database
// too slow for the deadline (a 503), not a programming error (a 500).
func TestCommitAfterDeadlineIsUnavailable(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	tx, err := s.BeginTX(short)
	if err != nil {
		t.Fatal(err)
	}
	<-short.Done()
	time.Sleep(100 * time.Millisecond) // database/sql rolls back on the deadline, asynchronously
	if err := s.Commit(tx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Commit after the transaction's deadline = %v, want ErrUnavailable", err)
	}
	// A live context's ErrTxDone is a bug in the caller, not the database's fault.
	if err := commitError(ctx, sql.ErrTxDone); errors.Is(s.unavailable(err), ErrUnavailable) {
		t.Fatalf("ErrTxDone with a live context classified as unavailable: %v", err)
	}
}

// TestStatementTimeoutIsUnavailable: Postgres cancelling a statement at statement_timeout
// (SQLSTATE 57014) is a database too slow to answer: ErrUnavailable, not a 500.
func TestStatementTimeoutIsUnavailable(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.db.WithContext(ctx).Connection(func(c *gorm.DB) error {
		if err := c.Exec("SET statement_timeout = 50").Error; err != nil {
			return err
		}
		defer c.Exec("RESET statement_timeout")
		return c.Exec("SELECT pg_sleep(1)").Error
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("pg_sleep(1) under statement_timeout=50 = %v, want SQLSTATE 57014", err)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("statement_timeout = %v, want ErrUnavailable", err)
	}
}

// TestStartupLockWaitEnds: a startup lock held by a frozen process makes WithStartupLock
// fail at the caller's deadline, saying what it waited for and who holds it, instead of
// waiting forever (statement_timeout is lifted for the wait).
func TestStartupLockWaitEnds(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sqlDB, _ := s.db.DB()
	holder, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var pid int
	if err := holder.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, "SELECT pg_advisory_lock("+startupLockKeySQL+")"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	ran := false
	err = s.WithStartupLock(short, func(context.Context) error { ran = true; return nil })
	took := time.Since(start)
	if ran || err == nil || !strings.Contains(err.Error(), "startup lock") || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", pid)) {
		t.Fatalf("WithStartupLock behind a held lock = %v (fn ran: %v), want an error naming the startup lock and pid %d", err, ran, pid)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("WithStartupLock behind a held lock = %v, want ErrUnavailable too", err)
	}
	if took > 300*time.Millisecond+slack {
		t.Errorf("WithStartupLock gave up after %v, want about 300ms", took)
	}
	if _, err := holder.ExecContext(ctx, "SELECT pg_advisory_unlock("+startupLockKeySQL+")"); err != nil {
		t.Fatal(err)
	}
	if err := s.WithStartupLock(ctx, func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("WithStartupLock once the lock is free = %v (fn ran: %v)", err, ran)
	}
}

// TestReadyUnderWriteContention: the SQLite write probe of Ready gives up on a held write
// lock within probeTimeout and counts the database writable (another writer is writing),
// where it used to queue for the whole storage_timeout and fail /readyz.
func TestReadyUnderWriteContention(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"), WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	long, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	holder, err := s.BeginTX(long) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback(holder) //nolint:errcheck
	// Twice: the probe's connection went back to the pool and the second probe is as quick.
	for i := range 2 {
		s.ready.mu.Lock()
		s.ready.at = time.Time{} // the cached verdict has expired
		s.ready.mu.Unlock()
		start := time.Now()
		err = s.Ready(ctx)
		if took := time.Since(start); err != nil || took > probeTimeout+slack/2 {
			t.Fatalf("Ready #%d behind a held write lock = %v after %v, want nil within about %v", i, err, took, probeTimeout)
		}
	}
	// Every pooled connection still waits the store's timeout for the lock, not the probe's.
	if err := s.Rollback(holder); err != nil {
		t.Fatal(err)
	}
	for i, v := range everyConn(t, s, "PRAGMA busy_timeout") {
		if v != "5000" {
			t.Errorf("connection %d: busy_timeout = %s after the probe, want 5000", i, v)
		}
	}
}

// everyConn runs query, which returns one value, on every idle connection of s's pool at
// once (all held together, so none is read twice) and returns the values.
func everyConn(t *testing.T, s *Store, query string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sqlDB, err := s.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	n := sqlDB.Stats().Idle
	if n == 0 {
		t.Fatal("no idle connection to check")
	}
	var vals []string
	for range n {
		c, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var v string
		if err := c.QueryRowContext(ctx, query).Scan(&v); err != nil {
			t.Fatal(err)
		}
		vals = append(vals, v)
	}
	return vals
}
