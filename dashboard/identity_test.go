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

// TestSettingsIdentityHeader: the settings form turns identity assertions on (the name
// canonicalised), shows the header it sends, refuses a name the gateway owns or one of the
// server's upstream headers with the error next to the field and the input kept, leaves it
// alone when the field is absent, and turns it off when emptied.
func TestSettingsIdentityHeader(t *testing.T) {
	t.Parallel()
	testSettingsIdentityHeader(t, testenv.Options{})
}

// TestSettingsIdentityHeaderPostgres is TestSettingsIdentityHeader on Postgres.
func TestSettingsIdentityHeaderPostgres(t *testing.T) {
	t.Parallel()
	testSettingsIdentityHeader(t, testenv.Options{Postgres: true})
}

func testSettingsIdentityHeader(t *testing.T, opts testenv.Options) {
	r := newRoles(t, opts)
	settings := func(identity ...string) url.Values {
		f := url.Values{"name": {"Sales API"}, "enabled": {"true"}}
		if len(identity) > 0 {
			f.Set("identity_header", identity[0])
		}
		return f
	}
	stored := func() string { return r.e.ServerByPath("acme/sales-api").IdentityHeader }

	p := r.admin.post(serverPage+"/settings", settings("x-conexor-identity"))
	if p.status != http.StatusOK || stored() != "X-Conexor-Identity" {
		t.Fatalf("save identity header: status %d, stored %q", p.status, stored())
	}
	if !strings.Contains(p.body, `name="identity_header" value="X-Conexor-Identity"`) {
		t.Error("the saved settings form does not show the identity header")
	}

	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"a header the client's token travels in", settings("Authorization"), "the identity cannot be sent in Authorization"},
		{"an MCP transport header", settings("Mcp-Session-Id"), "the identity cannot be sent in Mcp-Session-Id"},
		{"not a header name", settings("X Caller"), "is not a valid header name"},
		{"one of the server's upstream headers", func() url.Values {
			f := settings("X-Api-Key")
			f.Set("headers", "X-Api-Key: k-123")
			return f
		}(), "the upstream header X-Api-Key is already set for this server"},
	} {
		p := r.admin.post(serverPage+"/settings", tc.form)
		if p.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", tc.name, p.status)
			continue
		}
		after := p.body[max(strings.Index(p.body, `id="s-identity-header"`), 0):]
		after, _, _ = strings.Cut(after, `class="field"`) // the identity header's field ends at the next one
		if !strings.Contains(p.body, `id="s-identity-header"`) || !strings.Contains(after, `<p class="field-error">`) ||
			!strings.Contains(after, strings.ReplaceAll(tc.want, `"`, "&#34;")) {
			t.Errorf("%s: the error %q is not shown next to the identity header field", tc.name, tc.want)
		}
		if !strings.Contains(p.body, `name="identity_header" value="`+tc.form.Get("identity_header")+`"`) {
			t.Errorf("%s: the refused input is not kept in the form", tc.name)
		}
		if stored() != "X-Conexor-Identity" {
			t.Fatalf("%s: a refused change was stored: %q", tc.name, stored())
		}
	}

	if p := r.admin.post(serverPage+"/settings", settings()); p.status != http.StatusOK || stored() != "X-Conexor-Identity" {
		t.Errorf("a form without the field: status %d, stored %q, want it left as it was", p.status, stored())
	}
	if p := r.admin.post(serverPage+"/settings", settings("")); p.status != http.StatusOK || stored() != "" {
		t.Errorf("an emptied field: status %d, stored %q, want off", p.status, stored())
	}
	// A member reads the page but gets no form to change it.
	if p := r.member.get(serverPage); strings.Contains(p.body, `name="identity_header"`) {
		t.Error("a member is offered the identity header field")
	}
}

// TestBrowserIdentityHeaderField fills the identity header in a real Chromium: a refused
// name shows its error under the field (screenshot), a good one is saved and shown. Both
// pages pass axe-core and the layout check.
func TestBrowserIdentityHeaderField(t *testing.T) {
	b := browsertest.Start(t)
	e := testenv.New(t, testenv.Options{})
	v := &visit{t: t, b: b, e: e}
	v.open("/login")
	v.submit("log in", `form[action="/login"]`,
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=email]`), app.DemoAdminEmail),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), testenv.AdminPassword),
	)
	v.open(browserServerPage)
	form := `form[action$="/settings"]`
	field := form + ` input[name=identity_header]`
	send := func(what, value string, wantStatus int64) {
		t.Helper()
		if err := chromedp.Do(b.Step(30*time.Second), chromedp.SetValue(chromedp.CSS(field), value)); err != nil {
			t.Fatalf("%s: fill: %v", what, err)
		}
		resp, err := chromedp.RunResponse(b.Step(30*time.Second), chromedp.Click(chromedp.CSS(form+` button[type=submit]`)))
		if err != nil || resp == nil || resp.Status != wantStatus {
			t.Fatalf("%s: %v, %v; want status %d; page:\n%s", what, resp, err, wantStatus, v.text())
		}
	}

	send("a reserved name", "Authorization", http.StatusUnprocessableEntity)
	v.page("server settings identity header refused")
	msg, err := chromedp.Run(b.Step(10*time.Second), chromedp.Evaluate[string](
		`(() => { const f = document.querySelector('#s-identity-header').closest('.field');
		  const e = f && f.querySelector('.field-error'); return e ? e.innerText : ''; })()`))
	if err != nil || !strings.Contains(msg, "the identity cannot be sent in Authorization") {
		t.Errorf("the error under the identity header field reads %q (%v)", msg, err)
	}

	send("a good name", "X-Conexor-Identity", http.StatusOK)
	v.page("server settings identity header saved")
	if got := e.ServerByPath("acme/sales-api").IdentityHeader; got != "X-Conexor-Identity" {
		t.Errorf("stored identity header %q", got)
	}
}
