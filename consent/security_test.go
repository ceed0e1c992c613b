package consent_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
)

// checkPageHeaders asserts DESIGN.md's headers of every HTML page.
func checkPageHeaders(t *testing.T, name string, p *page) {
	t.Helper()
	h := p.header
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("%s: X-Frame-Options = %q", name, got)
	}
	if got := h.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") {
		t.Errorf("%s: Content-Security-Policy = %q", name, got)
	}
	if got := h.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy = %q", name, got)
	}
	if got := h.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s: Cache-Control = %q", name, got)
	}
	if got := h.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type = %q", name, got)
	}
	if !strings.Contains(p.body, `<html lang="en">`) || !strings.Contains(p.body, `href="/static/conexor.css"`) {
		t.Errorf("%s: not a full page with the stylesheet:\n%s", name, p.body)
	}
}

// TestPageHeadersAndCookie: every page the flow shows carries the page headers, and the
// session cookie is HttpOnly, SameSite=Lax, Path=/ and holds nothing but a signed ID.
func TestPageHeadersAndCookie(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	login := b.get("/login")
	checkPageHeaders(t, "login page", login)

	var setCookie string
	for _, c := range login.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "conexor_session=") {
			setCookie = c
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("session cookie %q lacks %s", setCookie, want)
		}
	}
	if strings.Contains(setCookie, "Secure") {
		t.Errorf("session cookie on an http issuer is Secure (the browser would drop it): %q", setCookie)
	}

	checkPageHeaders(t, "failed login", b.submit(login, "/login", "", func(v url.Values) { v.Set("email", "x@y.test"); v.Set("password", "nope") }))
	checkPageHeaders(t, "csrf refusal", b.post("/login", url.Values{"email": {"a"}, "password": {"b"}}))
	checkPageHeaders(t, "error page", b.get("/oauth/consent?client_id=nope"))
	f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
	consentPage := b.loginFrom(b.get(f.authURL()), app.DemoAdminEmail, adminPassword)
	checkPageHeaders(t, "consent page", consentPage)
	checkPageHeaders(t, "logged-out page", b.submit(b.get("/login"), "/logout", "", nil))

	css := b.get("/static/conexor.css")
	if css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") || !strings.Contains(css.body, ".card") {
		t.Errorf("stylesheet: %d %q", css.status, css.header.Get("Content-Type"))
	}
}

// TestClientNameEscaped: a client's name is whatever its registrant chose; on the consent
// page it is text, never markup.
func TestClientNameEscaped(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	const name = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	c, _ := createAppClient(t, e, name, true, app.DemoRedirectURI)
	b := newBrowser(t, e)
	f := newFlow(oauthConfig(e, c.ID, "", app.DemoRedirectURI, read))
	q, _ := url.Parse(f.authURL())
	v := q.Query()
	v.Set("scope", read+" <b>bold</b>") // an unknown scope, echoed in the "ignored" note
	p := b.loginFrom(b.get("/oauth/consent?"+v.Encode()), app.DemoAdminEmail, adminPassword)
	if p.status != http.StatusOK {
		t.Fatalf("consent page: %d", p.status)
	}
	for _, raw := range []string{"<script>alert(1)", "<img src=x", "<b>bold</b>"} {
		if strings.Contains(p.body, raw) {
			t.Errorf("consent page contains unescaped %q", raw)
		}
	}
	if !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("consent page does not show the escaped name:\n%s", p.body)
	}
}

