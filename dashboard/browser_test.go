package dashboard_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/browsertest"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
)

// The product page's server, and where its pages and gate are.
const (
	browserServerPage = "/dashboard/acme/servers/sales-api"
	browserMCPPath    = "/mcp/acme/sales-api"
	// browserCreateForm is the Create OAuth Client form of the server page.
	browserCreateForm = `form[action$="/dashboard/acme/servers/sales-api/clients"]`
	// browserToolsList is the JSON-RPC request the gate must refuse once a client is revoked.
	browserToolsList = `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`
)

// TestBrowserDashboardProductPath does, in a real headless Chromium, what the product page
// tells every customer: "Go to Dashboard → Servers → Select your MCP server → scroll to
// OAuth Clients → Create OAuth Client → enter a name and select scopes → save the
// client_id and client_secret. The client_secret is only shown once." Then the client's
// life: the product page's curl gets a token with exactly the chosen scopes, the secret is
// never shown again, Rotate replaces it, Revoke (after a confirmation) shuts the client
// out and its tokens are refused at the gate within a second. The create form is also
// filled and sent with the keyboard alone. Every page is kept as a screenshot in
// testdata/artifacts and must pass axe-core with no serious or critical violation, and no
// link, button or field may be cut off at a 1100 px wide window.
func TestBrowserDashboardProductPath(t *testing.T) {
	productPath(t, testenv.Options{})
}

// TestBrowserDashboardProductPathPostgres is the same path on Postgres (skipped without
// CONEXOR_TEST_POSTGRES_DSN, a failure in CI).
func TestBrowserDashboardProductPathPostgres(t *testing.T) {
	productPath(t, testenv.Options{Postgres: true})
}

