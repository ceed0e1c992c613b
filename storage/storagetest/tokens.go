package storagetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/storage"
)

// testNotFound: every lookup of something never stored is exactly fosite.ErrNotFound.
func testNotFound(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	sess := func() fosite.Session { return &fosite.DefaultSession{} }

	_, err := s.GetAuthorizeCodeSession(ctx, "unknown", sess())
	wantErr(t, "GetAuthorizeCodeSession(unknown)", err, fosite.ErrNotFound)
	_, err = s.GetAccessTokenSession(ctx, "unknown", sess())
	wantErr(t, "GetAccessTokenSession(unknown)", err, fosite.ErrNotFound)
	_, err = s.GetRefreshTokenSession(ctx, "unknown", sess())
	wantErr(t, "GetRefreshTokenSession(unknown)", err, fosite.ErrNotFound)
	_, err = s.GetPKCERequestSession(ctx, "unknown", sess())
	wantErr(t, "GetPKCERequestSession(unknown)", err, fosite.ErrNotFound)
	_, err = s.GetClient(ctx, "unknown-client")
	wantErr(t, "GetClient(unknown)", err, fosite.ErrNotFound)
	_, err = s.ClientByID(ctx, "unknown-client")
	wantErr(t, "ClientByID(unknown)", err, storage.ErrNotFound)

	wantErr(t, "InvalidateAuthorizeCodeSession(unknown)", s.InvalidateAuthorizeCodeSession(ctx, "unknown"), fosite.ErrNotFound)
	wantErr(t, "RotateRefreshToken(unknown)", s.RotateRefreshToken(ctx, "req", "unknown"), fosite.ErrNotFound)

	known, active, err := s.AccessTokenState(ctx, "unknown")
	noErr(t, "AccessTokenState(unknown)", err)
	if known || active {
		t.Fatalf("AccessTokenState(unknown) = known %v, active %v; want false, false", known, active)
	}
	// Revoking what does not exist is not an error: revocation is idempotent (RFC 7009).
	noErr(t, "RevokeAccessToken(unknown request)", s.RevokeAccessToken(ctx, "no-such-request"))
	noErr(t, "RevokeRefreshToken(unknown request)", s.RevokeRefreshToken(ctx, "no-such-request"))
}

// testRoundTrip: a request survives Create/Get of every token kind with every field equal,
// and a server-bound client carries its server's path (the provider makes the audience of it).
func testRoundTrip(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx

	c, err := s.GetClient(ctx, e.Client.ID)
	noErr(t, "GetClient", err)
	if got := c.(*storage.Client).ServerPath; got != "acme/files" {
		t.Fatalf("GetClient ServerPath = %q, want acme/files", got)
	}
	if got := c.GetRedirectURIs(); !slices.Equal(got, []string{"https://app.example/callback"}) {
		t.Fatalf("GetClient redirect URIs = %q", got)
	}
	if !c.IsPublic() || !c.GetGrantTypes().Has("refresh_token") || !c.GetResponseTypes().Has("code") {
		t.Fatalf("GetClient lost fields: public %v grants %q responses %q", c.IsPublic(), c.GetGrantTypes(), c.GetResponseTypes())
	}

	want := e.NewRequest(t, "req-roundtrip", c)
	kinds := []struct {
		name   string
		create func(sig string, r fosite.Requester) error
		get    func(sig string, sess fosite.Session) (fosite.Requester, error)
	}{
		{"authorize code", func(sig string, r fosite.Requester) error { return s.CreateAuthorizeCodeSession(ctx, sig, r) },
			func(sig string, sess fosite.Session) (fosite.Requester, error) {
				return s.GetAuthorizeCodeSession(ctx, sig, sess)
			}},
		{"refresh token", func(sig string, r fosite.Requester) error {
			return s.CreateRefreshTokenSession(ctx, sig, Sig("rt-access"), r)
		}, func(sig string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetRefreshTokenSession(ctx, sig, sess)
		}},
		{"pkce", func(sig string, r fosite.Requester) error { return s.CreatePKCERequestSession(ctx, sig, r) },
			func(sig string, sess fosite.Session) (fosite.Requester, error) {
				return s.GetPKCERequestSession(ctx, sig, sess)
			}},
	}
	for _, k := range kinds {
		sig := Sig("roundtrip-" + k.name)
		noErr(t, "create "+k.name, k.create(sig, want))
		got, err := k.get(sig, &fosite.DefaultSession{})
		noErr(t, "get "+k.name, err)
		if diff := requestDiff(want, got); diff != "" {
			t.Fatalf("%s round trip (-want +got):\n%s", k.name, diff)
		}
		// Another signature of the same kind stays unknown.
		_, err = k.get(sig+"-other", &fosite.DefaultSession{})
		wantErr(t, "get other "+k.name, err, fosite.ErrNotFound)
	}

	// An access token's row keeps only what revocation, introspection and the dashboard
	// read back: the request ID, client, requested-at and granted audience. The form (a code
	// exchange's holds the code and verifier), scopes and session are not stored.
	atSig := Sig("roundtrip-access token")
	noErr(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, atSig, want))
	got, err := s.GetAccessTokenSession(ctx, atSig, &fosite.DefaultSession{})
	noErr(t, "GetAccessTokenSession", err)
	if diff := accessTokenDiff(want, got); diff != "" {
		t.Fatalf("access token round trip (-want +got):\n%s", diff)
	}
	if len(want.Form) == 0 || len(want.GrantedScope) == 0 || want.Session.GetSubject() == "" {
		t.Fatalf("the request under test carries no form, scopes or subject: the check above proves nothing")
	}
	_, err = s.GetAccessTokenSession(ctx, atSig+"-other", &fosite.DefaultSession{})
	wantErr(t, "get other access token", err, fosite.ErrNotFound)

	// PKCE sessions are deleted outright once the code is exchanged.
	pkceSig := Sig("roundtrip-pkce")
	noErr(t, "DeletePKCERequestSession", s.DeletePKCERequestSession(ctx, pkceSig))
	_, err = s.GetPKCERequestSession(ctx, pkceSig, &fosite.DefaultSession{})
	wantErr(t, "GetPKCERequestSession after delete", err, fosite.ErrNotFound)
}

