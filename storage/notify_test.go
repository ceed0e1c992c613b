package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/conexor/conexor/storage"
)

// listener collects the topics one store's Listen reports.
type listener chan storage.Topic

func listenOn(t *testing.T, s *storage.Store) listener {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := make(listener, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Listen(ctx, slog.New(slog.DiscardHandler), func(topic storage.Topic) { l <- topic })
	}()
	// Stop listening before the store closes (cleanups run last-registered first).
	t.Cleanup(func() { cancel(); <-done })
	return l
}

// next waits up to d for a topic; "" when none came.
func (l listener) next(d time.Duration) storage.Topic {
	select {
	case topic := <-l:
		return topic
	case <-time.After(d):
		return ""
	}
}

func (l listener) want(t *testing.T, want storage.Topic) {
	t.Helper()
	if got := l.next(5 * time.Second); got != want {
		t.Fatalf("topic %q, want %q", got, want)
	}
}

func (l listener) wantNone(t *testing.T, d time.Duration) {
	t.Helper()
	if got := l.next(d); got != "" {
		t.Fatalf("topic %q, want none", got)
	}
}

// TestPostgresNotify: a change announced at one store reaches another store on the same
// schema (another replica), on commit and never on rollback, and no store on another schema.
// A listener whose connection is killed listens again and asks for a resync.
func TestPostgresNotify(t *testing.T) {
	ctx := context.Background()
	a, dsn := openPostgres(t)
	b, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	other, _ := openPostgres(t)
	if !a.Notifies() {
		t.Fatal("Notifies() = false on Postgres")
	}

	atB, atOther := listenOn(t, b), listenOn(t, other)
	atB.want(t, storage.TopicResync)
	atOther.want(t, storage.TopicResync)

	if err := a.Notify(ctx, storage.TopicServers); err != nil {
		t.Fatal(err)
	}
	atB.want(t, storage.TopicServers)

	// In a transaction: delivered on commit, not before, and never after a rollback.
	err = a.InTx(ctx, func(ctx context.Context) error {
		if err := a.Notify(ctx, storage.TopicClients); err != nil {
			return err
		}
		atB.wantNone(t, 300*time.Millisecond)
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("InTx: want the rollback error")
	}
	atB.wantNone(t, 300*time.Millisecond)
	err = a.InTx(ctx, func(ctx context.Context) error {
		if err := a.Notify(ctx, storage.TopicRevoked); err != nil {
			return err
		}
		atB.wantNone(t, 300*time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	atB.want(t, storage.TopicRevoked)

	// The store's own changes announce themselves: a new signing key does, deleting a key
	// that is not there does not (every replica deletes an expired key; only one succeeds).
	if err := a.AddSigningKey(ctx, &storage.SigningKey{KID: "k1", Alg: "ES256", Sealed: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	atB.want(t, storage.TopicKeys)
	if err := a.DeleteSigningKey(ctx, "no-such-key"); err != nil {
		t.Fatal(err)
	}
	atB.wantNone(t, 300*time.Millisecond)
	atOther.wantNone(t, 0)

	// Kill B's listening connection: it listens again and asks for everything to be re-read.
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var killed int
	err = admin.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query = 'LISTEN "conexor_' || left(md5(current_schema()), 16) || '"'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate B's listener: killed %d, err %v", killed, err)
	}
	atB.want(t, storage.TopicResync)
	if err := a.Notify(ctx, storage.TopicKeys); err != nil {
		t.Fatal(err)
	}
	atB.want(t, storage.TopicKeys)
}

// TestSQLiteNotifyIsNoop: SQLite is one process; nothing is announced and Listen returns.
func TestSQLiteNotifyIsNoop(t *testing.T) {
	s := openSQLite(t, "sqlite://"+filepath.Join(t.TempDir(), "n.db"))
	if s.Notifies() {
		t.Fatal("Notifies() = true on SQLite")
	}
	if err := s.Notify(context.Background(), storage.TopicKeys); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		s.Listen(context.Background(), slog.New(slog.DiscardHandler), func(storage.Topic) { t.Error("a topic on SQLite") })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Listen did not return on SQLite")
	}
}
