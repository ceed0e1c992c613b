package dashboard_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// usageSeed is what seedUsage wrote: the clients it named, and the totals the pages must
// show for acme/sales-api (only counters of the last 7 days and of that server count).
type usageSeed struct {
	exportID, exportName, hostileName string
	tokens, requests                  int64
	peakTokens                        int64
}

// hostileClientName is a client name made of markup: it must reach every page as text.
const hostileClientName = `<script>alert("usage")</script> agent`

// seedUsage writes hourly counters through the real store (AddUsage, as the audit
// recorder does): tokens and MCP requests of two clients of acme/sales-api, of a client
// that no longer exists, refusals without a token, a counter older than 7 days and one of
// another server, none of which may be counted on acme/sales-api's page.
func seedUsage(t *testing.T, e *testenv.Env, now time.Time) usageSeed {
	t.Helper()
	srv := e.ServerByPath("acme/sales-api")
	export, _ := e.CreateClient(provider.ClientSpec{ServerID: srv.ID, Name: "Nightly export",
		Scopes: []string{provider.ScopeToolsRead}, GrantTypes: []string{"client_credentials"}})
	hostile, _ := e.CreateClient(provider.ClientSpec{ServerID: srv.ID, Name: hostileClientName,
		Scopes: []string{provider.ScopeToolsRead}, GrantTypes: []string{"client_credentials"}})
	hour := now.UTC().Truncate(time.Hour)
	at := func(h int) time.Time { return hour.Add(-time.Duration(h) * time.Hour) }
	var counts []storage.UsageCount
	add := func(h int, path, client, kind string, n int64) {
		counts = append(counts, storage.UsageCount{Hour: at(h), ServerPath: path, ClientID: client, Kind: kind, Count: n})
	}
	// A working week of the nightly export (every day at 02:00 and 14:00 before now), an
	// agent during the day, a client since deleted, and anonymous probes refused.
	for d := 0; d < 7; d++ {
		add(d*24+2, "acme/sales-api", export.ID, storage.UsageTokens, 30)
		add(d*24+2, "acme/sales-api", export.ID, storage.UsageMCPAllowed, 40)
		add(d*24+14, "acme/sales-api", export.ID, storage.UsageTokens, 12)
		add(d*24+14, "acme/sales-api", export.ID, storage.UsageMCPAllowed, 18)
		add(d*24+9, "acme/sales-api", hostile.ID, storage.UsageTokens, 4)
		add(d*24+9, "acme/sales-api", hostile.ID, storage.UsageMCPAllowed, 15)
		add(d*24+9, "acme/sales-api", hostile.ID, storage.UsageMCPRefused, 2)
		add(d*24+20, "acme/sales-api", "", storage.UsageMCPRefused, 6)
	}
	add(0, "acme/sales-api", "client_gone", storage.UsageTokens, 5)
	add(0, "acme/sales-api", "client_gone", storage.UsageMCPAllowed, 3)
	add(168, "acme/sales-api", export.ID, storage.UsageTokens, 1000) // 7 days ago: out
	add(3, "globex/crm", export.ID, storage.UsageTokens, 77)         // another server
	if err := e.Store.AddUsage(context.Background(), counts); err != nil {
		t.Fatal(err)
	}
	return usageSeed{exportID: export.ID, exportName: export.Name, hostileName: hostileClientName,
		tokens: 7*(30+12+4) + 5, requests: 7*(40+18+15+2+6) + 3, peakTokens: 30}
}

// TestUsageCharts: the server page shows the Usage section right after the MCP URL, with
// both charts' totals from the seeded counters, clients by name (an unknown one by ID,
// a hostile name escaped), to admins and members; outsiders get the 404; the dashboard
// home shows each server's sparkline with its own total.
func TestUsageCharts(t *testing.T) {
	t.Parallel()
	testUsageCharts(t, testenv.Options{})
}

// TestUsageChartsPostgres is the same on Postgres.
func TestUsageChartsPostgres(t *testing.T) {
	t.Parallel()
	testUsageCharts(t, testenv.Options{Postgres: true})
}

func testUsageCharts(t *testing.T, opts testenv.Options) {
	clock := testenv.NewClock(time.Now())
	opts.Now = clock.Now
	r := newRoles(t, opts)
	seed := seedUsage(t, r.e, clock.Now())

	for name, b := range map[string]*browser{"admin": r.admin, "member": r.member} {
		p := b.get(serverPage)
		if p.status != http.StatusOK {
			t.Fatalf("%s: server page status %d", name, p.status)
		}
		usage := strings.Index(p.body, `<h2 id="usage">Usage</h2>`)
		mcpURL := strings.Index(p.body, `id="mcp-url"`)
		clients := strings.Index(p.body, `<h2 id="clients">`)
		if usage < 0 || !(mcpURL < usage && usage < clients) {
			t.Fatalf("%s: the Usage section is not between the MCP URL panel and the OAuth clients (at %d, %d, %d)", name, mcpURL, usage, clients)
		}
		for _, want := range []string{
			`data-testid="usage-tokens-total">` + group(seed.tokens) + ` tokens<`,
			`data-testid="usage-mcp-total">` + group(seed.requests) + ` requests<`,
			`<span class="legend-name">Nightly export</span> <span class="legend-total">294</span>`,
			`<span class="legend-name">client_gone</span> <span class="legend-total">5</span>`,
			`<span class="legend-name">No valid token (refused)</span> <span class="legend-total">42</span>`,
			`<span class="legend-name">&lt;script&gt;alert(&#34;usage&#34;)&lt;/script&gt; agent (refused)</span> <span class="legend-total">14</span>`,
			`role="img" aria-label="Tokens issued per hour, last 7 days: 327 tokens in all, at most 30 in one hour.`,
		} {
			if !strings.Contains(p.body, want) {
				t.Errorf("%s: the server page lacks %s", name, want)
			}
		}
		if strings.Contains(p.body, `<script>alert("usage")`) || strings.Contains(p.body, "1,000") || strings.Contains(p.body, "1,327") {
			t.Errorf("%s: the server page shows the hostile name as markup, or counts a counter out of range", name)
		}
		// The busiest hour of tokens is the full plot height (120 units).
		if !regexp.MustCompile(`data-total="30" data-height="120"`).MatchString(p.body) {
			t.Errorf("%s: no tokens bar of the peak (30) at full height", name)
		}
	}
	if p := r.outsider.get(serverPage); p.status != http.StatusNotFound || strings.Contains(p.body, "usage-tokens") {
		t.Errorf("outsider: server page status %d, want the 404 without charts", p.status)
	}

	home := r.admin.get("/dashboard")
	want := `aria-label="acme/sales-api: tokens issued per hour, last 7 days: ` + group(seed.tokens) + ` tokens in all, at most 30 in one hour"`
	if !strings.Contains(home.body, want) {
		t.Errorf("the dashboard home lacks the sparkline %s", want)
	}
	if strings.Count(home.body, `<svg class="sparkline"`) != strings.Count(home.body, `<td class="spark">`) {
		t.Error("a server row of the dashboard home has no sparkline")
	}
	other := r.outsider.get("/dashboard")
	if !strings.Contains(other.body, `aria-label="globex/crm: tokens issued per hour, last 7 days: 77 tokens in all`) || strings.Contains(other.body, "acme/sales-api:") {
		t.Error("the outsider's home does not show globex/crm's own sparkline only")
	}
}

// group writes n with thousands separators, as the charts do.
func group(n int64) string {
	d := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