// testAuthorizeCodeUsed: a used code still yields its request, with ErrInvalidatedAuthorizeCode,
// so fosite can revoke what it issued; a second invalidation is a lost race.
func testAuthorizeCodeUsed(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	req := e.NewRequest(t, "req-code", nil)
	code := Sig("code")
	noErr(t, "CreateAuthorizeCodeSession", s.CreateAuthorizeCodeSession(ctx, code, req))
	noErr(t, "InvalidateAuthorizeCodeSession", s.InvalidateAuthorizeCodeSession(ctx, code))

	got, err := s.GetAuthorizeCodeSession(ctx, code, &fosite.DefaultSession{})
	wantErr(t, "GetAuthorizeCodeSession(used)", err, fosite.ErrInvalidatedAuthorizeCode)
	if got == nil || got.GetID() != req.ID {
		t.Fatalf("GetAuthorizeCodeSession(used) returned request %v, want one with ID %q", got, req.ID)
	}
	if diff := requestDiff(req, got); diff != "" {
		t.Fatalf("used code request (-want +got):\n%s", diff)
	}
	wantErr(t, "InvalidateAuthorizeCodeSession(again)", s.InvalidateAuthorizeCodeSession(ctx, code), fosite.ErrSerializationFailure)
	wantErr(t, "InvalidateAuthorizeCodeSession(unknown)", s.InvalidateAuthorizeCodeSession(ctx, code+"-unknown"), fosite.ErrNotFound)
}

// testRefreshRotation: a rotated refresh token is inactive but still yields its request, so
// fosite detects reuse; rotating twice is a lost race.
func testRefreshRotation(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	req := e.NewRequest(t, "req-refresh", nil)
	rt, at := Sig("refresh"), Sig("refresh-access")
	noErr(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, at, req))
	noErr(t, "CreateRefreshTokenSession", s.CreateRefreshTokenSession(ctx, rt, at, req))
	if _, err := s.GetRefreshTokenSession(ctx, rt, &fosite.DefaultSession{}); err != nil {
		t.Fatalf("GetRefreshTokenSession(fresh): %v", errString(err))
	}
	noErr(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, req.ID, rt))

	got, err := s.GetRefreshTokenSession(ctx, rt, &fosite.DefaultSession{})
	wantErr(t, "GetRefreshTokenSession(rotated)", err, fosite.ErrInactiveToken)
	if got == nil || got.GetID() != req.ID {
		t.Fatalf("GetRefreshTokenSession(rotated) returned request %v, want one with ID %q", got, req.ID)
	}
	if diff := requestDiff(req, got); diff != "" {
		t.Fatalf("rotated refresh token request (-want +got):\n%s", diff)
	}
	wantErr(t, "RotateRefreshToken(again)", s.RotateRefreshToken(ctx, req.ID, rt), fosite.ErrSerializationFailure)

	// Rotation alone leaves the access token issued with it valid.
	_, err = s.GetAccessTokenSession(ctx, at, &fosite.DefaultSession{})
	noErr(t, "GetAccessTokenSession after rotation", err)
}