// productPath is the product page's path on the database opts selects.
func productPath(t *testing.T, opts testenv.Options) {
	b := browsertest.Start(t)
	e := testenv.New(t, opts)
	v := &visit{t: t, b: b, e: e}

	// Log in: the root sends a stranger to the login page, which returns to the dashboard.
	v.open("/")
	if p := b.Path(); !strings.HasPrefix(p, "/login") {
		t.Fatalf("GET / logged out: at %s, want the login page", p)
	}
	v.page("login")
	v.submit("log in", `form[action="/login"]`,
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=email]`), app.DemoAdminEmail),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), testenv.AdminPassword),
	)
	if p := b.Path(); p != "/dashboard" {
		t.Fatalf("after logging in from /: at %s, want /dashboard", p)
	}
	v.page("dashboard")
	if html := b.HTML(); !strings.Contains(html, "acme/sales-api") || !strings.Contains(html, e.URL+browserMCPPath) {
		t.Errorf("the dashboard does not list acme/sales-api with its MCP URL %s", e.URL+browserMCPPath)
	}
	v.open("/")
	if p := b.Path(); p != "/dashboard" {
		t.Errorf("GET / logged in: at %s, want /dashboard", p)
	}

	// Dashboard → Servers → the server.
	v.follow("open the server", `a[href$="`+browserServerPage+`"]`)
	if p := b.Path(); p != browserServerPage {
		t.Fatalf("the server link led to %s, want %s", p, browserServerPage)
	}
	v.page("server page")
	if !strings.Contains(b.HTML(), e.URL+browserMCPPath) {
		t.Errorf("the server page does not show its MCP URL %s", e.URL+browserMCPPath)
	}
	// What folded sections (the connect instructions) hold is checked too, unfolded.
	if _, err := chromedp.Run(b.Step(10*time.Second), chromedp.Evaluate[bool](`document.querySelectorAll("details").forEach(d => d.open = true), true`)); err != nil {
		t.Fatalf("unfold the server page: %v", err)
	}
	v.page("server page unfolded")
	v.open(browserServerPage)

	// Create OAuth Client: a name and two scopes, for a script (client credentials).
	scopes := []string{provider.ScopeToolsRead, provider.ScopeToolsExecute}
	offered := v.scopeBoxes(browserCreateForm)
	for _, s := range []string{provider.ScopeToolsRead, provider.ScopeToolsExecute, provider.ScopeResourcesRead, provider.ScopeServerRead, provider.ScopeServerManage} {
		if _, ok := offered[s]; !ok {
			t.Errorf("the create form offers no scope box for %s (it offers %v)", s, offered)
		}
	}
	name := "Nightly sales export"
	v.revealCreateForm()
	resp := v.submit("create the client", browserCreateForm, v.fillCreateForm(name, scopes)...)
	id, secret := v.secretPage("new client", resp)
	if !strings.HasSuffix(resp.URL, "/dashboard/acme/servers/sales-api/clients") {
		t.Errorf("the secret is shown at %s, not as the direct answer to the create POST", resp.URL)
	}
	if html := b.HTML(); !strings.Contains(html, urls.Token) {
		t.Errorf("the new client's page shows no curl for the token endpoint %s", urls.Token)
	}

	// The product page's client-credentials curl, as an HTTP request: exactly those scopes.
	tok := v.token(id, secret, strings.Join(scopes, " "))
	if got := v.token(id, secret, ""); !sameScopes(got.Scope, scopes) {
		t.Errorf("a token asked for no scope got %q: the client has other scopes than %v", got.Scope, scopes)
	}
	if r := v.mcp(tok.AccessToken); r.StatusCode != http.StatusOK {
		t.Fatalf("tools/list with the new client's token: status %d: %s", r.StatusCode, r.Body)
	}

	// The secret is shown once: not after a reload, not going back, not on the server page.
	if err := chromedp.Do(b.Step(30*time.Second), chromedp.Reload()); err != nil {
		t.Fatalf("reload the secret page: %v", err)
	}
	v.page("secret page reloaded")
	v.secretGone("after reloading its page", secret)
	v.open(browserServerPage)
	v.secretGone("on the server page", secret)
	if !strings.Contains(b.HTML(), id) {
		t.Errorf("the server page does not list the new client %s", id)
	}
	v.page("server page with the client")
	// Going back to a no-store answer to a POST, Chromium shows its own "Confirm Form
	// Resubmission" page (net::ERR_CACHE_MISS) instead of a stored copy.
	if err := chromedp.Do(b.Step(30*time.Second), chromedp.NavigateBack()); err != nil && !strings.Contains(err.Error(), "ERR_CACHE_MISS") {
		t.Fatalf("go back to the secret page: %v", err)
	}
	v.secretGone("after going back to its page", secret)
	// Chromium's reload re-sends the POST without asking (a person would confirm a
	// dialog first): that must not make a second client of the same name.
	if n := v.clientsNamed(name); n != 1 {
		t.Errorf("%d clients named %q after reloading the secret page, want 1", n, name)
	}

	// Rotate: a new secret, shown once the same way; the old one stops working.
	v.open(browserServerPage)
	resp = v.submit("rotate the secret", `form[action*="`+id+`"][action*="rotate"]`)
	if !v.has(`[data-testid="client-secret"]`) {
		// A confirmation step came first.
		v.page("rotate confirmation")
		resp = v.submit("confirm the rotation", `form[action*="`+id+`"][action*="rotate"]`)
	}
	rotatedID, rotated := v.secretPage("rotated secret", resp)
	if rotatedID != id {
		t.Errorf("the rotation page shows client %s, want %s", rotatedID, id)
	}
	if rotated == secret {
		t.Fatal("the rotated secret is the old one")
	}
	v.refused("the old secret after rotation", id, secret)
	before := v.token(id, rotated, strings.Join(scopes, " "))
	if r := v.mcp(before.AccessToken); r.StatusCode != http.StatusOK {
		t.Fatalf("tools/list with a token of the rotated secret: status %d: %s", r.StatusCode, r.Body)
	}

	// Revoke, with a confirmation step; then the token issued before is refused at the gate.
	v.open(browserServerPage)
	revokeForm := `form[action*="` + id + `"][action*="revoke"]`
	if v.has(revokeForm) {
		v.submit("revoke", revokeForm)
	} else {
		// DESIGN.md promises a form; a link to the confirmation page still lets the path go on.
		link := `a[href*="` + id + `"][href*="revoke"]`
		t.Errorf("contract: the server page has no %s (DESIGN.md: per-client revoke forms whose action contains the client_id and the verb); has a link %s: %v", revokeForm, link, v.has(link))
		v.follow("revoke", link)
	}
	if b.Path() == browserServerPage {
		t.Fatal("Revoke went straight back to the server page: there is no confirmation step")
	}
	v.page("revoke confirmation")
	if r := v.mcp(before.AccessToken); r.StatusCode != http.StatusOK {
		t.Fatalf("the confirmation page alone revoked the client: tools/list status %d", r.StatusCode)
	}
	v.submit("confirm the revocation", `form[method="post" i][action*="`+id+`"][action*="revoke"]`)
	revokedAt := time.Now()
	var last *testenv.Response
	for {
		last = v.mcp(before.AccessToken)
		if last.StatusCode == http.StatusUnauthorized || time.Since(revokedAt) > time.Second {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if last.StatusCode != http.StatusUnauthorized {
		t.Errorf("a token issued before the revocation still gets status %d at %s a second later: %s", last.StatusCode, browserMCPPath, last.Body)
	} else {
		t.Logf("the revoked client's token was refused at the gate %v after the revocation", time.Since(revokedAt).Round(time.Millisecond))
	}
	v.refused("the revoked client", id, rotated)
	v.open(browserServerPage)
	v.page("server page after revocation")
	if row := v.rowOf(id); !strings.Contains(strings.ToLower(row), "revoked") {
		t.Errorf("the server page does not show client %s as revoked; its row reads %q", id, row)
	}
	if v.has(`form[action*="` + id + `"][action*="rotate"]`) {
		t.Errorf("the server page still offers to rotate the secret of the revoked client %s", id)
	}

	// The create form by keyboard alone: Tab to each field, type, Space to tick, Enter to send.
	kbScopes := []string{provider.ScopeResourcesRead, provider.ScopeServerRead}
	resp = v.createByKeyboard("Keyboard-made client", kbScopes)
	kbID, kbSecret := v.secretPage("client made by keyboard", resp)
	if got := v.token(kbID, kbSecret, ""); !sameScopes(got.Scope, kbScopes) {
		t.Errorf("the keyboard-made client's token has scope %q, want %v", got.Scope, kbScopes)
	}
}

// visit is one person's session in the browser against one Conexor.
type visit struct {
	t *testing.T
	b *browsertest.Browser
	e *testenv.Env
}

// page keeps a screenshot of the current page, runs axe-core on it and checks that no
// control is cut off.
func (v *visit) page(name string) {
	v.t.Helper()
	v.b.Shot(name)
	v.b.CheckAccessibility(name)
	v.b.CheckLayout(name)
}

// open navigates to path and waits for the page, failing unless it loads with status 200.
func (v *visit) open(path string) *responseInfo {
	v.t.Helper()
	return v.load("open "+path, chromedp.Navigate(v.e.URL+path))
}

// follow clicks the link sel and waits for the page it leads to.
func (v *visit) follow(what, sel string) *responseInfo {
	v.t.Helper()
	return v.load(what, chromedp.Click(chromedp.CSS(sel)))
}

// submit runs fill (typing and ticking in the form form), clicks the form's submit button
// and waits for the page the form leads to.
func (v *visit) submit(what, form string, fill ...chromedp.Action[chromedp.Void]) *responseInfo {
	v.t.Helper()
	if err := chromedp.Do(v.b.Step(30*time.Second), chromedp.WaitVisible(chromedp.CSS(form))); err != nil {
		v.t.Fatalf("%s: no form %s on %s: %v", what, form, v.b.Path(), err)
	}
	if err := chromedp.Do(v.b.Step(30*time.Second), fill...); err != nil {
		v.t.Fatalf("%s: fill the form: %v", what, err)
	}
	button := form + ` button[type=submit], ` + form + ` input[type=submit], ` + form + ` button:not([type])`
	return v.load(what, chromedp.Click(chromedp.CSS(button)))
}

// responseInfo is what the test needs of the HTTP response that loaded a page.
type responseInfo struct {
	URL     string
	Status  int64
	Headers map[string]string // lower-case names
}

// load runs the action, which must lead to a new page, and waits for that page. The page
// must answer 200: a 4xx or 5xx page is a failure of the step.
func (v *visit) load(what string, action chromedp.Action[chromedp.Void]) *responseInfo {
	v.t.Helper()
	resp, err := chromedp.RunResponse(v.b.Step(30*time.Second), action)
	if err != nil {
		v.t.Fatalf("%s: %v", what, err)
	}
	if resp == nil {
		v.t.Fatalf("%s: no page loaded", what)
	}
	info := &responseInfo{URL: resp.URL, Status: resp.Status, Headers: map[string]string{}}
	for k, val := range resp.Headers {
		if s, ok := val.(string); ok {
			info.Headers[strings.ToLower(k)] = s
		}
	}
	if info.Status != http.StatusOK {
		v.t.Fatalf("%s: %s answered %d; page text:\n%s", what, info.URL, info.Status, v.text())
	}
	return info
}

// has reports whether the page has an element matching sel.
func (v *visit) has(sel string) bool {
	v.t.Helper()
	ok, err := chromedp.Run(v.b.Step(10*time.Second), chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) !== null`))
	if err != nil {
		v.t.Fatalf("look for %s: %v", sel, err)
	}
	return ok
}

