package dashboard_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/browsertest"
	"github.com/conexor/conexor/internal/testenv"
)

// TestBrowserUsageCharts shows the usage charts in a real Chromium from counters seeded
// through the store: the home's sparklines and the server page's Usage section are drawn
// (not zero-sized under the page's CSP), each bar as tall on screen as its share of the
// busiest hour, the numbers table unfolds, and every page passes axe-core and the layout
// check. The screenshots are in testdata/artifacts.
func TestBrowserUsageCharts(t *testing.T) {
	b := browsertest.Start(t)
	clock := testenv.NewClock(time.Now())
	e := testenv.New(t, testenv.Options{Now: clock.Now})
	seed := seedUsage(t, e, clock.Now())
	v := &visit{t: t, b: b, e: e}

	v.open("/login")
	v.submit("log in", `form[action="/login"]`,
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=email]`), app.DemoAdminEmail),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), testenv.AdminPassword),
	)
	v.page("dashboard with sparklines")
	w, err := chromedp.Run(b.Step(10*time.Second), chromedp.Evaluate[float64](
		`document.querySelector('svg.sparkline[aria-label^="acme/sales-api:"]').getBoundingClientRect().width`))
	if err != nil || w < 100 {
		t.Errorf("the sales-api sparkline is %v px wide (%v), want it drawn", w, err)
	}

	v.open(browserServerPage)
	v.page("server page with usage")
	type drawn struct {
		Total  float64 `json:"total"`
		Height float64 `json:"height"`
	}
	for _, id := range []string{"usage-tokens", "usage-mcp"} {
		bars, err := chromedp.Run(b.Step(10*time.Second), chromedp.Evaluate[[]drawn](`[...document.querySelectorAll("#`+id+` g.bar")].map(g =>
			({total: +g.dataset.total, height: g.getBoundingClientRect().height}))`))
		if err != nil {
			t.Fatalf("read the bars of %s: %v", id, err)
		}
		if len(bars) < 20 {
			t.Fatalf("%s: %d bars on screen, want one per seeded hour", id, len(bars))
		}
		var peak drawn
		for _, b := range bars {
			if b.Total > peak.Total {
				peak = b
			}
		}
		if peak.Height < 80 {
			t.Errorf("%s: the busiest hour's bar is %.1f px high on screen, want a readable chart", id, peak.Height)
		}
		for _, b := range bars {
			want := math.Max(1, b.Total/peak.Total*peak.Height)
			if math.Abs(b.Height-want) > 1.5 {
				t.Errorf("%s: a bar of %v is %.1f px high, want %.1f (its share of the busiest hour's %.1f px)", id, b.Total, b.Height, want, peak.Height)
			}
		}
	}

	// The numbers behind the tokens chart, unfolded.
	if err := chromedp.Do(b.Step(10*time.Second), chromedp.Click(chromedp.CSS(`#usage-tokens details.chart-data > summary`))); err != nil {
		t.Fatalf("unfold the numbers: %v", err)
	}
	v.page("server page usage numbers")
	row, err := chromedp.Run(b.Step(10*time.Second), chromedp.Evaluate[string](
		`[...document.querySelectorAll("#usage-tokens details.chart-data tbody tr")].map(r => r.innerText).join("\n")`))
	if err != nil {
		t.Fatalf("read the numbers: %v", err)
	}
	if total := group(seed.tokensBy[seed.exportID]); !strings.Contains(row, seed.exportName) || !strings.Contains(row, total) || !strings.Contains(row, hostileClientName) {
		t.Errorf("the tokens table does not list the export (%s) and the agent by name as text:\n%s", total, row)
	}
}
