package storage

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"gorm.io/gorm"
)

// How long a client read from the database is used without reading it again, and how much
// of them one process keeps.
//
// clientFreshFor bounds what this process cannot hear of: a client revoked or edited by
// another process whose notification is lost (a listener reconnecting, a pooler that drops
// LISTEN) or that cannot notify at all (`conexor clients revoke` on the SQLite file). It is
// a second, close to the gate's revocation set (750 ms): a token a stale replica issues to a
// client revoked meanwhile lives its whole lifetime, so the window is kept about as short as
// the one in which a revoked token is still let through, while a busy client still costs one
// query a second instead of one per request. Changes made by this process are never stale:
// they drop the entry before their method returns (clientChanged), and on Postgres every
// replica drops its whole cache on the change's notification (ForgetClients).
//
// The budget bounds memory, not hit rate: only clients used within the last clientFreshFor
// are worth keeping, and client ID metadata documents let anyone on the internet create
// clients with IDs of up to 2,100 bytes. A full cache first drops the expired entries, then
// arbitrary ones, down to seven eighths of the budget, so filling it costs O(1) per entry.
const (
	clientFreshFor        = time.Second
	clientCacheMaxEntries = 10_000
	clientCacheMaxBytes   = 16 << 20
	// clientEntryOverhead is what an entry costs beyond its strings (the Client struct,
	// the map slot, the entry). BenchmarkClientCacheMemory measures about 600 bytes for an
	// operator's client and 2.8 KB for a metadata document client with a 2,100-byte ID,
	// within 6 % of what clientSize counts: the budget holds at least 5,800 clients.
	clientEntryOverhead = 400
)

// clientCache is the process-wide cache of clients by ID, which ClientByID reads through:
// every token, introspection and revocation request authenticates its client, so a steady
// stream of requests from one client costs one query per clientFreshFor instead of one per
// request. Entries are never handed out: ClientByID returns copies, which callers may change.
type clientCache struct {
	mu      sync.RWMutex
	entries map[string]clientEntry
	bytes   int
	// gen counts invalidations (written under mu). A load stores its result only if no
	// invalidation happened since it started, so a query that raced a change cannot put
	// the old row back; it is also part of the singleflight key, so a caller that starts
	// after a change never shares the answer of a query that started before it.
	gen     atomic.Uint64
	flights singleflight.Group
	// freshFor is clientFreshFor unless a test set it (WithClientFreshness), in nanoseconds.
	freshFor atomic.Int64
}

type clientEntry struct {
	c        *Client
	loadedAt time.Time // when its query started
	size     int
}

func newClientCache() *clientCache {
	cc := &clientCache{entries: map[string]clientEntry{}}
	cc.freshFor.Store(int64(clientFreshFor))
	return cc
}

// WithClientFreshness replaces how long a cached client is used without reading it again
// (clientFreshFor), for tests that must tell an invalidation from an expiry. It may be
// applied to a store in use.
func WithClientFreshness(d time.Duration) Option {
	return func(s *Store) { s.clients.freshFor.Store(int64(d)) }
}

func (cc *clientCache) expired(e clientEntry) bool {
	return time.Since(e.loadedAt) >= time.Duration(cc.freshFor.Load())
}

// fresh returns the cached client with this ID if it was read within clientFreshFor.
func (cc *clientCache) fresh(id string) *Client {
	cc.mu.RLock()
	e, ok := cc.entries[id]
	cc.mu.RUnlock()
	if !ok || cc.expired(e) {
		return nil
	}
	return e.c
}

