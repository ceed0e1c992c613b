package mcp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/conexor/conexor/storage"
)

// TestLiveAccessToken: introspection's answers come from the gate's cache and revocation
// set, with no audience of their own: one signature check per token, a revocation in the
// set makes it inactive, and a set too old to trust with the store down is an error
// wrapping storage.ErrUnavailable (a 503), never "inactive" nor "active".
func TestLiveAccessToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const aud = "http://localhost:8080/mcp/acme/sales-api"
		now := time.Unix(1_800_000_000, 0)
		v := &countingVerifier{aud: aud, exp: now.Add(time.Hour).Unix()}
		store := &fakeTokens{revoked: map[string]time.Time{}}
		g := &Gateway{auth: &authenticator{verifier: v, tokens: store, now: func() time.Time { return now }, maxCache: 100,
			revoked: newRevocations(store, time.Hour, slog.New(slog.DiscardHandler))}}
		g.revoked = g.auth.revoked
		ctx := context.Background()

		for range 3 {
			c, live, err := g.LiveAccessToken(ctx, "tok-1")
			if err != nil || !live || c.ClientID != "tok-1" || len(c.Audience) != 1 || c.Audience[0] != aud {
				t.Fatalf("LiveAccessToken = %+v, %v, %v; want the claims, true, nil", c, live, err)
			}
		}
		if n := v.checks.Load(); n != 1 {
			t.Errorf("%d signature checks for one token, want 1", n)
		}
		// The gate still checks its audience on a token introspection cached.
		if _, rf := g.auth.authenticate(ctx, "tok-1", aud+"x"); rf == nil || rf.status != http.StatusUnauthorized {
			t.Errorf("token cached by introspection, at another audience: %+v", rf)
		}

		// Revoked: inactive as soon as the set has it (AfterRevocation re-reads it).
		store.revoke(storage.SignatureHash("sig-tok-1"), time.Now())
		if err := g.revoked.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if _, live, err := g.LiveAccessToken(ctx, "tok-1"); err != nil || live {
			t.Errorf("revoked token: live %v, err %v; want false, nil", live, err)
		}

		// Another token, seen while the store works; then the store fails and the set ages.
		if _, live, err := g.LiveAccessToken(ctx, "tok-2"); err != nil || !live {
			t.Fatalf("tok-2: live %v, err %v", live, err)
		}
		store.mu.Lock()
		store.fail = errors.New("database down")
		store.mu.Unlock()
		time.Sleep(revocationMaxAge + time.Millisecond)
		if _, live, err := g.LiveAccessToken(ctx, "tok-2"); !errors.Is(err, storage.ErrUnavailable) || live {
			t.Errorf("stale set, store down: live %v, err %v; want false, storage.ErrUnavailable", live, err)
		}
	})
}
