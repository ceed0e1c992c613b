// Package storage holds Conexor's persistent state: orgs, users, MCP servers, OAuth clients,
// consents, signing keys, browser sessions and every OAuth token fosite hands it. One Store
// serves SQLite (the embedded default) and Postgres (production) through GORM.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Store is the single persistence layer. It implements every fosite storage interface the
// enabled grants need (asserted at compile time in tokens.go) plus Conexor's own domain methods.
type Store struct {
	db      *gorm.DB
	dialect string
	now     func() time.Time
	// closed is set by Close: later errors mean "unavailable" (see unavailable.go).
	closed atomic.Bool
	// listeners counts the connections Listen holds out of the pool (PoolStats counts them
	// in use for as long as they listen).
	listeners atomic.Int64
	// observers are the OnStatement functions, called by one callback registered at Open.
	observers atomic.Pointer[[]func(Statement)]
	observeMu sync.Mutex // serialises OnStatement's copy-and-append
	// timeout bounds a call whose context has no deadline (WithTimeout, deadline.go).
	timeout time.Duration
	// ready caches the read-only check of Ready (readonly.go).
	ready readyCache
	// lastFailure is when (Unix nanoseconds) a call last failed as unavailable (shouldPing).
	lastFailure atomic.Int64
	// clients caches clients across requests (clientcache.go).
	clients *clientCache
	// inserter batches access-token inserts made outside a transaction (groupcommit.go).
	inserter *inserter
}

// Option configures a Store at Open.
type Option func(*Store)

// WithClock replaces time.Now, for tests of expiry.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// Open connects to databaseURL (sqlite://PATH, sqlite://:memory: or postgres://...) and
// returns a Store. It does not migrate; call Migrate.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	s := &Store{now: time.Now, timeout: DefaultTimeout, clients: newClientCache(), inserter: newInserter()}
	for _, o := range opts {
		o(s)
	}
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true, // single statements need no implicit transaction; ours are explicit
		NowFunc:                func() time.Time { return s.now().UTC() },
		TranslateError:         true,
	}
	var (
		db  *gorm.DB
		err error
	)
	switch {
	case strings.HasPrefix(databaseURL, "sqlite://"):
		path, query, _ := strings.Cut(strings.TrimPrefix(databaseURL, "sqlite://"), "?")
		if path == "" {
			return nil, errors.New("storage: sqlite URL needs a path, e.g. sqlite://conexor.db")
		}
		sync, serr := sqliteSynchronous(query)
		if serr != nil {
			return nil, serr
		}
		if path != ":memory:" {
			if err := checkSQLitePath(path); err != nil {
				return nil, err
			}
		}
		db, err = gorm.Open(sqliteDialector(path, sync, s.timeout), cfg)
		s.dialect = "sqlite"
		if err == nil {
			err = tuneSQLite(db, path == ":memory:")
		}
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		var dialector gorm.Dialector
		if dialector, err = postgresDialector(databaseURL, s.timeout, s.shouldPing); err != nil {
			return nil, err
		}
		db, err = gorm.Open(dialector, cfg)
		s.dialect = "postgres"
		if err == nil {
			err = tunePostgres(db)
		}
	default:
		return nil, fmt.Errorf("storage: unsupported database URL %q (want sqlite://PATH or postgres://...)", redactURL(databaseURL))
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", s.dialectName(), err)
	}
	s.db = db
	s.boundStatements()
	s.classifyErrors()
	s.observeStatements()
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("storage: %s unreachable: %w", s.dialectName(), err)
	}
	if err := s.checkWritable(ctx, databaseURL); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) dialectName() string {
	if s.dialect == "" {
		return "database"
	}
	return s.dialect
}

// Dialect reports "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// sqliteSynchronous reads the one option a sqlite:// URL takes, ?synchronous=normal|full.
//
// NORMAL (the default) keeps every commit across a crash of the process: in WAL mode only an
// operating-system crash or power loss can roll back the last transactions. FULL also syncs
// the WAL on every commit and so survives power loss, at about half the token throughput on
// the reference 2-core machine (see BENCHMARKS.md). Postgres is the durable production choice.
func sqliteSynchronous(query string) (string, error) {
	if query == "" {
		return "NORMAL", nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("storage: sqlite URL options: %w", err)
	}
	for k := range q {
		if k != "synchronous" {
			return "", fmt.Errorf("storage: unknown sqlite URL option %q (only synchronous=normal|full)", k)
		}
	}
	switch v := strings.ToUpper(q.Get("synchronous")); v {
	case "NORMAL", "FULL":
		return v, nil
	default:
		return "", fmt.Errorf("storage: synchronous=%q must be normal or full", q.Get("synchronous"))
	}
}

