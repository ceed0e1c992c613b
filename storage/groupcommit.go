package storage

import (
	"context"
	"errors"
	"fmt"
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
// which inserts them with one multi-row INSERT in one transaction, so N concurrent requests
// pay one commit. Each request returns only once its own row is committed (nothing answered
// 200 can be lost), with the error of its own row only.
//
// Batches form by themselves, without timers: the writer takes the first row as soon as it
// arrives, and the rows that arrive while that commit is running make the next batch. An idle
// server therefore adds no latency, one goroutine hand-off, and a loaded one commits less
// often the more it is loaded.

// Batch bounds. Each row binds tokenColumns parameters: Postgres allows 65,535 per statement
// and SQLite (3.32 and later) 32,766, so maxBatchRows keeps well under both; maxBatchBytes
// bounds the memory and the transaction a batch of big rows (long forms, big sessions) makes.
// A batch stops growing at the first row that reaches either bound, so it may exceed
// maxBatchBytes by one row.
const (
	tokenColumns  = 16
	maxBatchRows  = 256
	maxBatchBytes = 1 << 20
)

// errInserterStopped is what a row gets when the store is closed before the writer took it.
var errInserterStopped = errors.New("storage: store closed before the token was written")

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
		return s.unavailable(errInserterStopped)
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

// commitBatch writes batch and answers each waiter. A lone row is inserted as before the
// writer existed, with its request's context (so a statement counter sees it as the
// request's). A batch goes in as one INSERT in one transaction bounded by the store's
// timeout, independent of any one request's context: a request that gives up must not
// fail the others. If the batch fails for a reason of the database (ErrUnavailable), every
// row gets that error, as each would have alone; any other failure is a row's own (a
// duplicate signature, a value the column refuses), so the rows are retried one by one and
// each waiter gets its own row's result.
func (s *Store) commitBatch(batch []*pendingInsert) {
	if len(batch) == 1 {
		p := batch[0]
		p.done <- s.db.WithContext(p.ctx).Create(&p.row).Error
		return
	}
	rows := make([]accessTokenRow, len(batch))
	for i, p := range batch {
		rows[i] = p.row
	}
	ctx, cancel := s.bound(context.Background())
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.Create(&rows).Error
	})
	cancel()
	// BEGIN and COMMIT are no GORM statements: their errors are classified here.
	if err = s.unavailable(err); err == nil || errors.Is(err, ErrUnavailable) {
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
		p.done <- s.db.WithContext(p.ctx).Create(&p.row).Error
	}
}

// rowSize is what a row weighs in a batch: its variable-length values.
func rowSize(r *tokenRow) int {
	return len(r.Signature) + len(r.RequestID) + len(r.ClientID) + len(r.Subject) + len(r.Scopes) +
		len(r.GrantedScopes) + len(r.RequestedAudience) + len(r.GrantedAudience) + len(r.Form) +
		len(r.Session) + len(r.RevokedReason) + 64 // the fixed-size columns
}
