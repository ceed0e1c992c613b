package provider_test

import (
	"context"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
)

// TestKeyPublishDelay: a rotated key is in the JWKS at once but signs only after the publish
// delay, so verifiers that cache the JWKS have it before they meet a token it signed.
// Restarts meanwhile add no further key.
func TestKeyPublishDelay(t *testing.T) {
	clock := testenv.NewClock(time.Time{})
	e := testenv.New(t, testenv.Options{Now: clock.Now, Configure: func(c *config.Config) {
		c.KeyPublishDelay = 2 * time.Minute
	}})
	oldKID := e.VerifyJWT(e.Token(e.ClientID, e.ClientSecret)).Header.KeyID // the first key signs at once
	clock.Advance(time.Hour)

	newKID, err := e.Provider.Keys().Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if set := e.JWKS(); len(set.Key(newKID)) != 1 {
		t.Fatalf("the new key %s is not published right after rotation", newKID)
	}
	if kid := e.VerifyJWT(e.Token(e.ClientID, e.ClientSecret)).Header.KeyID; kid != oldKID {
		t.Errorf("right after rotation tokens are signed with %s, want the old key %s", kid, oldKID)
	}
	e.Restart()
	if n := len(e.JWKS().Keys); n != 2 {
		t.Errorf("a restart during the publish delay left %d keys, want 2", n)
	}

	clock.Advance(2*time.Minute + time.Second)
	if err := e.Provider.Keys().Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if kid := e.VerifyJWT(e.Token(e.ClientID, e.ClientSecret)).Header.KeyID; kid != newKID {
		t.Errorf("after the publish delay tokens are signed with %s, want the new key %s", kid, newKID)
	}
}

// TestRetiredKeysOutliveTTLChanges: a retired key stays published for the longest lifetime a
// token can have (24 h), not the current access_token_ttl, so a token issued before the TTL
// was shortened still verifies until its own exp.
func TestRetiredKeysOutliveTTLChanges(t *testing.T) {
	clock := testenv.NewClock(time.Time{})
	e := testenv.New(t, testenv.Options{Now: clock.Now})
	old := e.VerifyJWT(e.Token(e.ClientID, e.ClientSecret)).Header.KeyID
	clock.Advance(time.Minute)
	if _, err := e.Provider.Keys().Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Hour) // past the 1 h TTL, within 24 h
	if err := e.Provider.Keys().Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if set := e.JWKS(); len(set.Key(old)) != 1 {
		t.Errorf("retired key %s dropped 3 h after retirement; keep it for 24 h", old)
	}
	clock.Advance(22 * time.Hour)
	if err := e.Provider.Keys().Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if set := e.JWKS(); len(set.Key(old)) != 0 {
		t.Errorf("retired key %s still published 25 h after retirement", old)
	}
}
