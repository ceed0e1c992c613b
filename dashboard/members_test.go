package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/storage"
)

const membersPage = "/dashboard/acme/members"

// TestMembersPages: who sees and changes the members of an org, on SQLite.
func TestMembersPages(t *testing.T) { testMembersPages(t, testenv.Options{}) }

// TestMembersPagesPostgres is the same on Postgres.
func TestMembersPagesPostgres(t *testing.T) { testMembersPages(t, testenv.Options{Postgres: true}) }

// events flushes the recorder and returns the events of action, oldest first.
func events(t *testing.T, e *testenv.Env, action string) []storage.AuditEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.App.Audit.Flush(ctx); err != nil {
		t.Fatalf("flush audit: %v", err)
	}
	evs, err := e.Store.AuditEvents(ctx, storage.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

// eventsBy is events of action whose actor is actorID.
func eventsBy(t *testing.T, e *testenv.Env, actorID, action string) []storage.AuditEvent {
	t.Helper()
	var out []storage.AuditEvent
	for _, ev := range events(t, e, action) {
		if ev.ActorID == actorID {
			out = append(out, ev)
		}
	}
	return out
}

func userID(t *testing.T, e *testenv.Env, email string) string {
	t.Helper()
	u, err := e.Store.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("UserByEmail(%s): %v", email, err)
	}
	return u.ID
}

var linkRE = regexp.MustCompile(`data-testid="set-password-link">([^<]+)<`)