// TestLoginFailuresLookTheSame: an unknown email and a wrong password get the same status,
// the same page and (within noise) the same time, since both pay for one argon2id check.
func TestLoginFailuresLookTheSame(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{Now: testenv.NewClock(time.Time{}).Now})
	try := func(email string) (*page, time.Duration) {
		b := newBrowser(t, e)
		lp := b.get("/login")
		csrf := findForm(t, lp, "/login").values("").Get("csrf_token")
		start := time.Now()
		p := b.submit(lp, "/login", "", func(v url.Values) { v.Set("email", email); v.Set("password", "wrong password!") })
		d := time.Since(start)
		p.body = strings.ReplaceAll(strings.ReplaceAll(p.body, csrf, "CSRF"), email, "EMAIL")
		return p, d
	}
	var known, unknown time.Duration = time.Hour, time.Hour
	var kp, up *page
	for range 5 { // the fastest of five of each: load elsewhere only ever adds time
		p, d := try(app.DemoAdminEmail)
		kp, known = p, min(known, d)
		p, d = try("nobody@acme.test")
		up, unknown = p, min(unknown, d)
	}
	if kp.status != http.StatusUnauthorized || up.status != http.StatusUnauthorized {
		t.Errorf("statuses: wrong password %d, unknown email %d; want 401 both", kp.status, up.status)
	}
	if kp.body != up.body {
		t.Errorf("bodies differ:\nwrong password:\n%s\nunknown email:\n%s", kp.body, up.body)
	}
	// Both pay one argon2id check (tens of ms); an unknown email answered without it would
	// be faster by far more than this bound allows.
	if unknown < known/5 || known < unknown/5 {
		t.Errorf("timing differs: wrong password %v, unknown email %v", known, unknown)
	}
}

// TestLoginThrottling: after 5 wrong passwords an account waits ~10 s per further try
// (even the right password is refused meanwhile); an IP address gets 20 failures a minute.
func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Time{})
	e := testenv.New(t, testenv.Options{Now: clock.Now})
	b := newBrowser(t, e)
	for i := range 5 {
		if p := b.login(app.DemoAdminEmail, "wrong"); p.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i+1, p.status)
		}
	}
	p := b.login(app.DemoAdminEmail, adminPassword)
	if p.status != http.StatusTooManyRequests {
		t.Fatalf("6th attempt: status %d, want 429", p.status)
	}
	ra, err := strconv.Atoi(p.header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 10 {
		t.Errorf("Retry-After = %q, want 1..10 seconds", p.header.Get("Retry-After"))
	}
	checkPageHeaders(t, "429 page", p)
	// Another account from the same IP is not locked by the first one.
	if p := b.login("nobody@acme.test", "wrong"); p.status != http.StatusUnauthorized {
		t.Errorf("other account: status %d, want 401", p.status)
	}
	clock.Advance(time.Duration(ra) * time.Second)
	if p := b.login(app.DemoAdminEmail, adminPassword); p.status != http.StatusOK || !strings.Contains(p.body, signedIn) {
		t.Fatalf("after Retry-After: status %d", p.status)
	}

	// Per IP: 20 failures over different accounts, then 429 for any account.
	clock.Advance(time.Hour)
	ip := newBrowser(t, e)
	for i := range 20 {
		if p := ip.login("user"+strconv.Itoa(i)+"@spray.test", "Winter2025!"); p.status != http.StatusUnauthorized {
			t.Fatalf("spray %d: status %d", i, p.status)
		}
	}
	if p := ip.login("fresh@spray.test", "Winter2025!"); p.status != http.StatusTooManyRequests {
		t.Errorf("21st failure from one IP: status %d, want 429", p.status)
	}
}

