package storagetest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conexor/conexor/storage"
)

// clientReads counts the statements that read the clients table. pause, when set, delays
// each such read after it ran (to keep a load in flight while others arrive).
type clientReads struct {
	n     atomic.Int64
	pause atomic.Int64 // nanoseconds
}

func countClientReads(s *storage.Store) *clientReads {
	r := &clientReads{}
	s.OnStatement(func(st storage.Statement) {
		if st.Table == "clients" && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(st.SQL)), "SELECT") {
			r.n.Add(1)
			time.Sleep(time.Duration(r.pause.Load()))
		}
	})
	return r
}

// forever is a client freshness no test outlives: what a store with it sees of a change is
// only what invalidation told it, never an expiry.
const forever = time.Hour

// testClientCache: the store reads a client once and then answers GetClient and every token
// lookup naming it from memory; not found is never remembered; callers get copies; and every
// change made through the store is seen at once by the next read.
func testClientCache(t *testing.T, e *Env) {
	s := e.Store
	storage.WithClientFreshness(forever)(s)
	reads := countClientReads(s)
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
	reads.n.Store(0) // NewRequest loaded the client
	lookups(e.Ctx)
	lookups(storage.WithClientCache(e.Ctx))
	if n := reads.n.Load(); n != 0 {
		t.Fatalf("a cached client: %d client reads, want 0", n)
	}

	// Not found is asked again every time.
	for range 2 {
		_, err := s.GetClient(e.Ctx, "no-such-client")
		wantErr(t, "GetClient(unknown)", err, storage.ErrNotFound)
	}
	if n := reads.n.Load(); n != 2 {
		t.Fatalf("two lookups of an unknown client: %d client reads, want 2", n)
	}

	// A caller's changes to its client stay its own.
	mine, err := s.ClientByID(e.Ctx, e.Client.ID)
	noErr(t, "ClientByID", err)
	mine.Name, mine.SecretHash = "changed by a caller", "changed"
	again, err := s.ClientByID(e.Ctx, e.Client.ID)
	noErr(t, "ClientByID", err)
	if again.Name != e.Client.Name || again.SecretHash != e.Client.SecretHash {
		t.Fatalf("a caller's change reached the cache: name %q, secret hash %q", again.Name, again.SecretHash)
	}

	// Every change made through the store is read at once.
	c := e.NewClient(t, "client-cached")
	_, err = s.GetClient(e.Ctx, c.ID)
	noErr(t, "GetClient(new)", err)
	noErr(t, "SetClientSecretHash", s.SetClientSecretHash(e.Ctx, c.ID, "rotated-hash"))
	got, err := s.ClientByID(e.Ctx, c.ID)
	noErr(t, "ClientByID after rotation", err)
	if got.SecretHash != "rotated-hash" {
		t.Fatalf("after rotation: secret hash %q, want the new one", got.SecretHash)
	}
	got.Name, got.Scopes = "Renamed", "mcp"
	noErr(t, "UpdateClient", s.UpdateClient(e.Ctx, got))
	got, err = s.ClientByID(e.Ctx, c.ID)
	noErr(t, "ClientByID after update", err)
	if got.Name != "Renamed" || got.Scopes != "mcp" {
		t.Fatalf("after update: name %q, scopes %q", got.Name, got.Scopes)
	}
	got.Metadata = `{"client_name":"saved"}`
	noErr(t, "SaveClient", s.SaveClient(e.Ctx, got))
	got, err = s.ClientByID(e.Ctx, c.ID)
	noErr(t, "ClientByID after save", err)
	if got.Metadata != `{"client_name":"saved"}` {
		t.Fatalf("after save: metadata %q", got.Metadata)
	}
	noErr(t, "RevokeClient", s.RevokeClient(e.Ctx, c.ID))
	_, err = s.GetClient(e.Ctx, c.ID)
	wantErr(t, "GetClient right after RevokeClient", err, storage.ErrNotFound)

	// A request keeps the client it loaded first, whatever happens meanwhile.
	reqCtx := storage.WithClientCache(e.Ctx)
	first, err := s.ClientByID(reqCtx, e.Client.ID)
	noErr(t, "ClientByID in a request", err)
	noErr(t, "RevokeClient", s.RevokeClient(e.Ctx, e.Client.ID))
	same, err := s.ClientByID(reqCtx, e.Client.ID)
	noErr(t, "ClientByID later in the request", err)
	if same != first {
		t.Fatal("a request's second load returned another client than its first")
	}
}

// testClientCacheSingleLoad: concurrent loads of one client share one query.
func testClientCacheSingleLoad(t *testing.T, e *Env) {
	s := e.Store
	storage.WithClientFreshness(forever)(s)
	c := e.NewClient(t, "client-burst")
	reads := countClientReads(s)
	reads.pause.Store(int64(50 * time.Millisecond)) // keep the first load in flight while the others arrive
	const n = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.GetClient(e.Ctx, c.ID)
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, "GetClient", err)
	}
	if got := reads.n.Load(); got != 1 {
		t.Fatalf("%d concurrent loads of one client: %d queries, want 1", n, got)
	}
}

