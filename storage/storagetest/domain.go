package storagetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/conexor/conexor/storage"
)

// testOrgs: EnsureOrg is idempotent; slugs are unique.
func testOrgs(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	again, err := s.EnsureOrg(ctx, "acme", "Another name")
	noErr(t, "EnsureOrg(existing)", err)
	if again.ID != e.Org.ID || again.Name != "Acme Inc." {
		t.Fatalf("EnsureOrg(existing) = %+v, want the original %+v", again, e.Org)
	}
	n, err := s.CountOrgs(ctx)
	noErr(t, "CountOrgs", err)
	if n != 1 {
		t.Fatalf("CountOrgs = %d, want 1", n)
	}
	_, err = s.CreateOrg(ctx, "acme", "Dup")
	wantErr(t, "CreateOrg(duplicate slug)", err, storage.ErrConflict)
	_, err = s.OrgBySlug(ctx, "nope")
	wantErr(t, "OrgBySlug(unknown)", err, storage.ErrNotFound)

	other, err := s.EnsureOrg(ctx, "globex", "Globex")
	noErr(t, "EnsureOrg(new)", err)
	if other.ID == e.Org.ID {
		t.Fatal("EnsureOrg(new) returned the existing org")
	}
	got, err := s.OrgBySlug(ctx, "globex")
	noErr(t, "OrgBySlug", err)
	if got.ID != other.ID || got.Name != "Globex" {
		t.Fatalf("OrgBySlug = %+v, want %+v", got, other)
	}
}

// testServers: org/server paths are unique; the same slug may exist in another org.
func testServers(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	dup := &storage.Server{OrgID: e.Org.ID, OrgSlug: e.Org.Slug, Slug: e.Server.Slug, Name: "Dup"}
	wantErr(t, "CreateServer(duplicate path)", s.CreateServer(ctx, dup), storage.ErrConflict)

	globex, err := s.EnsureOrg(ctx, "globex", "Globex")
	noErr(t, "EnsureOrg", err)
	same := &storage.Server{OrgID: globex.ID, OrgSlug: globex.Slug, Slug: e.Server.Slug, Name: "Files", Upstream: "http://127.0.0.1:9/mcp"}
	noErr(t, "CreateServer(same slug, other org)", s.CreateServer(ctx, same))

	got, err := s.ServerByPath(ctx, "acme", "files")
	noErr(t, "ServerByPath", err)
	if got.ID != e.Server.ID || got.Path() != "acme/files" || !got.Enabled {
		t.Fatalf("ServerByPath = %+v, want %+v", got, e.Server)
	}
	_, err = s.ServerByPath(ctx, "acme", "nope")
	wantErr(t, "ServerByPath(unknown)", err, storage.ErrNotFound)
	_, err = s.ServerByID(ctx, "srv_nope")
	wantErr(t, "ServerByID(unknown)", err, storage.ErrNotFound)

	got.Name, got.Enabled, got.UpstreamHeaders = "Renamed", false, []byte("sealed")
	noErr(t, "UpdateServer", s.UpdateServer(ctx, got))
	got, err = s.ServerByID(ctx, e.Server.ID)
	noErr(t, "ServerByID", err)
	if got.Name != "Renamed" || got.Enabled || !bytes.Equal(got.UpstreamHeaders, []byte("sealed")) {
		t.Fatalf("UpdateServer did not persist: %+v", got)
	}
	if got.IdentityHeader != "" {
		t.Fatalf("a new server's IdentityHeader = %q, want empty (off)", got.IdentityHeader)
	}
	got.IdentityHeader = "X-Conexor-Identity"
	noErr(t, "UpdateServer(identity header)", s.UpdateServer(ctx, got))
	if got, err = s.ServerByID(ctx, e.Server.ID); err != nil || got.IdentityHeader != "X-Conexor-Identity" {
		t.Fatalf("UpdateServer did not persist the identity header: %+v, %v", got, err)
	}
	got.IdentityHeader = ""
	noErr(t, "UpdateServer(identity header off)", s.UpdateServer(ctx, got))
	if got, err = s.ServerByID(ctx, e.Server.ID); err != nil || got.IdentityHeader != "" {
		t.Fatalf("UpdateServer did not turn the identity header off: %+v, %v", got, err)
	}

	all, err := s.ListServers(ctx)
	noErr(t, "ListServers", err)
	var paths []string
	for _, srv := range all {
		paths = append(paths, srv.Path())
	}
	if want := []string{"acme/files", "globex/files"}; !slices.Equal(paths, want) {
		t.Fatalf("ListServers paths = %q, want %q", paths, want)
	}
}

