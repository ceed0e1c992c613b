package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/browsertest"
	"github.com/conexor/conexor/internal/testenv"
)

// TestBrowserMembers is the path in a real headless Chromium: an admin adds a
// member from the members page → the one-time set-password link works once (a second use
// is refused) → the member logs in and sees read-only pages (no forms; a forged admin POST
// gets the 403 page) → the admin removes them → their session has ended (the next page is
// the login). The members and account pages are kept as screenshots and checked with
// axe-core and the layout check, as every dashboard page is.
func TestBrowserMembers(t *testing.T) { browserMembers(t, testenv.Options{}) }

// TestBrowserMembersPostgres is the same path on Postgres.
func TestBrowserMembersPostgres(t *testing.T) { browserMembers(t, testenv.Options{Postgres: true}) }

func browserMembers(t *testing.T, opts testenv.Options) {
	b := browsertest.Start(t)
	e := testenv.New(t, opts)
	v := &visit{t: t, b: b, e: e}
	login := func(email, pw string) {
		v.open("/login")
		v.submit("log in as "+email, `form[action="/login"]`,
			chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=email]`), email),
			chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), pw),
		)
		if p := b.Path(); p != "/dashboard" {
			t.Fatalf("after logging in as %s: at %s, want /dashboard", email, p)
		}
	}

	// The admin: Dashboard → Members → Add member.
	login(app.DemoAdminEmail, testenv.AdminPassword)
	v.follow("open the members page", `a[href="`+membersPage+`"]`)
	v.page("members (admin)")
	// The only admin cannot demote themselves: 409, the reason next to their row.
	roleForm := `form[action="` + membersPage + `/` + userID(t, e, app.DemoAdminEmail) + `/role"]`
	if err := chromedp.Do(b.Step(10*time.Second), chromedp.SetValue(chromedp.CSS(roleForm+` select`), "member")); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(b.Step(30*time.Second), chromedp.Click(chromedp.CSS(roleForm+` button`)))
	if err != nil || resp == nil || resp.Status != http.StatusConflict || !strings.Contains(v.text(), "only admin of Acme Inc.") {
		t.Errorf("demoting the only admin: %v %v, want 409 saying why", resp, err)
	}
	v.page("last admin refused")
	addForm := `form[action="` + membersPage + `"]`
	v.submit("add a member", addForm,
		chromedp.SendKeys(chromedp.CSS(addForm+` input[name=email]`), "newcomer@acme.test"),
		chromedp.SetValue(chromedp.CSS(addForm+` select[name=role]`), "member"),
	)
	v.page("member added")
	link := testID(b.HTML(), "set-password-link")
	u, err := url.Parse(link)
	if err != nil || u.Path != "/account/set-password" || u.Query().Get("token") == "" {
		t.Fatalf("the added member's page shows no set-password link (got %q)", link)
	}
	v.open(membersPage)
	if html := b.HTML(); !strings.Contains(html, "newcomer@acme.test") || strings.Contains(html, u.Query().Get("token")) {
		t.Error("the members page does not list the newcomer, or shows their link again")
	}
	v.follow("open the account page", `a[href="/account"]`)
	v.page("account")
	if !strings.Contains(b.HTML(), "this session") {
		t.Error("the account page does not mark this session")
	}
	v.submit("log out", `form[action="/logout"]`)

	// The newcomer: the link works once.
	v.open(u.RequestURI())
	v.page("set password")
	setForm := `form[action="/account/set-password"]`
	v.submit("set the password", setForm,
		chromedp.SendKeys(chromedp.CSS(setForm+` input[name=password]`), "newcomer password 1"),
		chromedp.SendKeys(chromedp.CSS(setForm+` input[name=confirm]`), "newcomer password 1"),
	)
	v.page("password set")
	if !strings.Contains(v.text(), "Password set") {
		t.Fatalf("after setting the password: %s", v.text())
	}
	resp, err = chromedp.RunResponse(b.Step(30*time.Second), chromedp.Navigate(e.URL+u.RequestURI()))
	if err != nil || resp == nil || resp.Status != http.StatusGone || !strings.Contains(v.text(), "cannot be used") {
		t.Errorf("the link used a second time: %v %v, want the 410 page", resp, err)
	}
	b.Shot("link used twice")

	// The newcomer logs in and sees read-only pages.
	login("newcomer@acme.test", "newcomer password 1")
	v.open(membersPage)
	v.page("members (member)")
	if v.has(addForm) || v.has(`form.member-role`) || v.has(`a[href$="/remove"]`) {
		t.Error("a member sees the admin forms of the members page")
	}
	v.open(browserServerPage)
	if v.has(browserCreateForm) {
		t.Error("a member sees the Create OAuth Client form")
	}
	// A forged admin POST (with the member's own valid CSRF token) gets the 403 page.
	if _, err := chromedp.Run(b.Step(10*time.Second), chromedp.Evaluate[bool](`(() => {
		const f = document.createElement("form");
		f.method = "post"; f.action = "`+membersPage+`"; f.id = "forged";
		f.innerHTML = '<input name="email" value="x@acme.test"><input name="role" value="admin"><button type="submit">go</button>';
		const csrf = document.querySelector('input[name=csrf_token]').cloneNode();
		f.appendChild(csrf);
		document.body.appendChild(f);
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
	resp, err = chromedp.RunResponse(b.Step(30*time.Second), chromedp.Click(chromedp.CSS(`#forged button`)))
	if err != nil || resp == nil || resp.Status != http.StatusForbidden || !strings.Contains(v.text(), "Only admins") {
		t.Errorf("a member's forged add-member POST: %v %v, want the 403 page", resp, err)
	}
	if _, err := e.Store.UserByEmail(e.Context(), "x@acme.test"); err == nil {
		t.Error("a member's forged POST added a user")
	}

	// The admin (in another browser) removes the newcomer: their session ends at once.
	admin := newBrowser(t, e)
	admin.login(app.DemoAdminEmail, testenv.AdminPassword)
	if p := admin.post(membersPage+"/"+userID(t, e, "newcomer@acme.test")+"/remove", nil); p.status != http.StatusOK {
		t.Fatalf("remove the newcomer: %d", p.status)
	}
	v.open(membersPage)
	if p := b.Path(); !strings.HasPrefix(p, "/login") {
		t.Errorf("the removed member's next page is %s, want the login page", p)
	}
}
