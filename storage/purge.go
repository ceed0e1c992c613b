package storage

import (
	"context"
	"fmt"
	"time"
)

// PurgeBatch is how many rows the first statement of a purge deletes. Each batch is its own
// short transaction, so the write lock (SQLite) or the row locks and WAL burst (Postgres) of
// a purge are held briefly at a time, never for the whole backlog: deleting 340,000 expired
// rows in one statement held SQLite's write lock for 7 s. A row's random keys (the signature
// hash; the request ID of codes and refresh tokens) make each deleted row dirty its own index
// pages, so the cost per row depends on the disk and the table's size: about 100 µs on SQLite
// with 250,000 tokens stored and two random keys per row. The batch size therefore follows
// the time each batch took (purgeBatchTime).
const PurgeBatch = 500

// purgeBatchTime is how long a batch should hold the write lock. Writers queued behind a
// batch wait at most about this long, which bounds what a purge adds to their latency.
const purgeBatchTime = 20 * time.Millisecond

// purgeBatchMin and purgeBatchMax bound the adapted batch size.
const (
	purgeBatchMin = 50
	purgeBatchMax = 5000
)

// purgePause is the least time a purge waits between two batches, so that writers queued
// behind a batch (the access-token writer, a code exchange) run before the next one. Each
// pause is at least as long as the batch before it: a purge takes at most half of the
// write lock's time, however slow the disk.
const purgePause = 2 * time.Millisecond

// nextBatch is the size of the batch after one of size n that took took: the size that
// would have taken purgeBatchTime, changed by at most a factor of two per step.
func nextBatch(n int, took time.Duration) int {
	want := n * 2
	if took > 0 {
		want = int(float64(n) * float64(purgeBatchTime) / float64(took))
	}
	return min(max(want, n/2, purgeBatchMin), n*2, purgeBatchMax)
}

// purgeTarget is one table and what makes its rows purgeable.
type purgeTarget struct {
	table string
	where string // the condition, whose ? are deleteInBatches's arguments
}

// expiringTables are the tables whose rows end at expires_at. A zero expires_at (rows
// written by an old release) never expires here.
var expiringTables = []purgeTarget{
	{"oauth_authorize_codes", "expires_at < ? AND expires_at > ?"},
	{"oauth_access_tokens", "expires_at < ? AND expires_at > ?"},
	{"oauth_refresh_tokens", "expires_at < ? AND expires_at > ?"},
	{"oauth_pkce_requests", "expires_at < ? AND expires_at > ?"},
	{"http_sessions", "expires_at < ? AND expires_at > ?"},
	{"password_resets", "expires_at < ? AND expires_at > ?"},
}

// PurgeExpired deletes tokens and browser sessions that expired before t, in short batches
// (deleteInBatches). Used codes and refresh tokens are kept until they expire so replays are
// still detected. Sessions matter too: every visitor of the login page gets a (short)
// pre-login session row.
func (s *Store) PurgeExpired(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, p := range expiringTables {
		n, err := s.deleteInBatches(ctx, p.table, p.where, before.UTC(), time.Time{})
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// deleteInBatches deletes the rows of table that match where, a batch at a time (PurgeBatch
// rows first, then as many as fit in purgeBatchTime), each batch one statement and so one
// short transaction, pausing between batches; it returns the number of rows deleted. The batch's rows are chosen by the index on the condition's
// column and deleted by physical row address (SQLite's rowid, Postgres's ctid), which needs
// no knowledge of the table's key. A row changed between the choice and the delete
// (Postgres gives it a new ctid) is left for the next batch or pass.
//
// On Postgres each deleted row stays as a dead tuple until autovacuum reclaims it: batches
// keep each transaction short, so vacuum is never held back by an old snapshot of the
// purge, and the space is reused by the inserts that follow (BENCHMARKS.md, issue 15).
func (s *Store) deleteInBatches(ctx context.Context, table, where string, args ...any) (int64, error) {
	form := `DELETE FROM %[1]s WHERE rowid IN (SELECT rowid FROM %[1]s WHERE %[2]s LIMIT %[3]d)`
	if s.dialect == "postgres" {
		form = `DELETE FROM %[1]s WHERE ctid = ANY(ARRAY(SELECT ctid FROM %[1]s WHERE %[2]s LIMIT %[3]d))`
	}
	var total int64
	for n := PurgeBatch; ; {
		start := time.Now()
		res := s.conn(ctx).Exec(fmt.Sprintf(form, table, where, n), args...)
		if res.Error != nil {
			return total, res.Error
		}
		took := time.Since(start)
		total += res.RowsAffected
		if res.RowsAffected < int64(n) {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(max(took, purgePause)):
		}
		n = nextBatch(n, took)
	}
}
