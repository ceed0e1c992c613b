package storagetest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/conexor/conexor/storage"
)

// testClientCache: in a context from WithClientCache, GetClient and every token lookup that
// names the client load it from the database once; without one, each call reads it.
func testClientCache(t *testing.T, e *Env) {
	s := e.Store
	var reads atomic.Int64
	s.OnStatement(func(st storage.Statement) {
		if st.Table == "clients" && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(st.SQL)), "SELECT") {
			reads.Add(1)
		}
	})
	req := e.NewRequest(t, "req-cache", nil)
	noErr(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(e.Ctx, Sig("cache-at"), req))
	noErr(t, "CreateRefreshTokenSession", s.CreateRefreshTokenSession(e.Ctx, Sig("cache-rt"), Sig("cache-at"), req))

	lookups := func(ctx context.Context) {
		t.Helper()
		_, err := s.GetClient(ctx, e.Client.ID)
		noErr(t, "GetClient", err)
		_, err = s.GetAccessTokenSession(ctx, Sig("cache-at"), nil)
		noErr(t, "GetAccessTokenSession", err)
		_, err = s.GetRefreshTokenSession(ctx, Sig("cache-rt"), nil)
		noErr(t, "GetRefreshTokenSession", err)
	}
	reads.Store(0)
	lookups(e.Ctx)
	if n := reads.Load(); n != 3 {
		t.Fatalf("without a cache: %d client reads, want 3", n)
	}
	reads.Store(0)
	ctx := storage.WithClientCache(e.Ctx)
	lookups(ctx)
	noErr(t, "InTx", s.InTx(ctx, func(ctx context.Context) error { lookups(ctx); return nil }))
	if n := reads.Load(); n != 1 {
		t.Fatalf("with a cache: %d client reads, want 1", n)
	}
	// An unknown client is not remembered as found, and a request's cache is its own.
	_, err := s.GetClient(ctx, "no-such-client")
	wantErr(t, "GetClient(unknown) with a cache", err, storage.ErrNotFound)
	reads.Store(0)
	lookups(storage.WithClientCache(e.Ctx))
	if n := reads.Load(); n != 1 {
		t.Fatalf("a second request's cache: %d client reads, want 1", n)
	}
}
