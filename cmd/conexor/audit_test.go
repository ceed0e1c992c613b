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
	wantActions := []string{audit.ServerCreated, audit.ServerCreated, audit.ClientCreated, audit.ClientRevoked}
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
	if !strings.Contains(lines[2], created.ClientID+" (Nightly) on acme/one") {
		t.Errorf("client line = %q, want the client ID, name and server", lines[2])
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
	if len(objs) != 4 {
		t.Fatalf("--json printed %d objects, want 4", len(objs))
	}
	for _, k := range []string{"id", "time", "org_id", "server", "actor_kind", "actor_id", "actor_name", "action", "target", "target_name", "result", "ip", "user_agent", "detail"} {
		if _, ok := objs[3][k]; !ok {
			t.Errorf("--json object lacks %q: %v", k, objs[3])
		}
	}
	if objs[3]["action"] != audit.ClientRevoked || objs[3]["target"] != created.ClientID || objs[3]["actor_kind"] != audit.KindOperator || objs[3]["server"] != "acme/one" {
		t.Errorf("last --json object = %v", objs[3])
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
		{[]string{"--since", "1h"}, 4},
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
	cancel()
	if err := <-done; err != nil {
		t.Errorf("--follow ended with %v", err)
	}
	if got := stdout.String(); strings.Count(got, "\n") != 1 || strings.Contains(got, audit.ClientCreated) {
		t.Errorf("--follow --action %s printed %q, want only the key rotation", audit.KeyRotated, got)
	}
}
