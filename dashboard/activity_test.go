package dashboard_test

import (
	"context"
	"fmt"
	"html"
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

const activityPage = "/dashboard/acme/activity"

// seedEvents writes events straight to the store, oldest first.
func seedEvents(t *testing.T, e *testenv.Env, events ...storage.AuditEvent) {
	t.Helper()
	if err := e.Store.InsertAuditEvents(context.Background(), events); err != nil {
		t.Fatal(err)
	}
}

func orgID(t *testing.T, e *testenv.Env, slug string) string {
	t.Helper()
	o, err := e.Store.OrgBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

var rowActionRE = regexp.MustCompile(`<tr data-action="([^"]+)">`)

// rowActions are the actions of the page's event rows, in order.
func rowActions(body string) []string {
	var out []string
	for _, m := range rowActionRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

var olderRE = regexp.MustCompile(`href="([^"]+)" rel="next">Older<`)

// TestActivityRoles: the org's admins see its activity; a member gets the 403 page, an
// outsider the 404 page, a stranger the login page. A member's attempt at an admin change
// is recorded as refused, and shows on the admins' page.
func TestActivityRoles(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{})
	if p := r.admin.get(activityPage); p.status != http.StatusOK || !strings.Contains(p.body, "<h1>Activity</h1>") {
		t.Fatalf("admin: %d", p.status)
	}
	if p := r.member.get(activityPage); p.status != http.StatusForbidden || !strings.Contains(p.body, "Only admins can do this") {
		t.Errorf("member: %d, want the 403 page", p.status)
	}
	if p := r.outsider.get(activityPage); p.status != http.StatusNotFound || !strings.Contains(p.body, "Page not found") {
		t.Errorf("outsider: %d, want the 404 page", p.status)
	}
	if p := newBrowser(t, r.e).get(activityPage); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login") {
		t.Errorf("logged out: %d to %q, want 303 to the login page", p.status, p.header.Get("Location"))
	}
	// The dashboard links admins, and only them, to it.
	if p := r.admin.get("/dashboard"); !strings.Contains(p.body, `href="`+activityPage+`"`) {
		t.Error("the admin's dashboard has no Activity link")
	}
	if p := r.member.get("/dashboard"); strings.Contains(p.body, `href="`+activityPage+`"`) {
		t.Error("the member's dashboard links to the activity page")
	}

	// A member trying to rotate the seeded client's secret: refused, recorded once.
	member, err := r.e.Store.UserByEmail(context.Background(), "member@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	if p := r.member.post(serverPage+"/clients/"+r.e.ClientID+"/rotate", nil); p.status != http.StatusForbidden {
		t.Fatalf("member rotate: %d, want 403", p.status)
	}
	if err := r.e.App.Audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs, err := r.e.Store.AuditEvents(context.Background(), storage.AuditFilter{Action: audit.ClientSecretRotated})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d events of the refused rotation, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Result != audit.Refused || ev.ActorKind != audit.KindUser || ev.ActorID != member.ID || ev.ActorName != "member@acme.test" ||
		ev.Target != r.e.ClientID || ev.ServerPath != "acme/sales-api" || ev.OrgID != orgID(t, r.e, "acme") {
		t.Errorf("refused rotation recorded as %+v", ev)
	}
	p := r.admin.get(activityPage + "?action=" + audit.ClientSecretRotated)
	if got := rowActions(p.body); len(got) != 1 || !strings.Contains(p.body, "member@acme.test") || !strings.Contains(p.body, "Refused") {
		t.Errorf("the admin's activity page does not show the refused rotation: rows %v", got)
	}
	// The outsider's attempt on acme is a 404 like any other: nothing of acme's is recorded.
	if p := r.outsider.post(serverPage+"/clients/"+r.e.ClientID+"/rotate", nil); p.status != http.StatusNotFound {
		t.Errorf("outsider rotate: %d, want 404", p.status)
	}
}

// TestActivityFilters: each filter narrows the events to what it names; another org's
// events never show.
func TestActivityFilters(t *testing.T) {
	t.Parallel()
	testActivityFilters(t, testenv.Options{})
}

func TestActivityFiltersPostgres(t *testing.T) {
	t.Parallel()
	testActivityFilters(t, testenv.Options{Postgres: true})
}

func testActivityFilters(t *testing.T, opts testenv.Options) {
	r := newRoles(t, opts)
	e := r.e
	e.CreateServer("acme/billing")
	acme, globex := orgID(t, e, "acme"), orgID(t, e, "globex")
	day := func(d int) time.Time { return time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC) }
	seedEvents(t, e,
		storage.AuditEvent{At: day(1), OrgID: acme, ServerPath: "acme/sales-api", ActorKind: audit.KindUser, ActorID: "u1", ActorName: "alice@acme.test",
			Action: audit.ClientCreated, Target: "cli_one", TargetName: "One", Result: audit.OK, IP: "192.0.2.1", UserAgent: "Firefox/1"},
		storage.AuditEvent{At: day(2), OrgID: acme, ServerPath: "acme/billing", ActorKind: audit.KindOperator, ActorName: "command line",
			Action: audit.ServerUpdated, Target: "srv_b", Result: audit.OK},
		storage.AuditEvent{At: day(3), OrgID: acme, ServerPath: "acme/sales-api", ActorKind: audit.KindClient, ActorID: "cli_pub",
			Action: audit.RefreshTokenReuse, Target: "req_1", Result: audit.Refused, IP: "198.51.100.7"},
		storage.AuditEvent{At: day(4), OrgID: globex, ServerPath: "globex/crm", ActorKind: audit.KindUser, ActorID: "u9", ActorName: "someone@globex.test",
			Action: audit.ClientRevoked, Target: "cli_globex", Result: audit.OK},
	)
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"all of acme, newest first", "", []string{audit.RefreshTokenReuse, audit.ServerUpdated, audit.ClientCreated}},
		{"server", "server=acme/billing", []string{audit.ServerUpdated}},
		{"actor by email prefix", "actor=ALICE", []string{audit.ClientCreated}},
		{"actor by client ID", "actor=cli_pub", []string{audit.RefreshTokenReuse}},
		{"action", "action=" + audit.ClientCreated, []string{audit.ClientCreated}},
		{"result", "result=refused", []string{audit.RefreshTokenReuse}},
		{"from", "from=2026-03-02", []string{audit.RefreshTokenReuse, audit.ServerUpdated}},
		{"to is inclusive", "to=2026-03-02", []string{audit.ServerUpdated, audit.ClientCreated}},
		{"from and to", "from=2026-03-02&to=2026-03-02", []string{audit.ServerUpdated}},
		{"another org's action matches nothing here", "action=" + audit.ClientRevoked, nil},
		{"nothing", "actor=nobody", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The seeded events are of March 2026; what the test's own setup recorded is of
			// today, after March.
			q := tc.query
			if !strings.Contains(q, "to=") {
				q += "&to=2026-03-31"
			}
			p := r.admin.get(activityPage + "?" + q)
			if p.status != http.StatusOK {
				t.Fatalf("status %d", p.status)
			}
			if got := rowActions(p.body); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("rows = %v, want %v", got, tc.want)
			}
			if strings.Contains(p.body, "globex") {
				t.Error("the page shows something of globex")
			}
			if tc.want == nil && !strings.Contains(p.body, "No events match these filters.") {
				t.Error("no empty-result message")
			}
		})
	}
	// A row says who, what, to what, where, with which result and from where.
	p := r.admin.get(activityPage + "?action=" + audit.ClientCreated)
	for _, want := range []string{"alice@acme.test", "Client created", "One", "cli_one", "acme/sales-api", "192.0.2.1", "Firefox/1", "2026-03-01<br>12:00:00 UTC"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the row does not show %q", want)
		}
	}
	// The form shows the filters back as sent.
	p = r.admin.get(activityPage + "?server=acme%2Fbilling&result=refused&actor=al&from=2026-03-02")
	for _, want := range []string{`<option value="acme/billing" selected>`, `<option value="refused" selected>`, `value="al"`, `value="2026-03-02"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the form does not show %s", want)
		}
	}
}

// TestActivityPaging: 50 events a page, newest first; Older pages back with before=<id>,
// keeping the filters, until the oldest; Newest returns to the start.
func TestActivityPaging(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{})
	e := r.e
	acme := orgID(t, e, "acme")
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	var evs []storage.AuditEvent
	for i := range 120 {
		action := audit.ClientUpdated
		if i%2 == 1 {
			action = audit.ClientCreated
		}
		evs = append(evs, storage.AuditEvent{At: base.Add(time.Duration(i) * time.Minute), OrgID: acme, ServerPath: "acme/sales-api",
			ActorKind: audit.KindOperator, Action: action, Target: fmt.Sprintf("cli_%03d", i), Result: audit.OK})
	}
	seedEvents(t, e, evs...)

	// Unfiltered: 120 events of acme (and none of the seed's, which are org events too:
	// count only the seeded targets) in pages of 50.
	var targets []string
	next := activityPage + "?action=" + audit.ClientUpdated
	pages := 0
	for next != "" {
		pages++
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p := r.admin.get(next)
		if p.status != http.StatusOK {
			t.Fatalf("page %d: %d", pages, p.status)
		}
		for _, a := range rowActions(p.body) {
			if a != audit.ClientUpdated {
				t.Fatalf("page %d has a %s row under the action filter", pages, a)
			}
		}
		targets = append(targets, regexp.MustCompile(`cli_\d{3}`).FindAllString(p.body, -1)...)
		if pages > 1 && !strings.Contains(p.body, ">Newest<") {
			t.Errorf("page %d has no Newest link", pages)
		}
		next = ""
		if m := olderRE.FindStringSubmatch(p.body); m != nil {
			next = html.UnescapeString(m[1])
			u, err := url.Parse(next)
			if err != nil || u.Query().Get("action") != audit.ClientUpdated || u.Query().Get("before") == "" {
				t.Fatalf("Older link %q does not keep the filter and page back", next)
			}
		}
	}
	if pages != 2 || len(targets) != 60 || targets[0] != "cli_118" || targets[59] != "cli_000" {
		t.Errorf("%d pages, %d rows, first %v last %v; want 2 pages of 60 rows from cli_118 to cli_000", pages, len(targets), first(targets), last(targets))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// TestActivityBadInput: a filter value that cannot be used is named next to its field
// with a 400 page, never a 500 or an empty success.
func TestActivityBadInput(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{})
	for _, tc := range []struct {
		name, query, want string
	}{
		{"unknown server", "server=globex%2Fcrm", "Choose one of this organization&#39;s servers."},
		{"malformed server", "server=..%2F..", "Choose one of this organization&#39;s servers."},
		{"unknown action", "action=drop.tables", "Choose an action from the list."},
		{"unknown result", "result=maybe", "Choose ok, refused or failed."},
		{"bad from", "from=yesterday", "Enter a date as YYYY-MM-DD."},
		{"bad to", "to=2026-13-45", "Enter a date as YYYY-MM-DD."},
		{"to before from", "from=2026-03-02&to=2026-03-01", "The end date is before the start date."},
		{"long actor", "actor=" + strings.Repeat("a", 400), "Enter at most 320 characters"},
		{"control characters", "actor=a%00b", "without control characters"},
		{"bad page link", "before=abc", "This page link is broken"},
		{"negative page link", "before=-5", "This page link is broken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := r.admin.get(activityPage + "?" + tc.query)
			if p.status != http.StatusBadRequest {
				t.Errorf("status %d, want 400", p.status)
			}
			if !strings.Contains(p.body, tc.want) {
				t.Errorf("the page does not say %q", tc.want)
			}
			if !strings.Contains(p.body, `class="field-error"`) && !strings.Contains(p.body, `class="alert"`) {
				t.Error("no message next to the field")
			}
			if len(rowActions(p.body)) != 0 {
				t.Error("events listed under an unusable filter")
			}
		})
	}
	// Invalid UTF-8 and huge values in the query are a 400 page too.
	if p := r.admin.get(activityPage + "?actor=%ff%fe&from=" + strings.Repeat("9", 5000)); p.status != http.StatusBadRequest {
		t.Errorf("odd query: %d, want 400", p.status)
	}
	_ = app.DemoOrg
}
