package mcp_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/testenv"
)

// TestRevokedAtOnce: a token revoked through this server's revocation endpoint is refused
// by the very next request, even though the gate had it cached.
func TestRevokedAtOnce(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	token := e.Token(e.ClientID, e.ClientSecret)
	if r := rpc(t, e, salesPath, token, toolsList); r.StatusCode != http.StatusOK {
		t.Fatalf("before revocation: status %d: %s", r.StatusCode, r.Body)
	}
	if r := e.Revoke(e.ClientID, e.ClientSecret, token); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: status %d: %s", r.StatusCode, r.Body)
	}
	r := rpc(t, e, salesPath, token, toolsList)
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after revocation: status %d, want 401: %s", r.StatusCode, r.Body)
	}
	if got, want := r.Header.Get("WWW-Authenticate"), challenge(e, "invalid_token", "The access token has been revoked."); got != want {
		t.Errorf("WWW-Authenticate = %q\nwant %q", got, want)
	}
	// A token revoked before the gate ever saw it is refused by the first-sight check.
	unseen := e.Token(e.ClientID, e.ClientSecret)
	if r := e.Revoke(e.ClientID, e.ClientSecret, unseen); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: status %d: %s", r.StatusCode, r.Body)
	}
	if r := rpc(t, e, salesPath, unseen, toolsList); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked before first use: status %d, want 401: %s", r.StatusCode, r.Body)
	}
}

// TestRevokedOnAnotherReplica: two Conexor processes share one database; a token revoked
// through replica B stops working at replica A within the revocation set's bound (750 ms
// after the revocation committed; the issue allows one second), with no hook involved.
func TestRevokedOnAnotherReplica(t *testing.T) {
	a := testenv.New(t, testenv.Options{})
	b := testenv.New(t, testenv.Options{DatabaseURL: a.Config.DatabaseURL, Secret: a.Config.Secret, NoSeed: true})
	token := a.Token(a.ClientID, a.ClientSecret)
	// Twice: the first use checks storage and caches the token, the second loads the
	// revocation set, so what follows measures the set's staleness, not a cold start.
	for range 2 {
		if r := rpc(t, a, salesPath, token, toolsList); r.StatusCode != http.StatusOK {
			t.Fatalf("before revocation: status %d: %s", r.StatusCode, r.Body)
		}
	}
	if r := b.Revoke(a.ClientID, a.ClientSecret, token); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke at replica B: status %d: %s", r.StatusCode, r.Body)
	}
	revoked := time.Now()
	for {
		r := rpc(t, a, salesPath, token, toolsList)
		if r.StatusCode == http.StatusUnauthorized {
			break
		}
		if r.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", r.StatusCode, r.Body)
		}
		if time.Since(revoked) > time.Second {
			t.Fatal("replica A still accepts the token a second after replica B revoked it")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("replica A refused the token %s after the revocation at replica B", time.Since(revoked).Round(time.Millisecond))
}