// SharedStores opens two stores on one database (one SQLite file, one Postgres schema), as
// two processes would, and returns them migrated; it arranges their cleanup.
type SharedStores func(t *testing.T) (a, b *storage.Store)

// RunSharedTests runs the cases that need two stores on one database. Only back ends with
// more than one connection run them (not in-memory SQLite).
func RunSharedTests(t *testing.T, open SharedStores) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, a, b *storage.Store)
	}{
		{"ClientRevokedElsewhere", testClientRevokedElsewhere},
		{"ClientChangedInTx", testClientChangedInTx},
		{"ClientNotFoundElsewhere", testClientNotFoundElsewhere},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			tc.run(t, a, b)
		})
	}
}

// testClientRevokedElsewhere: a client revoked by one store is refused by the other, which
// had it cached, within the freshness bound (polled; nothing is told to b).
func testClientRevokedElsewhere(t *testing.T, a, b *storage.Store) {
	e := NewEnv(t, a)
	_, err := b.GetClient(e.Ctx, e.Client.ID)
	noErr(t, "GetClient at b", err)
	noErr(t, "RevokeClient at a", a.RevokeClient(e.Ctx, e.Client.ID))
	_, err = a.GetClient(e.Ctx, e.Client.ID)
	wantErr(t, "GetClient at a, right after its RevokeClient", err, storage.ErrNotFound)
	waitUntil(t, "b refuses the client revoked at a", func() bool {
		_, err := b.GetClient(e.Ctx, e.Client.ID)
		return err != nil
	})
	_, err = b.GetClient(e.Ctx, e.Client.ID)
	wantErr(t, "GetClient at b", err, storage.ErrNotFound)
}

// testClientChangedInTx: a client read (and cached) by another request while the
// transaction that revokes it is still open is not used once that transaction committed.
func testClientChangedInTx(t *testing.T, a, _ *storage.Store) {
	e := NewEnv(t, a)
	storage.WithClientFreshness(forever)(a)
	noErr(t, "InTx", a.InTx(e.Ctx, func(txCtx context.Context) error {
		if err := a.RevokeClient(txCtx, e.Client.ID); err != nil {
			return err
		}
		// Another request, outside the transaction, still reads the committed row.
		_, err := a.GetClient(e.Ctx, e.Client.ID)
		noErr(t, "GetClient outside the open transaction", err)
		return nil
	}))
	_, err := a.GetClient(e.Ctx, e.Client.ID)
	wantErr(t, "GetClient after the revoking transaction committed", err, storage.ErrNotFound)
}

// testClientNotFoundElsewhere: a client created at one store is found by the other, which
// looked for it a moment before.
func testClientNotFoundElsewhere(t *testing.T, a, b *storage.Store) {
	e := NewEnv(t, a)
	storage.WithClientFreshness(forever)(b)
	_, err := b.GetClient(e.Ctx, "client-later")
	wantErr(t, "GetClient at b before it exists", err, storage.ErrNotFound)
	e.NewClient(t, "client-later")
	_, err = b.GetClient(e.Ctx, "client-later")
	noErr(t, "GetClient at b once created at a", err)
}

// RunNotifiedTests runs the cases of stores that announce their changes to each other
// (Postgres; SQLite does not notify).
func RunNotifiedTests(t *testing.T, open SharedStores) {
	t.Helper()
	t.Run("ClientNotified", func(t *testing.T) {
		a, b := open(t)
		testClientNotified(t, a, b)
	})
}

// testClientNotified: a change at store a reaches store b's cache through the change
// notifications, routed as the app routes them. b's clients never expire here, so only the
// notification can make b refuse the client.
func testClientNotified(t *testing.T, a, b *storage.Store) {
	e := NewEnv(t, a)
	storage.WithClientFreshness(forever)(b)
	ctx, cancel := context.WithCancel(e.Ctx)
	listening := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Listen(ctx, slog.New(slog.DiscardHandler), func(topic storage.Topic) {
			switch topic {
			case storage.TopicClients, storage.TopicServers, storage.TopicResync:
				b.ForgetClients()
			}
			if topic == storage.TopicResync {
				select {
				case listening <- struct{}{}:
				default:
				}
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	<-listening
	_, err := b.GetClient(e.Ctx, e.Client.ID)
	noErr(t, "GetClient at b", err)
	noErr(t, "RevokeClient at a", a.RevokeClient(e.Ctx, e.Client.ID))
	waitUntil(t, "b refuses the client revoked at a", func() bool {
		_, err := b.GetClient(e.Ctx, e.Client.ID)
		return err != nil
	})
	_, err = b.GetClient(e.Ctx, e.Client.ID)
	wantErr(t, "GetClient at b", err, storage.ErrNotFound)
}

// waitUntil polls ok until it holds, failing t after a generous limit (not a measurement).
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not after 20 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
