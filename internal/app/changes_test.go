package app_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// twoReplicas starts two Conexors on one fresh Postgres schema with one secret and one
// issuer, as two replicas behind a load balancer: A seeds the demo data, B reuses it.
func twoReplicas(t *testing.T) (a, b *testenv.Env) {
	t.Helper()
	a = testenv.New(t, testenv.Options{Postgres: true})
	b = testenv.New(t, testenv.Options{DatabaseURL: a.Config.DatabaseURL, Secret: a.Config.Secret,
		Configure: func(c *config.Config) { c.Issuer = a.URL }})
	return a, b
}

const demoPath = "/mcp/" + app.DemoOrg + "/" + app.DemoServer

// toolsList asks e's gate for the demo server's tools with token and returns the status.
func toolsList(t *testing.T, e *testenv.Env, token string) int {
	t.Helper()
	req := e.NewRequest(http.MethodPost, demoPath, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	return e.Do(req).StatusCode
}

// waitFor polls ok until it holds and returns how long that took, failing t after limit.
func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// TestRevocationPropagatesToReplicas: 200 access tokens, each in use at replica B, are
// revoked one by one through replica A's revocation endpoint; B's gate refuses each one in
// well under the revocation set's polling bounds (a refresh 250 ms after the last, at most
// 750 ms), because A's commit notifies B. Polling alone gives a median of about 250 ms
// here (B's set is refreshed 250 ms after the last refresh); the assertion (p50 < 100 ms)
// fails without the notification.
func TestRevocationPropagatesToReplicas(t *testing.T) {
	a, b := twoReplicas(t)
	const n = 200
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = a.Token(a.ClientID, a.ClientSecret)
		if code := toolsList(t, b, tokens[i]); code != http.StatusOK {
			t.Fatalf("token %d at B before revocation: status %d", i, code)
		}
	}
	lat := make([]time.Duration, n)     // from the revocation's 200 (it has committed) to B's first refusal
	fromReq := make([]time.Duration, n) // from the revocation request's start, A's own work included
	for i, tok := range tokens {
		start := time.Now()
		if r := a.Revoke(a.ClientID, a.ClientSecret, tok); r.StatusCode != http.StatusOK {
			t.Fatalf("revoke %d at A: status %d: %s", i, r.StatusCode, r.Body)
		}
		lat[i] = waitFor(t, 5*time.Second, "B refuses a token revoked at A", func() bool {
			return toolsList(t, b, tok) == http.StatusUnauthorized
		})
		fromReq[i] = time.Since(start)
	}
	slices.Sort(lat)
	slices.Sort(fromReq)
	p50, p99 := lat[n/2], lat[n*99/100]
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	t.Logf("revocation propagation n=%d p50=%s p99=%s max=%s (from the revocation's 200)", n, r(p50), r(p99), r(lat[n-1]))
	t.Logf("revocation propagation n=%d p50=%s p99=%s max=%s (from the revocation request)", n, r(fromReq[n/2]), r(fromReq[n*99/100]), r(fromReq[n-1]))
	if p50 >= 100*time.Millisecond || p99 >= 750*time.Millisecond {
		t.Fatalf("revocation propagation p50=%s p99=%s: want p50 < 100ms (polling alone gives ~250ms) and p99 within the 750ms polling bound", p50, p99)
	}
}

