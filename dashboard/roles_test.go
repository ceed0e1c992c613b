package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/storage"
)

func clientsOf(t *testing.T, e *testenv.Env) []storage.Client {
	t.Helper()
	cs, err := e.Store.ListClients(context.Background(), e.ServerByPath("acme/sales-api").ID)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// action is one request of the dashboard on acme's server or its seeded client.
type action struct {
	method, path string
	form         url.Values
}

func actions(clientID string) []action {
	c := serverPage + "/clients/" + clientID
	return []action{
		{http.MethodGet, serverPage, nil},
		{http.MethodGet, "/dashboard/acme/servers/new", nil},
		{http.MethodPost, "/dashboard/acme/servers/new", url.Values{"slug": {"made"}, "name": {"Made"}, "backend": {"demo"}}},
		{http.MethodPost, serverPage + "/settings", url.Values{"name": {"Renamed"}, "enabled": {"true"}}},
		{http.MethodPost, serverPage + "/clients", url.Values{"name": {"New"}, "scope": {"mcp:tools:read"}, "grant_type": {"client_credentials"}}},
		{http.MethodPost, c + "/rotate", nil},
		{http.MethodGet, c + "/edit", nil},
		{http.MethodPost, c + "/edit", url.Values{"name": {"Renamed"}, "scope": {"mcp:tools:read"}}},
		{http.MethodGet, c + "/revoke", nil},
		{http.MethodPost, c + "/revoke", nil},
	}
}

// TestMemberIsReadOnly: a member sees the server and its clients without a form or a
// secret, and every change they send directly is refused with 403 and changes nothing.
func TestMemberIsReadOnly(t *testing.T) {
	t.Parallel()
	testMemberIsReadOnly(t, testenv.Options{})
}

func TestMemberIsReadOnlyPostgres(t *testing.T) {
	t.Parallel()
	testMemberIsReadOnly(t, testenv.Options{Postgres: true})
}

func testMemberIsReadOnly(t *testing.T, opts testenv.Options) {
	r := newRoles(t, opts)
	e := r.e
	before := r.clients(t)

	p := r.member.get(serverPage)
	if p.status != http.StatusOK || !strings.Contains(p.body, e.ClientID) || !strings.Contains(p.body, "Demo script") ||
		!strings.Contains(p.body, "its admins can change them") {
		t.Fatalf("member's server page: %d", p.status)
	}
	if regexp.MustCompile(`<form[^>]*action="/dashboard`).MatchString(p.body) || strings.Contains(p.body, "/revoke") ||
		strings.Contains(p.body, "/edit") || strings.Contains(p.body, "Create OAuth Client") {
		t.Error("a member's server page offers changes")
	}
	if p := r.member.get("/dashboard"); strings.Contains(p.body, "/servers/new") || !strings.Contains(p.body, "Sales API") {
		t.Error("a member's dashboard offers New server, or lacks the server")
	}
	for _, a := range actions(e.ClientID)[1:] {
		var p *page
		if a.method == http.MethodGet {
			p = r.member.get(a.path)
		} else {
			p = r.member.post(a.path, a.form)
		}
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "Only admins can do this") {
			t.Errorf("member %s %s: %d, want 403 with the reason", a.method, a.path, p.status)
		}
	}
	assertUnchanged(t, r, before)
}

// TestOutsiderGetsNotFound: someone outside the org gets the same 404 as for an org that
// does not exist, for every URL of the org, and nothing changes.
func TestOutsiderGetsNotFound(t *testing.T) {
	t.Parallel()
	testOutsiderGetsNotFound(t, testenv.Options{})
}

func TestOutsiderGetsNotFoundPostgres(t *testing.T) {
	t.Parallel()
	testOutsiderGetsNotFound(t, testenv.Options{Postgres: true})
}

func testOutsiderGetsNotFound(t *testing.T, opts testenv.Options) {
	r := newRoles(t, opts)
	before := r.clients(t)
	unknown := r.outsider.get("/dashboard/nosuchorg/servers/sales-api")
	if unknown.status != http.StatusNotFound {
		t.Fatalf("unknown org: %d", unknown.status)
	}
	for _, a := range actions(r.e.ClientID) {
		var p *page
		if a.method == http.MethodGet {
			p = r.outsider.get(a.path)
		} else {
			p = r.outsider.post(a.path, a.form)
		}
		if p.status != http.StatusNotFound || p.body != unknown.body {
			t.Errorf("outsider %s %s: %d, want the unknown org's 404", a.method, a.path, p.status)
		}
	}
	if p := r.outsider.get("/dashboard"); strings.Contains(p.body, "Sales API") || !strings.Contains(p.body, "globex/crm") {
		t.Error("the outsider's dashboard shows acme, or not their own org")
	}
	assertUnchanged(t, r, before)
}

