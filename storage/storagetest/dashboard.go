package storagetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/storage"
)

// testDashboard: the dashboard's queries give exact counts, orders and times: revoked clients
// count as clients but not as active ones, tokens before the cutoff and tokens of other
// servers' clients are not counted, and a client with no token has no last use.
func testDashboard(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx

	// Orgs of a user: ordered by slug whatever the creation order, with each role;
	// orgs the user is not in are absent.
	zeta, err := s.EnsureOrg(ctx, "zeta", "Zeta")
	noErr(t, "EnsureOrg(zeta)", err)
	beta, err := s.EnsureOrg(ctx, "beta", "Beta")
	noErr(t, "EnsureOrg(beta)", err)
	_, err = s.EnsureOrg(ctx, "gamma", "Gamma")
	noErr(t, "EnsureOrg(gamma)", err)
	alice, err := s.CreateUser(ctx, "alice@example.com", "hash")
	noErr(t, "CreateUser(alice)", err)
	bob, err := s.CreateUser(ctx, "bob@example.com", "hash")
	noErr(t, "CreateUser(bob)", err)
	noErr(t, "AddMember(zeta)", s.AddMember(ctx, zeta.ID, alice.ID, storage.RoleMember))
	noErr(t, "AddMember(acme)", s.AddMember(ctx, e.Org.ID, alice.ID, storage.RoleAdmin))
	noErr(t, "AddMember(beta)", s.AddMember(ctx, beta.ID, alice.ID, storage.RoleMember))
	noErr(t, "AddMember(bob)", s.AddMember(ctx, beta.ID, bob.ID, storage.RoleAdmin))

	orgs, err := s.OrgsOfUser(ctx, alice.ID)
	noErr(t, "OrgsOfUser", err)
	type orgRole struct{ Slug, Name, Role string }
	var gotOrgs []orgRole
	for _, o := range orgs {
		if o.Org.ID == "" {
			t.Fatalf("OrgsOfUser returned an org without ID: %+v", o)
		}
		gotOrgs = append(gotOrgs, orgRole{o.Org.Slug, o.Org.Name, o.Role})
	}
	wantOrgs := []orgRole{{"acme", "Acme Inc.", "admin"}, {"beta", "Beta", "member"}, {"zeta", "Zeta", "member"}}
	if diff := cmp.Diff(wantOrgs, gotOrgs); diff != "" {
		t.Fatalf("OrgsOfUser(alice) (-want +got):\n%s", diff)
	}
	none, err := s.OrgsOfUser(ctx, "usr_nobody")
	noErr(t, "OrgsOfUser(unknown)", err)
	if len(none) != 0 {
		t.Fatalf("OrgsOfUser(unknown) = %+v, want none", none)
	}

	// Servers of an org: by slug, only that org's.
	for _, slug := range []string{"zulu", "alpha"} {
		srv := &storage.Server{OrgID: e.Org.ID, OrgSlug: e.Org.Slug, Slug: slug, Name: slug, Enabled: true}
		noErr(t, "CreateServer("+slug+")", s.CreateServer(ctx, srv))
	}
	noErr(t, "CreateServer(beta/other)", s.CreateServer(ctx, &storage.Server{OrgID: beta.ID, OrgSlug: beta.Slug, Slug: "other", Name: "Other"}))
	servers, err := s.ServersOfOrg(ctx, e.Org.ID)
	noErr(t, "ServersOfOrg", err)
	var slugs []string
	for _, srv := range servers {
		slugs = append(slugs, srv.Slug)
	}
	if diff := cmp.Diff([]string{"alpha", "files", "zulu"}, slugs); diff != "" {
		t.Fatalf("ServersOfOrg(acme) slugs (-want +got):\n%s", diff)
	}
	alpha := servers[0]

	// Clients: the env's client-main plus two more on files (one revoked), one on alpha.
	revoked := e.NewClient(t, "client-revoked")
	idle := e.NewClient(t, "client-idle")
	onAlpha := &storage.Client{ID: "client-alpha", Name: "Alpha", ServerID: &alpha.ID, Public: true,
		Scopes: "mcp", GrantTypes: "authorization_code", TokenEndpointAuthMethod: "none"}
	noErr(t, "CreateClient(alpha)", s.CreateClient(ctx, onAlpha))

	issue := func(name string, c *storage.Client) time.Time {
		t.Helper()
		fc, err := s.GetClient(ctx, c.ID)
		noErr(t, "GetClient("+c.ID+")", err)
		req := e.NewRequest(t, name, fc)
		noErr(t, "CreateAccessTokenSession("+name+")", s.CreateAccessTokenSession(ctx, Sig(name), req))
		return req.RequestedAt
	}
	issue("old-main", e.Client)
	issue("old-revoked", revoked)
	e.Clock.Advance(25 * time.Hour)
	cutoff := e.Clock.Now().Add(-24 * time.Hour)
	issue("new-main-1", e.Client)
	e.Clock.Advance(time.Minute)
	lastRevoked := issue("new-revoked", revoked)
	e.Clock.Advance(time.Minute)
	lastMain := issue("new-main-2", e.Client)
	issue("new-alpha", onAlpha)
	noErr(t, "RevokeClient", s.RevokeClient(ctx, revoked.ID))

	stats, err := s.ServerStats(ctx, []string{e.Server.ID, alpha.ID, servers[2].ID, "srv_unknown"}, cutoff)
	noErr(t, "ServerStats", err)
	wantStats := map[string]storage.ServerStats{
		e.Server.ID: {Clients: 3, ActiveClients: 2, TokensLast24h: 3},
		alpha.ID:    {Clients: 1, ActiveClients: 1, TokensLast24h: 1},
	}
	if diff := cmp.Diff(wantStats, stats); diff != "" {
		t.Fatalf("ServerStats (-want +got):\n%s", diff)
	}
	// A cutoff after every token counts none; the client counts stay.
	stats, err = s.ServerStats(ctx, []string{e.Server.ID}, e.Clock.Now().Add(time.Second))
	noErr(t, "ServerStats(late cutoff)", err)
	if want := (storage.ServerStats{Clients: 3, ActiveClients: 2}); stats[e.Server.ID] != want {
		t.Fatalf("ServerStats(late cutoff) = %+v, want %+v", stats[e.Server.ID], want)
	}
	empty, err := s.ServerStats(ctx, nil, cutoff)
	noErr(t, "ServerStats(none)", err)
	if len(empty) != 0 {
		t.Fatalf("ServerStats(none) = %+v, want empty", empty)
	}

	used, err := s.ClientsLastUsed(ctx, []string{e.Client.ID, revoked.ID, idle.ID, "client-unknown"})
	noErr(t, "ClientsLastUsed", err)
	if len(used) != 2 {
		t.Fatalf("ClientsLastUsed = %v, want exactly client-main and client-revoked", used)
	}
	if got := used[e.Client.ID]; !got.Equal(lastMain) {
		t.Fatalf("ClientsLastUsed[main] = %v, want %v", got, lastMain)
	}
	if got := used[revoked.ID]; !got.Equal(lastRevoked) {
		t.Fatalf("ClientsLastUsed[revoked] = %v, want %v", got, lastRevoked)
	}
	if _, ok := used[idle.ID]; ok {
		t.Fatal("ClientsLastUsed has a time for a client that never got a token")
	}
}
