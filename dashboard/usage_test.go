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

// usageSeed is what seedUsage wrote for acme/sales-api within the last 7 days (what its
// page must show): totals by kind, the busiest hour of each chart, and totals by client.
type usageSeed struct {
	exportID, hostileID, exportName string
	tokens, requests                int64
	peakTokens, peakRequests        int64
	// tokensBy, allowedBy and refusedBy are by client ID ("" for no valid token).
	tokensBy, allowedBy, refusedBy map[string]int64
}

// hostileClientName is a client name made of markup: it must reach every page as text.
const hostileClientName = `<script>alert("usage")</script> agent`

// seedUsage writes hourly counters through the real store (AddUsage, as the audit
// recorder does), shaped like a real week: a nightly export twice a day, an agent busy in
// working hours, anonymous probes refused, a client since deleted; plus a counter older
// than 7 days and one of another server, which acme/sales-api's page must not count.
func seedUsage(t *testing.T, e *testenv.Env, now time.Time) usageSeed {
	t.Helper()
	srv := e.ServerByPath("acme/sales-api")
	export, _ := e.CreateClient(provider.ClientSpec{ServerID: srv.ID, Name: "Nightly export",
		Scopes: []string{provider.ScopeToolsRead}, GrantTypes: []string{"client_credentials"}})
	hostile, _ := e.CreateClient(provider.ClientSpec{ServerID: srv.ID, Name: hostileClientName,
		Scopes: []string{provider.ScopeToolsRead}, GrantTypes: []string{"client_credentials"}})
	seed := usageSeed{exportID: export.ID, hostileID: hostile.ID, exportName: export.Name,
		tokensBy: map[string]int64{}, allowedBy: map[string]int64{}, refusedBy: map[string]int64{}}
	hour := now.UTC().Truncate(time.Hour)
	at := func(h int) time.Time { return hour.Add(-time.Duration(h) * time.Hour) }
	perHour := map[string]map[int]int64{storage.UsageTokens: {}, "mcp": {}}
	var counts []storage.UsageCount
	add := func(h int, path, client, kind string, n int64) {
		counts = append(counts, storage.UsageCount{Hour: at(h), ServerPath: path, ClientID: client, Kind: kind, Count: n})
		if path != "acme/sales-api" || h >= 168 {
			return
		}
		switch kind {
		case storage.UsageTokens:
			seed.tokens += n
			seed.tokensBy[client] += n
			perHour[kind][h] += n
		case storage.UsageMCPAllowed:
			seed.requests += n
			seed.allowedBy[client] += n
			perHour["mcp"][h] += n
		case storage.UsageMCPRefused:
			seed.requests += n
			seed.refusedBy[client] += n
			perHour["mcp"][h] += n
		}
	}
	for h := 0; h < 168; h++ {
		switch at(h).Hour() {
		case 2: // the nightly export
			add(h, "acme/sales-api", export.ID, storage.UsageTokens, 30)
			add(h, "acme/sales-api", export.ID, storage.UsageMCPAllowed, 40)
		case 14: // its afternoon run
			add(h, "acme/sales-api", export.ID, storage.UsageTokens, 12)
			add(h, "acme/sales-api", export.ID, storage.UsageMCPAllowed, 18)
		}
		if d := at(h).Hour(); d >= 8 && d <= 17 { // the agent, in working hours
			add(h, "acme/sales-api", hostile.ID, storage.UsageTokens, int64(1+h%3))
			add(h, "acme/sales-api", hostile.ID, storage.UsageMCPAllowed, int64(4+(h*7)%9))
			if h%5 == 0 {
				add(h, "acme/sales-api", hostile.ID, storage.UsageMCPRefused, 2)
			}
		}
		if h%6 == 1 { // probes without a token
			add(h, "acme/sales-api", "", storage.UsageMCPRefused, int64(1+h%4))
		}
	}
	add(0, "acme/sales-api", "client_gone", storage.UsageTokens, 5)
	add(0, "acme/sales-api", "client_gone", storage.UsageMCPAllowed, 3)
	add(168, "acme/sales-api", export.ID, storage.UsageTokens, 1000) // 7 days ago: out
	add(3, "globex/crm", export.ID, storage.UsageTokens, 77)         // another server
	if err := e.Store.AddUsage(context.Background(), counts); err != nil {
		t.Fatal(err)
	}
	for _, n := range perHour[storage.UsageTokens] {
		seed.peakTokens = max(seed.peakTokens, n)
	}
	for _, n := range perHour["mcp"] {
		seed.peakRequests = max(seed.peakRequests, n)
	}
	return seed
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
		legend := func(name string, n int64) string {
			return `<span class="legend-name">` + name + `</span> <span class="legend-total">` + group(n) + `</span>`
		}
		hostileName := `&lt;script&gt;alert(&#34;usage&#34;)&lt;/script&gt; agent`
		for _, want := range []string{
			`data-testid="usage-tokens-total">` + group(seed.tokens) + ` tokens<`,
			`data-testid="usage-mcp-total">` + group(seed.requests) + ` requests<`,
			legend("Nightly export", seed.tokensBy[seed.exportID]),
			legend("Nightly export", seed.allowedBy[seed.exportID]),
			legend(hostileName, seed.tokensBy[seed.hostileID]),
			legend("client_gone", 5),
			legend("No valid token (refused)", seed.refusedBy[""]),
			legend(hostileName+" (refused)", seed.refusedBy[seed.hostileID]),
			`role="img" aria-label="Tokens issued per hour, last 7 days: ` + group(seed.tokens) + ` tokens in all, at most ` + group(seed.peakTokens) + ` in one hour.`,
			`role="img" aria-label="MCP requests per hour, last 7 days: ` + group(seed.requests) + ` requests in all, at most ` + group(seed.peakRequests) + ` in one hour.`,
		} {
			if !strings.Contains(p.body, want) {
				t.Errorf("%s: the server page lacks %s", name, want)
			}
		}
		// One client, one colour: its swatch is the same in both charts' legends.
		for _, client := range []string{"Nightly export", hostileName} {
			fills := regexp.MustCompile(`fill="([^"]+)"/></svg> <span class="legend-name">`+regexp.QuoteMeta(client)+`</span>`).FindAllStringSubmatch(p.body, -1)
			if len(fills) != 2 || fills[0][1] != fills[1][1] {
				t.Errorf("%s: %s is drawn in %v in the two charts, want one colour in both", name, client, fills)
			}
		}
		if strings.Contains(p.body, `<script>alert("usage")`) {
			t.Errorf("%s: the server page shows the hostile client name as markup", name)
		}
		// The busiest hour of tokens is the full plot height (120 units).
		if !strings.Contains(p.body, `data-total="`+strconv.FormatInt(seed.peakTokens, 10)+`" data-height="120"`) {
			t.Errorf("%s: no tokens bar of the peak (%d) at full height", name, seed.peakTokens)
		}
	}
	if p := r.outsider.get(serverPage); p.status != http.StatusNotFound || strings.Contains(p.body, "usage-tokens") {
		t.Errorf("outsider: server page status %d, want the 404 without charts", p.status)
	}

	home := r.admin.get("/dashboard")
	want := `aria-label="acme/sales-api: tokens issued per hour, last 7 days: ` + group(seed.tokens) + ` tokens in all, at most ` + group(seed.peakTokens) + ` in one hour"`
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
