package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
)

// TestPurgeSettingsAndLease: with purge_interval and expired_retention set, an expired
// token's row is deleted by the background purge, but not while another replica holds the
// purge lease.
func TestPurgeSettingsAndLease(t *testing.T) { testPurgeSettingsAndLease(t, testenv.Options{}) }

// TestPurgeSettingsAndLeasePostgres is the same on Postgres.
func TestPurgeSettingsAndLeasePostgres(t *testing.T) {
	testPurgeSettingsAndLease(t, testenv.Options{Postgres: true})
}

func testPurgeSettingsAndLease(t *testing.T, opts testenv.Options) {
	clock := testenv.NewClock(time.Time{})
	opts.Now = clock.Now
	opts.Configure = func(c *config.Config) {
		c.PurgeInterval = time.Second
		c.ExpiredRetention = 0
		c.AccessTokenTTL = time.Minute
	}
	e := testenv.New(t, opts)
	ctx := context.Background()
	id, secret := e.CreateServerClient(app.DemoOrg+"/"+app.DemoServer, "mcp:tools:read")
	sig := e.App.Provider.AccessTokenSignature(e.Token(id, secret))
	known := func() bool {
		t.Helper()
		k, _, err := e.Store.AccessTokenState(ctx, sig)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	// waitGone polls until the row is gone or 10 s have passed (no timing is asserted).
	waitGone := func() bool {
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if !known() {
				return true
			}
		}
		return false
	}

	// Another replica is purging: this one waits for its lease.
	got, err := e.Store.TryLease(ctx, "purge", "another-replica", time.Hour)
	if err != nil || !got {
		t.Fatalf("TryLease = %v, %v; want the free lease", got, err)
	}
	clock.Advance(2 * time.Minute)      // the token expired a minute ago; no retention
	time.Sleep(2500 * time.Millisecond) // two purge intervals and more
	if !known() {
		t.Fatal("an expired token was purged while another replica held the purge lease")
	}
	if err := e.Store.ReleaseLease(ctx, "purge", "another-replica"); err != nil {
		t.Fatal(err)
	}
	if !waitGone() {
		t.Fatal("the expired token is still stored 10 s after the lease was released (purge_interval 1s, expired_retention 0)")
	}
}
