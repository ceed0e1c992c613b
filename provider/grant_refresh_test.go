package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/storage"
)

// TestRefreshRefusalSaysWhy (issue 12, item 12): an inactive refresh token is refused with
// invalid_grant and a description of what happened to it: (a) it was already used, so the
// grant is now revoked; (b) it was revoked with its grant because another of the grant's
// refresh tokens was used twice; (c) it was revoked (here: the grant ended by an admin).
func TestRefreshRefusalSaysWhy(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, opts testenv.Options) {
		e := testenv.New(t, opts)
		const redirect = "http://127.0.0.1:9999/callback"
		id := registerPublic(t, e, redirect)
		grant := func() (refresh string) {
			t.Helper()
			code := issueCode(t, e, authorizeQuery(e, id, redirect))
			r := e.PostForm("/api/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {redirect}, "code_verifier": {testVerifier}, "client_id": {id}}, nil)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("exchange: %d %s", r.StatusCode, r.Body)
			}
			refresh, _ = r.JSON(t)["refresh_token"].(string)
			return refresh
		}
		refresh := func(rt string) *testenv.Response {
			t.Helper()
			return e.PostForm("/api/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {id}}, nil)
		}
		refused := func(name string, r *testenv.Response, want ...string) {
			t.Helper()
			body := r.JSON(t)
			desc, _ := body["error_description"].(string)
			if r.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Errorf("%s: %d %s, want 400 invalid_grant", name, r.StatusCode, r.Body)
			}
			for _, w := range want {
				if !strings.Contains(desc, w) {
					t.Errorf("%s: description %q does not say %q", name, desc, w)
				}
			}
			if strings.Contains(desc, "already used") != (name == "reused") {
				t.Errorf("%s: description %q: only the reused token may say it was already used", name, desc)
			}
		}

		rt1 := grant()
		r := refresh(rt1)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("refresh: %d %s", r.StatusCode, r.Body)
		}
		rt2, _ := r.JSON(t)["refresh_token"].(string)
		refused("reused", refresh(rt1), "already used", "every token of this grant is now revoked", "reuse detection")
		refused("family", refresh(rt2), "was revoked", "used twice", "reuse detection")

		rt3 := grant()
		ctx := context.Background()
		u, err := e.Store.UserByEmail(ctx, app.DemoAdminEmail)
		if err != nil {
			t.Fatal(err)
		}
		srv := e.ServerByPath("acme/sales-api")
		// The consent page remembers the approval; issueCode skipped the page.
		if err := e.Store.SaveConsent(ctx, &storage.Consent{UserID: u.ID, ClientID: id, ServerID: srv.ID, Scopes: "mcp:tools:read mcp:tools:execute"}); err != nil {
			t.Fatal(err)
		}
		if err := e.Provider.RevokeGrant(ctx, u.ID, id, srv.ID); err != nil {
			t.Fatalf("RevokeGrant: %v", err)
		}
		r = refresh(rt3)
		refused("revoked", r, "was revoked", "grant was ended")
		if desc, _ := r.JSON(t)["error_description"].(string); strings.Contains(desc, "reuse") {
			t.Errorf("revoked: description %q blames reuse", desc)
		}
	})
}
