package browsertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Violation is one axe-core rule the page breaks, with the elements that break it.
type Violation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"` // "minor", "moderate", "serious" or "critical"
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  []any  `json:"target"` // CSS selectors (nested arrays inside iframes)
		HTML    string `json:"html"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// Blocking reports whether the violation is serious or critical: the ones a page may not
// ship with.
func (v Violation) Blocking() bool { return v.Impact == "serious" || v.Impact == "critical" }

// String is the violation as a person reads it in a test log: the rule, why it matters,
// and each offending element with what to fix.
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s: %s (%s)", v.Impact, v.ID, v.Help, v.HelpURL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    at %v\n       %s", n.Target, n.HTML)
		for _, line := range strings.Split(n.Summary, "\n") {
			fmt.Fprintf(&b, "\n       %s", line)
		}
	}
	return b.String()
}

// AxeReport is what one axe-core run found.
type AxeReport struct {
	Violations []Violation `json:"violations"`
	// Passes is how many rules the page passed; zero means axe checked nothing.
	Passes int    `json:"passes"`
	URL    string `json:"url"`
}

// runAxe is the page-side script: it runs axe-core on the whole document and keeps what
// the report needs (the full result holds every node of every rule).
const runAxe = `axe.run(document, {resultTypes: ["violations"]}).then(r => ({
	url: r.url,
	passes: r.passes.length,
	violations: r.violations.map(v => ({
		id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({target: n.target, html: n.html, failureSummary: n.failureSummary})),
	})),
}))`

// Axe runs axe-core in the page the chromedp context shows and returns its report. The
// script is injected through the DevTools protocol (Runtime.evaluate), which the pages'
// Content-Security-Policy does not govern, so the page itself stays as it is served.
func Axe(ctx context.Context, script string) (AxeReport, error) {
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe === "object"`))
	if err != nil {
		return AxeReport{}, fmt.Errorf("axe: %w", err)
	}
	if !loaded {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](script+"\n;true")); err != nil {
			return AxeReport{}, fmt.Errorf("inject axe-core: %w", err)
		}
	}
	rep, err := chromedp.Run(ctx, chromedp.Evaluate[AxeReport](runAxe, chromedp.EvalAwaitPromise))
	if err != nil {
		return AxeReport{}, fmt.Errorf("axe.run: %w", err)
	}
	return rep, nil
}

// CheckAccessibility runs axe-core on the current page as the subtest "axe <page>", which
// fails on every serious or critical violation and logs the lesser ones. Without axe-core
// (npm ci --prefix interop) the subtest is skipped, or fails in CI; the test goes on either
// way. It reports whether the page passed.
func (b *Browser) CheckAccessibility(page string) bool {
	b.t.Helper()
	return b.t.Run("axe "+page, func(t *testing.T) {
		script := RequireAxe(t)
		ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
		defer cancel()
		rep, err := Axe(ctx, script)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Passes == 0 {
			t.Fatalf("axe-core passed no rule on %s: it checked nothing", rep.URL)
		}
		for _, v := range rep.Violations {
			if v.Blocking() {
				t.Errorf("%s: accessibility violation %s", page, v)
			} else {
				t.Logf("%s: lesser accessibility finding %s", page, v)
			}
		}
	})
}
