package provider_test

import (
	"context"
	"strings"
	"testing"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// lastEvent flushes the app's recorder and returns the newest event of action.
func lastEvent(t *testing.T, e *testenv.Env, action string) storage.AuditEvent {
	t.Helper()
	ctx := context.Background()
	if err := e.App.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := e.Store.AuditEvents(ctx, storage.AuditFilter{Action: action, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatalf("no %s event", action)
	}
	return evs[0]
}

// TestAuditDetails: change events name the fields that changed, never their values (an
// upstream header is an API key); refusals say which fields were wrong; a rotation nobody
// asked for in a context is the system's.
func TestAuditDetails(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.KindUser, ID: "usr_x", Name: "x@acme.test"})

	name, scopes := "Renamed script", []string{provider.ScopeToolsRead}
	if _, err := e.Provider.UpdateClient(ctx, e.ClientID, provider.ClientUpdate{Name: &name, Scopes: &scopes}); err != nil {
		t.Fatal(err)
	}
	ev := lastEvent(t, e, audit.ClientUpdated)
	if ev.Detail != "changed name, scopes" || ev.ActorID != "usr_x" || ev.ActorName != "x@acme.test" || ev.TargetName != name {
		t.Errorf("client update recorded as %+v", ev)
	}
	if _, err := e.Provider.UpdateClient(ctx, e.ClientID, provider.ClientUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if ev := lastEvent(t, e, audit.ClientUpdated); ev.Detail != "nothing changed" {
		t.Errorf("an update that changed nothing recorded %q", ev.Detail)
	}

	const key = "sk-live-very-secret-value"
	srvName := "Sales"
	if _, err := e.Provider.UpdateServer(ctx, "acme", "sales-api", provider.ServerChange{Name: &srvName,
		Headers: map[string]string{"X-Api-Key": key}}); err != nil {
		t.Fatal(err)
	}
	ev = lastEvent(t, e, audit.ServerUpdated)
	if ev.Detail != "changed name, headers" || ev.Result != audit.OK || ev.ServerPath != "acme/sales-api" || ev.OrgID == "" {
		t.Errorf("server update recorded as %+v", ev)
	}

	bad := strings.Repeat("n", provider.MaxServerNameLength+1)
	badUpstream := "ftp://" + key + "@example.com"
	if _, err := e.Provider.UpdateServer(ctx, "acme", "sales-api", provider.ServerChange{Name: &bad, Upstream: &badUpstream}); err == nil {
		t.Fatal("an invalid change was accepted")
	}
	ev = lastEvent(t, e, audit.ServerUpdated)
	if ev.Result != audit.Refused || ev.Detail != "invalid name, upstream" || ev.Target != e.ServerByPath("acme/sales-api").ID {
		t.Errorf("refused server update recorded as %+v", ev)
	}
	if _, err := e.Provider.CreateServer(ctx, provider.ServerSpec{Org: "acme", Slug: "Bad Slug", Name: "x"}); err == nil {
		t.Fatal("a bad slug was accepted")
	}
	ev = lastEvent(t, e, audit.ServerCreated)
	if ev.Result != audit.Refused || ev.Detail != "invalid slug" || ev.ServerPath != "" {
		t.Errorf("refused server creation recorded as %+v", ev)
	}

	// No value of any event holds the header's value.
	evs, err := e.Store.AuditEvents(context.Background(), storage.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if strings.Contains(ev.Detail+ev.Target+ev.TargetName, key) {
			t.Errorf("an event holds the header value: %+v", ev)
		}
	}

	kid, err := e.Provider.RotateSigningKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ev := lastEvent(t, e, audit.KeyRotated); ev.ActorKind != audit.KindSystem || ev.Target != kid {
		t.Errorf("a rotation without an actor recorded as %+v", ev)
	}
}