// rowOf returns the text of the smallest table row or list item that names the client.
func (v *visit) rowOf(clientID string) string {
	v.t.Helper()
	row, err := chromedp.Run(v.b.Step(10*time.Second), chromedp.Evaluate[string](`(() => {
		const rows = [...document.querySelectorAll("tr, li")].filter(r => r.textContent.includes(`+jsString(clientID)+`));
		rows.sort((a, b) => a.textContent.length - b.textContent.length);
		return rows.length ? rows[0].innerText : "";
	})()`))
	if err != nil {
		v.t.Fatalf("find the row of %s: %v", clientID, err)
	}
	if row == "" {
		v.t.Errorf("no row of the page names client %s", clientID)
	}
	return row
}

// text is the visible text of the page, for failure messages.
func (v *visit) text() string {
	s, err := chromedp.Run(v.b.Step(10*time.Second), chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// scopeBoxes returns the scope checkboxes of form by value, with whether each is ticked.
func (v *visit) scopeBoxes(form string) map[string]bool {
	v.t.Helper()
	boxes, err := chromedp.Run(v.b.Step(10*time.Second), chromedp.Evaluate[map[string]bool](
		`Object.fromEntries([...document.querySelectorAll(`+jsString(form+` input[type=checkbox][name=scope]`)+`)].map(b => [b.value, b.checked]))`))
	if err != nil {
		v.t.Fatalf("read the scope boxes of %s: %v", form, err)
	}
	return boxes
}

// revealCreateForm clicks "Create OAuth Client" when the form sits in a closed
// <details> (it may also be open from the start).
func (v *visit) revealCreateForm() {
	v.t.Helper()
	summary := `details:not([open]):has(` + browserCreateForm + `) > summary`
	if v.has(summary) {
		if err := chromedp.Do(v.b.Step(10*time.Second), chromedp.Click(chromedp.CSS(summary))); err != nil {
			v.t.Fatalf("open the Create OAuth Client section: %v", err)
		}
	}
}

// fillCreateForm types the name, ticks exactly the given scopes (clicking, as a person
// would, only the boxes that are not already as wanted) and picks "a script or service".
func (v *visit) fillCreateForm(name string, scopes []string) []chromedp.Action[chromedp.Void] {
	v.t.Helper()
	f := browserCreateForm
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Clear(chromedp.CSS(f + ` input[name=name]`)),
		chromedp.SendKeys(chromedp.CSS(f+` input[name=name]`), name),
		chromedp.Click(chromedp.CSS(f + ` input[name=grant_type][value=client_credentials]`)),
	}
	for value, ticked := range v.scopeBoxes(f) {
		if ticked != slices.Contains(scopes, value) {
			steps = append(steps, chromedp.Click(chromedp.CSS(f+` input[name=scope][value="`+value+`"]`)))
		}
	}
	return steps
}

// secretPage checks the page that shows a client's secret once, answered as resp, and
// returns the client ID and secret read off it by their data-testid.
func (v *visit) secretPage(name string, resp *responseInfo) (id, secret string) {
	v.t.Helper()
	v.page(name)
	if cc := resp.Headers["cache-control"]; !strings.Contains(cc, "no-store") {
		v.t.Errorf("%s: Cache-Control %q, want no-store", name, cc)
	}
	id = v.testID("client-id")
	secret = v.testID("client-secret")
	if !strings.HasPrefix(id, "client_") || !strings.HasPrefix(secret, "secret_") {
		v.t.Fatalf("%s: client-id %q and client-secret %q do not look like client_… and secret_…", name, id, secret)
	}
	return id, secret
}

// testID returns the text of the element with data-testid=name, which must be exactly the
// value (nothing around it to trim).
func (v *visit) testID(name string) string {
	v.t.Helper()
	sel := `[data-testid="` + name + `"]`
	text, err := chromedp.Run(v.b.Step(10*time.Second), chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		v.t.Fatalf("read %s on %s: %v\npage text:\n%s", sel, v.b.Path(), err, v.text())
	}
	if trimmed := strings.TrimSpace(text); trimmed != text {
		v.t.Errorf("%s holds %q: its text must be exactly the value", sel, text)
		text = trimmed
	}
	return text
}

// secretGone fails the test if secret is anywhere in the page the browser shows.
func (v *visit) secretGone(when, secret string) {
	v.t.Helper()
	if strings.Contains(v.b.HTML(), secret) {
		v.t.Errorf("the client secret is shown again %s (%s)", when, v.b.Path())
	}
}

// clientsNamed counts the clients of acme/sales-api named name, revoked ones included.
func (v *visit) clientsNamed(name string) int {
	v.t.Helper()
	clients, err := v.e.Store.ListClients(v.t.Context(), v.e.ServerByPath("acme/sales-api").ID)
	if err != nil {
		v.t.Fatal(err)
	}
	n := 0
	for _, c := range clients {
		if c.Name == name {
			n++
		}
	}
	return n
}

// tokenAnswer is the token endpoint's success response.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
}