func testMembersPages(t *testing.T, opts testenv.Options) {
	r := newRoles(t, opts)
	e := r.e
	adminID, memberID := userID(t, e, app.DemoAdminEmail), userID(t, e, "member@acme.test")
	roleURL := func(uid string) string { return membersPage + "/" + uid + "/role" }
	removeURL := func(uid string) string { return membersPage + "/" + uid + "/remove" }

	// Outsiders: 404 for the page and every action, the same page as a missing org.
	missing := r.outsider.get("/dashboard/no-such-org/members")
	for _, p := range []*page{
		r.outsider.get(membersPage),
		r.outsider.post(membersPage, url.Values{"email": {"x@y.test"}, "role": {"admin"}}),
		r.outsider.post(roleURL(memberID), url.Values{"role": {"admin"}}),
		r.outsider.get(removeURL(memberID)),
	} {
		if p.status != http.StatusNotFound || p.body != missing.body {
			t.Errorf("outsider: status %d, want the 404 page of a missing org", p.status)
		}
	}

	// Members: the list, read-only; every admin action refused with 403.
	p := r.member.get(membersPage)
	if p.status != http.StatusOK || !strings.Contains(p.body, app.DemoAdminEmail) || !strings.Contains(p.body, "member@acme.test") {
		t.Fatalf("member's members page: %d, want 200 listing both members", p.status)
	}
	if strings.Contains(p.body, `action="`+membersPage+`"`) || strings.Contains(p.body, "<select") || strings.Contains(p.body, "/remove") {
		t.Error("a member's members page shows admin forms")
	}
	for _, p := range []*page{
		r.member.post(membersPage, url.Values{"email": {"x@y.test"}, "role": {"admin"}}),
		r.member.post(roleURL(memberID), url.Values{"role": {"admin"}}),
		r.member.get(removeURL(adminID)),
		r.member.post(removeURL(adminID), nil),
	} {
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "Only admins") {
			t.Errorf("member's admin action: status %d, want the 403 page", p.status)
		}
	}
	if m, _ := e.Store.Membership(context.Background(), acmeID(t, e), memberID); m == nil || m.Role != storage.RoleMember {
		t.Fatalf("a member's forged POST changed their role: %+v", m)
	}
	// Each refused POST is recorded once, as the member, refused (the GET is not a change).
	for action, target := range map[string]string{audit.MemberAdded: "", audit.MemberRoleChanged: memberID, audit.MemberRemoved: adminID} {
		var refused []storage.AuditEvent
		for _, ev := range events(t, e, action) {
			if ev.Result == audit.Refused && ev.ActorID == memberID {
				refused = append(refused, ev)
			}
		}
		if len(refused) != 1 || refused[0].Target != target {
			t.Errorf("refused %s events of the member = %+v, want one with target %q", action, refused, target)
		}
	}

	// Admin: the forms; a stale CSRF token changes nothing.
	p = r.admin.get(membersPage)
	if p.status != http.StatusOK || !strings.Contains(p.body, `action="`+membersPage+`"`) || !strings.Contains(p.body, roleURL(memberID)) {
		t.Fatalf("admin's members page: %d, want the forms", p.status)
	}
	p = r.admin.post(membersPage, url.Values{"csrf_token": {"stale"}, "email": {"stale@acme.test"}, "role": {"member"}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "This form has expired") {
		t.Errorf("stale CSRF: %d, want the expired-form page", p.status)
	}
	if _, err := e.Store.UserByEmail(context.Background(), "stale@acme.test"); err == nil {
		t.Error("a POST with a stale CSRF token created a user")
	}

	// Bad and hostile input: 422 with the error next to the field, escaped; never a 500.
	for _, in := range []url.Values{
		{"email": {"not an email"}, "role": {"member"}},
		{"email": {"<script>alert(1)</script>@x.test"}, "role": {"member"}},
		{"email": {"a\x00b@x.test"}, "role": {"member"}},
		{"email": {strings.Repeat("a", 400) + "@x.test"}, "role": {"member"}},
		{"email": {"ok@x.test"}, "role": {"owner"}},
		{"email": {"member@acme.test"}, "role": {"member"}}, // already a member
	} {
		p := r.admin.post(membersPage, in)
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, `class="field-error"`) {
			t.Errorf("add %q/%q: status %d, want 422 with a field error", in.Get("email"), in.Get("role"), p.status)
		}
		if strings.Contains(p.body, "<script>alert") {
			t.Error("the email was echoed unescaped")
		}
	}
	for _, bad := range []string{roleURL("usr_nope"), roleURL("%00"), removeURL("usr_nope")} {
		if p := r.admin.post(bad, url.Values{"role": {"admin"}}); p.status != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", bad, p.status)
		}
	}
	if p := r.admin.post(roleURL(memberID), url.Values{"role": {"root"}}); p.status != http.StatusUnprocessableEntity {
		t.Errorf("role root: %d, want 422", p.status)
	}

	// The last admin can be neither demoted nor removed: 409, on the page, nothing changed.
	for _, p := range []*page{
		r.admin.post(roleURL(adminID), url.Values{"role": {"member"}}),
		r.admin.post(removeURL(adminID), nil),
	} {
		if p.status != http.StatusConflict || !strings.Contains(p.body, "only admin") {
			t.Errorf("last admin: status %d, want 409 saying so", p.status)
		}
	}
	if evs := eventsBy(t, e, adminID, audit.MemberRoleChanged); len(evs) != 1 || evs[0].Result != audit.Refused || evs[0].ActorID != adminID || evs[0].Target != adminID {
		t.Errorf("role-change events = %+v, want one refused by the admin", evs)
	}

	// Add a new person: the link is shown once and works once.
	p = r.admin.post(membersPage, url.Values{"email": {"New.Person@Acme.test"}, "role": {"member"}})
	m := linkRE.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		t.Fatalf("add member: %d, no set-password link", p.status)
	}
	link, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil || link.Path != "/account/set-password" {
		t.Fatalf("link %q", m[1])
	}
	if p := r.admin.get(membersPage); strings.Contains(p.body, link.Query().Get("token")) || !strings.Contains(p.body, "new.person@acme.test") {
		t.Error("the members page shows the link again, or not the new member")
	}
	if evs := eventsBy(t, e, adminID, audit.MemberAdded); len(evs) != 1 || evs[0].ActorID != adminID || evs[0].TargetName != "new.person@acme.test" {
		t.Errorf("member-added events = %+v", evs)
	}
	stranger := newBrowser(t, e)
	p = stranger.get(link.RequestURI())
	csrf := csrfRE.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || csrf == nil || !strings.Contains(p.body, "new.person@acme.test") {
		t.Fatalf("set-password page: %d", p.status)
	}
	token := link.Query().Get("token")
	set := func(pw, confirm string) *page {
		return stranger.do(http.MethodPost, "/account/set-password", url.Values{"csrf_token": {csrf[1]}, "token": {token}, "password": {pw}, "confirm": {confirm}})
	}
	if p := set("short", "short"); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "at least 10") {
		t.Errorf("short password: %d", p.status)
	}
	if p := set("long enough 1", "long enough 2"); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "do not match") {
		t.Errorf("mismatch: %d", p.status)
	}
	if p := stranger.do(http.MethodPost, "/account/set-password", url.Values{"csrf_token": {"forged"}, "token": {token}, "password": {"long enough 1"}, "confirm": {"long enough 1"}}); p.status != http.StatusForbidden {
		t.Errorf("forged CSRF on the link page: %d, want 403", p.status)
	}
	if p := set("new person password", "new person password"); p.status != http.StatusOK || !strings.Contains(p.body, "Password set") {
		t.Fatalf("set password: %d", p.status)
	}
	if p := set("another password 1", "another password 1"); p.status != http.StatusGone || !strings.Contains(p.body, "cannot be used") {
		t.Errorf("second use of the link: %d, want 410", p.status)
	}
	for _, bad := range []string{"/account/set-password?token=" + token, "/account/set-password?token=nope", "/account/set-password", "/account/set-password?token=%00%ff"} {
		if p := stranger.get(bad); p.status != http.StatusGone {
			t.Errorf("GET %s: %d, want 410", bad, p.status)
		}
	}
	newcomer := newBrowser(t, e)
	newcomer.login("new.person@acme.test", "new person password")
	if evs := events(t, e, audit.PasswordSet); len(evs) != 2 || evs[0].Result != audit.OK || evs[0].ActorID == "" || evs[1].Result != audit.Refused {
		t.Errorf("password-set events = %+v, want one set and one refused", evs)
	}

	// Promote, then demote the first admin (now allowed), then remove the newcomer: their
	// session ends at once.
	newID := userID(t, e, "new.person@acme.test")
	if p := r.admin.post(roleURL(newID), url.Values{"role": {"admin"}}); p.status != http.StatusOK || !strings.Contains(p.body, "is now admin") {
		t.Fatalf("promote: %d", p.status)
	}
	if p := r.admin.get(removeURL(newID)); p.status != http.StatusOK || !strings.Contains(p.body, "Remove new.person@acme.test?") {
		t.Fatalf("remove confirmation: %d", p.status)
	}
	if p := r.admin.post(removeURL(newID), nil); p.status != http.StatusOK || !strings.Contains(p.body, "was removed") {
		t.Fatalf("remove: %d", p.status)
	}
	if p := newcomer.get("/dashboard"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login") {
		t.Errorf("the removed member's next page: %d to %q, want the login", p.status, p.header.Get("Location"))
	}
	if evs := eventsBy(t, e, adminID, audit.MemberRemoved); len(evs) != 2 || evs[0].Result != audit.Refused || evs[1].Target != newID || evs[1].ActorID != adminID || evs[1].Result != audit.OK {
		t.Errorf("member-removed events = %+v", evs)
	}
}

