package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conexor/conexor/internal/browsertest"
)

// badCSS makes the paragraph of badPage grey on white (an inline style would be refused by
// the CSP).
const badCSS = `.faint { color: #c8c8c8; background: #fff; }`

// badPage breaks two rules axe-core rates as blocking: an input without a label
// (critical) and grey text on white below the 4.5:1 contrast ratio (serious).
const badPage = `<!doctype html><html lang="en"><head><title>Bad</title><link rel="stylesheet" href="/bad.css"></head><body><main>
<h1>Bad page</h1>

<p class="faint">Hard to read.</p>
<form><input type="text" name="q"></form>
</main></body></html>`

// TestAxeReportsViolationsUnderCSP checks the checker itself: served with the same
// Content-Security-Policy as Conexor's pages (no scripts at all), a page with known
// faults is still checked, and both faults are reported as blocking. A helper that
// silently ran nothing would let every page pass.
func TestAxeReportsViolationsUnderCSP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad.css" {
			w.Header().Set("Content-Type", "text/css")
			_, _ = w.Write([]byte(badCSS))
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(badPage))
	}))
	t.Cleanup(srv.Close)
	b := browsertest.Start(t)
	if err := chromedp.Do(b.Step(30*time.Second), chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	script := browsertest.RequireAxe(t)
	rep, err := browsertest.Axe(b.Step(60*time.Second), script)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, v := range rep.Violations {
		if v.Blocking() {
			found[v.ID] = true
		}
	}
	for _, id := range []string{"label", "color-contrast"} {
		if !found[id] {
			t.Errorf("axe did not report %q as serious or critical; report: %+v", id, rep.Violations)
		}
	}
	if rep.Passes == 0 {
		t.Error("axe passed no rule")
	}
}
