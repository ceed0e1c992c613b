package storage

import (
	"context"
	"fmt"
	"time"
)

// PurgeBatch is how many rows one purge statement deletes at most. Each batch is its own
// short transaction, so the write lock (SQLite) or the row locks and WAL burst (Postgres) of
// a purge are held for milliseconds at a time, never for the whole backlog: deleting
// 340,000 expired rows in one statement held SQLite's write lock for 7 s, while 1,000 rows
// of oauth_access_tokens and its five indexes take a few milliseconds.
const PurgeBatch = 1000

// purgePause is the least time a purge waits between two batches, so that writers queued
// behind a batch (the access-token writer, a code exchange) run before the next one. Each
// pause is at least as long as the batch before it: a purge takes at most half of the
// write lock's time, however slow the disk.
const purgePause = 2 * time.Millisecond

// purgeTarget is one table and what makes its rows purgeable.
type purgeTarget struct {
	table string
	where string // a condition with one ? for the cutoff
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

// PurgeExpired deletes tokens and browser sessions that expired before t, in batches of
// PurgeBatch rows. Used codes and refresh tokens are kept until they expire so replays are
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

// deleteInBatches deletes the rows of table that match where, PurgeBatch at a time, each
// batch one statement (and so one short transaction), pausing between batches; it returns
// the number of rows deleted. The batch's rows are chosen by the index on the condition's
// column and deleted by physical row address (SQLite's rowid, Postgres's ctid), which needs
// no knowledge of the table's key. A row changed between the choice and the delete
// (Postgres gives it a new ctid) is left for the next batch or pass.
//
// On Postgres each deleted row stays as a dead tuple until autovacuum reclaims it: batches
// keep each transaction short, so vacuum is never held back by an old snapshot of the
// purge, and the space is reused by the inserts that follow (BENCHMARKS.md, issue 15).
func (s *Store) deleteInBatches(ctx context.Context, table, where string, args ...any) (int64, error) {
	var stmt string
	switch s.dialect {
	case "postgres":
		stmt = fmt.Sprintf(`DELETE FROM %[1]s WHERE ctid = ANY(ARRAY(SELECT ctid FROM %[1]s WHERE %[2]s LIMIT %[3]d))`, table, where, PurgeBatch)
	default:
		stmt = fmt.Sprintf(`DELETE FROM %[1]s WHERE rowid IN (SELECT rowid FROM %[1]s WHERE %[2]s LIMIT %[3]d)`, table, where, PurgeBatch)
	}
	var total int64
	for {
		start := time.Now()
		res := s.conn(ctx).Exec(stmt, args...)
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
		if res.RowsAffected < PurgeBatch {
			return total, nil
		}
		pause := max(time.Since(start), purgePause)
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(pause):
		}
	}
}
