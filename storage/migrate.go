package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ErrNotMigrated is returned by CheckSchema when a table or column this build needs is
// missing: the database was never migrated, or by an older release.
var ErrNotMigrated = errors.New("database schema is not migrated: run `conexor migrate`")

// Migrate creates or updates every table. It is idempotent, safe to run on each start and
// safe to run from several processes at once (WithStartupLock).
func (s *Store) Migrate(ctx context.Context) error {
	_, err := s.MigrateChanges(ctx)
	return err
}

// migrateTimeout bounds a migration whose caller set no deadline: long enough to index a
// big table, short enough that a stuck start-up says so.
const migrateTimeout = 10 * time.Minute

// MigrateChanges is Migrate, reporting the tables and columns that were missing before it
// ran ("table x", "column x.y"); none means they all existed.
//
// On Postgres the work runs under the startup lock, so replicas started together on a fresh
// database do not race on CREATE TABLE (two concurrent CREATEs of one table collide on
// pg_type's unique index). On SQLite it runs in one transaction, which this store opens with
// BEGIN IMMEDIATE: a second process waits for the first one's commit (busy timeout) and then
// finds the tables there; SQLite's DDL is transactional, so a failed migration leaves nothing
// half-done.
func (s *Store) MigrateChanges(ctx context.Context) (changes []string, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, migrateTimeout)
		defer cancel()
	}
	err = s.WithStartupLock(ctx, func(ctx context.Context) error {
		migrate := func(db *gorm.DB) error {
			if changes, err = missingSchema(db); err != nil {
				return err
			}
			// Always: a new index or a changed column type is not in changes.
			return db.AutoMigrate(allModels()...)
		}
		if s.dialect == "sqlite" {
			return s.db.WithContext(ctx).Transaction(migrate)
		}
		// Adding an index or a column to a big table can take longer than a request's
		// statement timeout: migrate on one connection whose timeout follows migrateTimeout.
		return s.LongRunning(ctx, func(ctx context.Context) error { return migrate(s.conn(ctx)) })
	})
	if err != nil {
		return nil, fmt.Errorf("storage: migrate: %w", s.unavailable(err))
	}
	return changes, nil
}

// CheckSchema reports ErrNotMigrated, naming what is missing, unless every table and column
// this build uses exists. `serve --no-migrate` calls it at start. It checks the columns
// themselves rather than a schema version number: nobody has to remember to bump one, and a
// schema migrated by a newer release (extra columns) still passes, so old replicas keep
// starting during a rolling deployment that migrated first.
func (s *Store) CheckSchema(ctx context.Context) error {
	missing, err := missingSchema(s.db.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("storage: check schema: %w", s.unavailable(err))
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w (missing %s)", ErrNotMigrated, summarize(missing, 3))
	}
	return nil
}

// missingSchema lists the tables and columns of allModels that db lacks.
func missingSchema(db *gorm.DB) ([]string, error) {
	var missing []string
	m := db.Migrator()
	for _, model := range allModels() {
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(model); err != nil {
			return nil, err
		}
		table := stmt.Schema.Table
		if !m.HasTable(table) {
			missing = append(missing, "table "+table)
			continue
		}
		cols, err := m.ColumnTypes(table)
		if err != nil {
			return nil, err
		}
		have := make(map[string]bool, len(cols))
		for _, c := range cols {
			have[c.Name()] = true
		}
		for _, name := range stmt.Schema.DBNames {
			if !have[name] {
				missing = append(missing, "column "+table+"."+name)
			}
		}
	}
	return missing, db.Error
}

