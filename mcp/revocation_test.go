package mcp

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeTokens is a TokenStore whose revocations and failures the test controls.
type fakeTokens struct {
	mu      sync.Mutex
	revoked map[string]time.Time
	fail    error
	queries []time.Time // the since argument of each RevokedAccessTokensSince
}

func (f *fakeTokens) AccessTokenState(context.Context, string) (bool, bool, error) {
	return true, true, nil
}

func (f *fakeTokens) RevokedAccessTokensSince(_ context.Context, since time.Time) ([]string, time.Time, error) {
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

func TestRevocationFreshness(t *testing.T) {
	ctx := context.Background()
	store := &fakeTokens{revoked: map[string]time.Time{}}
	rv := newRevocations(store, time.Hour, slog.New(slog.DiscardHandler))

	// Never loaded: the first check waits for a query.
	store.fail = errors.New("database down")
	if _, err := rv.revoked(ctx, "a"); err == nil {
		t.Fatal("a stale set with an unreachable database must fail closed")
	}
	store.fail = nil
	dbNow := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store.revoke("a", dbNow)
	if got, err := rv.revoked(ctx, "a"); err != nil || !got {
		t.Fatalf("revoked(a) = %v, %v after the first load", got, err)
	}
	if !store.queries[1].IsZero() {
		t.Errorf("first load since %v, want everything (zero time)", store.queries[1])
	}

	// Fresh: answered from memory.
	n := store.count()
	for range 100 {
		if got, _ := rv.revoked(ctx, "b"); got {
			t.Fatal("b is not revoked")
		}
	}
	if store.count() != n {
		t.Errorf("%d queries while the set was fresh", store.count()-n)
	}

	// Past the refresh point: the answer comes from the current set, and a background
	// query picks up the new revocation.
	store.revoke("b", dbNow.Add(time.Second))
	time.Sleep(revocationRefreshAfter + 20*time.Millisecond)
	if _, err := rv.revoked(ctx, "b"); err != nil {
		t.Fatalf("revoked(b): %v", err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		if got, _ := rv.revoked(ctx, "b"); got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background refresh never picked up b")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// It asked from the newest revocation seen, minus the overlap.
	store.mu.Lock()
	last := store.queries[len(store.queries)-1]
	store.mu.Unlock()
	if want := dbNow.Add(-revocationOverlap); !last.Equal(want) {
		t.Errorf("refresh since %v, want %v", last, want)
	}

	// Too old and the database is down: refuse rather than trust an old set.
	store.fail = errors.New("database down")
	time.Sleep(revocationMaxAge + 20*time.Millisecond)
	if _, err := rv.revoked(ctx, "c"); err == nil {
		t.Error("a set older than revocationMaxAge was trusted while the database was down")
	}
}
