package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
)

// Group commit of access-token inserts.
//
// The client-credentials grant inserts one access-token row per request, outside any
// transaction, and on SQLite every such insert is a commit of its own: the one writer lock
// and the WAL append are paid per token, which bounds the token endpoint by the database's
// commit rate. The inserter instead hands every row that is waiting to one writer goroutine,
// which inserts them atomically (one transaction on SQLite, one multi-row INSERT on
// Postgres: see insertBatch), so N concurrent requests pay one commit. Each request returns only once its own row is committed (nothing answered
// 200 can be lost), with the error of its own row only.
//
// Batches form by themselves, without timers: the writer takes the first row as soon as it
// arrives, and the rows that arrive while that commit is running make the next batch. An idle
// server therefore adds no latency, one goroutine hand-off, and a loaded one commits less
// often the more it is loaded.

// Batch bounds: a batch holds the write lock (SQLite) for its whole transaction, and every
// row waits for the last, so maxBatchRows and maxBatchBytes bound that wait and the memory
// a batch of big rows (long forms, big sessions) takes. On SQLite each row is its own
// execution of one statement, far from any parameter limit; Postgres' one multi-row INSERT
// binds at most 256 rows * 16 columns = 4,096 parameters of its 65,535. A batch stops
// growing at the first row that reaches either bound, so it may exceed maxBatchBytes by one
// row.
const (
	maxBatchRows  = 256
	maxBatchBytes = 1 << 20
	tokenColumns  = 16
)

// errInserterStopped is what a row gets when the store is closed before the writer took it:
// unavailable already, as Close marks the store closed only once the writer has stopped.
var errInserterStopped = fmt.Errorf("%w: store closed before the token was written", ErrUnavailable)

// pendingInsert is one request's row, and where its result goes.
type pendingInsert struct {
	ctx  context.Context
	row  accessTokenRow
	size int
	done chan error // buffered: the writer never blocks on a waiter that left
}

// inserter is the writer of one Store. Its channel is unbuffered: a row is either taken by
// the writer or still with its request, so stopping the writer can strand no row.
type inserter struct {
	in      chan *pendingInsert
	stop    chan struct{}
	stopped chan struct{}
	start   sync.Once
	halt    sync.Once
	// waiting counts the requests handing a row over, not yet taken by the writer.
	waiting atomic.Int64
	// stmt is the prepared insert; only the writer goroutine touches it.
	stmt *sql.Stmt
}

func newInserter() *inserter {
	return &inserter{in: make(chan *pendingInsert), stop: make(chan struct{}), stopped: make(chan struct{})}
}

// insertAccessToken writes row through the writer and waits for its commit. When ctx ends
// first it returns ctx's error (classified: a deadline is ErrUnavailable) and the row may
// still be committed afterwards: that token was never handed out, so it is harmless.
func (s *Store) insertAccessToken(ctx context.Context, row accessTokenRow) error {
	w := s.inserter
	w.start.Do(func() { go s.writeAccessTokens() })
	p := &pendingInsert{ctx: ctx, row: row, size: rowSize(&row.Row), done: make(chan error, 1)}
	w.waiting.Add(1)
	select {
	case w.in <- p:
		w.waiting.Add(-1)
	case <-w.stop:
		w.waiting.Add(-1)
		return errInserterStopped
	case <-ctx.Done():
		w.waiting.Add(-1)
		return s.unavailable(fmt.Errorf("storage: access token not written: %w", ctx.Err()))
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return s.unavailable(fmt.Errorf("storage: access token not known to be committed: %w", ctx.Err()))
	}
}

// InsertsWaiting is how many access-token inserts wait for the writer to take them, behind
// the batch it is committing: the next batch's size, if no more arrive. A diagnostic (and
// what tests wait for to know a batch has formed).
func (s *Store) InsertsWaiting() int { return int(s.inserter.waiting.Load()) }