// token sends the product page's client-credentials request (scope may be empty) and
// returns the token, failing the test unless one is issued with exactly the scope asked.
func (v *visit) token(id, secret, scope string) tokenAnswer {
	v.t.Helper()
	r := v.ccRequest(id, secret, scope)
	if r.StatusCode != http.StatusOK {
		v.t.Fatalf("client credentials for %s (scope %q): status %d: %s", id, scope, r.StatusCode, r.Body)
	}
	var tok tokenAnswer
	if err := json.Unmarshal(r.Body, &tok); err != nil || tok.AccessToken == "" || tok.TokenType != "Bearer" {
		v.t.Fatalf("token response %s (%v)", r.Body, err)
	}
	if scope != "" && !sameScopes(tok.Scope, strings.Fields(scope)) {
		v.t.Errorf("asked for scope %q, got a token for %q", scope, tok.Scope)
	}
	return tok
}

// refused fails the test unless the token endpoint refuses id with secret as
// invalid_client (401).
func (v *visit) refused(what, id, secret string) {
	v.t.Helper()
	r := v.ccRequest(id, secret, "")
	if r.StatusCode != http.StatusUnauthorized {
		v.t.Errorf("%s: token request status %d, want 401: %s", what, r.StatusCode, r.Body)
		return
	}
	if got := r.JSON(v.t)["error"]; got != "invalid_client" {
		v.t.Errorf("%s: error %v, want invalid_client", what, got)
	}
}