// TestSessionRenewedAtLogin: login issues a new session ID (the pre-login cookie is dead
// afterwards), and logout deletes the session row, so a copy of the cookie dies too.
func TestSessionRenewedAtLogin(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	lp := b.get("/login")
	before := b.cookie()
	if before == nil {
		t.Fatal("no pre-login session cookie")
	}
	b.loginFrom(lp, app.DemoAdminEmail, adminPassword)
	after := b.cookie()
	if after == nil || after.Value == before.Value {
		t.Fatal("session cookie not renewed at login")
	}

	// A second device holding a copy of the logged-in cookie (e.g. stolen) works until logout.
	stolen := newBrowser(t, e)
	u, _ := url.Parse(e.URL)
	stolen.client.Jar.SetCookies(u, []*http.Cookie{{Name: after.Name, Value: after.Value, Path: "/"}})
	if p := stolen.get("/login"); !strings.Contains(p.body, signedIn) {
		t.Fatal("copied session cookie not accepted")
	}
	// The pre-login cookie is not a way in.
	fixated := newBrowser(t, e)
	fixated.client.Jar.SetCookies(u, []*http.Cookie{{Name: before.Name, Value: before.Value, Path: "/"}})
	if p := fixated.get("/login"); strings.Contains(p.body, signedIn) {
		t.Error("the pre-login session ID is logged in (session fixation)")
	}

	if p := b.submit(b.get("/login"), "/logout", "", nil); p.status != http.StatusOK || !strings.Contains(p.body, "logged out") {
		t.Fatalf("logout: %d", p.status)
	}
	if p := stolen.get("/login"); strings.Contains(p.body, signedIn) {
		t.Error("the session survived logout on another device")
	}
	f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
	if p := stolen.get(f.authURL()); p.url.Path != "/login" {
		t.Errorf("after logout, the consent URL went to %s, want the login page", p.url)
	}
}

// TestSessionSharedAcrossReplicas: two Conexor processes on one database with one secret
// serve the same session; logging out on one ends it on both.
func TestSessionSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	e1 := testenv.New(t, testenv.Options{})
	e2 := testenv.New(t, testenv.Options{DatabaseURL: e1.Config.DatabaseURL, Secret: e1.Config.Secret, NoSeed: true})
	b1 := newBrowser(t, e1)
	b1.login(app.DemoAdminEmail, adminPassword)
	c := b1.cookie()
	b2 := newBrowser(t, e2)
	u2, _ := url.Parse(e2.URL)
	b2.client.Jar.SetCookies(u2, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
	p := b2.get("/login")
	if !strings.Contains(p.body, signedIn) {
		t.Fatalf("replica 2 does not know the session of replica 1:\n%s", p.body)
	}
	b2.submit(p, "/logout", "", nil)
	if p := b1.get("/login"); strings.Contains(p.body, signedIn) {
		t.Error("logout on replica 2 did not end the session on replica 1")
	}
}

// TestLoginReturnTo: after login the browser goes to return_to only if it is a local path;
// anything else (another site, a scheme) lands on Conexor's own page.
func TestLoginReturnTo(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	for _, rt := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/\r\nSet-Cookie:x=y", "/\tx"} {
		b := newBrowser(t, e)
		p := b.loginFrom(b.get("/login?return_to="+url.QueryEscape(rt)), app.DemoAdminEmail, adminPassword)
		if p.url.String() != e.URL+"/dashboard" || p.status != http.StatusOK || !strings.Contains(p.body, signedIn) {
			t.Errorf("return_to %q: landed on %d %s, want Conexor's own /dashboard", rt, p.status, p.url)
		}
	}
	// A local path is followed.
	b := newBrowser(t, e)
	if p := b.loginFrom(b.get("/login?return_to="+url.QueryEscape("/dashboard?x=1")), app.DemoAdminEmail, adminPassword); p.url.String() != e.URL+"/dashboard?x=1" {
		t.Errorf("local return_to: landed on %s", p.url)
	}
}

// TestLoginThrottlingConcurrent: guesses sent all at once get no more tries than guesses sent
// one after another. The limit must count an attempt when it starts, not when its password
// check (tens of milliseconds of argon2id) has failed, or N parallel requests are N guesses.
func TestLoginThrottlingConcurrent(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	v := findForm(t, b.get("/login"), "/login").values("")
	v.Set("email", app.DemoAdminEmail)
	v.Set("password", "wrong")
	const n = 40
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		codes = make(chan int, n)
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/login", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			<-start
			resp, err := b.client.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	close(codes)
	counts := map[int]int{}
	for c := range codes {
		counts[c]++
	}
	if counts[http.StatusUnauthorized] > 5 || counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests] != n {
		t.Errorf("%d concurrent wrong passwords for one account: %v (status: count), want at most 5 checked (401) and the rest 429", n, counts)
	}
}
