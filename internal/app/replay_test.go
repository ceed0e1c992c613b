package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/storage"
)

// TestRevokedTokenIsNoReplay: a refresh token or code refused because its grant was revoked
// (by the user or an admin, or by RFC 7009 revocation) is refused as invalid_grant without
// a replay event; a rotated refresh token or a redeemed code presented again still records
// exactly one.
func TestRevokedTokenIsNoReplay(t *testing.T) { testRevokedTokenIsNoReplay(t, testenv.Options{}) }

// TestRevokedTokenIsNoReplayPostgres is the same on Postgres.
func TestRevokedTokenIsNoReplayPostgres(t *testing.T) {
	testRevokedTokenIsNoReplay(t, testenv.Options{Postgres: true})
}

func testRevokedTokenIsNoReplay(t *testing.T, opts testenv.Options) {
	e := testenv.New(t, opts)
	ctx := context.Background()
	admin, err := e.Store.UserByEmail(ctx, app.DemoAdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	srv := e.ServerByPath(app.DemoOrg + "/" + app.DemoServer)
	events := func(action string) int {
		t.Helper()
		if err := e.App.Audit.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		evs, err := e.Store.AuditEvents(ctx, storage.AuditFilter{Action: action, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	refused := func(what string, form url.Values) {
		t.Helper()
		res := e.PostForm("/api/oauth/token", form, nil)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(res.Body), `"invalid_grant"`) {
			t.Fatalf("%s: %d %s, want 400 invalid_grant", what, res.StatusCode, res.Body)
		}
	}
	refreshForm := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {e.PublicClientID}}
	}
	noReplay := func(after string) {
		t.Helper()
		if n := events(audit.RefreshTokenReuse); n != 0 {
			t.Errorf("after %s: %d %s events, want none", after, n, audit.RefreshTokenReuse)
		}
		if n := events(audit.CodeReplay); n != 0 {
			t.Errorf("after %s: %d %s events, want none", after, n, audit.CodeReplay)
		}
	}

	// The grant is revoked (the connected-apps page, a member's removal): its refresh token
	// and a code not yet redeemed are refused, and neither is a replay.
	if err := e.Store.SaveConsent(ctx, &storage.Consent{UserID: admin.ID, ClientID: e.PublicClientID, ServerID: srv.ID, Scopes: "mcp:tools:read"}); err != nil {
		t.Fatal(err)
	}
	granted := exchangeAuditCode(t, e, issueAuditCode(t, e))
	pending := issueAuditCode(t, e)
	if err := e.Provider.RevokeGrant(ctx, admin.ID, e.PublicClientID, srv.ID); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	refused("refresh token of a revoked grant", refreshForm(granted.RefreshToken))
	refused("code of a revoked grant", codeForm(e, pending))
	noReplay("revoking the grant")

	// RFC 7009: the client revokes its refresh token, then presents it.
	revoked := exchangeAuditCode(t, e, issueAuditCode(t, e))
	res := e.PostForm("/api/oauth/revoke", url.Values{"token": {revoked.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {e.PublicClientID}}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.StatusCode, res.Body)
	}
	refused("refresh token revoked by RFC 7009", refreshForm(revoked.RefreshToken))
	noReplay("RFC 7009 revocation")

	// Used ones are replays: exactly one event each.
	rotated := exchangeAuditCode(t, e, issueAuditCode(t, e))
	if res := e.PostForm("/api/oauth/token", refreshForm(rotated.RefreshToken), nil); res.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %s", res.StatusCode, res.Body)
	}
	refused("rotated refresh token", refreshForm(rotated.RefreshToken))
	if n := events(audit.RefreshTokenReuse); n != 1 {
		t.Errorf("reuse of a rotated refresh token: %d %s events, want 1", n, audit.RefreshTokenReuse)
	}
	code := issueAuditCode(t, e)
	exchangeAuditCode(t, e, code)
	refused("redeemed code", codeForm(e, code))
	if n := events(audit.CodeReplay); n != 1 {
		t.Errorf("replay of a redeemed code: %d %s events, want 1", n, audit.CodeReplay)
	}
}
