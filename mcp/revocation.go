package mcp

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// How fresh the revocation set is kept. A decision is never based on a set whose query
// started more than revocationMaxAge ago: past revocationRefreshAfter one request starts a
// refresh in the background and the others go on with the current set; past
// revocationMaxAge requests wait for a refresh (and are refused with 503 if the database
// cannot answer). A revocation committed at time T is therefore honoured by every replica
// from T+750ms at the latest - under the one second the issue allows - and by the replica
// that served the revocation request before that request's 200 (see Gateway.AfterRevocation).
// On Postgres the revoking transaction also notifies every replica, which re-reads at once
// (poke, via Gateway.Changed): milliseconds, not these bounds, which are what holds when a
// notification is lost.
const (
	revocationRefreshAfter = 250 * time.Millisecond
	revocationMaxAge       = 750 * time.Millisecond
	// revocationOverlap re-reads this much before the newest revocation already seen, so
	// a row whose revoked_at was stamped before a transaction that committed late, or by a
	// replica whose clock runs behind, is not skipped.
	revocationOverlap = 2 * time.Second
	// revocationQueryTimeout bounds one refresh query.
	revocationQueryTimeout = 2 * time.Second
	revocationPruneEvery   = time.Minute
)

// revocations is the set of revoked access tokens (by storage signature hash), kept fresh
// from RevokedAccessTokensSince. The check is a lock-free map lookup, which is what lets
// the gate stay within its latency budget: a primary-key query per request costs more than
// the demo server's whole tools/list.
type revocations struct {
	store  TokenStore
	log    *slog.Logger
	maxTTL time.Duration // the longest access-token lifetime: entries older than that are useless

	set        sync.Map // signature hash -> time.Time first seen (for pruning)
	epoch      time.Time
	loadedAt   atomic.Int64 // ns since epoch at which the last successful query started; 0 = never
	refreshing atomic.Bool
	shared     singleflight.Group

	mu        sync.Mutex // serialises queries; guards cursor and lastPrune
	cursor    time.Time  // newest revoked_at seen (database clock)
	lastPrune time.Time

	pokeMu    sync.Mutex // guards poking and pokeAgain
	poking    bool       // a goroutine is running refreshes for pokes
	pokeAgain bool       // a poke arrived while it ran: its query may predate that revocation
}

func newRevocations(store TokenStore, maxTTL time.Duration, log *slog.Logger) *revocations {
	return &revocations{store: store, log: log, maxTTL: maxTTL, epoch: time.Now(), lastPrune: time.Now()}
}

func (rv *revocations) sinceEpoch() int64 { return int64(time.Since(rv.epoch)) + 1 }

func (rv *revocations) age() time.Duration {
	at := rv.loadedAt.Load()
	if at == 0 {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(rv.sinceEpoch() - at)
}

// revoked reports whether the token with this signature hash is revoked, refreshing the set
// first if it is too old to decide with. An error means the set is stale and the database
// did not answer: the caller must refuse (fail closed).
func (rv *revocations) revoked(ctx context.Context, sigHash string) (bool, error) {
	switch age := rv.age(); {
	case age > revocationMaxAge:
		if err := rv.refreshShared(ctx); err != nil {
			return false, err
		}
	case age > revocationRefreshAfter:
		// Answered from the set as it is, read before the refresh starts: a refresh that
		// wins the race to the map would make the answer depend on scheduling.
		_, ok := rv.set.Load(sigHash)
		if rv.refreshing.CompareAndSwap(false, true) {
			go func() {
				defer rv.refreshing.Store(false)
				ctx, cancel := context.WithTimeout(context.Background(), revocationQueryTimeout)
				defer cancel()
				if err := rv.refresh(ctx); err != nil {
					rv.log.Warn("refresh revoked access tokens", "err", err)
				}
			}()
		}
		return ok, nil
	}
	_, ok := rv.set.Load(sigHash)
	return ok, nil
}

// refreshShared lets every request that finds the set too old wait on one query.
func (rv *revocations) refreshShared(ctx context.Context) error {
	ch := rv.shared.DoChan("refresh", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revocationQueryTimeout)
		defer cancel()
		return nil, rv.refresh(ctx)
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// refresh runs one query for revocations since the cursor and merges them into the set.
// It always runs a query of its own (never joins one in flight), so a caller that has just
// revoked a token knows the result includes it.
func (rv *revocations) refresh(ctx context.Context) error {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	started := rv.sinceEpoch()
	since := rv.cursor
	if !since.IsZero() {
		since = since.Add(-revocationOverlap)
	}
	hashes, latest, err := rv.store.RevokedAccessTokensSince(ctx, since)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, h := range hashes {
		rv.set.LoadOrStore(h, now)
	}
	if latest.After(rv.cursor) {
		rv.cursor = latest
	}
	if started > rv.loadedAt.Load() {
		rv.loadedAt.Store(started)
	}
	if now.Sub(rv.lastPrune) > revocationPruneEvery {
		rv.lastPrune = now
		// A token revoked (and first seen here) more than its longest lifetime ago has
		// expired and is refused on that ground alone.
		cutoff := now.Add(-rv.maxTTL - time.Minute)
		rv.set.Range(func(k, v any) bool {
			if v.(time.Time).Before(cutoff) {
				rv.set.Delete(k)
			}
			return true
		})
	}
	return nil
}

// poke re-reads the set now, in the background: another process announced a revocation
// (it has committed, so a query started after the announcement sees it). Pokes that
// arrive while a query runs are answered by one more query after it, not one each: a
// burst of revocations costs a few queries, whatever its size.
func (rv *revocations) poke() {
	rv.pokeMu.Lock()
	if rv.poking {
		rv.pokeAgain = true
		rv.pokeMu.Unlock()
		return
	}
	rv.poking = true
	rv.pokeMu.Unlock()
	go func() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), revocationQueryTimeout)
			if err := rv.refresh(ctx); err != nil {
				// The set's own bounds still hold: a request past them waits for a query.
				rv.log.Warn("refresh revoked access tokens after a notification", "err", err)
			}
			cancel()
			rv.pokeMu.Lock()
			if !rv.pokeAgain {
				rv.poking = false
				rv.pokeMu.Unlock()
				return
			}
			rv.pokeAgain = false
			rv.pokeMu.Unlock()
		}
	}()
}
