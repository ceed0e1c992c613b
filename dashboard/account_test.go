package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
)

// TestAccountPage: sessions, change password (which ends the other sessions), log out
// everywhere, and the login events, on SQLite.
func TestAccountPage(t *testing.T) { testAccountPage(t, testenv.Options{}) }

// TestAccountPagePostgres is the same on Postgres.
func TestAccountPagePostgres(t *testing.T) { testAccountPage(t, testenv.Options{Postgres: true}) }

func testAccountPage(t *testing.T, opts testenv.Options) {
	e := testenv.New(t, opts)
	adminID := userID(t, e, app.DemoAdminEmail)

	if p := newBrowser(t, e).get("/account"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/login?return_to=%2Faccount" {
		t.Errorf("GET /account logged out: %d to %q, want the login", p.status, p.header.Get("Location"))
	}
	// Failed logins: a wrong password (the account's actor) and an unknown email (anonymous).
	stranger := newBrowser(t, e)
	lp := stranger.get("/login")
	m := csrfRE.FindStringSubmatch(lp.body)
	for _, email := range []string{app.DemoAdminEmail, "nobody@acme.test", "my secret password"} {
		if p := stranger.do(http.MethodPost, "/login", url.Values{"csrf_token": {m[1]}, "email": {email}, "password": {"wrong password"}}); p.status != http.StatusUnauthorized {
			t.Fatalf("wrong login: %d", p.status)
		}
	}
	failed := events(t, e, audit.LoginFailed)
	// A password typed into the email field is not recorded as a name.
	if len(failed) != 3 || failed[0].ActorID != adminID || failed[0].ActorKind != audit.KindUser ||
		failed[1].ActorKind != audit.KindAnonymous || failed[1].ActorName != "nobody@acme.test" ||
		failed[2].ActorName != "(not an email address)" || failed[2].TargetName != "(not an email address)" {
		t.Errorf("login.failed events = %+v", failed)
	}
	for _, ev := range failed {
		if all := ev.Detail + ev.Target + ev.TargetName + ev.ActorName; strings.Contains(all, "wrong password") || strings.Contains(all, "my secret") {
			t.Error("a failed login's event holds the password")
		}
	}

	here, there := newBrowser(t, e), newBrowser(t, e)
	here.login(app.DemoAdminEmail, testenv.AdminPassword)
	there.login(app.DemoAdminEmail, testenv.AdminPassword)
	if ok := events(t, e, audit.LoginSucceeded); len(ok) != 2 || ok[0].ActorID != adminID || ok[0].IP == "" {
		t.Errorf("login events = %+v", ok)
	}
	if u, _ := e.Store.UserByID(context.Background(), adminID); u == nil || u.LastLoginAt == nil {
		t.Error("login did not set the last login")
	}

	p := here.get("/account")
	if p.status != http.StatusOK || strings.Count(p.body, "this session") != 1 || strings.Count(p.body, "Go-http-client") != 2 {
		t.Fatalf("account page: %d, want two sessions, one of them this one", p.status)
	}
	if !strings.Contains(p.body, `href="/account"`) {
		t.Error("no Account link in the topbar")
	}

	// Change password: errors next to the fields; a stale token changes nothing.
	change := func(b *browser, current, pw, confirm string) *page {
		return b.post("/account/password", url.Values{"current": {current}, "password": {pw}, "confirm": {confirm}})
	}
	if p := change(here, "wrong current 1", "a new password 1", "a new password 1"); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "current password is not correct") {
		t.Errorf("wrong current password: %d", p.status)
	}
	if p := change(here, testenv.AdminPassword, "short", "short"); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "at least 10") {
		t.Errorf("short new password: %d", p.status)
	}
	if p := here.post("/account/password", url.Values{"csrf_token": {"stale"}, "current": {testenv.AdminPassword}, "password": {"a new password 1"}, "confirm": {"a new password 1"}}); p.status != http.StatusForbidden {
		t.Errorf("stale CSRF: %d, want 403", p.status)
	}
	if p := change(here, testenv.AdminPassword, "a new password 1", "a new password 1"); p.status != http.StatusOK || !strings.Contains(p.body, "password was changed") {
		t.Fatalf("change password: %d", p.status)
	}
	if p := there.get("/dashboard"); p.status != http.StatusSeeOther {
		t.Errorf("the other session after a password change: %d, want the login", p.status)
	}
	if p := here.get("/dashboard"); p.status != http.StatusOK {
		t.Errorf("this session after a password change: %d, want 200", p.status)
	}
	if evs := events(t, e, audit.PasswordChanged); len(evs) != 2 || evs[0].Result != audit.Refused || evs[1].Result != audit.OK || evs[1].ActorID != adminID {
		t.Errorf("password.changed events = %+v", evs)
	}
	there.login(app.DemoAdminEmail, "a new password 1")

	// Log out everywhere: both browsers are logged out.
	if p := here.post("/account/sessions/end", nil); p.status != http.StatusOK {
		t.Fatalf("log out everywhere: %d", p.status)
	}
	for _, b := range []*browser{here, there} {
		if p := b.get("/account"); p.status != http.StatusSeeOther {
			t.Errorf("after log out everywhere: %d, want the login", p.status)
		}
	}
	if evs := events(t, e, audit.SessionsEnded); len(evs) != 1 || evs[0].ActorID != adminID {
		t.Errorf("sessions.ended events = %+v", evs)
	}
}