// testUsers: emails are unique case-insensitively and stored lower-case.
func testUsers(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	u, err := s.CreateUser(ctx, " Alice@Example.COM ", "hash")
	noErr(t, "CreateUser", err)
	if u.Email != "alice@example.com" {
		t.Fatalf("CreateUser email = %q, want lower-case", u.Email)
	}
	_, err = s.CreateUser(ctx, "ALICE@example.com", "hash2")
	wantErr(t, "CreateUser(duplicate email, other case)", err, storage.ErrConflict)

	got, err := s.UserByEmail(ctx, "aLiCe@EXAMPLE.com")
	noErr(t, "UserByEmail", err)
	if got.ID != u.ID || got.PasswordHash != "hash" {
		t.Fatalf("UserByEmail = %+v, want %+v", got, u)
	}
	_, err = s.UserByEmail(ctx, "bob@example.com")
	wantErr(t, "UserByEmail(unknown)", err, storage.ErrNotFound)
	got, err = s.UserByID(ctx, u.ID)
	noErr(t, "UserByID", err)
	if got.Email != u.Email {
		t.Fatalf("UserByID = %+v", got)
	}
	_, err = s.UserByID(ctx, "usr_nope")
	wantErr(t, "UserByID(unknown)", err, storage.ErrNotFound)
	n, err := s.CountUsers(ctx)
	noErr(t, "CountUsers", err)
	if n != 1 {
		t.Fatalf("CountUsers = %d, want 1", n)
	}
}

// testMemberships: AddMember upserts the role; a non-member is ErrNotFound.
func testMemberships(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	u, err := s.CreateUser(ctx, "member@example.com", "hash")
	noErr(t, "CreateUser", err)
	_, err = s.Membership(ctx, e.Org.ID, u.ID)
	wantErr(t, "Membership(non-member)", err, storage.ErrNotFound)

	noErr(t, "AddMember", s.AddMember(ctx, e.Org.ID, u.ID, storage.RoleMember))
	m, err := s.Membership(ctx, e.Org.ID, u.ID)
	noErr(t, "Membership", err)
	if m.Role != storage.RoleMember {
		t.Fatalf("Membership role = %q, want %q", m.Role, storage.RoleMember)
	}
	noErr(t, "AddMember(change role)", s.AddMember(ctx, e.Org.ID, u.ID, storage.RoleAdmin))
	m, err = s.Membership(ctx, e.Org.ID, u.ID)
	noErr(t, "Membership", err)
	if m.Role != storage.RoleAdmin {
		t.Fatalf("Membership role after upsert = %q, want %q", m.Role, storage.RoleAdmin)
	}
	globex, err := s.EnsureOrg(ctx, "globex", "Globex")
	noErr(t, "EnsureOrg", err)
	_, err = s.Membership(ctx, globex.ID, u.ID)
	wantErr(t, "Membership(other org)", err, storage.ErrNotFound)
}

