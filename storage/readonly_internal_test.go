package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestReadyReadOnlySQLite: a SQLite database that stops taking writes while the server runs
// (here PRAGMA query_only on the one connection of :memory:; a read-only remount or a
// changed permission fail the same write probe) makes Ready report ErrReadOnly, also as
// ErrUnavailable, within a second; and ready again once it takes writes.
func TestReadyReadOnlySQLite(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready on a writable database: %v", err)
	}
	if err := s.db.Exec("PRAGMA query_only = ON").Error; err != nil {
		t.Fatal(err)
	}
	awaitReady(t, s, func(err error) bool { return errors.Is(err, ErrReadOnly) && errors.Is(err, ErrUnavailable) })
	if err := s.db.Exec("PRAGMA query_only = OFF").Error; err != nil {
		t.Fatal(err)
	}
	awaitReady(t, s, func(err error) bool { return err == nil })
}

// awaitReady polls Ready until ok(err), for at most a few of Ready's cache intervals.
func awaitReady(t *testing.T, s *Store, ok func(error) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * readyInterval)
	for {
		err := s.Ready(context.Background())
		if ok(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ready = %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
