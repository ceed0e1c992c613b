package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"gorm.io/gorm"
)

// ErrReadOnly is a database that answers but refuses writes: a SQLite file or directory this
// user cannot write, or a Postgres hot standby (or default_transaction_read_only). The
// server cannot issue a token or open a session on it, so it is never ready. At run time
// it comes wrapped in ErrUnavailable too, so every front end answers 503.
var ErrReadOnly = errors.New("storage: database is read-only")

// readyInterval is how long Ready trusts its last read-only check: a load balancer polling
// /readyz every few hundred milliseconds must not turn into a write probe each time.
const readyInterval = time.Second

// readyCache is Ready's last read-only verdict and when it was taken.
type readyCache struct {
	mu       sync.Mutex
	at       time.Time
	readOnly bool
}

// Ready reports whether the store can serve requests now: the database answers (Ping) and
// accepts writes (the read-only check, at most once a second). A read-only database gives
// an error matching both ErrUnavailable and ErrReadOnly.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock() // concurrent probes wait for the one in flight and share it
	if time.Since(s.ready.at) >= readyInterval {
		ro, err := s.readOnly(ctx)
		if err != nil {
			return s.unavailable(err)
		}
		s.ready.at, s.ready.readOnly = time.Now(), ro
	}
	if s.ready.readOnly {
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrReadOnly)
	}
	return nil
}

// errProbeDone rolls back the SQLite write probe.
var errProbeDone = errors.New("storage: write probe done")

// probeTimeout bounds the SQLite write probe, well inside a Kubernetes probe's default 1 s:
// under write contention the probe would otherwise queue for the write lock for up to
// storage_timeout, and /readyz would fail (or time out) on a database that is merely busy.
const probeTimeout = 250 * time.Millisecond

// readOnly asks the database whether it takes writes. Postgres says so itself
// (transaction_read_only: on for a standby or under default_transaction_read_only). SQLite
// is asked by trying: a write inside a transaction that is rolled back, which fails with
// SQLITE_READONLY whatever the cause (file mode, directory, read-only mount, query_only),
// root included, for whom file permissions say nothing.
//
// The SQLite probe waits at most probeTimeout, for a pooled connection and for the write
// lock (its connection's busy_timeout is lowered for it: SQLite's busy wait does not end
// with the context). A probe that finds the database busy, locked or gives up in time has
// learnt nothing about read-only, and another writer holds the lock, so it counts as
// writable: only SQLITE_READONLY makes a database read-only.
func (s *Store) readOnly(ctx context.Context) (bool, error) {
	if s.dialect == "postgres" {
		ctx, cancel := s.bound(ctx)
		defer cancel()
		var v string
		if err := s.db.WithContext(ctx).Raw("SHOW transaction_read_only").Scan(&v).Error; err != nil {
			return false, err
		}
		return v == "on", nil
	}
	ctx, cancel := context.WithTimeout(ctx, min(probeTimeout, s.timeout))
	defer cancel()
	err := s.db.WithContext(ctx).Connection(func(c *gorm.DB) error {
		if err := c.Exec(fmt.Sprintf("PRAGMA busy_timeout = %d", min(probeTimeout, s.timeout).Milliseconds())).Error; err != nil {
			return err
		}
		defer func() {
			// Back to the store's busy timeout before the connection returns to the pool
			// (a PRAGMA takes no lock, so this does not wait behind the writer).
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
			defer cancel()
			_ = c.WithContext(rctx).Exec("PRAGMA busy_timeout = " + busyMillis(s.timeout)).Error
		}()
		return c.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("CREATE TABLE conexor_write_probe (x INTEGER)").Error; err != nil {
				return err
			}
			return errProbeDone
		})
	})
	switch {
	case errors.Is(err, errProbeDone):
		return false, nil
	case isSQLiteReadOnly(err):
		return true, nil
	case isSQLiteBusy(err), errors.Is(err, context.DeadlineExceeded):
		return false, nil
	default:
		return false, err
	}
}

// checkWritable refuses to start on a read-only database, with a message that says what to
// change; Open calls it once the database answers.
func (s *Store) checkWritable(ctx context.Context, databaseURL string) error {
	ro, err := s.readOnly(ctx)
	if err != nil {
		return fmt.Errorf("storage: check that the %s database is writable: %w", s.dialectName(), s.unavailable(err))
	}
	if !ro {
		return nil
	}
	if s.dialect == "postgres" {
		return fmt.Errorf("%w: postgres at %s refuses writes (transaction_read_only is on: a hot standby, or default_transaction_read_only set for the database or role); point database_url at the primary",
			ErrReadOnly, redactURL(databaseURL))
	}
	return fmt.Errorf("%w: cannot write %s: the file or its directory is not writable (a read-only mount?)", ErrReadOnly, sqlitePath(databaseURL))
}

// sqlitePath is the file of a sqlite:// URL.
func sqlitePath(databaseURL string) string {
	p, _, _ := strings.Cut(strings.TrimPrefix(databaseURL, "sqlite://"), "?")
	return p
}

// checkSQLitePath says, before SQLite does, why the database file cannot be used: a missing
// directory, a directory this user cannot write (WAL mode creates the -wal and -shm files
// beside the database, and a new database is created there), or a file it cannot write.
// SQLite's own answer for an empty read-only directory is "unable to open database file: no
// such file or directory", which sends the user looking for a missing file.
func checkSQLitePath(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	dir := filepath.Dir(abs)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("storage: cannot create %s: the directory %s does not exist", abs, dir)
	case err != nil:
		return fmt.Errorf("storage: cannot use %s: %w", abs, err)
	case !st.IsDir():
		return fmt.Errorf("storage: cannot create %s: %s is not a directory", abs, dir)
	}
	probe, err := os.CreateTemp(dir, ".conexor-write-probe-*")
	if err != nil {
		return fmt.Errorf("%w: cannot write %s: the directory %s is %s", ErrReadOnly, abs, dir, why(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	f, err := os.OpenFile(abs, os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // SQLite creates it
	case err != nil:
		return fmt.Errorf("%w: cannot write %s: the file is %s", ErrReadOnly, abs, why(err))
	}
	return f.Close()
}

// why turns a failed write into the words an operator acts on.
func why(err error) string {
	switch {
	case errors.Is(err, syscall.EROFS):
		return "on a read-only file system"
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("not writable by this user (uid %d): permission denied", os.Geteuid())
	default:
		return fmt.Sprintf("not writable: %v", errors.Unwrap(err))
	}
}