// testRevokeByRequest: RevokeAccessToken/RevokeRefreshToken deactivate every token of one
// request and no other; revocations are visible to resource servers by signature hash.
func testRevokeByRequest(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	reqA, reqB := e.NewRequest(t, "req-a", nil), e.NewRequest(t, "req-b", nil)
	a1, a2, b1 := Sig("a1"), Sig("a2"), Sig("b1")
	ra1, ra2, rb1 := Sig("ra1"), Sig("ra2"), Sig("rb1")
	for _, x := range []struct {
		at, rt string
		r      fosite.Requester
	}{{a1, ra1, reqA}, {a2, ra2, reqA}, {b1, rb1, reqB}} {
		noErr(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, x.at, x.r))
		noErr(t, "CreateRefreshTokenSession", s.CreateRefreshTokenSession(ctx, x.rt, x.at, x.r))
	}
	known, active, err := s.AccessTokenState(ctx, a1)
	noErr(t, "AccessTokenState(a1)", err)
	if !known || !active {
		t.Fatalf("AccessTokenState(fresh) = known %v, active %v; want true, true", known, active)
	}

	// Revocation times come from the store's clock; RevokedAccessTokensSince is inclusive.
	since := e.Clock.Now().Add(-time.Second)
	noErr(t, "RevokeAccessToken(req-a)", s.RevokeAccessToken(ctx, reqA.ID))
	for _, sig := range []string{a1, a2} {
		got, err := s.GetAccessTokenSession(ctx, sig, &fosite.DefaultSession{})
		wantErr(t, "GetAccessTokenSession(revoked)", err, fosite.ErrInactiveToken)
		if got == nil || got.GetID() != reqA.ID {
			t.Fatalf("GetAccessTokenSession(revoked) returned request %v, want ID %q", got, reqA.ID)
		}
		known, active, err := s.AccessTokenState(ctx, sig)
		noErr(t, "AccessTokenState(revoked)", err)
		if !known || active {
			t.Fatalf("AccessTokenState(revoked) = known %v, active %v; want true, false", known, active)
		}
	}
	_, err = s.GetAccessTokenSession(ctx, b1, &fosite.DefaultSession{})
	noErr(t, "GetAccessTokenSession(other request)", err)
	// Refresh tokens are a separate revocation.
	_, err = s.GetRefreshTokenSession(ctx, ra1, &fosite.DefaultSession{})
	noErr(t, "GetRefreshTokenSession(req-a, access revoked only)", err)

	hashes, latest, err := s.RevokedAccessTokensSince(ctx, since)
	noErr(t, "RevokedAccessTokensSince", err)
	slices.Sort(hashes)
	wantHashes := []string{storage.SignatureHash(a1), storage.SignatureHash(a2)}
	slices.Sort(wantHashes)
	if !slices.Equal(hashes, wantHashes) {
		t.Fatalf("RevokedAccessTokensSince = %q, want %q", hashes, wantHashes)
	}
	if latest.Before(since) {
		t.Fatalf("RevokedAccessTokensSince latest %v is before since %v", latest, since)
	}
	later, _, err := s.RevokedAccessTokensSince(ctx, e.Clock.Now().Add(time.Hour))
	noErr(t, "RevokedAccessTokensSince(future)", err)
	if len(later) != 0 {
		t.Fatalf("RevokedAccessTokensSince(future) = %q, want none", later)
	}

	noErr(t, "RevokeRefreshToken(req-a)", s.RevokeRefreshToken(ctx, reqA.ID))
	for _, sig := range []string{ra1, ra2} {
		got, err := s.GetRefreshTokenSession(ctx, sig, &fosite.DefaultSession{})
		wantErr(t, "GetRefreshTokenSession(revoked)", err, fosite.ErrInactiveToken)
		if got == nil || got.GetID() != reqA.ID {
			t.Fatalf("GetRefreshTokenSession(revoked) returned request %v, want ID %q", got, reqA.ID)
		}
	}
	_, err = s.GetRefreshTokenSession(ctx, rb1, &fosite.DefaultSession{})
	noErr(t, "GetRefreshTokenSession(other request)", err)
	// Revoking again is harmless.
	noErr(t, "RevokeAccessToken(again)", s.RevokeAccessToken(ctx, reqA.ID))
	noErr(t, "RevokeRefreshToken(again)", s.RevokeRefreshToken(ctx, reqA.ID))
}