func tuneSQLite(db *gorm.DB, memory bool) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	if memory {
		// Every connection to :memory: is a separate database: keep exactly one.
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxOpenConns(8)
		sqlDB.SetMaxIdleConns(8)
	}
	sqlDB.SetConnMaxLifetime(0)
	return nil
}

// tunePostgres sizes the pool. Connections are retired after their lifetime, each at its
// own moment (postgresDialector's retireIfDue), not by SetConnMaxLifetime, which retires
// every connection opened together at once.
func tunePostgres(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	sqlDB.SetMaxOpenConns(32)
	sqlDB.SetMaxIdleConns(32)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	return nil
}

// redactURL drops credentials from a database URL before it reaches a log or an error.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

// Ping checks the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.unavailable(sqlDB.PingContext(ctx))
}

// Close releases the connection pool, once the access-token writer finished its batch.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	s.stopInserter()
	s.closed.Store(true)
	s.clients.forgetAll() // a closed store answers nothing, not even from its cache
	return sqlDB.Close()
}

type txKey struct{}

// txCancelKey carries the cancel func of the deadline BeginTX gave a transaction.
type txCancelKey struct{}

// conn returns the transaction carried in ctx, or the pool. Every method goes through it so
// that fosite's BeginTX/Commit spans all the calls it makes in between.
func (s *Store) conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
	}
	if c, ok := ctx.Value(longKey{}).(*gorm.DB); ok {
		return c.WithContext(ctx) // LongRunning's connection
	}
	return s.db.WithContext(ctx)
}

// BeginTX implements fosite's storage.Transactional. Without a deadline in ctx, the whole
// transaction, every statement in it and its Commit, gets the store's timeout from here: a
// transaction holds a connection (and on SQLite the write lock), so it is bounded as one
// call, and Commit or Rollback releases the timer.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return ctx, errors.New("storage: transaction already open in this context")
	}
	bounded, cancel := s.bound(ctx)
	tx := s.db.WithContext(bounded).Begin(&sql.TxOptions{})
	if tx.Error != nil {
		cancel()
		return ctx, s.unavailable(tx.Error)
	}
	txCtx := context.WithValue(context.WithValue(bounded, txKey{}, tx), txCancelKey{}, cancel)
	return context.WithValue(txCtx, txEndKey{}, &txEnd{}), nil
}

// endTX releases the deadline BeginTX set and runs what afterTx deferred to the end.
func endTX(ctx context.Context) {
	if cancel, ok := ctx.Value(txCancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
	if end, ok := ctx.Value(txEndKey{}).(*txEnd); ok {
		end.run()
	}
}

// txEndKey carries the functions to run when a transaction ends (afterTx).
type txEndKey struct{}

type txEnd struct {
	mu  sync.Mutex
	fns []func()
}

func (e *txEnd) run() {
	e.mu.Lock()
	fns := e.fns
	e.fns = nil
	e.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// afterTx runs fn when the transaction in ctx ends, committed or rolled back (once its
// Commit or Rollback has reached the database, before it returns); outside a transaction it
// does nothing. For caches that must not keep what was read before a change committed.
func afterTx(ctx context.Context, fn func()) {
	if end, ok := ctx.Value(txEndKey{}).(*txEnd); ok {
		end.mu.Lock()
		end.fns = append(end.fns, fn)
		end.mu.Unlock()
	}
}

// Commit implements fosite's storage.Transactional.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("storage: commit without a transaction")
	}
	defer endTX(ctx)
	return s.unavailable(commitError(ctx, tx.Commit().Error))
}

// commitError explains sql.ErrTxDone from Commit: when the transaction's deadline fired
// first, database/sql has already rolled it back and says only "already committed or rolled
// back". That is the deadline's doing (a slow or locked database: unavailable), not a
// programming error, so the context's own error is added for unavailable to classify.
func commitError(ctx context.Context, err error) error {
	if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return err
}

// Rollback implements fosite's storage.Transactional.
func (s *Store) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("storage: rollback without a transaction")
	}
	defer endTX(ctx)
	err := tx.Rollback().Error
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return s.unavailable(err)
}

// InTx runs fn in one transaction (or the one already in ctx) and commits if fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(ctx)
	}
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		return err
	}
	if err := fn(txCtx); err != nil {
		_ = s.Rollback(txCtx)
		return err
	}
	return s.Commit(txCtx)
}