// testClients: client IDs are unique; listing is per server.
func testClients(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	dup := &storage.Client{ID: e.Client.ID, Name: "dup", Scopes: "mcp", GrantTypes: "authorization_code"}
	wantErr(t, "CreateClient(duplicate ID)", s.CreateClient(ctx, dup), storage.ErrConflict)

	unbound := &storage.Client{ID: "client-dynamic", Name: "dyn", Scopes: "mcp", GrantTypes: "authorization_code", Source: storage.ClientSourceDynamic}
	noErr(t, "CreateClient(unbound)", s.CreateClient(ctx, unbound))
	c, err := s.GetClient(ctx, unbound.ID)
	noErr(t, "GetClient(unbound)", err)
	if p := c.(*storage.Client).ServerPath; p != "" {
		t.Fatalf("unbound client ServerPath = %q, want none", p)
	}
	e.NewClient(t, "client-second")
	list, err := s.ListClients(ctx, e.Server.ID)
	noErr(t, "ListClients", err)
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	if want := []string{"client-main", "client-second"}; !slices.Equal(ids, want) {
		t.Fatalf("ListClients = %q, want %q", ids, want)
	}

	noErr(t, "SetClientSecretHash", s.SetClientSecretHash(ctx, e.Client.ID, "newhash"))
	got, err := s.ClientByID(ctx, e.Client.ID)
	noErr(t, "ClientByID", err)
	if string(got.GetHashedSecret()) != "newhash" {
		t.Fatalf("secret hash = %q, want newhash", got.GetHashedSecret())
	}
	wantErr(t, "SetClientSecretHash(unknown)", s.SetClientSecretHash(ctx, "nope", "x"), storage.ErrNotFound)
}

// testConsents: SaveConsent replaces the scopes of an existing consent.
func testConsents(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	_, err := s.ConsentFor(ctx, "usr_1", e.Client.ID, e.Server.ID)
	wantErr(t, "ConsentFor(none)", err, storage.ErrNotFound)

	noErr(t, "SaveConsent", s.SaveConsent(ctx, &storage.Consent{UserID: "usr_1", ClientID: e.Client.ID, ServerID: e.Server.ID, Scopes: "mcp"}))
	noErr(t, "SaveConsent(other user)", s.SaveConsent(ctx, &storage.Consent{UserID: "usr_2", ClientID: e.Client.ID, ServerID: e.Server.ID, Scopes: "x"}))
	noErr(t, "SaveConsent(upsert)", s.SaveConsent(ctx, &storage.Consent{UserID: "usr_1", ClientID: e.Client.ID, ServerID: e.Server.ID, Scopes: "mcp offline_access"}))
	c, err := s.ConsentFor(ctx, "usr_1", e.Client.ID, e.Server.ID)
	noErr(t, "ConsentFor", err)
	if c.Scopes != "mcp offline_access" {
		t.Fatalf("ConsentFor scopes = %q, want the upserted ones", c.Scopes)
	}
	c, err = s.ConsentFor(ctx, "usr_2", e.Client.ID, e.Server.ID)
	noErr(t, "ConsentFor(other user)", err)
	if c.Scopes != "x" {
		t.Fatalf("ConsentFor(other user) scopes = %q, want x", c.Scopes)
	}
}

// testSigningKeys: adding a key retires the previous current key; only retired keys delete.
func testSigningKeys(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	noErr(t, "AddSigningKey(k1)", s.AddSigningKey(ctx, &storage.SigningKey{KID: "k1", Alg: "ES256", Sealed: []byte("s1"), PublicJWK: "{}"}))
	e.Clock.Advance(time.Minute)
	noErr(t, "AddSigningKey(k2)", s.AddSigningKey(ctx, &storage.SigningKey{KID: "k2", Alg: "ES256", Sealed: []byte("s2"), PublicJWK: "{}"}))

	keys, err := s.SigningKeys(ctx)
	noErr(t, "SigningKeys", err)
	if len(keys) != 2 || keys[0].KID != "k2" || keys[1].KID != "k1" {
		t.Fatalf("SigningKeys = %+v, want k2 then k1", keys)
	}
	if keys[0].RetiredAt != nil {
		t.Fatalf("current key k2 retired at %v", keys[0].RetiredAt)
	}
	if keys[1].RetiredAt == nil {
		t.Fatal("previous key k1 was not retired")
	}
	if !bytes.Equal(keys[0].Sealed, []byte("s2")) {
		t.Fatalf("k2 sealed = %q", keys[0].Sealed)
	}

	noErr(t, "DeleteSigningKey(current)", s.DeleteSigningKey(ctx, "k2"))
	noErr(t, "DeleteSigningKey(retired)", s.DeleteSigningKey(ctx, "k1"))
	keys, err = s.SigningKeys(ctx)
	noErr(t, "SigningKeys", err)
	if len(keys) != 1 || keys[0].KID != "k2" {
		t.Fatalf("SigningKeys after delete = %+v, want only the current k2", keys)
	}
}

