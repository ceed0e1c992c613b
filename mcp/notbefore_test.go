package mcp_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// storedWithClaims signs claims with the server's real key and stores the result as an
// issued access token (with the grant of a real token of e's seeded client), so that
// nothing but the claims themselves can make the gate or introspection refuse it.
func storedWithClaims(t *testing.T, e *testenv.Env, claims map[string]any) string {
	t.Helper()
	ctx := context.Background()
	real := ccToken(t, e, e.ClientID, e.ClientSecret, provider.ScopeToolsRead)
	req, err := e.Store.GetAccessTokenSession(ctx, e.Provider.AccessTokenSignature(real), provider.NewSession(""))
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := e.Provider.Keys().Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.CreateAccessTokenSession(ctx, e.Provider.AccessTokenSignature(token), req); err != nil {
		t.Fatal(err)
	}
	return token
}

// TestNotBefore: the gate and introspection refuse a token whose nbf is further in the
// future than provider.NotBeforeLeeway, and accept one whose nbf has passed or is within it.
// Before nbf was checked, the first token got 200 and active:true.
func TestNotBefore(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	now := time.Now()
	withNBF := func(nbf time.Time) string {
		c := claims(e, provider.ScopeToolsRead)
		c["nbf"] = nbf.Unix()
		return storedWithClaims(t, e, c)
	}
	const desc = "The access token is not valid yet: its nbf (not before) time is in the future."
	for _, tc := range []struct {
		name       string
		nbf        time.Time
		wantStatus int
	}{
		{"nbf in 5 minutes", now.Add(5 * time.Minute), http.StatusUnauthorized},
		{"nbf just past the leeway", now.Add(provider.NotBeforeLeeway + 10*time.Second), http.StatusUnauthorized},
		{"nbf within the leeway", now.Add(provider.NotBeforeLeeway / 2), http.StatusOK},
		{"nbf a second ago", now.Add(-time.Second), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := withNBF(tc.nbf)
			r := rpc(t, e, salesPath, token, toolsList)
			if r.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %.300s", r.StatusCode, tc.wantStatus, r.Body)
			}
			if tc.wantStatus == http.StatusUnauthorized {
				if got, want := r.Header.Get("WWW-Authenticate"), challenge(e, "invalid_token", desc); got != want {
					t.Errorf("WWW-Authenticate = %q\nwant %q", got, want)
				}
				if got := decodeRPCError(t, r); got.Error.Code != -32001 {
					t.Errorf("JSON-RPC code %d, want -32001", got.Error.Code)
				}
			}
			active := e.Introspect(e.ClientID, e.ClientSecret, token)["active"]
			if want := tc.wantStatus == http.StatusOK; active != want {
				t.Errorf("introspection active = %v, want %v", active, want)
			}
		})
	}
}
