// Package browsertest drives a real headless Chromium for end-to-end tests of the pages a
// person uses: it starts the browser, keeps full-page screenshots of each step in
// testdata/artifacts (gitignored; CI may collect it) and runs axe-core, the accessibility
// checker, in the page.
//
// A typical test:
//
//	b := browsertest.Start(t)
//	step := b.Step(30 * time.Second)
//	if err := chromedp.Do(step, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
//		t.Fatal(err)
//	}
//	b.Shot("login")
//	b.CheckAccessibility("login")
//
// Chromium and axe-core are found on the machine: Debian's /usr/bin/chromium (or a Chrome
// on PATH) and interop/node_modules/axe-core (installed by `npm ci --prefix interop`).
// Outside CI a test is skipped with a message saying what to install when either is
// missing; in CI (CI=true) it fails instead, because CI must test everything.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// inCI reports whether the tests run in CI, where a missing tool is a failure, not a skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// missing skips tb outside CI and fails it in CI, saying what is missing and how to get it.
func missing(tb testing.TB, what, install string) {
	tb.Helper()
	if inCI() {
		tb.Fatalf("CI=true but %s is missing: %s", what, install)
	}
	tb.Skipf("skipped: needs %s (%s)", what, install)
}

// FindChromium returns Debian's Chromium (or another Chrome on PATH), or "".
func FindChromium() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// RepoRoot returns the directory holding go.mod, found upward from the working directory
// (a package's directory under go test).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Browser is one headless Chromium with one tab, for one test.
type Browser struct {
	t *testing.T
	// Ctx is the chromedp context of the tab. It has no deadline: run each step with a
	// context from Step so that a stuck page fails the test instead of hanging it.
	Ctx       context.Context
	artifacts string
	shots     int
}

// Start starts a headless Chromium for t and stops it when t ends. Without a browser the
// test is skipped, or fails in CI.
func Start(t *testing.T) *Browser {
	t.Helper()
	execPath := FindChromium()
	if execPath == "" {
		missing(t, "Chromium or Chrome", "apt-get install chromium; .ci/run installs /usr/bin/chromium")
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(execPath),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("no-proxy-server", true),
			chromedp.UserDataDir(t.TempDir()),
			chromedp.WindowSize(1100, 900),
		)...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	// Start the browser on the un-timed context (a timeout there would kill the browser).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", execPath, err)
	}
	// A page's confirm() or alert() would stop the tab until someone answers; answer OK,
	// as a person going through with the action would. Pages must work without
	// JavaScript, so a test never depends on the dialog.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				return
			}
		}
	}()
	return &Browser{t: t, Ctx: ctx, artifacts: filepath.Join(root, "testdata", "artifacts")}
}

// Step returns a context for the next few actions that ends after d or with the test.
func (b *Browser) Step(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(b.Ctx, d)
	b.t.Cleanup(cancel)
	return ctx
}

var unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)

// Shot keeps a full-page PNG of the current page as testdata/artifacts/<test>-NN-<name>.png,
// numbered in the order of the test's steps (the first one removes those of an earlier
// run), and returns its path. A failure to take it
// fails the test but does not stop it.
func (b *Browser) Shot(name string) string {
	b.t.Helper()
	b.shots++
	test := unsafeName.ReplaceAllString(strings.ToLower(strings.TrimPrefix(b.t.Name(), "Test")), "-")
	file := filepath.Join(b.artifacts, fmt.Sprintf("%s-%02d-%s.png", test, b.shots, unsafeName.ReplaceAllString(strings.ToLower(name), "-")))
	png, err := chromedp.Run(b.Step(30*time.Second), chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	if err := os.MkdirAll(b.artifacts, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if b.shots == 1 {
		// The screenshots of an earlier run of this test would mix with this run's.
		old, _ := filepath.Glob(filepath.Join(b.artifacts, test+"-[0-9][0-9]-*.png"))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot of %s: %s", name, file)
	return file
}

// HTML returns the current page's whole document as the browser holds it now.
func (b *Browser) HTML() string {
	b.t.Helper()
	html, err := chromedp.Run(b.Step(10*time.Second), chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		b.t.Fatalf("read the page's HTML: %v", err)
	}
	return html
}

// Path returns the path (with query) of the page the tab shows.
func (b *Browser) Path() string {
	b.t.Helper()
	p, err := chromedp.Run(b.Step(10*time.Second), chromedp.Evaluate[string](`location.pathname + location.search`))
	if err != nil {
		b.t.Fatalf("read the location: %v", err)
	}
	return p
}

var (
	axeOnce   sync.Once
	axeSource string
	axeErr    error
)

// RequireAxe returns axe-core's browser bundle from interop/node_modules. Without it the
// test is skipped with a message naming `npm ci --prefix interop`, or fails in CI.
func RequireAxe(tb testing.TB) string {
	tb.Helper()
	script, err := axeScript()
	if err != nil {
		missing(tb, "axe-core in interop/node_modules", "run npm ci --prefix interop: "+err.Error())
	}
	return script
}

// axeScript returns axe-core's browser bundle from interop/node_modules, read once.
func axeScript() (string, error) {
	axeOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			axeErr = err
			return
		}
		b, err := os.ReadFile(filepath.Join(root, "interop", "node_modules", "axe-core", "axe.min.js"))
		axeSource, axeErr = string(b), err
	})
	return axeSource, axeErr
}