// load returns the client with this ID from the cache, or from query. Concurrent loads of
// one ID share one query; a caller whose ctx ends stops waiting without failing the others.
// Only a found client is stored: not found (perhaps registered at another replica a moment
// ago) and errors are asked again by the next caller. A transaction bypasses the cache: it
// must see its own writes, and what it reads is not committed yet. (A request's transaction
// finds its client in the request's cache: it authenticated it before.)
func (cc *clientCache) load(ctx context.Context, id string, query func(context.Context, string) (*Client, error)) (*Client, error) {
	if _, inTx := ctx.Value(txKey{}).(*gorm.DB); inTx {
		return query(ctx, id)
	}
	if c := cc.fresh(id); c != nil {
		return c, nil
	}
	gen := cc.gen.Load()
	ch := cc.flights.DoChan(strconv.FormatUint(gen, 36)+"/"+id, func() (any, error) {
		started := time.Now()
		// The query outlives a caller that gives up: the others may still wait for it.
		qctx := context.WithoutCancel(ctx)
		c, err := query(qctx, id)
		if err == nil {
			cc.put(c, gen, started)
		}
		return c, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Client), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put stores c under its own ID (not the caller's string, which may hold more memory).
func (cc *clientCache) put(c *Client, gen uint64, loadedAt time.Time) {
	id := c.ID
	size := clientSize(c)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.gen.Load() != gen {
		return // changed while it was read: the row may predate the change
	}
	if old, ok := cc.entries[id]; ok {
		// Out of the map as well as out of the count: shrink below must not count it twice.
		cc.bytes -= old.size
		delete(cc.entries, id)
	}
	if len(cc.entries) >= clientCacheMaxEntries || cc.bytes+size > clientCacheMaxBytes {
		cc.shrink()
	}
	cc.entries[id] = clientEntry{c: c, loadedAt: loadedAt, size: size}
	cc.bytes += size
}

// shrink drops expired entries, then arbitrary ones (map order), until the cache holds at
// most seven eighths of its budget. Called with mu held.
func (cc *clientCache) shrink() {
	for id, e := range cc.entries {
		if cc.expired(e) {
			delete(cc.entries, id)
			cc.bytes -= e.size
		}
	}
	for id, e := range cc.entries {
		if len(cc.entries) <= clientCacheMaxEntries*7/8 && cc.bytes <= clientCacheMaxBytes*7/8 {
			return
		}
		delete(cc.entries, id)
		cc.bytes -= e.size
	}
}

// forget drops one client, and keeps any load that started before from storing it.
func (cc *clientCache) forget(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen.Add(1)
	if e, ok := cc.entries[id]; ok {
		delete(cc.entries, id)
		cc.bytes -= e.size
	}
}

// forgetAll drops every client, and keeps any load that started before from storing it.
func (cc *clientCache) forgetAll() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen.Add(1)
	clear(cc.entries)
	cc.bytes = 0
}

// clientSize approximates the memory a cached client holds.
func clientSize(c *Client) int {
	return clientEntryOverhead + len(c.ID) + len(c.Name) + len(c.SecretHash) + len(c.Scopes) + len(c.GrantTypes) +
		len(c.RedirectURIsJSON) + len(c.TokenEndpointAuthMethod) + len(c.Source) + len(c.Metadata) + len(c.ServerPath)
}

// clientChanged drops a client this process changes from the cache, before the change's
// method returns. In a transaction it drops it again when the transaction ends: until the
// commit, another request may read the old row and cache it, and its load started after the
// first drop.
func (s *Store) clientChanged(ctx context.Context, id string) {
	s.clients.forget(id)
	afterTx(ctx, func() { s.clients.forget(id) })
}

// serversChanged drops every cached client when this process changes a server: a client
// carries its server's path. Server changes are rare; dropping all keeps the rule simple.
func (s *Store) serversChanged(ctx context.Context) {
	s.clients.forgetAll()
	afterTx(ctx, s.clients.forgetAll)
}

// ForgetClients drops every client this process caches, for a change another process
// announced (TopicClients, TopicServers, or TopicResync after notifications were lost).
func (s *Store) ForgetClients() { s.clients.forgetAll() }

// requestClients holds the clients one request has loaded. An OAuth request reads its client
// several times: fosite authenticates it, and every stored code, PKCE session and token
// it then loads names it again (four loads per authorization-code exchange, two per
// refresh). Within one request the client must not change under it (the process cache
// may be refreshed meanwhile), so the request keeps the copy it got first.
type requestClients struct {
	mu      sync.Mutex
	clients map[string]*Client
}

type requestClientsKey struct{}

// WithClientCache returns a context in which ClientByID (and so GetClient and every token
// lookup) returns one client per ID: the one it loaded first. Give it one request's
// context, never a long-lived one: a client kept here does not see a later revocation or
// edit.
func WithClientCache(ctx context.Context) context.Context {
	if _, ok := ctx.Value(requestClientsKey{}).(*requestClients); ok {
		return ctx
	}
	return context.WithValue(ctx, requestClientsKey{}, &requestClients{clients: map[string]*Client{}})
}

func cachedClient(ctx context.Context, id string) (*Client, *requestClients) {
	rc, ok := ctx.Value(requestClientsKey{}).(*requestClients)
	if !ok {
		return nil, nil
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.clients[id], rc
}

func (rc *requestClients) put(c *Client) {
	if rc == nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.clients[c.ID] = c
}