// ccRequest is the product page's curl: grant_type, client_id, client_secret and scope in
// the form.
func (v *visit) ccRequest(id, secret, scope string) *testenv.Response {
	v.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return v.e.PostForm(urls.Token, form, nil)
}

// mcp posts tools/list to the product page's MCP server with the bearer token.
func (v *visit) mcp(token string) *testenv.Response {
	v.t.Helper()
	req := v.e.NewRequest(http.MethodPost, browserMCPPath, strings.NewReader(browserToolsList))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	return v.e.Do(req)
}

// focused describes the element that has the keyboard focus.
type focused struct {
	Tag     string `json:"tag"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Value   string `json:"value"`
	Checked bool   `json:"checked"`
	// InCreate is whether it belongs to the Create OAuth Client form.
	InCreate bool `json:"inCreate"`
	// OpensCreate is whether it is the summary of the closed <details> holding the form.
	OpensCreate bool `json:"opensCreate"`
	// Ring is whether a focus indicator (outline or box shadow) is drawn around it.
	Ring bool `json:"ring"`
}

// createByKeyboard opens the server page and, with key presses only, walks through it with
// Tab, types the name, ticks the scopes with Space (and picks the kind with the arrow
// keys, as radio groups work), reaches the form's button and presses Enter. Every control
// of the form it lands on must show where the focus is.
func (v *visit) createByKeyboard(name string, scopes []string) *responseInfo {
	v.t.Helper()
	v.open(browserServerPage)
	probe := `(() => { const el = document.activeElement; if (!el) return {};
		const form = el.form ? el.form.getAttribute("action") || "" : "";
		const cs = getComputedStyle(el);
		return {tag: el.tagName.toLowerCase(), type: el.type || "", name: el.name || "", value: el.value || "",
			checked: !!el.checked, inCreate: form.endsWith("/dashboard/acme/servers/sales-api/clients"),
			opensCreate: el.tagName === "SUMMARY" && !el.parentElement.open && el.parentElement.querySelector(` + jsString(browserCreateForm) + `) !== null,
			ring: (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== "none"}; })()`
	at := func() focused {
		f, err := chromedp.Run(v.b.Step(10*time.Second), chromedp.Evaluate[focused](probe))
		if err != nil {
			v.t.Fatalf("keyboard: read the focused element: %v", err)
		}
		return f
	}
	press := func(keys string) {
		if err := chromedp.Do(v.b.Step(10*time.Second), chromedp.KeyEvent(keys)); err != nil {
			v.t.Fatalf("keyboard: press %q: %v", keys, err)
		}
	}
	typed := false
	for i := 0; i < 300; i++ {
		press("\t")
		f := at()
		if f.OpensCreate {
			press("\r")
			continue
		}
		if !f.InCreate {
			continue
		}
		if !f.Ring {
			v.t.Errorf("keyboard: no visible focus indicator on the create form's %s %s", f.Tag, f.Name)
		}
		switch {
		case f.Name == "name" && !typed:
			press(name)
			typed = true
		case f.Name == "scope" && f.Checked != slices.Contains(scopes, f.Value):
			press(" ")
		case f.Name == "grant_type":
			for j := 0; j < 4; j++ {
				cur := at()
				if cur.Value == "client_credentials" && cur.Checked {
					break
				}
				if cur.Value == "client_credentials" {
					press(" ") // Tab reached the first option of a group with none picked
				} else {
					press("\u0301") // ArrowDown: the next option of the radio group
				}
			}
			if got := at(); got.Value != "client_credentials" || !got.Checked {
				v.t.Fatalf("keyboard: could not pick client_credentials in the grant_type group (at %+v)", got)
			}
		case f.Type == "submit" || (f.Tag == "button" && f.Type == ""):
			if !typed {
				v.t.Fatal("keyboard: reached the create button before the name field")
			}
			if got := v.scopeBoxes(browserCreateForm); !sameTicked(got, scopes) {
				v.t.Fatalf("keyboard: ticked %v, want exactly %v", got, scopes)
			}
			v.b.Shot("create form filled by keyboard")
			return v.load("keyboard: press Enter on the create button", chromedp.KeyEvent("\r"))
		}
	}
	v.t.Fatal("keyboard: 300 presses of Tab never reached the create form's button")
	return nil
}

// sameScopes reports whether the space-separated scope holds exactly want, in any order.
func sameScopes(scope string, want []string) bool {
	got := strings.Fields(scope)
	slices.Sort(got)
	w := slices.Clone(want)
	slices.Sort(w)
	return slices.Equal(got, w)
}

// sameTicked reports whether exactly the boxes of want are ticked.
func sameTicked(boxes map[string]bool, want []string) bool {
	var ticked []string
	for value, on := range boxes {
		if on {
			ticked = append(ticked, value)
		}
	}
	return sameScopes(strings.Join(ticked, " "), want)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
