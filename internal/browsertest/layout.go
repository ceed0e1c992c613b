package browsertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// clippedControls lists the controls (links, buttons, fields) a person cannot fully see
// without scrolling sideways: cut by a scrolling or clipping ancestor, or past the right
// edge of the window. Controls not rendered (in a closed <details>, display: none) are
// skipped.
const clippedControls = `(() => {
	const out = [];
	const name = el => (el.tagName.toLowerCase() + " " + JSON.stringify((el.innerText || el.value || el.name || el.getAttribute("aria-label") || "").trim().slice(0, 40)));
	for (const el of document.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea, summary")) {
		const r = el.getBoundingClientRect();
		if (r.width === 0 && r.height === 0) continue;
		let cut = false;
		for (let p = el.parentElement; p && p !== document.body && !cut; p = p.parentElement) {
			if (getComputedStyle(p).overflowX === "visible") continue;
			const pr = p.getBoundingClientRect();
			if (r.right > pr.right + 1 || r.left < pr.left - 1) {
				out.push(name(el) + " is cut by " + p.tagName.toLowerCase() + (p.className ? "." + p.className.split(" ").join(".") : "") + " (" + Math.round(Math.max(r.right - pr.right, pr.left - r.left)) + "px hidden)");
				cut = true;
			}
		}
		if (!cut && r.right > document.documentElement.clientWidth + 1) {
			out.push(name(el) + " reaches " + Math.round(r.right) + "px, past the window's " + document.documentElement.clientWidth + "px");
		}
	}
	return out;
})()`

// CheckLayout runs the subtest "layout <page>", which fails for every control of the
// current page that is cut off at the browser's window width (a table wider than its
// panel hides its last column's buttons, for example). It reports whether the page passed.
func (b *Browser) CheckLayout(page string) bool {
	b.t.Helper()
	return b.t.Run("layout "+page, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
		defer cancel()
		clipped, err := Clipped(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range clipped {
			t.Errorf("%s: %s", page, c)
		}
	})
}

// Clipped lists the controls of the page in ctx that are cut off: each as its tag, its
// text and what cuts it.
func Clipped(ctx context.Context) ([]string, error) {
	clipped, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](clippedControls))
	if err != nil {
		return nil, fmt.Errorf("measure the page: %w", err)
	}
	return clipped, nil
}
