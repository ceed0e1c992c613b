package mcp

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeTokens is a TokenStore whose revocations and failures the test controls.
type fakeTokens struct {
	mu      sync.Mutex
	revoked map[string]time.Time
	fail    error
	queries []time.Time   // the since argument of each RevokedAccessTokensSince
	delay   time.Duration // how long each query takes
}

func (f *fakeTokens) AccessTokenState(context.Context, string) (bool, bool, error) {
	return true, true, nil
}

func (f *fakeTokens) RevokedAccessTokensSince(_ context.Context, since time.Time) ([]string, time.Time, error) {
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	time.Sleep(delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, since)
	if f.fail != nil {
		return nil, since, f.fail
	}
	latest := since
	var out []string
	for h, at := range f.revoked {
		if !at.Before(since) {
			out = append(out, h)
			if at.After(latest) {
				latest = at
			}
		}
	}
	return out, latest, nil
}

func (f *fakeTokens) revoke(h string, at time.Time) {
	f.mu.Lock()
	f.revoked[h] = at
	f.mu.Unlock()
}

func (f *fakeTokens) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queries)
}

// TestRevocationFreshness: on synthetic time (a synctest bubble), the set is answered from
// memory up to exactly revocationRefreshAfter after its last query started, refreshed in the
// background from then on, and never trusted past revocationMaxAge: a request then waits for
// a query, and is refused if the database cannot answer.
func TestRevocationFreshness(t *testing.T) {
	synctest.Test(t, testRevocationFreshness)
}

func testRevocationFreshness(t *testing.T) {
	ctx := context.Background()
	store := &fakeTokens{revoked: map[string]time.Time{}}
	rv := newRevocations(store, time.Hour, slog.New(slog.DiscardHandler))
	check := func(hash string, want bool) {
		t.Helper()
		got, err := rv.revoked(ctx, hash)
		if err != nil || got != want {
			t.Fatalf("revoked(%s) = %v, %v; want %v, nil", hash, got, err, want)
		}
	}
	queries := func(want int) {
		t.Helper()
		synctest.Wait() // background refreshes have run
		if got := store.count(); got != want {
			t.Fatalf("%d queries, want %d", got, want)
		}
	}

	// Never loaded: the first check waits for a query, and fails closed without one.
	store.fail = errors.New("database down")
	if _, err := rv.revoked(ctx, "a"); err == nil {
		t.Fatal("a never-loaded set was trusted while the database was down")
	}
	store.fail = nil
	dbNow := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store.revoke("a", dbNow)
	check("a", true) // the load happens now: time 0 below
	if !store.queries[1].IsZero() {
		t.Errorf("first load since %v, want everything (zero time)", store.queries[1])
	}
	queries(2)

	// Fresh up to exactly revocationRefreshAfter: answered from memory.
	store.revoke("b", dbNow.Add(time.Second))
	time.Sleep(revocationRefreshAfter)
	check("b", false)
	queries(2)

	// A nanosecond later: this request still answers from the set it has, and starts one
	// background query, which picks up b.
	time.Sleep(time.Nanosecond)
	check("b", false)
	queries(3)
	check("b", true)
	// It asked from the newest revocation seen, minus the overlap.
	if last, want := store.queries[2], dbNow.Add(-revocationOverlap); !last.Equal(want) {
		t.Errorf("refresh since %v, want %v", last, want)
	}

	// The database goes down. Background refreshes fail, and the set (loaded at
	// revocationRefreshAfter+1ns) is still used up to exactly revocationMaxAge after that...
	store.fail = errors.New("database down")
	time.Sleep(revocationMaxAge)
	check("a", true)
	queries(4)
	// ...and not a nanosecond longer: the request waits for a query, which fails.
	time.Sleep(time.Nanosecond)
	if _, err := rv.revoked(ctx, "c"); err == nil {
		t.Error("a set older than revocationMaxAge was trusted while the database was down")
	}
	queries(5)
	// Once the database answers, the waiting request's query brings the set up to date.
	store.fail = nil
	store.revoke("c", dbNow.Add(2*time.Second))
	check("c", true)
	queries(6)
}

// TestRevocationPoke: a notification (poke) re-reads the set at once, without a request;
// pokes that arrive while that query runs cost exactly one more query, which sees what
// was revoked after the first one started.
func TestRevocationPoke(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeTokens{revoked: map[string]time.Time{}}
		rv := newRevocations(f, time.Hour, slog.New(slog.DiscardHandler))
		if err := rv.refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.revoke("h1", time.Now())
		rv.poke()
		synctest.Wait()
		if _, ok := rv.set.Load("h1"); !ok || f.count() != 2 {
			t.Fatalf("after one poke: h1 in set %v, %d queries; want true, 2", ok, f.count())
		}

		f.mu.Lock()
		f.delay = 10 * time.Millisecond
		f.mu.Unlock()
		rv.poke()
		synctest.Wait() // its query is running
		f.revoke("h2", time.Now())
		for range 100 {
			rv.poke()
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if _, ok := rv.set.Load("h2"); !ok {
			t.Fatal("h2, revoked while a poked query ran, is not in the set")
		}
		if got := f.count(); got != 4 {
			t.Fatalf("%d queries, want 4: one per poke before, then one for the running poke and one for the 100 during it", got)
		}
	})
}
