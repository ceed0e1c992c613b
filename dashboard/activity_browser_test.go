package dashboard_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/browsertest"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// TestBrowserActivity: an admin goes from the dashboard to the org's activity page, sees
// what happened (events recorded by real actions and a few seeded ones from other actors),
// and narrows it with the filter form using the keyboard. Every page is screenshot and
// checked with axe-core and for controls cut off.
func TestBrowserActivity(t *testing.T) {
	b := browsertest.Start(t)
	e := testenv.New(t, testenv.Options{})
	v := &visit{t: t, b: b, e: e}
	ctx := context.Background()

	// Real actions as the CLI makes them, and a few events of other actors.
	op := audit.WithActor(ctx, audit.Operator())
	srv := e.ServerByPath("acme/sales-api")
	c, _, err := e.Provider.CreateClient(op, provider.ClientSpec{ServerID: srv.ID, Name: "Nightly export",
		Scopes: []string{provider.ScopeToolsRead}, GrantTypes: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Provider.RotateSecret(op, c.ID); err != nil {
		t.Fatal(err)
	}
	acme := orgID(t, e, app.DemoOrg)
	now := time.Now().UTC()
	seedEvents(t, e,
		storage.AuditEvent{At: now.Add(time.Second), OrgID: acme, ActorKind: audit.KindUser, ActorID: "usr_1", ActorName: "admin@acme.test",
			Action: audit.LoginSucceeded, Result: audit.OK, IP: "203.0.113.9", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"},
		storage.AuditEvent{At: now.Add(2 * time.Second), OrgID: acme, ServerPath: "acme/sales-api", ActorKind: audit.KindUser, ActorID: "usr_2", ActorName: "member@acme.test",
			Action: audit.ClientRevoked, Target: c.ID, TargetName: "Nightly export", Result: audit.Refused, IP: "203.0.113.10",
			Detail: "only an admin may do this; the visitor is a member"},
		storage.AuditEvent{At: now.Add(3 * time.Second), OrgID: acme, ServerPath: "acme/sales-api", ActorKind: audit.KindClient, ActorID: e.PublicClientID,
			Action: audit.RefreshTokenReuse, Target: "req_8f2c", Result: audit.Refused, IP: "198.51.100.4",
			Detail: "every token of the grant was revoked"},
	)
	if err := e.App.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	v.open("/login")
	v.submit("log in", `form[action="/login"]`,
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=email]`), app.DemoAdminEmail),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), testenv.AdminPassword),
	)
	v.page("dashboard with the activity link")
	v.follow("open the activity page", `a[href="/dashboard/acme/activity"]`)
	v.page("activity")
	page := b.HTML()
	for _, want := range []string{"Client created", "Client secret rotated", "Nightly export", "member@acme.test", "Refused",
		"Refresh token reused: grant revoked", "203.0.113.9"} {
		if !strings.Contains(page, want) {
			t.Errorf("the activity page does not show %q", want)
		}
	}

	// Filter with the keyboard: the action select, then Enter in the actor field.
	if err := chromedp.Do(b.Step(30*time.Second),
		chromedp.Focus(chromedp.CSS(`#f-action`)),
		chromedp.SetValue(chromedp.CSS(`#f-action`), audit.ClientRevoked),
		chromedp.Focus(chromedp.CSS(`#f-actor`)),
		chromedp.SendKeys(chromedp.CSS(`#f-actor`), "member"),
	); err != nil {
		t.Fatalf("fill the filter: %v", err)
	}
	v.load("filter", chromedp.SendKeys(chromedp.CSS(`#f-actor`), "\r"))
	if p := b.Path(); !strings.Contains(p, "action="+audit.ClientRevoked) || !strings.Contains(p, "actor=member") {
		t.Errorf("the filter form went to %s", p)
	}
	v.page("activity filtered")
	if rows := rowActions(b.HTML()); len(rows) != 1 || rows[0] != audit.ClientRevoked {
		t.Errorf("filtered rows = %v, want the one refused revocation", rows)
	}
}
