package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/storage"
)

// TestAuditTail: what the CLI changes is recorded as the operator, and `audit tail` prints
// it oldest first, one line each or one JSON object each, filtered as asked.
func TestAuditTail(t *testing.T) {
	dbURL, _ := cliEnv(t)
	mustRun(t, "", "servers", "create", "acme/one", "--name", "One")
	mustRun(t, "", "servers", "create", "globex/two", "--name", "Two")
	out := mustRun(t, "", "clients", "create", "--server", "acme/one", "--name", "Nightly", "--scopes", "mcp:tools:read", "--json")
	var created struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("clients create --json: %v: %s", err, out)
	}
	mustRun(t, "", "clients", "revoke", created.ClientID)

	lines := strings.Split(strings.TrimSpace(mustRun(t, "", "audit", "tail")), "\n")
	// The first command made the signing key: the operator's key rotation comes first.
	wantActions := []string{audit.KeyRotated, audit.ServerCreated, audit.ServerCreated, audit.ClientCreated, audit.ClientRevoked}
	if len(lines) != len(wantActions) {
		t.Fatalf("audit tail printed %d lines, want %d:\n%s", len(lines), len(wantActions), strings.Join(lines, "\n"))
	}
	lineRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  operator:command line  (\S+)  (.+)  ok  -$`)
	for i, l := range lines {
		m := lineRE.FindStringSubmatch(l)
		if m == nil || m[1] != wantActions[i] {
			t.Errorf("line %d = %q, want the operator's %s", i, l, wantActions[i])
		}
	}
	if !strings.Contains(lines[3], created.ClientID+" (Nightly) on acme/one") {
		t.Errorf("client line = %q, want the client ID, name and server", lines[3])
	}

	// --json: one object a line, with the documented field names.
	var objs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(mustRun(t, "", "audit", "tail", "--json")), "\n") {
		var o map[string]any
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("--json line %q: %v", l, err)
		}
		objs = append(objs, o)
	}
	if len(objs) != 5 {
		t.Fatalf("--json printed %d objects, want 5", len(objs))
	}
	for _, k := range []string{"id", "time", "org_id", "server", "actor_kind", "actor_id", "actor_name", "action", "target", "target_name", "result", "ip", "user_agent", "detail"} {
		if _, ok := objs[4][k]; !ok {
			t.Errorf("--json object lacks %q: %v", k, objs[4])
		}
	}
	if objs[4]["action"] != audit.ClientRevoked || objs[4]["target"] != created.ClientID || objs[4]["actor_kind"] != audit.KindOperator || objs[4]["server"] != "acme/one" {
		t.Errorf("last --json object = %v", objs[4])
	}

	// Filters.
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--org", "globex"}, 1},
		{[]string{"--server", "acme/one"}, 3},
		{[]string{"--action", audit.ClientCreated}, 1},
		{[]string{"-n", "2"}, 2},
		{[]string{"--since", "1h"}, 5},
	} {
		out := strings.TrimSpace(mustRun(t, "", append([]string{"audit", "tail"}, tc.args...)...))
		if got := len(strings.Split(out, "\n")); out == "" || got != tc.want {
			t.Errorf("audit tail %v: %d lines, want %d:\n%s", tc.args, got, tc.want, out)
		}
	}
	if out := mustRun(t, "", "audit", "tail", "-n", "1"); !strings.Contains(out, audit.ClientRevoked) {
		t.Errorf("-n 1 = %q, want the newest event", out)
	}
	for _, args := range [][]string{
		{"--action", "drop.tables"}, {"--server", "not a path"}, {"-n", "0"}, {"--since", "-1h"}, {"--org", "nope"},
	} {
		if _, _, err := run(t, "", append([]string{"audit", "tail"}, args...)...); err == nil {
			t.Errorf("audit tail %v: no error", args)
		}
	}

	// --follow prints what comes later, until interrupted.
	auditPollInterval = 20 * time.Millisecond
	t.Cleanup(func() { auditPollInterval = time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	root := newRootCmd(strings.NewReader(""), &stdout, &stderr)
	root.SetArgs([]string{"audit", "tail", "--follow", "--action", audit.KeyRotated})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	store := openStore(t, dbURL)
	if err := store.InsertAuditEvents(context.Background(), []storage.AuditEvent{
		{At: time.Now(), ActorKind: audit.KindOperator, ActorName: "command line", Action: audit.ClientCreated, Result: audit.OK},
		{At: time.Now(), ActorKind: audit.KindSystem, ActorName: "Conexor", Action: audit.KeyRotated, Target: "kid-followed", Result: audit.OK},
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for !strings.Contains(stdout.String(), "kid-followed") {
		select {
		case <-deadline:
			t.Fatalf("--follow did not print the new event; stdout %q, stderr %q", stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	// An event that commits after a newer one, with a lower ID (another replica's batch on
	// Postgres), is printed too, and nothing twice.
	followed, err := store.AuditEvents(context.Background(), storage.AuditFilter{Action: audit.KeyRotated, Limit: 1})
	if err != nil || len(followed) != 1 {
		t.Fatalf("the followed event: %v %v", followed, err)
	}
	base := followed[0].ID
	for _, ev := range []storage.AuditEvent{
		{ID: base + 100, At: time.Now(), ActorKind: audit.KindSystem, Action: audit.KeyRotated, Target: "kid-newer", Result: audit.OK},
		{ID: base + 50, At: time.Now(), ActorKind: audit.KindSystem, Action: audit.KeyRotated, Target: "kid-late", Result: audit.OK},
	} {
		if err := store.InsertAuditEvents(context.Background(), []storage.AuditEvent{ev}); err != nil {
			t.Fatal(err)
		}
		for !strings.Contains(stdout.String(), ev.Target) {
			select {
			case <-deadline:
				t.Fatalf("--follow did not print %s; stdout %q", ev.Target, stdout.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	time.Sleep(5 * auditPollInterval) // a few more polls: nothing is printed again
	cancel()
	if err := <-done; err != nil {
		t.Errorf("--follow ended with %v", err)
	}
	// The key made by the first command (printed before following), then the three.
	if got := stdout.String(); strings.Count(got, "\n") != 4 || strings.Count(got, "kid-") != 3 || strings.Contains(got, audit.ClientCreated) {
		t.Errorf("--follow --action %s printed %q, want the four key rotations once each", audit.KeyRotated, got)
	}
}