// testDeleteSessions: fosite's Delete* calls leave the token unusable.
func testDeleteSessions(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	req := e.NewRequest(t, "req-delete", nil)
	at, rt := Sig("del-access"), Sig("del-refresh")
	noErr(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, at, req))
	noErr(t, "CreateRefreshTokenSession", s.CreateRefreshTokenSession(ctx, rt, at, req))

	noErr(t, "DeleteAccessTokenSession", s.DeleteAccessTokenSession(ctx, at))
	noErr(t, "DeleteAccessTokenSession(again)", s.DeleteAccessTokenSession(ctx, at))
	_, err := s.GetAccessTokenSession(ctx, at, &fosite.DefaultSession{})
	if !errorsIsAny(err, fosite.ErrInactiveToken, fosite.ErrNotFound) {
		t.Fatalf("GetAccessTokenSession(deleted) = %v, want inactive or not found", errString(err))
	}
	noErr(t, "DeleteRefreshTokenSession", s.DeleteRefreshTokenSession(ctx, rt))
	_, err = s.GetRefreshTokenSession(ctx, rt, &fosite.DefaultSession{})
	if !errorsIsAny(err, fosite.ErrInactiveToken, fosite.ErrNotFound) {
		t.Fatalf("GetRefreshTokenSession(deleted) = %v, want inactive or not found", errString(err))
	}
	wantErr(t, "DeleteAccessTokenSession(unknown)", s.DeleteAccessTokenSession(ctx, at+"-unknown"), fosite.ErrNotFound)
}

// testRevokeClient: a revoked client is not found and every token issued to it is inactive.
func testRevokeClient(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	other := e.NewClient(t, "client-other")
	victim := e.NewClient(t, "client-victim")
	vc, err := s.GetClient(ctx, victim.ID)
	noErr(t, "GetClient(victim)", err)
	oc, err := s.GetClient(ctx, other.ID)
	noErr(t, "GetClient(other)", err)

	vReq, oReq := e.NewRequest(t, "req-victim", vc), e.NewRequest(t, "req-other", oc)
	noErr(t, "CreateAuthorizeCodeSession", s.CreateAuthorizeCodeSession(ctx, Sig("v-code"), vReq))
	noErr(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, Sig("v-at"), vReq))
	noErr(t, "CreateRefreshTokenSession", s.CreateRefreshTokenSession(ctx, Sig("v-rt"), Sig("v-at"), vReq))
	noErr(t, "CreateAccessTokenSession(other)", s.CreateAccessTokenSession(ctx, Sig("o-at"), oReq))

	noErr(t, "RevokeClient", s.RevokeClient(ctx, victim.ID))
	noErr(t, "RevokeClient(again)", s.RevokeClient(ctx, victim.ID))
	wantErr(t, "RevokeClient(unknown)", s.RevokeClient(ctx, "unknown-client"), storage.ErrNotFound)

	_, err = s.GetClient(ctx, victim.ID)
	wantErr(t, "GetClient(revoked)", err, fosite.ErrNotFound)
	c, err := s.ClientByID(ctx, victim.ID)
	noErr(t, "ClientByID(revoked)", err)
	if !c.Revoked() {
		t.Fatal("ClientByID(revoked).Revoked() = false")
	}
	wantErr(t, "SetClientSecretHash(revoked)", s.SetClientSecretHash(ctx, victim.ID, "x"), storage.ErrNotFound)

	_, err = s.GetAccessTokenSession(ctx, Sig("v-at"), &fosite.DefaultSession{})
	wantErr(t, "GetAccessTokenSession(revoked client)", err, fosite.ErrInactiveToken)
	_, err = s.GetRefreshTokenSession(ctx, Sig("v-rt"), &fosite.DefaultSession{})
	wantErr(t, "GetRefreshTokenSession(revoked client)", err, fosite.ErrInactiveToken)
	_, err = s.GetAuthorizeCodeSession(ctx, Sig("v-code"), &fosite.DefaultSession{})
	wantErr(t, "GetAuthorizeCodeSession(revoked client)", err, fosite.ErrInvalidatedAuthorizeCode)
	known, active, err := s.AccessTokenState(ctx, Sig("v-at"))
	noErr(t, "AccessTokenState(revoked client)", err)
	if !known || active {
		t.Fatalf("AccessTokenState(revoked client) = known %v, active %v; want true, false", known, active)
	}

	_, err = s.GetClient(ctx, other.ID)
	noErr(t, "GetClient(other)", err)
	_, err = s.GetAccessTokenSession(ctx, Sig("o-at"), &fosite.DefaultSession{})
	noErr(t, "GetAccessTokenSession(other client)", err)
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if err != nil && errors.Is(err, t) {
			return true
		}
	}
	return false
}