func acmeID(t *testing.T, e *testenv.Env) string {
	t.Helper()
	o, err := e.Store.OrgBySlug(context.Background(), app.DemoOrg)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// TestRemovingAMemberEndsTheirAccess: an admin removes a member from the members page; the
// member's session ends, the app they approved for the org's server is refused at the gate
// within a second and its refresh token is refused, and the admin's own app keeps working.
func TestRemovingAMemberEndsTheirAccess(t *testing.T) {
	testRemovingAMember(t, testenv.Options{})
}

// TestRemovingAMemberEndsTheirAccessPostgres is the same on Postgres.
func TestRemovingAMemberEndsTheirAccessPostgres(t *testing.T) {
	testRemovingAMember(t, testenv.Options{Postgres: true})
}

func testRemovingAMember(t *testing.T, opts testenv.Options) {
	r := newRoles(t, opts)
	e := r.e
	memberTok := approveApp(t, e, r.member)
	adminTok := approveApp(t, e, r.admin)
	if gate(e, memberTok.AccessToken) != http.StatusOK {
		t.Fatal("the member's app is refused before removal")
	}
	memberID := userID(t, e, "member@acme.test")
	p := r.admin.post(membersPage+"/"+memberID+"/remove", nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, "was removed") || !strings.Contains(p.body, "lost access") {
		t.Fatalf("remove the member: %d", p.status)
	}
	if p := r.member.get(membersPage); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login") {
		t.Errorf("the removed member's next page: %d to %q, want the login", p.status, p.header.Get("Location"))
	}
	deadline := time.Now().Add(time.Second)
	for gate(e, memberTok.AccessToken) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the removed member's access token is still accepted at the gate a second later")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := refreshError(t, e, e.PublicClientID, memberTok.RefreshToken); got != "invalid_grant" {
		t.Errorf("the removed member's refresh token: %q, want invalid_grant", got)
	}
	if gate(e, adminTok.AccessToken) != http.StatusOK {
		t.Error("removing the member refused the admin's app")
	}
	evs := events(t, e, audit.MemberRemoved)
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "1 grant revoked") {
		t.Errorf("member.removed events = %+v, want one naming the grant revoked", evs)
	}
}