func summarize(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

type startupLockKey struct{}

// WithStartupLock runs fn while holding the startup lock: on Postgres a session-level
// advisory lock, so the processes sharing one schema migrate, create the first signing key
// and seed the demo data one after the other, each finding what the one before did. SQLite
// needs no lock here: its writing transactions begin IMMEDIATE and so already run one at a
// time, across processes too, and the first-start steps each check and write in one
// transaction. Calls nest: fn's context carries the lock.
//
// Why a session lock on a dedicated connection, not pg_advisory_xact_lock in a transaction:
// the work under the lock (GORM's AutoMigrate, the provider's key setup, the seed) goes
// through the store's pool and its own transactions, and a transaction-scoped lock would
// force all of it into one transaction on one connection. database/sql hands each statement
// any pooled connection, so the lock is taken and released on one *sql.Conn kept out of the
// pool for the duration; if the process dies, Postgres ends the session and frees the lock.
//
// The key is a hash of current_schema(): replicas of one deployment share a schema and so
// the lock, while unrelated schemas in one database (parallel tests, two deployments) do not
// wait on each other.
func (s *Store) WithStartupLock(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.dialect != "postgres" || ctx.Value(startupLockKey{}) != nil {
		return fn(ctx)
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return s.unavailable(err)
	}
	defer conn.Close()
	// Waiting for another replica's migration is no stuck statement: lift any statement
	// timeout for this session while it waits, and put it back before the connection returns
	// to the pool (bounded like LongRunning's reset: a dead server must not hang the return).
	if _, err := conn.ExecContext(ctx, "SET statement_timeout = 0"); err != nil {
		return s.unavailable(err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		_, _ = conn.ExecContext(rctx, "RESET statement_timeout") // a failed reset leaves the default of the connection URL in force
	}()
	if err := s.startupLock(ctx, conn); err != nil {
		return err
	}
	defer func() {
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(unlockCtx, "SELECT pg_advisory_unlock("+startupLockKeySQL+")"); err != nil {
			// The session still holds the lock: drop the connection rather than return it to
			// the pool, so Postgres frees the lock when the session ends.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return fn(context.WithValue(ctx, startupLockKey{}, true))
}

// startupLockKeySQL is the startup lock's advisory key (see WithStartupLock).
const startupLockKeySQL = "hashtext('conexor startup ' || current_schema())"

// startupLock takes the startup lock on conn: at once if it is free, else by waiting for
// it. With statement_timeout lifted, only a client deadline ends that wait, so one is set
// when ctx has none (migrateTimeout): a holder that is frozen (a stuck migration, a process
// stopped under a debugger) then makes start-up fail saying so, instead of hanging forever.
func (s *Store) startupLock(ctx context.Context, conn *sql.Conn) error {
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock("+startupLockKeySQL+")").Scan(&got); err != nil {
		return s.unavailable(err)
	}
	if got {
		return nil
	}
	wait := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, migrateTimeout)
		defer cancel()
	}
	start := time.Now()
	_, err := conn.ExecContext(wait, "SELECT pg_advisory_lock("+startupLockKeySQL+")")
	if err == nil {
		return nil
	}
	if wait.Err() == nil {
		return s.unavailable(err)
	}
	holder := ""
	if pid := s.startupLockHolder(ctx); pid != 0 {
		holder = fmt.Sprintf(" (pid %d)", pid)
	}
	return fmt.Errorf("storage: waited %s for the startup lock, held by another Conexor migrating or seeding this schema%s: if that process is stuck, stop it (or end its session with pg_terminate_backend) and start again (%w)",
		time.Since(start).Round(100*time.Millisecond), holder, s.unavailable(err))
}

// startupLockHolder is the server process id of the session holding the startup lock, or 0
// if it cannot tell. For an error message only: it runs on the pool, bounded by the store's
// timeout, after the caller's own deadline has passed. A bigint advisory key is stored in
// pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
func (s *Store) startupLockHolder(ctx context.Context) int {
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	var pids []int
	err := s.db.WithContext(qctx).Raw(`SELECT l.pid FROM pg_locks l
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.classid::bigint << 32) | l.objid::bigint) = (` + startupLockKeySQL + `)::bigint`).Scan(&pids).Error
	if err != nil || len(pids) == 0 {
		return 0
	}
	return pids[0]
}
