// Package storagetest is the conformance suite for storage.Store, modelled on dex's
// storage/conformance. It pins the contract fosite relies on (exact errors.Is values for
// unknown, used, revoked and raced tokens, request round trips, transactions) and Conexor's
// own domain rules, so the SQLite and Postgres back ends are held to the same behaviour.
//
// A back end's test calls RunTests with a function that returns a fresh, migrated store:
//
//	func TestSQLite(t *testing.T) {
//		storagetest.RunTests(t, func(t *testing.T) *storage.Store { ... })
//	}
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ory/fosite"

	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

// Issuer is the public base URL the suite's requests name their audience under
// (urls.Resource(Issuer, org, server)). The store itself knows no issuer.
const Issuer = "https://auth.conexor.test"

// RunTests runs the whole conformance suite. newStore must return a fresh, migrated store
// for each call (each subtest gets its own) and arrange its own cleanup with t.Cleanup.
// The suite configures the store's clock itself (see Clock).
func RunTests(t *testing.T, newStore func(t *testing.T) *storage.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, e *Env)
	}{
		{"NotFound", testNotFound},
		{"RoundTrip", testRoundTrip},
		{"AuthorizeCodeUsed", testAuthorizeCodeUsed},
		{"RefreshRotation", testRefreshRotation},
		{"RevokeByRequest", testRevokeByRequest},
		{"UsedOrRevoked", testUsedOrRevoked},
		{"RefreshTokenState", testRefreshTokenState},
		{"DeleteSessions", testDeleteSessions},
		{"RevokeClient", testRevokeClient},
		{"Transactional", testTransactional},
		{"ConcurrentCodeRedemption", testConcurrentCodeRedemption},
		{"ConcurrentCodeExchange", testConcurrentCodeExchange},
		{"SchemaCurrent", testSchemaCurrent},
		{"ConcurrentRefreshRotation", testConcurrentRefreshRotation},
		{"RevokeRacesRefresh", testRevokeRacesRefresh},
		{"ConcurrentReadWriteTx", testConcurrentReadWriteTx},
		{"ConcurrentCreateBurst", testConcurrentCreateBurst},
		{"GroupCommit", testGroupCommit},
		{"Orgs", testOrgs},
		{"Servers", testServers},
		{"Users", testUsers},
		{"Memberships", testMemberships},
		{"Clients", testClients},
		{"Consents", testConsents},
		{"SigningKeys", testSigningKeys},
		{"Sessions", testSessions},
		{"ClientDocuments", testClientDocuments},
		{"HostileKeys", testHostileKeys},
		{"PurgeExpired", testPurgeExpired},
		{"PurgeBatches", testPurgeBatches},
		{"Lease", testLease},
		{"ClientCache", testClientCache},
		{"ClientCacheSingleLoad", testClientCacheSingleLoad},
		{"Unavailable", testUnavailable},
		{"Dashboard", testDashboard},
		{"UsageCounters", testUsageCounters},
		{"AuditEvents", testAuditEvents},
		{"AuditMembersSinceJoining", testAuditMembersSinceJoining},
		{"MembersOfOrg", testMembersOfOrg},
		{"LastAdminRace", testLastAdminRace},
		{"SessionsOfUser", testSessionsOfUser},
		{"PasswordResets", testPasswordResets},
		{"Grants", testGrants},
		{"ClientNames", testClientNames},
		{"LimitBuckets", testLimitBuckets},
		{"GatewayTasks", testGatewayTasks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, NewEnv(t, newStore(t)))
		})
	}
}

// Clock is a controllable time source: real time shifted by an offset that tests advance.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the shifted time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d (backward when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// Env is one subtest's world: a store with a known clock, plus a server-bound
// client to hang tokens on.
type Env struct {
	Store  *storage.Store
	Clock  *Clock
	Ctx    context.Context
	Org    *storage.Org
	Server *storage.Server
	Client *storage.Client
}

// NewEnv configures s with a fresh Clock (options are applied right after Open,
// before anything else touches s) and creates org "acme", server "files" and a public client
// bound to it.
func NewEnv(t *testing.T, s *storage.Store) *Env {
	t.Helper()
	clk := &Clock{}
	storage.WithClock(clk.Now)(s)
	e := &Env{Store: s, Clock: clk, Ctx: context.Background()}
	org, err := s.EnsureOrg(e.Ctx, "acme", "Acme Inc.")
	if err != nil {
		t.Fatalf("EnsureOrg: %v", err)
	}
	srv := &storage.Server{OrgID: org.ID, OrgSlug: org.Slug, Slug: "files", Name: "Files", Enabled: true}
	if err := s.CreateServer(e.Ctx, srv); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	e.Org, e.Server = org, srv
	e.Client = e.NewClient(t, "client-main")
	return e
}