// testSessions: browser sessions upsert, expire by the store's clock and delete.
func testSessions(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	_, err := s.Session(ctx, "nope")
	wantErr(t, "Session(unknown)", err, storage.ErrNotFound)

	exp := e.Clock.Now().Add(time.Hour)
	noErr(t, "SaveSession", s.SaveSession(ctx, &storage.HTTPSession{ID: "sess1", Data: []byte("one"), ExpiresAt: exp}))
	noErr(t, "SaveSession(upsert)", s.SaveSession(ctx, &storage.HTTPSession{ID: "sess1", Data: []byte("two"), ExpiresAt: exp}))
	got, err := s.Session(ctx, "sess1")
	noErr(t, "Session", err)
	if string(got.Data) != "two" {
		t.Fatalf("Session data = %q, want the upserted %q", got.Data, "two")
	}

	e.Clock.Advance(2 * time.Hour)
	_, err = s.Session(ctx, "sess1")
	wantErr(t, "Session(expired)", err, storage.ErrNotFound)
	e.Clock.Advance(-2 * time.Hour)
	_, err = s.Session(ctx, "sess1")
	noErr(t, "Session(before expiry again)", err)

	// Expiry must not depend on the time zone the caller's time.Time carries: a session
	// that expired a minute ago in UTC+5 is expired.
	east := time.FixedZone("UTC+5", 5*3600)
	noErr(t, "SaveSession(zoned)", s.SaveSession(ctx, &storage.HTTPSession{ID: "sess-zoned", Data: []byte("z"), ExpiresAt: e.Clock.Now().Add(-time.Minute).In(east)}))
	_, err = s.Session(ctx, "sess-zoned")
	wantErr(t, "Session(expired, non-UTC expiry)", err, storage.ErrNotFound)
	west := time.FixedZone("UTC-5", -5*3600)
	noErr(t, "SaveSession(zoned, live)", s.SaveSession(ctx, &storage.HTTPSession{ID: "sess-west", Data: []byte("w"), ExpiresAt: e.Clock.Now().Add(time.Minute).In(west)}))
	_, err = s.Session(ctx, "sess-west")
	noErr(t, "Session(live, non-UTC expiry)", err)

	noErr(t, "DeleteSession", s.DeleteSession(ctx, "sess1"))
	_, err = s.Session(ctx, "sess1")
	wantErr(t, "Session(deleted)", err, storage.ErrNotFound)
	noErr(t, "DeleteSession(unknown)", s.DeleteSession(ctx, "sess1"))
}

// testClientDocuments: cached client metadata documents upsert by URL.
func testClientDocuments(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	const u = "https://app.example/client.json"
	_, err := s.ClientDocumentByURL(ctx, u)
	wantErr(t, "ClientDocumentByURL(unknown)", err, storage.ErrNotFound)
	now := e.Clock.Now()
	noErr(t, "SaveClientDocument", s.SaveClientDocument(ctx, &storage.ClientDocument{URL: u, Body: []byte("v1"), FetchedAt: now, ExpiresAt: now.Add(time.Hour)}))
	noErr(t, "SaveClientDocument(upsert)", s.SaveClientDocument(ctx, &storage.ClientDocument{URL: u, Body: []byte("v2"), FetchedAt: now, ExpiresAt: now.Add(time.Hour)}))
	d, err := s.ClientDocumentByURL(ctx, u)
	noErr(t, "ClientDocumentByURL", err)
	if string(d.Body) != "v2" {
		t.Fatalf("ClientDocument body = %q, want v2", d.Body)
	}
}
