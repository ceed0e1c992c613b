package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// DefaultTimeout bounds a database call whose context has no deadline of its own, when Open
// is given no WithTimeout (config's storage_timeout has the same default).
const DefaultTimeout = 3 * time.Second

// WithTimeout bounds every database call whose context carries no deadline: one statement,
// or one transaction from BeginTX to Commit or Rollback. A silent network partition then
// costs a request at most d before it fails with ErrUnavailable (a 503), instead of hanging
// on a socket that will never answer. A caller that needs longer (the background purge of big
// tables) passes a context with its own deadline, which is kept, earlier or later. d <= 0
// means DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// Timeout is the bound WithTimeout set: what a call without a deadline may take.
func (s *Store) Timeout() time.Duration { return s.timeout }

// bound returns ctx, or when ctx has no deadline, ctx limited to the store's timeout. The
// cancel func must be called once the call's results are read.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// boundKey is the GORM instance key under which a statement keeps what boundStatements
// changed: the context it had, and the cancel func of the deadline it was given.
const boundKey = "conexor:deadline"

type boundCtx struct {
	parent context.Context
	cancel context.CancelFunc
}

// boundStatements gives every GORM statement without a deadline the store's timeout: a
// callback before the driver call sets it, one after cancels it, so no timer outlives the
// statement, and puts the statement's own context back, so that a query chain run twice
// (q.Count, then q.Find) does not inherit a spent deadline. Statements in a transaction run
// under the transaction's context, which BeginTX has already bounded, and get no second timer.
//
// The Row processor is the exception: Row() and Rows() hand back rows the caller reads after
// the callbacks have returned, and cancelling then would cut the read short. Its deadline is
// left to expire by itself, which releases the timer a little later and costs nothing else.
func (s *Store) boundStatements() {
	before := func(db *gorm.DB) {
		parent := db.Statement.Context
		ctx, cancel := s.bound(parent)
		db.Statement.Context = ctx
		db.InstanceSet(boundKey, boundCtx{parent: parent, cancel: cancel})
	}
	after := func(cancel bool) func(db *gorm.DB) {
		return func(db *gorm.DB) {
			if v, ok := db.InstanceGet(boundKey); ok {
				b := v.(boundCtx)
				if cancel {
					b.cancel()
				}
				db.Statement.Context = b.parent
			}
		}
	}
	cb := s.db.Callback()
	_ = cb.Create().Before("*").Register("conexor:deadline", before)
	_ = cb.Query().Before("*").Register("conexor:deadline", before)
	_ = cb.Update().Before("*").Register("conexor:deadline", before)
	_ = cb.Delete().Before("*").Register("conexor:deadline", before)
	_ = cb.Raw().Before("*").Register("conexor:deadline", before)
	_ = cb.Create().After("*").Register("conexor:deadline-end", after(true))
	_ = cb.Query().After("*").Register("conexor:deadline-end", after(true))
	_ = cb.Update().After("*").Register("conexor:deadline-end", after(true))
	_ = cb.Delete().After("*").Register("conexor:deadline-end", after(true))
	_ = cb.Raw().After("*").Register("conexor:deadline-end", after(true))
	// Not cancelled before the rows are read (see above): the timer ends it.
	_ = cb.Row().Before("*").Register("conexor:deadline", before)
	_ = cb.Row().After("*").Register("conexor:deadline-end", after(false))
}

// Listeners is how many connections Listen holds out of the pool now: PoolStats counts
// them in use, which is no leak.
func (s *Store) Listeners() int { return int(s.listeners.Load()) }

// PoolStats reports the connection pool: tests check that a fault leaves no connection in
// use once it heals (beyond Listeners); an operator's metrics may read it too.
func (s *Store) PoolStats() sql.DBStats {
	sqlDB, err := s.db.DB()
	if err != nil {
		return sql.DBStats{}
	}
	return sqlDB.Stats()
}

// longKey carries the connection LongRunning pinned for its calls.
type longKey struct{}

// LongRunning runs fn, whose store calls may take until ctx's deadline, on one connection
// whose server-side statement_timeout follows that deadline. The store's own bounds apply
// to calls without a deadline; a caller with a longer one (the purge of expired rows) is
// kept on the client side by bound, but Postgres would still cancel its statements at the
// statement_timeout set for requests (storage_timeout + 1s). Without a deadline in ctx, or
// on SQLite, fn simply runs. Transactions fn begins use the pool as usual.
func (s *Store) LongRunning(ctx context.Context, fn func(ctx context.Context) error) error {
	deadline, ok := ctx.Deadline()
	if !ok || s.dialect != "postgres" {
		return fn(ctx)
	}
	err := s.db.WithContext(ctx).Connection(func(c *gorm.DB) error {
		ms := (time.Until(deadline) + time.Second).Milliseconds()
		if err := c.Exec(fmt.Sprintf("SET statement_timeout = %d", ms)).Error; err != nil {
			return err
		}
		defer func() {
			// Back to the session default before the connection returns to the pool; a
			// connection that cannot take this is broken and is discarded anyway.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
			defer cancel()
			_ = c.WithContext(rctx).Exec("RESET statement_timeout").Error
		}()
		return fn(context.WithValue(ctx, longKey{}, c))
	})
	return s.unavailable(err)
}