// NewClient creates a public client bound to the env's server.
func (e *Env) NewClient(t *testing.T, id string) *storage.Client {
	t.Helper()
	c := &storage.Client{
		ID:                      id,
		Name:                    "Client " + id,
		ServerID:                &e.Server.ID,
		Public:                  true,
		Scopes:                  "mcp offline_access",
		GrantTypes:              "authorization_code refresh_token",
		TokenEndpointAuthMethod: "none",
	}
	c.SetRedirectURIs([]string{"https://app.example/callback"})
	if err := e.Store.CreateClient(e.Ctx, c); err != nil {
		t.Fatalf("CreateClient(%s): %v", id, err)
	}
	return c
}

// Audience is the resource URL of the env's server.
func (e *Env) Audience() string { return urls.Resource(Issuer, e.Org.Slug, e.Server.Slug) }

// NewRequest builds a fully populated request for client (nil means the env's client), as
// fosite would hand it to storage. Times are UTC with microsecond precision, which both back
// ends store exactly.
func (e *Env) NewRequest(t *testing.T, id string, client fosite.Client) *fosite.Request {
	t.Helper()
	if client == nil {
		c, err := e.Store.GetClient(e.Ctx, e.Client.ID)
		if err != nil {
			t.Fatalf("GetClient(%s): %v", e.Client.ID, err)
		}
		client = c
	}
	now := e.Clock.Now().UTC().Truncate(time.Microsecond)
	aud := e.Audience()
	return &fosite.Request{
		ID:                id,
		RequestedAt:       now,
		Client:            client,
		RequestedScope:    fosite.Arguments{"mcp", "offline_access"},
		GrantedScope:      fosite.Arguments{"mcp"},
		RequestedAudience: fosite.Arguments{aud},
		GrantedAudience:   fosite.Arguments{aud},
		Form: url.Values{
			"redirect_uri": {"https://app.example/callback"},
			"state":        {"st&ate=1 2"},
			"resource":     {aud},
			"multi":        {"a", "b"},
		},
		Session: &fosite.DefaultSession{
			Subject:  "usr_" + id,
			Username: "alice@example.com",
			ExpiresAt: map[fosite.TokenType]time.Time{
				fosite.AuthorizeCode: now.Add(10 * time.Minute),
				fosite.AccessToken:   now.Add(time.Hour),
				fosite.RefreshToken:  now.Add(30 * 24 * time.Hour),
			},
			Extra: map[string]interface{}{
				"org":    "acme",
				"n":      float64(3), // JSON numbers decode as float64
				"groups": []interface{}{"a", "b"},
				"nested": map[string]interface{}{"k": "v"},
			},
		},
	}
}

// Sig returns a test token signature unique within the subtest, long like fosite's.
func Sig(name string) string {
	return "sig-" + name + "-" + strings.Repeat("x", 32)
}

// requestDiff compares two requesters field by field. Lang is not stored.
func requestDiff(want, got fosite.Requester) string {
	return cmp.Diff(want, got,
		cmpopts.EquateEmpty(),
		cmpopts.IgnoreFields(fosite.Request{}, "Lang"),
		cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
	)
}

// accessTokenDiff compares an access token read back with the request it was created from,
// as far as its slim row keeps it: the request ID, client, requested-at and granted
// audience, with the session left as the reader gave it (an empty DefaultSession).
func accessTokenDiff(want fosite.Requester, got fosite.Requester) string {
	return requestDiff(&fosite.Request{
		ID: want.GetID(), RequestedAt: want.GetRequestedAt(), Client: want.GetClient(),
		GrantedAudience: want.GetGrantedAudience(), Session: &fosite.DefaultSession{},
	}, got)
}

// wantErr fails t unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, errString(err), errString(want))
	}
}

// noErr fails t if err is not nil.
func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, errString(err))
	}
}

// errString prints fosite errors with their description, which %v alone hides.
func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		return fmt.Sprintf("%s (%s)", rfc.ErrorField, rfc.DescriptionField)
	}
	return err.Error()
}