// stopInserter ends the writer once its current batch is done; Close calls it before it
// closes the pool. Requests still waiting to hand over a row get ErrUnavailable.
func (s *Store) stopInserter() {
	w := s.inserter
	w.halt.Do(func() {
		close(w.stop)
		// A writer never started must not be waited for; starting it now makes Once spend
		// itself, so a later insert cannot start one on the closed pool.
		w.start.Do(func() { close(w.stopped) })
		<-w.stopped
	})
}

// writeAccessTokens is the writer's loop.
func (s *Store) writeAccessTokens() {
	w := s.inserter
	defer close(w.stopped)
	defer func() {
		if w.stmt != nil {
			_ = w.stmt.Close()
		}
	}()
	batch := make([]*pendingInsert, 0, maxBatchRows)
	for {
		select {
		case p := <-w.in:
			batch = append(batch[:0], p)
		case <-w.stop:
			return
		}
		size := batch[0].size
	fill:
		for len(batch) < maxBatchRows && size < maxBatchBytes {
			select {
			case p := <-w.in:
				batch = append(batch, p)
				size += p.size
			default:
				break fill
			}
		}
		s.commitBatch(batch)
		clear(batch) // drop the rows and contexts until the next batch overwrites them
	}
}

// commitBatch writes batch and answers each waiter. A lone row is inserted alone, under its
// request's context as before the writer existed. A batch goes in as one transaction bounded
// by the store's timeout, independent of any one request's context: a request that gives up
// must not fail the others. If the batch fails for a reason of the database (ErrUnavailable),
// every row gets that error, as each would have alone; any other failure is a row's own (a
// duplicate signature, a value the column refuses), so the transaction is rolled back and
// the rows are retried one by one, and each waiter gets its own row's result.
func (s *Store) commitBatch(batch []*pendingInsert) {
	if len(batch) == 1 {
		batch[0].done <- s.insertOne(batch[0])
		return
	}
	ctx, cancel := s.bound(context.Background())
	err := s.insertBatch(ctx, batch)
	cancel()
	if err == nil || errors.Is(err, ErrUnavailable) {
		for _, p := range batch {
			p.done <- err
		}
		return
	}
	for _, p := range batch {
		if p.ctx.Err() != nil {
			p.done <- p.ctx.Err() // its request is gone: no need to write the row
			continue
		}
		p.done <- s.insertOne(p)
	}
}

// insertOne inserts p's row in a transaction of its own, under its request's context.
func (s *Store) insertOne(p *pendingInsert) error {
	stmt, err := s.inserter.statement(s)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(p.ctx)
	defer cancel()
	_, err = stmt.ExecContext(ctx, rowArgs(&p.row.Row)...)
	s.observed(p.ctx)
	return s.insertError(err)
}

// insertBatch inserts every row of batch atomically, the way that measured cheapest on each
// database. On SQLite, which runs in this process, one transaction executes the one prepared
// statement once per row: faster than a multi-row INSERT (GORM's or hand-built, whose
// parsing grows with the rows) and half the allocations (BenchmarkBatchInsert). On Postgres
// every execution is a round trip, and one writer doing 64 of them in a row served half the
// tokens the pool did with single inserts; there one multi-row INSERT, atomic by itself,
// costs one round trip per batch.
func (s *Store) insertBatch(ctx context.Context, batch []*pendingInsert) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	if s.dialect == "postgres" {
		args := make([]any, 0, len(batch)*tokenColumns)
		for _, p := range batch {
			args = append(args, rowArgs(&p.row.Row)...)
		}
		query := postgresPlaceholders(multiRowInsert(len(batch)))
		_, err := sqlDB.ExecContext(ctx, query, args...)
		s.observedSQL(ctx, query)
		return s.insertError(err)
	}
	stmt, err := s.inserter.statement(s)
	if err != nil {
		return err
	}
	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return s.unavailable(err)
	}
	txStmt := tx.StmtContext(ctx, stmt) // prepared once per connection, then reused
	for _, p := range batch {
		_, err := txStmt.ExecContext(ctx, rowArgs(&p.row.Row)...)
		s.observed(p.ctx)
		if err != nil {
			_ = tx.Rollback()
			return s.insertError(err)
		}
	}
	return s.unavailable(commitError(ctx, tx.Commit()))
}