// testUsedOrRevoked: a code redeemed or a refresh token rotated is used; one revoked (a grant,
// RFC 7009's revocation by request, fosite's delete, a revoked client), still active or never
// issued is not, so only presenting a used one again is a replay. Revoking the family of a
// used refresh token afterwards leaves it used.
func testUsedOrRevoked(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	user, err := s.CreateUser(ctx, "grant@example.com", "hash")
	noErr(t, "CreateUser", err)
	noErr(t, "SaveConsent", s.SaveConsent(ctx, &storage.Consent{UserID: user.ID, ClientID: e.Client.ID, ServerID: e.Server.ID, Scopes: "mcp"}))
	newReq := func(id string) *fosite.Request {
		r := e.NewRequest(t, id, nil)
		r.Session.(*fosite.DefaultSession).Subject = user.ID
		return r
	}
	codeUsed := func(code string) bool {
		t.Helper()
		used, err := s.AuthorizeCodeUsed(ctx, code)
		noErr(t, "AuthorizeCodeUsed", err)
		return used
	}
	refreshUsed := func(sig string) bool {
		t.Helper()
		used, err := s.RefreshTokenUsed(ctx, sig)
		noErr(t, "RefreshTokenUsed", err)
		return used
	}

	// Codes: redeemed, revoked with the grant, still active, unknown.
	codeReq := newReq("req-used-code")
	for _, c := range []string{"used-code-redeemed", "used-code-revoked", "used-code-active"} {
		noErr(t, "CreateAuthorizeCodeSession", s.CreateAuthorizeCodeSession(ctx, Sig(c), codeReq))
	}
	noErr(t, "InvalidateAuthorizeCodeSession", s.InvalidateAuthorizeCodeSession(ctx, Sig("used-code-redeemed")))

	// Refresh tokens: rotated (then its family revoked, as fosite does on reuse), revoked by
	// request (RFC 7009), deleted, revoked with the grant, active.
	rotReq, rfcReq, delReq := newReq("req-used-rot"), newReq("req-used-rfc"), newReq("req-used-del")
	for sig, r := range map[string]*fosite.Request{
		"used-rt-rotated": rotReq, "used-rt-rotated-next": rotReq, "used-rt-rfc7009": rfcReq,
		"used-rt-deleted": delReq, "used-rt-active": delReq,
	} {
		noErr(t, "CreateRefreshTokenSession", s.CreateRefreshTokenSession(ctx, Sig(sig), "", r))
	}
	noErr(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, rotReq.ID, Sig("used-rt-rotated")))
	noErr(t, "RevokeRefreshToken(family)", s.RevokeRefreshToken(ctx, rotReq.ID))
	noErr(t, "RevokeRefreshToken(RFC 7009)", s.RevokeRefreshToken(ctx, rfcReq.ID))
	noErr(t, "DeleteRefreshTokenSession", s.DeleteRefreshTokenSession(ctx, Sig("used-rt-deleted")))

	// Before the grant is revoked: these are active, so not used.
	if codeUsed(Sig("used-code-revoked")) || refreshUsed(Sig("used-rt-active")) {
		t.Fatal("an active code or refresh token reads as used")
	}
	noErr(t, "RevokeGrant", s.RevokeGrant(ctx, user.ID, e.Client.ID, e.Server.ID, e.Audience()))
	// The grant's revocation also reached the tokens of the other requests: it must not have
	// marked any of them used.
	_, err = s.GetRefreshTokenSession(ctx, Sig("used-rt-active"), &fosite.DefaultSession{})
	wantErr(t, "GetRefreshTokenSession(revoked with the grant)", err, fosite.ErrInactiveToken)
	_, err = s.GetAuthorizeCodeSession(ctx, Sig("used-code-revoked"), &fosite.DefaultSession{})
	wantErr(t, "GetAuthorizeCodeSession(revoked with the grant)", err, fosite.ErrInvalidatedAuthorizeCode)

	// A fresh code and refresh token of a client revoked afterwards.
	other := e.NewClient(t, "client-used-revoked")
	oc, err := s.GetClient(ctx, other.ID)
	noErr(t, "GetClient(other)", err)
	oReq := e.NewRequest(t, "req-used-client", oc)
	noErr(t, "CreateAuthorizeCodeSession(other)", s.CreateAuthorizeCodeSession(ctx, Sig("used-code-client"), oReq))
	noErr(t, "CreateRefreshTokenSession(other)", s.CreateRefreshTokenSession(ctx, Sig("used-rt-client"), "", oReq))
	noErr(t, "RevokeClient", s.RevokeClient(ctx, other.ID))

	for code, want := range map[string]bool{
		"used-code-redeemed": true, "used-code-revoked": false, "used-code-active": false,
		"used-code-client": false, "used-code-unknown": false,
	} {
		if got := codeUsed(Sig(code)); got != want {
			t.Errorf("AuthorizeCodeUsed(%s) = %v, want %v", code, got, want)
		}
	}
	for sig, want := range map[string]bool{
		"used-rt-rotated": true, "used-rt-rotated-next": false, "used-rt-rfc7009": false,
		"used-rt-deleted": false, "used-rt-active": false, "used-rt-client": false, "used-rt-unknown": false,
	} {
		if got := refreshUsed(Sig(sig)); got != want {
			t.Errorf("RefreshTokenUsed(%s) = %v, want %v", sig, got, want)
		}
	}
	// An access token's signature is not a refresh token's.
	noErr(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, Sig("used-at"), rotReq))
	if refreshUsed(Sig("used-at")) || codeUsed(Sig("used-rt-rotated")) {
		t.Error("a used token of one kind reads as used under another kind")
	}
}

