package mcp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conexor/conexor/provider"
)

// countingVerifier accepts tokens "tok-N" for audience aud, expiring at exp, and counts
// signature checks.
type countingVerifier struct {
	aud    string
	exp    int64
	checks atomic.Int64
}

func (v *countingVerifier) VerifyAccessToken(_ context.Context, token string) (*provider.Claims, error) {
	v.checks.Add(1)
	return &provider.Claims{Audience: provider.Audience{v.aud}, Scope: "mcp:tools:read", Expiry: v.exp, ClientID: token}, nil
}

func (v *countingVerifier) AccessTokenSignature(token string) string { return "sig-" + token }

func TestAuthenticatorCache(t *testing.T) {
	const aud = "http://localhost:8080/mcp/acme/sales-api"
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	v := &countingVerifier{aud: aud, exp: now.Add(time.Hour).Unix()}
	store := &fakeTokens{revoked: map[string]time.Time{}}
	a := &authenticator{verifier: v, tokens: store, revoked: newRevocations(store, time.Hour, slog.New(slog.DiscardHandler)),
		now: clock, maxCache: 100}
	ctx := context.Background()

	// Verified once, then served from the cache.
	for range 5 {
		if _, rf := a.authenticate(ctx, "tok-1", aud); rf != nil {
			t.Fatalf("authenticate: %+v", rf)
		}
	}
	if n := v.checks.Load(); n != 1 {
		t.Errorf("%d signature checks for one token, want 1", n)
	}
	// The audience is checked on every hit.
	if _, rf := a.authenticate(ctx, "tok-1", aud+"x"); rf == nil || rf.status != http.StatusUnauthorized {
		t.Errorf("cached token at another audience: %+v", rf)
	}
	// Bounded: past maxCache, entries are dropped down to 90%.
	for i := 2; i <= 250; i++ {
		if _, rf := a.authenticate(ctx, fmt.Sprintf("tok-%d", i), aud); rf != nil {
			t.Fatalf("authenticate: %+v", rf)
		}
	}
	if n := a.cached.Load(); n > 100 {
		t.Errorf("%d cached tokens, bound 100", n)
	}
	// Expiry is checked on every hit, by the provider's clock.
	now = now.Add(time.Hour)
	if _, rf := a.authenticate(ctx, "tok-250", aud); rf == nil || rf.desc != "The access token has expired." {
		t.Errorf("expired cached token: %+v", rf)
	}
}
