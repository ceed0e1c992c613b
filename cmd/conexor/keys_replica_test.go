package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/pgtest"
	"github.com/conexor/conexor/internal/testenv"
)

// TestKeysRotateReachesRunningServer: `conexor keys rotate`, run as its own process as an
// operator does, reaches a running `conexor serve` on the same Postgres at once through the
// change notification, not at the server's next 30-second reload (issue 12, item 7).
func TestKeysRotateReachesRunningServer(t *testing.T) {
	dsn := pgtest.Schema(t)
	env := binaryEnv("CONEXOR_DATABASE_URL="+dsn, "CONEXOR_SECRET="+testenv.NewSecret(),
		"CONEXOR_ADDR=127.0.0.1:0", "CONEXOR_KEY_PUBLISH_DELAY=0s")
	addr := startConexor(t, env, "serve").ready(t, 60*time.Second)

	out := runBinary(t, env, "keys", "rotate")
	m := regexp.MustCompile(`new signing key (\S+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate printed %q", out)
	}
	kid, rotated := m[1], time.Now()
	for !jwksHas(t, addr, kid) {
		// The server's own reload runs every 30 s: well past this bound.
		if time.Since(rotated) > 5*time.Second {
			t.Fatalf("the server's JWKS lacks key %s %s after keys rotate", kid, time.Since(rotated).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("key from keys rotate in the running server's JWKS after %s", time.Since(rotated).Round(time.Millisecond))
}

// jwksHas reports whether the JWKS served at addr lists kid.
func jwksHas(t *testing.T, addr, kid string) bool {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.KID == kid {
			return true
		}
	}
	return false
}
