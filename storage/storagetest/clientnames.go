package storagetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testClientNames: names of existing clients by ID, revoked ones included, in one call;
// unknown and hostile IDs are absent, not an error.
func testClientNames(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	e.NewClient(t, "client-a")
	e.NewClient(t, "client-b")
	noErr(t, "RevokeClient(b)", s.RevokeClient(ctx, "client-b"))
	got, err := s.ClientNames(ctx, []string{"client-a", "client-b", "client-unknown", "bad\x00id"})
	noErr(t, "ClientNames", err)
	want := map[string]string{"client-a": "Client client-a", "client-b": "Client client-b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ClientNames (-want +got):\n%s", diff)
	}
	none, err := s.ClientNames(ctx, nil)
	noErr(t, "ClientNames(nil)", err)
	if len(none) != 0 {
		t.Errorf("ClientNames(nil) = %v, want none", none)
	}
}