// multiRowInsert is accessTokenInsert for rows rows, in SQLite's placeholders.
func multiRowInsert(rows int) string {
	head, tuple, _ := strings.Cut(accessTokenInsert, " VALUES ")
	var b strings.Builder
	b.Grow(len(head) + 8 + rows*(len(tuple)+1))
	b.WriteString(head)
	b.WriteString(" VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tuple)
	}
	return b.String()
}

// insertError is what a statement's error becomes through GORM's callbacks: a driver's
// constraint error translated (gorm.ErrDuplicatedKey), a database failure ErrUnavailable.
func (s *Store) insertError(err error) error {
	if err == nil {
		return nil
	}
	if t, ok := s.db.Dialector.(gorm.ErrorTranslator); ok {
		err = t.Translate(err)
	}
	return s.unavailable(err)
}

// observed reports one executed insert to OnStatement's functions, under the context of the
// request whose row it wrote, as GORM's callback does for every other statement.
func (s *Store) observed(ctx context.Context) { s.observedSQL(ctx, accessTokenInsert) }

// observedSQL reports one executed statement, query, to OnStatement's functions. A
// Postgres batch is one statement for many requests, reported once under the batch's own
// context.
func (s *Store) observedSQL(ctx context.Context, query string) {
	fns := s.observers.Load()
	if fns == nil {
		return
	}
	st := Statement{Ctx: ctx, Table: accessTokenTable, SQL: query}
	for _, fn := range *fns {
		fn(st)
	}
}

// statement prepares the insert once per Store (database/sql then prepares it once per
// connection); SQLite's driver caches no statement, so GORM's prepare of every Create was a
// sixth of the insert's cost. A failed prepare (the database down) is tried again next time.
func (w *inserter) statement(s *Store) (*sql.Stmt, error) {
	if w.stmt != nil {
		return w.stmt, nil
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	query := accessTokenInsert
	if s.dialect == "postgres" {
		query = postgresPlaceholders(query)
	}
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	stmt, err := sqlDB.PrepareContext(ctx, query)
	if err != nil {
		return nil, s.insertError(err)
	}
	w.stmt = stmt
	return stmt, nil
}

// accessTokenTable and accessTokenInsert are the writer's one statement, in SQLite's
// placeholders. The columns are tokenRow's (TestAccessTokenInsertColumns keeps them so).
const (
	accessTokenTable   = "oauth_access_tokens"
	accessTokenColumns = "signature, request_id, requested_at, client_id, subject, scopes, granted_scopes, " +
		"requested_audience, granted_audience, form, session, active, expires_at, revoked_at, used_at, revoked_reason"
	accessTokenInsert = "INSERT INTO " + accessTokenTable + " (" + accessTokenColumns + ") VALUES " +
		"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

// rowArgs are r's values in accessTokenInsert's order.
func rowArgs(r *tokenRow) []any {
	return []any{r.Signature, r.RequestID, r.RequestedAt, r.ClientID, r.Subject, r.Scopes, r.GrantedScopes,
		r.RequestedAudience, r.GrantedAudience, r.Form, r.Session, r.Active, r.ExpiresAt, r.RevokedAt, r.UsedAt, r.RevokedReason}
}

// postgresPlaceholders numbers the ? of query as $1, $2, ...
func postgresPlaceholders(query string) string {
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// rowSize is what a row weighs in a batch: its variable-length values.
func rowSize(r *tokenRow) int {
	return len(r.Signature) + len(r.RequestID) + len(r.ClientID) + len(r.Subject) + len(r.Scopes) +
		len(r.GrantedScopes) + len(r.RequestedAudience) + len(r.GrantedAudience) + len(r.Form) +
		len(r.Session) + len(r.RevokedReason) + 64 // the fixed-size columns
}