// TestKeyRotationPropagatesToReplicas: a key rotated at A (as `conexor keys rotate` does, from
// any process) is in B's JWKS within a second, not at B's next 30-second reload, and B's
// gate accepts a token A signs with it.
func TestKeyRotationPropagatesToReplicas(t *testing.T) {
	a, b := twoReplicas(t)
	hasKey := func(e *testenv.Env, kid string) bool {
		return slices.ContainsFunc(e.JWKS().Keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
	}
	before := b.JWKS().Keys // B has read the keys once: what follows needs a reload
	kid, err := a.Provider.RotateSigningKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(before, func(k jose.JSONWebKey) bool { return k.KeyID == kid }) {
		t.Fatal("the new key was in B's JWKS before the rotation")
	}
	took := waitFor(t, 2*time.Second, "the rotated key in B's JWKS", func() bool { return hasKey(b, kid) })
	t.Logf("key rotation propagation %s", took.Round(time.Microsecond))
	if got := b.Provider.Keys().CurrentKID(); got != kid {
		t.Errorf("B signs with %q, want the rotated key %q (publish delay 0)", got, kid)
	}
	tok := a.Token(a.ClientID, a.ClientSecret)
	if jwt := b.VerifyJWT(tok); jwt.Header.KeyID != kid {
		t.Fatalf("A signed with %q, want %q", jwt.Header.KeyID, kid)
	}
	if code := toolsList(t, b, tok); code != http.StatusOK {
		t.Fatalf("B's gate on a token signed with the new key: status %d", code)
	}
}

// TestClientAndServerChangesPropagateToReplicas: a client revoked at A, which B has cached,
// can get no token at B once A's notification arrived (B's cached clients never expire
// here: only the notification can do it), and its token in use at B is refused; a server
// disabled at A is refused by B's gate well within the server cache's one-second bound.
func TestClientAndServerChangesPropagateToReplicas(t *testing.T) {
	a, b := twoReplicas(t)
	storage.WithClientFreshness(time.Hour)(b.Store)
	ctx := context.Background()
	id, secret := a.CreateServerClient(app.DemoOrg+"/"+app.DemoServer, "mcp:tools:read")
	tok := b.Token(id, secret)
	if code := toolsList(t, b, tok); code != http.StatusOK {
		t.Fatalf("before: status %d", code)
	}
	if err := a.Provider.RevokeClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	var r *testenv.Response
	took := waitFor(t, 10*time.Second, "B refuses a token to the client revoked at A", func() bool {
		r = b.PostForm(urls.Token, url.Values{"grant_type": {"client_credentials"}}, &testenv.Auth{ID: id, Secret: secret})
		return r.StatusCode != http.StatusOK
	})
	if r.StatusCode != http.StatusUnauthorized || r.JSON(t)["error"] != "invalid_client" {
		t.Fatalf("token for a revoked client at B: status %d: %s", r.StatusCode, r.Body)
	}
	t.Logf("client revocation propagation to B's token endpoint %s", took.Round(time.Microsecond))
	took = waitFor(t, time.Second, "B refuses the revoked client's token", func() bool {
		return toolsList(t, b, tok) == http.StatusUnauthorized
	})
	t.Logf("client revocation propagation %s", took.Round(time.Microsecond))

	// Servers: B has the demo server cached (it just answered); disable it at A.
	tok = a.Token(a.ClientID, a.ClientSecret)
	if code := toolsList(t, b, tok); code != http.StatusOK {
		t.Fatalf("server before: status %d", code)
	}
	off := false
	if _, err := a.Provider.UpdateServer(ctx, app.DemoOrg, app.DemoServer, provider.ServerChange{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, 900*time.Millisecond, "B refuses the server disabled at A", func() bool {
		return toolsList(t, b, tok) != http.StatusOK
	})
	t.Logf("server change propagation %s", took.Round(time.Microsecond))
}

// TestPublishedKeySignsAtEveryReplica: with a publish delay, a rotated key is published at
// once everywhere and signs, at both replicas, once the delay has passed, not up to a
// 30-second reload later.
func TestPublishedKeySignsAtEveryReplica(t *testing.T) {
	const delay = time.Second
	slow := func(c *config.Config) { c.KeyPublishDelay = delay }
	a := testenv.New(t, testenv.Options{Postgres: true, Configure: slow})
	b := testenv.New(t, testenv.Options{DatabaseURL: a.Config.DatabaseURL, Secret: a.Config.Secret,
		Configure: func(c *config.Config) { slow(c); c.Issuer = a.URL }})
	// The first key must itself be published for the delay, or the newest key signs at once.
	time.Sleep(delay)
	old := a.Provider.Keys().CurrentKID()
	kid, err := a.Provider.RotateSigningKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	waitFor(t, 2*time.Second, "the new key in B's JWKS", func() bool {
		return slices.ContainsFunc(b.JWKS().Keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
	})
	if time.Since(rotated) < delay-100*time.Millisecond {
		for _, e := range []*testenv.Env{a, b} {
			if got := e.Provider.Keys().CurrentKID(); got != old {
				t.Fatalf("signing with %q before the publish delay passed, want the old key %q", got, old)
			}
		}
	}
	for name, e := range map[string]*testenv.Env{"A": a, "B": b} {
		waitFor(t, delay+3*time.Second, "replica "+name+" signs with the new key", func() bool {
			return e.Provider.Keys().CurrentKID() == kid
		})
		t.Logf("replica %s signs with the rotated key %s after the rotation", name, time.Since(rotated).Round(time.Millisecond))
	}
}
