package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ory/fosite"

	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

// testGrants: the connected-apps queries list each remembered consent once with its user,
// client and server and the newest token of exactly that user, client and audience;
// revoking one grant deletes its consent and revokes its tokens and leaves the same user's
// grant on another server and the same client's grant of another user untouched; revoking
// a user's grants on an org's servers ends all of theirs and nobody else's.
func testGrants(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	alice, err := s.CreateUser(ctx, "alice@example.com", "hash")
	noErr(t, "CreateUser(alice)", err)
	bob, err := s.CreateUser(ctx, "bob@example.com", "hash")
	noErr(t, "CreateUser(bob)", err)
	other := &storage.Server{OrgID: e.Org.ID, OrgSlug: e.Org.Slug, Slug: "other", Name: "Other", Enabled: true}
	noErr(t, "CreateServer(other)", s.CreateServer(ctx, other))
	// A self-registered client, named to sort before client-main's "Client client-main".
	dyn := &storage.Client{ID: "client-dyn", Name: "A registered app", Public: true, Scopes: "mcp",
		GrantTypes: "authorization_code refresh_token", TokenEndpointAuthMethod: "none", Source: storage.ClientSourceDynamic}
	noErr(t, "CreateClient(dyn)", s.CreateClient(ctx, dyn))
	main := e.Client
	filesAud := e.Audience()
	otherAud := urls.Resource(Issuer, other.OrgSlug, other.Slug)
	audience := func(org, server string) string { return urls.Resource(Issuer, org, server) }

	consent := func(u *storage.User, c *storage.Client, srv *storage.Server, scopes string) {
		t.Helper()
		noErr(t, "SaveConsent", s.SaveConsent(ctx, &storage.Consent{UserID: u.ID, ClientID: c.ID, ServerID: srv.ID, Scopes: scopes}))
	}
	// issue stores an access and a refresh token of user u for client c with audience aud,
	// and returns when they were issued.
	issue := func(name string, u *storage.User, c *storage.Client, aud string) time.Time {
		t.Helper()
		fc, err := s.GetClient(ctx, c.ID)
		noErr(t, "GetClient("+c.ID+")", err)
		req := e.NewRequest(t, name, fc)
		req.Session.(*fosite.DefaultSession).Subject = u.ID
		req.RequestedAudience, req.GrantedAudience = fosite.Arguments{aud}, fosite.Arguments{aud}
		noErr(t, "CreateAccessTokenSession("+name+")", s.CreateAccessTokenSession(ctx, Sig(name), req))
		noErr(t, "CreateRefreshTokenSession("+name+")", s.CreateRefreshTokenSession(ctx, Sig("rt-"+name), Sig(name), req))
		return req.RequestedAt
	}
	active := func(name string) bool {
		t.Helper()
		known, act, err := s.AccessTokenState(ctx, Sig(name))
		noErr(t, "AccessTokenState("+name+")", err)
		if !known {
			t.Fatalf("access token %s is unknown", name)
		}
		_, rerr := s.GetRefreshTokenSession(ctx, Sig("rt-"+name), &fosite.DefaultSession{})
		switch {
		case rerr == nil && !act, rerr != nil && act:
			t.Fatalf("%s: access token active %v but refresh token error %v", name, act, errString(rerr))
		case rerr != nil && !errors.Is(rerr, fosite.ErrInactiveToken):
			t.Fatalf("refresh token %s: %v, want active or fosite.ErrInactiveToken", name, errString(rerr))
		}
		return act
	}

	consent(alice, main, e.Server, "mcp offline_access")
	e.Clock.Advance(time.Minute)
	consent(alice, main, other, "mcp")
	consent(bob, main, e.Server, "mcp")
	consent(alice, dyn, e.Server, "mcp")

	issue("alice-main-files-old", alice, main, filesAud)
	dynFilesLast := issue("alice-dyn-files", alice, dyn, filesAud)
	e.Clock.Advance(time.Minute)
	aliceFilesLast := issue("alice-main-files", alice, main, filesAud)
	e.Clock.Advance(time.Minute)
	// Newer tokens of the same client for another user or server, and of another client,
	// must not count as the last use of alice's grant on files.
	bobLast := issue("bob-main-files", bob, main, filesAud)
	aliceOtherLast := issue("alice-main-other", alice, main, otherAud)
	issue("alice-dyn-otheraud", alice, dyn, otherAud)

	type row struct {
		User, Client, Name, Path, Scopes string
		Verified                         bool
		LastUsed                         time.Time
	}
	rows := func(gs []storage.Grant) []row {
		var out []row
		for _, g := range gs {
			if g.CreatedAt.IsZero() || g.UserID == "" || g.ServerID == "" || g.OrgID != e.Org.ID {
				t.Fatalf("grant without its creation time, IDs or org: %+v", g)
			}
			out = append(out, row{g.UserEmail, g.ClientID, g.ClientName, g.ServerPath(), g.Scopes, g.Verified(), g.LastUsed.UTC()})
		}
		return out
	}
	eq := cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

	got, err := s.Grants(ctx, storage.GrantFilter{UserID: alice.ID}, audience)
	noErr(t, "Grants(alice)", err)
	want := []row{
		{"alice@example.com", dyn.ID, "A registered app", "acme/files", "mcp", false, dynFilesLast},
		{"alice@example.com", main.ID, main.Name, "acme/files", "mcp offline_access", true, aliceFilesLast},
		{"alice@example.com", main.ID, main.Name, "acme/other", "mcp", true, aliceOtherLast},
	}
	if diff := cmp.Diff(want, rows(got), eq); diff != "" {
		t.Fatalf("Grants(alice) (-want +got):\n%s", diff)
	}
	got, err = s.Grants(ctx, storage.GrantFilter{ServerID: e.Server.ID}, audience)
	noErr(t, "Grants(files)", err)
	want = []row{
		{"alice@example.com", dyn.ID, "A registered app", "acme/files", "mcp", false, dynFilesLast},
		{"alice@example.com", main.ID, main.Name, "acme/files", "mcp offline_access", true, aliceFilesLast},
		{"bob@example.com", main.ID, main.Name, "acme/files", "mcp", true, bobLast},
	}
	if diff := cmp.Diff(want, rows(got), eq); diff != "" {
		t.Fatalf("Grants(files) (-want +got):\n%s", diff)
	}
	got, err = s.Grants(ctx, storage.GrantFilter{UserID: "usr_nobody"}, audience)
	noErr(t, "Grants(unknown user)", err)
	if len(got) != 0 {
		t.Fatalf("Grants(unknown user) = %+v, want none", got)
	}

	// Revoke alice's grant of main on files.
	e.Clock.Advance(time.Minute)
	before := e.Clock.Now().Add(-time.Second)
	noErr(t, "RevokeGrant", s.RevokeGrant(ctx, alice.ID, main.ID, e.Server.ID, filesAud))
	_, err = s.ConsentFor(ctx, alice.ID, main.ID, e.Server.ID)
	wantErr(t, "ConsentFor(revoked grant)", err, storage.ErrNotFound)
	for name, want := range map[string]bool{
		"alice-main-files-old": false, "alice-main-files": false,
		"alice-main-other": true, "bob-main-files": true, "alice-dyn-files": true, "alice-dyn-otheraud": true,
	} {
		if got := active(name); got != want {
			t.Errorf("after revoking alice's grant of main on files: token %s active = %v, want %v", name, got, want)
		}
	}
	for _, c := range []struct {
		u   *storage.User
		c   *storage.Client
		srv *storage.Server
	}{{alice, main, other}, {bob, main, e.Server}, {alice, dyn, e.Server}} {
		if _, err := s.ConsentFor(ctx, c.u.ID, c.c.ID, c.srv.ID); err != nil {
			t.Errorf("consent of %s for %s on %s: %v after revoking another grant", c.u.Email, c.c.ID, c.srv.Slug, err)
		}
	}
	hashes, _, err := s.RevokedAccessTokensSince(ctx, before)
	noErr(t, "RevokedAccessTokensSince", err)
	wantHashes := map[string]bool{storage.SignatureHash(Sig("alice-main-files-old")): true, storage.SignatureHash(Sig("alice-main-files")): true}
	if len(hashes) != len(wantHashes) || !wantHashes[hashes[0]] || !wantHashes[hashes[1]] {
		t.Fatalf("RevokedAccessTokensSince = %v, want exactly the two access tokens of the revoked grant", hashes)
	}
	wantErr(t, "RevokeGrant(again)", s.RevokeGrant(ctx, alice.ID, main.ID, e.Server.ID, filesAud), storage.ErrNotFound)
	wantErr(t, "RevokeGrant(another user's client)", s.RevokeGrant(ctx, bob.ID, dyn.ID, e.Server.ID, filesAud), storage.ErrNotFound)
	if !active("alice-dyn-otheraud") || !active("bob-main-files") {
		t.Fatal("a refused RevokeGrant revoked tokens")
	}

	// A revoked client's grants are no longer listed.
	noErr(t, "RevokeClient(dyn)", s.RevokeClient(ctx, dyn.ID))
	got, err = s.Grants(ctx, storage.GrantFilter{UserID: alice.ID}, audience)
	noErr(t, "Grants(alice) after revoking dyn", err)
	if len(got) != 1 || got[0].ClientID != main.ID || got[0].ServerID != other.ID {
		t.Fatalf("Grants(alice) after revoking client-dyn = %+v, want only main on other", rows(got))
	}

	// Removing alice from acme: every grant and token of hers on acme's servers; bob keeps his.
	consent(alice, main, e.Server, "mcp")
	issue("alice-main-files-again", alice, main, filesAud)
	n, err := s.RevokeUserGrants(ctx, alice.ID, map[string]string{e.Server.ID: filesAud, other.ID: otherAud})
	noErr(t, "RevokeUserGrants", err)
	if n != 3 { // main on files, main on other, and dyn on files (its client is revoked, its consent still there)
		t.Fatalf("RevokeUserGrants = %d, want 3 consents", n)
	}
	for name, want := range map[string]bool{"alice-main-files-again": false, "alice-main-other": false, "bob-main-files": true} {
		if got := active(name); got != want {
			t.Errorf("after RevokeUserGrants(alice): token %s active = %v, want %v", name, got, want)
		}
	}
	got, err = s.Grants(ctx, storage.GrantFilter{OrgID: e.Org.ID}, audience)
	noErr(t, "Grants(acme)", err)
	if len(got) != 1 || got[0].UserID != bob.ID {
		t.Fatalf("Grants(acme) after removing alice = %+v, want bob's only", rows(got))
	}

	// Tokens in a window, per client.
	counts, err := s.ClientTokenCounts(ctx, []string{main.ID, dyn.ID, "client-unknown"}, before.Add(-time.Hour))
	noErr(t, "ClientTokenCounts", err)
	if diff := cmp.Diff(map[string]int{main.ID: 5, dyn.ID: 2}, counts); diff != "" {
		t.Fatalf("ClientTokenCounts (-want +got):\n%s", diff)
	}
	counts, err = s.ClientTokenCounts(ctx, []string{main.ID}, e.Clock.Now().Add(time.Second))
	noErr(t, "ClientTokenCounts(late)", err)
	if len(counts) != 0 {
		t.Fatalf("ClientTokenCounts after every token = %v, want none", counts)
	}
}