func assertUnchanged(t *testing.T, r *roles, before []storage.Client) {
	t.Helper()
	after := r.clients(t)
	if len(after) != len(before) {
		t.Fatalf("%d clients before, %d after", len(before), len(after))
	}
	for i := range after {
		if after[i].Name != before[i].Name || after[i].Scopes != before[i].Scopes || after[i].SecretHash != before[i].SecretHash || after[i].Revoked() {
			t.Errorf("client %s changed", after[i].ID)
		}
	}
	srv := r.e.ServerByPath("acme/sales-api")
	if srv.Name != "Sales API" {
		t.Errorf("server renamed to %q", srv.Name)
	}
	if _, err := r.e.Store.ServerByPath(context.Background(), "acme", "made"); err == nil {
		t.Error("a server was created")
	}
}

// TestAdminDashboard: / and /dashboard for an admin, and what the dashboard lists.
func TestAdminDashboard(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{})
	if p := r.admin.get("/"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard" {
		t.Errorf("GET / logged in: %d %q", p.status, p.header.Get("Location"))
	}
	if p := r.admin.get("/login"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard" {
		t.Errorf("GET /login logged in: %d %q", p.status, p.header.Get("Location"))
	}
	p := r.admin.get("/dashboard")
	for _, want := range []string{"Acme Inc.", "Sales API", "acme/sales-api", r.e.URL + "/mcp/acme/sales-api", "Built-in demo", "Enabled",
		`href="/dashboard/acme/servers/new"`, app.DemoAdminEmail} {
		if !strings.Contains(p.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if strings.Contains(p.body, "globex") {
		t.Error("the dashboard shows an org the admin is not in")
	}
}

// TestAnonymous: without a session, pages go to the login page and come back; a POST says
// the session ended and links to the login page, never a bare 403.
func TestAnonymous(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	for path, want := range map[string]string{
		"/":          "/login?return_to=%2Fdashboard",
		"/dashboard": "/login?return_to=%2Fdashboard",
		serverPage:   "/login?return_to=" + url.QueryEscape(serverPage),
	} {
		if p := b.get(path); p.status != http.StatusSeeOther || p.header.Get("Location") != want {
			t.Errorf("GET %s: %d %q, want 303 to %s", path, p.status, p.header.Get("Location"), want)
		}
	}
	// After logging in from there, the person lands where they were going.
	p := b.get("/login?return_to=" + url.QueryEscape(serverPage))
	tok := csrfRE.FindStringSubmatch(p.body)[1]
	p = b.do(http.MethodPost, "/login", url.Values{"csrf_token": {tok}, "email": {app.DemoAdminEmail}, "password": {testenv.AdminPassword}, "return_to": {serverPage}})
	if p.header.Get("Location") != serverPage {
		t.Errorf("login from the server page goes to %q", p.header.Get("Location"))
	}

	anon := newBrowser(t, e)
	before := len(clientsOf(t, e))
	p = anon.do(http.MethodPost, serverPage+"/clients", url.Values{"csrf_token": {"x"}, "name": {"n"}, "scope": {"mcp:tools:read"}, "grant_type": {"client_credentials"}})
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Your session has ended") ||
		!strings.Contains(p.body, `href="/login?return_to=`+url.QueryEscape(serverPage)+`"`) {
		t.Errorf("POST without a session: %d\n%s", p.status, p.body)
	}
	if len(clientsOf(t, e)) != before {
		t.Error("a client was created without a session")
	}
}

// TestCSRF: a dashboard POST without the session's token, or with another session's, is
// refused with a page that says what happened and leads back; nothing changes.
func TestCSRF(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{})
	other := r.member.csrf()
	before := r.clients(t)
	for name, tok := range map[string]string{"missing": "", "wrong": "forged", "another session's": other} {
		for _, a := range actions(r.e.ClientID) {
			if a.method != http.MethodPost {
				continue
			}
			f := url.Values{"csrf_token": {tok}}
			for k, v := range a.form {
				f[k] = v
			}
			p := r.admin.do(http.MethodPost, a.path, f)
			if p.status != http.StatusForbidden || !strings.Contains(p.body, "This form has expired") || !strings.Contains(p.body, "Open the page again") {
				t.Errorf("%s token, %s: %d", name, a.path, p.status)
			}
		}
	}
	assertUnchanged(t, r, before)
}

// TestExpiredSession: a form sent after the session ended says so, links to the login page
// that comes back to the server page, and changes nothing.
func TestExpiredSession(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Time{})
	e := testenv.New(t, testenv.Options{Now: clock.Now})
	b := newBrowser(t, e)
	b.login(app.DemoAdminEmail, testenv.AdminPassword)
	tok := b.csrf()
	before := len(clientsOf(t, e))
	clock.Advance(13 * time.Hour) // past the 12-hour login
	p := b.do(http.MethodPost, serverPage+"/clients", url.Values{"csrf_token": {tok}, "name": {"Late"}, "scope": {"mcp:tools:read"}, "grant_type": {"client_credentials"}})
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Your session has ended") ||
		!strings.Contains(p.body, `href="/login?return_to=`+url.QueryEscape(serverPage)+`"`) {
		t.Errorf("POST after the session ended: %d\n%s", p.status, p.body)
	}
	if len(clientsOf(t, e)) != before {
		t.Error("a client was created after the session ended")
	}
}