// testRefreshTokenState: what became of a refresh token, for the message refusing it. A
// family revoked for reuse marks its active tokens, not the rotated one (that one stays
// used), nor a family revoked any other way.
func testRefreshTokenState(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	state := func(sig string) storage.RefreshState {
		t.Helper()
		st, err := s.RefreshTokenState(ctx, sig)
		noErr(t, "RefreshTokenState", err)
		return st
	}
	reused, revoked := e.NewRequest(t, "req-state-reuse", nil), e.NewRequest(t, "req-state-revoked", nil)
	for _, c := range []struct {
		sig string
		req *fosite.Request
	}{{"state-rotated", reused}, {"state-sibling", reused}, {"state-revoked", revoked}} {
		noErr(t, "CreateRefreshTokenSession", s.CreateRefreshTokenSession(ctx, Sig(c.sig), "", c.req))
	}
	noErr(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, Sig("state-at"), reused))
	if got := state(Sig("state-sibling")); got != storage.RefreshActive {
		t.Errorf("fresh token: state %d, want RefreshActive", got)
	}
	noErr(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, reused.ID, Sig("state-rotated")))
	noErr(t, "RevokeRefreshTokenForReuse", s.RevokeRefreshTokenForReuse(ctx, reused.ID))
	noErr(t, "RevokeAccessTokenForReuse", s.RevokeAccessTokenForReuse(ctx, reused.ID))
	noErr(t, "RevokeRefreshToken", s.RevokeRefreshToken(ctx, revoked.ID))

	for _, tt := range []struct {
		sig  string
		want storage.RefreshState
	}{
		{"state-rotated", storage.RefreshUsed},
		{"state-sibling", storage.RefreshRevokedForReuse},
		{"state-revoked", storage.RefreshRevoked},
		{"state-unknown", storage.RefreshUnknown},
	} {
		if got := state(Sig(tt.sig)); got != tt.want {
			t.Errorf("%s: state %d, want %d", tt.sig, got, tt.want)
		}
	}
	_, err := s.GetAccessTokenSession(ctx, Sig("state-at"), &fosite.DefaultSession{})
	wantErr(t, "access token of a family revoked for reuse", err, fosite.ErrInactiveToken)
}
