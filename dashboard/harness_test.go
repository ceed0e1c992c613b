package dashboard_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/storage"
)

const serverPage = "/dashboard/acme/servers/sales-api"

// browser is a person's browser with a cookie jar; it does not follow redirects, so a
// test sees each 303.
type browser struct {
	t      testing.TB
	e      *testenv.Env
	client *http.Client
}

type page struct {
	status int
	header http.Header
	body   string
}

func newBrowser(t testing.TB, e *testenv.Env) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, e: e, client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) *page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return &page{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func (b *browser) get(path string) *page { b.t.Helper(); return b.do(http.MethodGet, path, nil) }

// post sends form with the CSRF token of the browser's session (read off the dashboard).
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if _, ok := f["csrf_token"]; !ok {
		f.Set("csrf_token", b.csrf())
	}
	return b.do(http.MethodPost, path, f)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf is the session's token, from the dashboard's logout form.
func (b *browser) csrf() string {
	b.t.Helper()
	p := b.get("/dashboard")
	m := csrfRE.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		b.t.Fatalf("no CSRF token on /dashboard (status %d)", p.status)
	}
	return html.UnescapeString(m[1])
}

// login logs in through the login form and checks it lands on the dashboard.
func (b *browser) login(email, pw string) {
	b.t.Helper()
	p := b.get("/login")
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no login form: %d", p.status)
	}
	p = b.do(http.MethodPost, "/login", url.Values{"csrf_token": {m[1]}, "email": {email}, "password": {pw}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard" {
		b.t.Fatalf("login as %s: %d to %q, want 303 to /dashboard", email, p.status, p.header.Get("Location"))
	}
}

// testIDs returns the text of the element with data-testid=id.
func testID(body, id string) string {
	m := regexp.MustCompile(`data-testid="` + id + `">([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// roles is a running app with the seeded admin of acme, a member of acme and a user of
// another org, each logged in in their own browser.
type roles struct {
	e                       *testenv.Env
	admin, member, outsider *browser
}

func newRoles(t *testing.T, opts testenv.Options) *roles {
	t.Helper()
	e := testenv.New(t, opts)
	ctx := context.Background()
	acme, err := e.Store.OrgBySlug(ctx, app.DemoOrg)
	if err != nil {
		t.Fatal(err)
	}
	e.CreateServer("globex/crm")
	globex, err := e.Store.OrgBySlug(ctx, "globex")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := password.Hash("member password 1")
	if err != nil {
		t.Fatal(err)
	}
	add := func(email string, org *storage.Org, role string) {
		u, err := e.Store.CreateUser(ctx, email, hash)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Store.AddMember(ctx, org.ID, u.ID, role); err != nil {
			t.Fatal(err)
		}
	}
	add("member@acme.test", acme, storage.RoleMember)
	add("someone@globex.test", globex, storage.RoleAdmin)
	r := &roles{e: e, admin: newBrowser(t, e), member: newBrowser(t, e), outsider: newBrowser(t, e)}
	r.admin.login(app.DemoAdminEmail, testenv.AdminPassword)
	r.member.login("member@acme.test", "member password 1")
	r.outsider.login("someone@globex.test", "member password 1")
	return r
}

// clients returns the clients of acme/sales-api.
func (r *roles) clients(t *testing.T) []storage.Client {
	t.Helper()
	return clientsOf(t, r.e)
}
