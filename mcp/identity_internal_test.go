package mcp

import (
	"testing"
	"time"

	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// countingAsserter signs assertions that live for a minute and counts them.
type countingAsserter struct {
	now    func() time.Time
	signed int
}

func (a *countingAsserter) AssertIdentity(upstream, org, server string, caller *provider.Claims) (provider.SignedAssertion, error) {
	a.signed++
	iat := a.now()
	return provider.SignedAssertion{Token: upstream + "|" + caller.Subject + "|" + iat.String(), IssuedAt: iat,
		Expires: iat.Add(provider.IdentityAssertionLifetime)}, nil
}

// TestIdentitiesCache: one signature per token and server while more than half its lifetime
// remains; a new upstream or token gets its own; the cache never holds more than its bound.
func TestIdentitiesCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	a := &countingAsserter{now: clock}
	ids := newIdentities(a, clock)
	ids.max = 3
	call := func(sig, upstream string) *upstreamCall {
		return &upstreamCall{info: &serverInfo{srv: &storage.Server{ID: "srv_1", OrgSlug: "acme", Upstream: upstream}},
			principal: &principal{Claims: &provider.Claims{Subject: "u-" + sig, ClientID: "c"}, sigHash: sig}}
	}
	get := func(c *upstreamCall) string {
		t.Helper()
		tok, err := ids.assertion(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := get(call("a", "https://up/1"))
	now = now.Add(29 * time.Second)
	if get(call("a", "https://up/1")) != first || a.signed != 1 {
		t.Fatalf("within half the lifetime: %d signatures, want 1 and the same assertion", a.signed)
	}
	if get(call("a", "https://up/2")) == first || a.signed != 2 {
		t.Fatalf("another upstream reused the assertion (%d signatures)", a.signed)
	}
	now = now.Add(time.Second) // 30 s: half the lifetime gone
	if get(call("a", "https://up/1")) == first || a.signed != 3 {
		t.Fatalf("after half the lifetime: %d signatures, want a new assertion", a.signed)
	}
	for _, sig := range []string{"b", "c", "d", "e"} {
		get(call(sig, "https://up/1"))
		if n := ids.len(); n > ids.max {
			t.Fatalf("the cache holds %d assertions, bound %d", n, ids.max)
		}
	}
	if _, err := newIdentities(nil, clock).assertion(call("a", "https://up/1")); err == nil {
		t.Fatal("no asserter: want an error, so the request is not sent without its assertion")
	}
}

// BenchmarkIdentityCached is the hot path of a server with identity assertions on: an
// assertion from the cache, no signature.
func BenchmarkIdentityCached(b *testing.B) {
	clock := func() time.Time { return time.Unix(1_800_000_000, 0) }
	ids := newIdentities(&countingAsserter{now: clock}, clock)
	c := &upstreamCall{info: &serverInfo{srv: &storage.Server{ID: "srv_1", OrgSlug: "acme", Upstream: "https://up/mcp"}},
		principal: &principal{Claims: &provider.Claims{Subject: "u", ClientID: "c"}, sigHash: "h"}}
	for b.Loop() {
		if _, err := ids.assertion(c); err != nil {
			b.Fatal(err)
		}
	}
}
