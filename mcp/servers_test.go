package mcp

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/conexor/conexor/storage"
)

// The count of cached unknown paths follows the cache: a path that starts to exist, or is
// forgotten, frees its place under maxNegativeServers.
func TestServerCacheNegativeCount(t *testing.T) {
	c := &serverCache{}
	unknown := &serverInfo{path: "acme/x"}
	known := &serverInfo{path: "acme/x", srv: &storage.Server{}}
	steps := []struct {
		do   func()
		want int64
	}{
		{func() { c.put("acme/x", unknown) }, 1},
		{func() { c.put("acme/x", unknown) }, 1},
		{func() { c.put("acme/x", known) }, 0},
		{func() { c.put("acme/x", unknown) }, 1},
		{func() { c.forget("acme/x") }, 0},
		{func() { c.put("acme/y", known); c.forget("acme/y") }, 0},
	}
	for i, s := range steps {
		s.do()
		if got := c.negative.Load(); got != s.want {
			t.Fatalf("step %d: negative = %d, want %d", i, got, s.want)
		}
	}
}

// pathStore is a ServerStore with one server, acme/known, that counts its lookups.
type pathStore struct {
	ServerStore
	lookups atomic.Int64
}

func (s *pathStore) ServerByPath(_ context.Context, org, server string) (*storage.Server, error) {
	s.lookups.Add(1)
	if org+"/"+server == "acme/known" {
		return &storage.Server{OrgSlug: org, Slug: server, Enabled: true}, nil
	}
	return nil, storage.ErrNotFound
}

// TestServerCacheBoundsUnknownPaths: made-up paths are remembered up to maxNegativeServers
// and no further (a path past the bound reaches the database on every request, and the
// cache does not grow); known servers are still cached at the bound, and a remembered
// unknown path is refreshed in place when it is stale. In a synctest bubble, so serverTTL
// passes without waiting.
func TestServerCacheBoundsUnknownPaths(t *testing.T) {
	synctest.Test(t, testServerCacheBoundsUnknownPaths)
}

func testServerCacheBoundsUnknownPaths(t *testing.T) {
	store := &pathStore{}
	c := &serverCache{store: store, issuer: "http://localhost:8080"}
	ctx := context.Background()
	lookup := func(name string) *serverInfo {
		t.Helper()
		info, err := c.lookup(ctx, "acme", name)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	entries := func() (n int) {
		c.entries.Range(func(any, any) bool { n++; return true })
		return n
	}
	for i := range maxNegativeServers + 100 {
		if info := lookup("made-up-" + strconv.Itoa(i)); info.srv != nil {
			t.Fatalf("made-up-%d: found a server", i)
		}
	}
	if n, neg := entries(), c.negative.Load(); n != maxNegativeServers || neg != maxNegativeServers {
		t.Fatalf("after %d unknown paths: %d entries, negative = %d; want %d each",
			maxNegativeServers+100, n, neg, maxNegativeServers)
	}

	// Past the bound: not remembered, so every request asks the database again.
	before := store.lookups.Load()
	past := "made-up-" + strconv.Itoa(maxNegativeServers+1)
	lookup(past)
	lookup(past)
	if got := store.lookups.Load() - before; got != 2 {
		t.Errorf("an unknown path past the bound was looked up %d times in 2 requests, want 2", got)
	}
	// Within the bound: remembered.
	before = store.lookups.Load()
	lookup("made-up-0")
	if got := store.lookups.Load() - before; got != 0 {
		t.Errorf("a remembered unknown path reached the database %d times", got)
	}
	// Stale at the bound: read again, and remembered again in its own place.
	time.Sleep(serverTTL)
	before = store.lookups.Load()
	lookup("made-up-0")
	lookup("made-up-0")
	if got := store.lookups.Load() - before; got != 1 {
		t.Errorf("a stale remembered unknown path at the bound: %d lookups in 2 requests, want 1", got)
	}
	// A known server is cached whatever the number of unknown paths.
	if info := lookup("known"); info.srv == nil {
		t.Fatal("acme/known not found")
	}
	before = store.lookups.Load()
	lookup("known")
	if got := store.lookups.Load() - before; got != 0 {
		t.Errorf("a known server at the bound was not cached (%d lookups)", got)
	}
	if n := entries(); n != maxNegativeServers+1 {
		t.Errorf("%d entries, want %d unknown paths and one server", n, maxNegativeServers+1)
	}
}
