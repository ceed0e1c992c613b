package accounts_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conexor/conexor/accounts"
	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/storage"
)

// grants records the RevokeUserGrants calls, as the provider would answer them.
type grants struct {
	mu    sync.Mutex
	calls [][2]string
}

func (g *grants) RevokeUserGrants(_ context.Context, userID, orgID string) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, [2]string{userID, orgID})
	return 3, nil
}

type world struct {
	store *storage.Store
	rec   *audit.Recorder
	svc   *accounts.Service
	g     *grants
	org   *storage.Org
	admin *storage.User
	ctx   context.Context
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	org, err := s.EnsureOrg(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := password.Hash("admin password 1")
	admin, err := s.CreateUser(ctx, "admin@acme.test", hash)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, org.ID, admin.ID, storage.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	rec := audit.New(s, nil, nil, nil)
	g := &grants{}
	actor := audit.Actor{Kind: audit.KindUser, ID: admin.ID, Name: admin.Email, IP: "192.0.2.1"}
	return &world{store: s, rec: rec, g: g, org: org, admin: admin, ctx: audit.WithActor(ctx, actor),
		svc: &accounts.Service{Store: s, Grants: g, Audit: rec}}
}

// events flushes the recorder and returns every event, oldest first.
func (w *world) events(t *testing.T) []storage.AuditEvent {
	t.Helper()
	if err := w.rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs, err := w.store.AuditEvents(context.Background(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		" Ann@Example.COM ":         "ann@example.com",
		"a.b+c@sub.example.org":     "a.b+c@sub.example.org",
		"":                          "",
		"ann":                       "",
		"@example.com":              "",
		"ann@":                      "",
		"Ann <ann@example.com>":     "",
		"ann@example.com\x00":       "",
		"a n@example.com":           "",
		"<script>@x.test":           "",
		"\"quoted\"@example.com":    "",
		"ann@example.com\nBcc: x@y": "",
	} {
		got, msg := accounts.NormalizeEmail(in)
		if got != want || (want == "") != (msg != "") {
			t.Errorf("NormalizeEmail(%q) = %q, %q; want %q", in, got, msg, want)
		}
	}
}

// TestEveryActionRecordsOneEvent: each service call records exactly one event, with the
// context's actor and the right target and result.
func TestEveryActionRecordsOneEvent(t *testing.T) {
	w := newWorld(t)
	added, err := w.svc.AddMember(w.ctx, w.org, "New@Acme.test", storage.RoleMember)
	if err != nil || !added.Created || added.Link == "" || added.User.Email != "new@acme.test" || added.User.PasswordHash != "" {
		t.Fatalf("AddMember = %+v, %v", added, err)
	}
	if _, err := w.svc.AddMember(w.ctx, w.org, "new@acme.test", storage.RoleMember); !errors.As(err, new(accounts.Problems)) {
		t.Errorf("AddMember again: %v, want a problem", err)
	}
	if err := w.svc.SetRole(w.ctx, w.org, w.admin.ID, storage.RoleMember); !errors.Is(err, accounts.ErrLastAdmin) {
		t.Errorf("demote the last admin: %v", err)
	}
	if err := w.svc.SetRole(w.ctx, w.org, added.User.ID, storage.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.SetPasswordWithLink(w.ctx, added.Link, "new password 1", "new password 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.SetPasswordWithLink(w.ctx, added.Link, "new password 2", "new password 2"); !errors.Is(err, accounts.ErrLinkInvalid) {
		t.Errorf("second use: %v", err)
	}
	if err := w.svc.ChangePassword(w.ctx, w.admin, "wrong password", "admin password 2", "admin password 2", ""); !errors.As(err, new(accounts.Problems)) {
		t.Errorf("wrong current password: %v", err)
	}
	if err := w.svc.ChangePassword(w.ctx, w.admin, "admin password 1", "admin password 2", "admin password 2", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.LogOutEverywhere(w.ctx, w.admin); err != nil {
		t.Fatal(err)
	}
	res, err := w.svc.RemoveMember(w.ctx, w.org, added.User.ID)
	if err != nil || res.Grants != 3 || res.GrantsErr != nil {
		t.Fatalf("RemoveMember = %+v, %v", res, err)
	}
	if len(w.g.calls) != 1 || w.g.calls[0] != [2]string{added.User.ID, w.org.ID} {
		t.Errorf("RevokeUserGrants calls = %v", w.g.calls)
	}
	if _, err := w.svc.RemoveMember(w.ctx, w.org, w.admin.ID); !errors.Is(err, accounts.ErrLastAdmin) {
		t.Errorf("remove the last admin: %v", err)
	}
	if _, err := w.svc.RemoveMember(w.ctx, w.org, added.User.ID); !errors.Is(err, accounts.ErrNotMember) {
		t.Errorf("remove a non-member: %v", err)
	}

	nu := added.User.ID
	want := []struct{ action, actor, target, result string }{
		{audit.MemberAdded, w.admin.ID, nu, audit.OK},
		{audit.MemberRoleChanged, w.admin.ID, w.admin.ID, audit.Refused},
		{audit.MemberRoleChanged, w.admin.ID, nu, audit.OK},
		{audit.PasswordSet, nu, nu, audit.OK}, // the link's user is the actor
		{audit.PasswordSet, w.admin.ID, "", audit.Refused},
		{audit.PasswordChanged, w.admin.ID, w.admin.ID, audit.Refused},
		{audit.PasswordChanged, w.admin.ID, w.admin.ID, audit.OK},
		{audit.SessionsEnded, w.admin.ID, w.admin.ID, audit.OK},
		{audit.MemberRemoved, w.admin.ID, nu, audit.OK},
		{audit.MemberRemoved, w.admin.ID, w.admin.ID, audit.Refused},
	}
	evs := w.events(t)
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, wnt := range want {
		ev := evs[i]
		if ev.Action != wnt.action || ev.ActorID != wnt.actor || ev.Target != wnt.target || ev.Result != wnt.result || ev.IP != "192.0.2.1" {
			t.Errorf("event %d = %s by %s on %s (%s) from %q; want %s by %s on %s (%s)", i, ev.Action, ev.ActorID, ev.Target, ev.Result, ev.IP,
				wnt.action, wnt.actor, wnt.target, wnt.result)
		}
		if (ev.Action == audit.MemberAdded || ev.Action == audit.MemberRemoved) && ev.OrgID != w.org.ID {
			t.Errorf("event %d has org %q", i, ev.OrgID)
		}
	}
}

// TestLinkUsedOnceConcurrently: of many concurrent uses of one link, one sets the password.
func TestLinkUsedOnceConcurrently(t *testing.T) {
	w := newWorld(t)
	added, err := w.svc.AddMember(w.ctx, w.org, "race@acme.test", storage.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.svc.SetPasswordWithLink(w.ctx, added.Link, "race password "+string(rune('a'+i)), "race password "+string(rune('a'+i)))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, accounts.ErrLinkInvalid) {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d uses succeeded, want 1", ok)
	}
	// A bad password leaves a fresh link unused.
	again, err := w.svc.AddMember(w.ctx, w.org, "later@acme.test", storage.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.SetPasswordWithLink(w.ctx, again.Link, "short", "short"); !errors.As(err, new(accounts.Problems)) {
		t.Errorf("short password: %v", err)
	}
	if u, err := w.svc.LinkUser(w.ctx, again.Link); err != nil || u.Email != "later@acme.test" {
		t.Errorf("the link after a refused password: %v, %v", u, err)
	}
}

// TestWrongCurrentPasswordsAreLimited: the change-password form allows the login page's 5
// wrong guesses, then one every 10 seconds; a right password costs nothing.
func TestWrongCurrentPasswordsAreLimited(t *testing.T) {
	w := newWorld(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.svc.Now = func() time.Time { return now }
	change := func(current string) error {
		return w.svc.ChangePassword(w.ctx, w.admin, current, "", "", "")
	}
	for i := range 5 {
		var p accounts.Problems
		if err := change("wrong guess"); !errors.As(err, &p) || !strings.Contains(p["current"][0], "not correct") {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	var p accounts.Problems
	if err := change("admin password 1"); !errors.As(err, &p) || !strings.Contains(p["current"][0], "Too many") {
		t.Fatalf("the right password after 5 wrong ones: %v, want the limit", err)
	}
	now = now.Add(10 * time.Second)
	if err := change("admin password 1"); !errors.As(err, &p) || len(p["current"]) != 0 || len(p["password"]) == 0 {
		t.Fatalf("10 s later, the right password: %v, want only the new password's problem", err)
	}
	evs := w.events(t)
	if last := evs[len(evs)-1]; len(evs) != 6 || last.Result != audit.Refused || !strings.Contains(last.Detail, "too many") {
		t.Errorf("the limited attempt's event = %+v", last)
	}
}

// TestNoLinkForSomeoneElsesInvitee: an admin of another org who adds the email of a user
// invited elsewhere (no password yet) gets no set-password link: only the link of the
// first invitation works, so adding an email cannot take the account over.
func TestNoLinkForSomeoneElsesInvitee(t *testing.T) {
	w := newWorld(t)
	invited, err := w.svc.AddMember(w.ctx, w.org, "invitee@acme.test", storage.RoleAdmin)
	if err != nil || invited.Link == "" {
		t.Fatalf("AddMember = %+v, %v", invited, err)
	}
	other, err := w.store.EnsureOrg(w.ctx, "globex", "Globex")
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.svc.AddMember(w.ctx, other, "invitee@acme.test", storage.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.Link != "" {
		t.Fatalf("adding an existing invitee elsewhere = %+v, want no new user and no link", again)
	}
	if _, err := w.svc.SetPasswordWithLink(w.ctx, invited.Link, "invitee password", "invitee password"); err != nil {
		t.Errorf("the first invitation's link: %v", err)
	}
}
