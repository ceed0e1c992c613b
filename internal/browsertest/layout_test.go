package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conexor/conexor/internal/browsertest"
)

// layoutCSS makes a panel narrower than its table, as a dashboard table that does not fit.
const layoutCSS = `.wrap { width: 300px; overflow-x: auto; } table { width: 600px; }`

// layoutPage has one button that fits and one at the end of a too-wide table.
const layoutPage = `<!doctype html><html lang="en"><head><title>Layout</title><link rel="stylesheet" href="/layout.css"></head><body><main>
<h1>Layout</h1><button type="button">Fits</button>
<div class="wrap"><table><tr><td>wide</td><td style="text-align:right"><button type="button">Hidden</button></td></tr></table></div>
<details><summary>More</summary><button type="button">Folded</button></details>
</main></body></html>`

// TestClippedFindsControlsCutOff checks the layout check itself: the button past the edge
// of its scrolling panel is reported with what cuts it; the one that fits and the one
// folded in a closed <details> are not.
func TestClippedFindsControlsCutOff(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/layout.css" {
			w.Header().Set("Content-Type", "text/css")
			_, _ = w.Write([]byte(layoutCSS))
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(layoutPage))
	}))
	t.Cleanup(srv.Close)
	b := browsertest.Start(t)
	if err := chromedp.Do(b.Step(30*time.Second), chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	got, err := browsertest.Clipped(b.Step(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.Contains(got[0], `"Hidden"`) || !strings.Contains(got[0], "div.wrap") {
		t.Errorf("Clipped = %q, want only the Hidden button, cut by div.wrap", got)
	}
}
