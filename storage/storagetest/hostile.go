package storagetest

import (
	"errors"
	"testing"

	"github.com/conexor/conexor/storage"
)

// testHostileKeys: lookups with a NUL byte or invalid UTF-8 are simply not found. Postgres
// refuses such text outright; that must not surface as a database failure (a 503 for any
// caller who sends one bad byte).
func testHostileKeys(t *testing.T, e *Env) {
	for _, bad := range []string{"client_\x00x", "client_\xff", "a\x00@x.test"} {
		checks := map[string]error{}
		_, checks["ClientByID"] = e.Store.ClientByID(e.Ctx, bad)
		_, checks["GetClient"] = e.Store.GetClient(e.Ctx, bad)
		_, checks["UserByEmail"] = e.Store.UserByEmail(e.Ctx, bad)
		_, checks["UserByID"] = e.Store.UserByID(e.Ctx, bad)
		_, checks["OrgBySlug"] = e.Store.OrgBySlug(e.Ctx, bad)
		_, checks["ServerByPath"] = e.Store.ServerByPath(e.Ctx, "acme", bad)
		_, checks["ServerByID"] = e.Store.ServerByID(e.Ctx, bad)
		_, checks["Membership"] = e.Store.Membership(e.Ctx, e.Org.ID, bad)
		_, checks["ConsentFor"] = e.Store.ConsentFor(e.Ctx, bad, e.Client.ID, e.Server.ID)
		_, checks["Session"] = e.Store.Session(e.Ctx, bad)
		_, checks["ClientDocumentByURL"] = e.Store.ClientDocumentByURL(e.Ctx, "https://x/"+bad)
		for name, err := range checks {
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s(%q) = %v, want ErrNotFound", name, bad, err)
			}
		}
	}
}
