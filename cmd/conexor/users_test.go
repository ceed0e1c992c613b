package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/storage"
)

// TestUsersSetPasswordListRemove: the CLI counterparts of the members page, and the
// recovery of a lost password.
func TestUsersSetPasswordListRemove(t *testing.T) {
	dbURL, _ := cliEnv(t)
	ctx := context.Background()
	mustRun(t, "", "servers", "create", "beta/api", "--name", "Beta")
	mustRun(t, "first admin password\n", "users", "create", "--email", "ann@example.com", "--org", "beta", "--role", "admin", "--password-stdin")
	mustRun(t, "bob's own password\n", "users", "create", "--email", "bob@example.com", "--org", "beta", "--password-stdin")
	s := openStore(t, dbURL)
	ann, err := s.UserByEmail(ctx, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordLogin(ctx, ann.ID); err != nil {
		t.Fatal(err)
	}
	// A session of Ann, which set-password must end.
	if err := s.SaveSession(ctx, &storage.HTTPSession{ID: "ann-session", Data: []byte("{}"), ExpiresAt: time.Now().Add(time.Hour), UserID: ann.ID}); err != nil {
		t.Fatal(err)
	}

	// set-password: short refused, unknown refused, then set; sessions end.
	for _, tc := range []struct{ stdin, email, want string }{
		{"short\n", "ann@example.com", "at least 10 characters"},
		{"a long enough password\n", "nobody@example.com", "no user nobody@example.com"},
		{"", "ann@example.com", "at least 10 characters"},
	} {
		if _, _, err := run(t, tc.stdin, "users", "set-password", "--email", tc.email); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("set-password %q for %s: %v, want %q", tc.stdin, tc.email, err, tc.want)
		}
	}
	out := mustRun(t, "recovered password 1\nignored second line\n", "users", "set-password", "--email", "ANN@example.com")
	if out != "password of ann@example.com set; their sessions were ended\n" {
		t.Errorf("set-password printed %q", out)
	}
	ann, _ = s.UserByEmail(ctx, "ann@example.com")
	if ok, _ := password.Verify(ann.PasswordHash, "recovered password 1"); !ok {
		t.Error("set-password did not store the first line of stdin")
	}
	if _, err := s.Session(ctx, "ann-session"); err == nil {
		t.Error("set-password left the user's session alive")
	}
	evs, err := s.AuditEvents(ctx, storage.AuditFilter{Action: audit.PasswordSet})
	if err != nil || len(evs) != 1 || evs[0].ActorKind != audit.KindOperator || evs[0].Target != ann.ID {
		t.Errorf("password.set events = %+v, %v; want one by the operator", evs, err)
	}

	// list: a table and JSON.
	out = mustRun(t, "", "users", "list", "--org", "beta")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "EMAIL") || !strings.Contains(lines[1], "ann@example.com") ||
		!strings.Contains(lines[1], "admin") || !strings.Contains(lines[1], "UTC") || !strings.Contains(lines[2], "never") {
		t.Errorf("users list:\n%s", out)
	}
	var list []memberJSON
	if err := json.Unmarshal([]byte(mustRun(t, "", "users", "list", "--org", "beta", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Email != "ann@example.com" || list[0].LastLogin == nil || list[1].LastLogin != nil || list[1].Role != storage.RoleMember {
		t.Errorf("users list --json = %+v", list)
	}
	if _, _, err := run(t, "", "users", "list", "--org", "nope"); err == nil || !strings.Contains(err.Error(), `no org "nope"`) {
		t.Errorf("list of an unknown org: %v", err)
	}

	// remove: the last admin is refused; a member is removed.
	for _, tc := range []struct{ email, org, want string }{
		{"ann@example.com", "beta", "only admin of beta"},
		{"nobody@example.com", "beta", "no user nobody@example.com"},
		{"bob@example.com", "nope", `no org "nope"`},
	} {
		if _, _, err := run(t, "", "users", "remove", "--email", tc.email, "--org", tc.org); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("remove %s from %s: %v, want %q", tc.email, tc.org, err, tc.want)
		}
	}
	out, _, err = run(t, "", "users", "remove", "--email", "bob@example.com", "--org", "beta")
	if err != nil || !strings.HasPrefix(out, "removed bob@example.com from beta") {
		t.Fatalf("remove bob: %q, %v", out, err)
	}
	if ms, _ := s.MembersOfOrg(ctx, mustOrg(t, s, "beta")); len(ms) != 1 || ms[0].Email != "ann@example.com" {
		t.Errorf("members after remove = %+v", ms)
	}
	if _, _, err := run(t, "", "users", "remove", "--email", "bob@example.com", "--org", "beta"); err == nil || !strings.Contains(err.Error(), "not a member of beta") {
		t.Errorf("second remove: %v", err)
	}
	evs, _ = s.AuditEvents(ctx, storage.AuditFilter{Action: audit.MemberRemoved})
	if len(evs) != 2 || evs[0].Result != audit.OK || evs[1].Result != audit.Refused {
		t.Errorf("member.removed events = %+v, want one refused then one done (newest first)", evs)
	}
}

func mustOrg(t *testing.T, s *storage.Store, slug string) string {
	t.Helper()
	o, err := s.OrgBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}
