package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// cimdClient is the largest kind of client anyone on the internet can make this server
// cache: a metadata document client whose ID is a 2,100-byte URL.
func cimdClient(i int) *Client {
	id := fmt.Sprintf("https://app.example/%d/", i)
	id += strings.Repeat("x", 2100-len(id))
	return &Client{ID: id, Name: "Example app", Public: true, Scopes: "mcp offline_access",
		GrantTypes: "authorization_code refresh_token", RedirectURIsJSON: `["https://app.example/callback"]`,
		TokenEndpointAuthMethod: "none", Source: ClientSourceMetadata,
		Metadata: `{"client_name":"Example app","redirect_uris":["https://app.example/callback"]}`}
}

// TestClientCacheBounded: however many clients are loaded, the cache keeps at most its
// budget of entries and bytes, and keeps what was stored last.
func TestClientCacheBounded(t *testing.T) {
	cc := newClientCache()
	cc.freshFor.Store(int64(time.Hour)) // nothing expires: only the budget can make room
	const n = clientCacheMaxEntries * 3
	for i := range n {
		c := cimdClient(i)
		cc.put(c, cc.gen.Load(), time.Now())
		if len(cc.entries) > clientCacheMaxEntries || cc.bytes > clientCacheMaxBytes {
			t.Fatalf("after %d clients: %d entries, %d bytes; budget %d entries, %d bytes",
				i+1, len(cc.entries), cc.bytes, clientCacheMaxEntries, clientCacheMaxBytes)
		}
	}
	if last := cimdClient(n - 1); cc.fresh(last.ID) == nil {
		t.Fatal("the client stored last was evicted")
	}
	sum := 0
	for _, e := range cc.entries {
		sum += e.size
	}
	if sum != cc.bytes {
		t.Fatalf("bytes = %d, entries sum to %d", cc.bytes, sum)
	}
}

// BenchmarkClientCacheMemory reports the heap a cached client holds (bytes/client), for a
// typical admin client and for the largest metadata document client, to check
// clientEntryOverhead and clientSize against.
func BenchmarkClientCacheMemory(b *testing.B) {
	server := "srv_0123456789abcdef"
	admin := func(i int) *Client {
		return &Client{ID: fmt.Sprintf("client_%026d", i), Name: "Nightly report", ServerID: &server,
			SecretHash: "$hmac-sha256$" + strings.Repeat("h", 64), Scopes: "mcp:tools:read mcp:tools:execute",
			GrantTypes: "client_credentials", TokenEndpointAuthMethod: "client_secret_basic", Source: ClientSourceAdmin,
			ServerPath: "acme/sales-api", RevokedAt: nil, CreatedAt: time.Now()}
	}
	for _, kind := range []struct {
		name string
		make func(int) *Client
	}{{"admin", admin}, {"cimd-2100", cimdClient}} {
		b.Run(kind.name, func(b *testing.B) {
			const n = 5000
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				cc := newClientCache()
				for i := range n {
					// As a load stores it: every string scanned, each its own allocation.
					c := kind.make(i)
					for _, f := range []*string{&c.ID, &c.Name, &c.SecretHash, &c.Scopes, &c.GrantTypes,
						&c.RedirectURIsJSON, &c.TokenEndpointAuthMethod, &c.Source, &c.Metadata, &c.ServerPath} {
						*f = strings.Clone(*f)
					}
					cc.put(c, cc.gen.Load(), time.Now())
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/client")
				b.ReportMetric(float64(cc.bytes)/n, "counted/client")
				runtime.KeepAlive(cc)
			}
		})
	}
}

// BenchmarkClientByID compares a client read from the database with one from the cache.
func BenchmarkClientByID(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	c := &Client{ID: "client-bench", Name: "Bench", Scopes: "mcp", GrantTypes: "client_credentials", SecretHash: "h"}
	if err := s.CreateClient(ctx, c); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		fresh time.Duration
	}{{"database", 0}, {"cached", time.Hour}} {
		b.Run(tc.name, func(b *testing.B) {
			s.clients.freshFor.Store(int64(tc.fresh))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.ClientByID(WithClientCache(ctx), c.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
