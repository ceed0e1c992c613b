package provider_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
)

// TestClientCredentialsRequestIDsAreTimeOrdered: a client-credentials token's request ID is
// a UUIDv7, each later than the one before, so the request-ID index of stored tokens fills
// and empties in order (issue 15); revocation by that ID still finds the token.
func TestClientCredentialsRequestIDsAreTimeOrdered(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	ctx := context.Background()
	id, secret := e.CreateServerClient(app.DemoOrg+"/"+app.DemoServer, "mcp:tools:read")
	var last string
	for i := range 3 {
		sig := e.App.Provider.AccessTokenSignature(e.Token(id, secret))
		ar, err := e.Store.GetAccessTokenSession(ctx, sig, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := uuid.Parse(ar.GetID())
		if err != nil || u.Version() != 7 {
			t.Fatalf("token %d: request ID %q is not a UUIDv7 (%v)", i, ar.GetID(), err)
		}
		if ar.GetID() <= last {
			t.Fatalf("token %d: request ID %s is not after the one before, %s", i, ar.GetID(), last)
		}
		last = ar.GetID()
	}
	tok := e.Token(id, secret)
	sig := e.App.Provider.AccessTokenSignature(tok)
	if r := e.Revoke(id, secret, tok); r.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
	}
	if known, active, err := e.Store.AccessTokenState(ctx, sig); err != nil || !known || active {
		t.Fatalf("after revocation: known %v, active %v, err %v; want a known, inactive token", known, active, err)
	}
}
