package consent_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
)

// artifactDir is where the browser test keeps its screenshot: testdata/artifacts at the
// repository root (gitignored; CI may collect it).
var artifactDir = filepath.Join("..", "testdata", "artifacts")

// findBrowser returns Debian's Chromium (or another Chrome on PATH), or "".
func findBrowser() string {
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

// TestBrowserConsentFlow drives a real headless Chromium through the flow a person sees:
// the application sends the browser to /oauth/consent, the person logs in, reads the
// consent page (kept as testdata/artifacts/consent.png), approves, and the browser lands on
// the application's callback with a code that redeems for a token. In CI (CI=true) it
// always runs; elsewhere it is skipped only when no browser is installed.
func TestBrowserConsentFlow(t *testing.T) {
	execPath := findBrowser()
	if execPath == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but no Chromium found: .ci/run installs /usr/bin/chromium")
		}
		t.Skip("skipped: needs Chromium or Chrome (apt-get install chromium)")
	}
	e := testenv.New(t, testenv.Options{})

	// The application's callback: a tiny server on loopback that records what it gets.
	got := make(chan string, 1)
	cbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		select {
		case got <- r.URL.RawQuery:
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html lang="en"><title>Connected</title><h1 id="done">Connected</h1></html>`))
	}))
	t.Cleanup(cbSrv.Close)
	redirect := cbSrv.URL + "/callback"
	client, _ := createAppClient(t, e, "Claude", true, redirect)
	f := newFlow(oauthConfig(e, client.ID, "", redirect, read, execute, res))

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
			chromedp.WindowSize(1000, 900),
		)...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	// Start the browser on the un-timed context (a timeout there would kill the browser).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", execPath, err)
	}
	step, cancelStep := context.WithTimeout(ctx, 60*time.Second)
	defer cancelStep()

	if err := chromedp.Do(step,
		chromedp.Navigate(f.authURL()),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), app.DemoAdminEmail),
		chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=approve]`)),
	); err != nil {
		t.Fatalf("log in and reach the consent page: %v", err)
	}

	heading, err := chromedp.Run(step, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(heading, "Claude") || !strings.Contains(heading, "Sales API") {
		t.Errorf("consent heading = %q", heading)
	}
	// The stylesheet loaded under the page's CSP (style-src 'self'): the card is styled.
	radius, err := chromedp.Run(step, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("main.card")).borderTopLeftRadius`))
	if err != nil || radius != "12px" {
		t.Errorf("stylesheet not applied: main.card border radius %q (%v)", radius, err)
	}
	checked, err := chromedp.Run(step, chromedp.Evaluate[int](`document.querySelectorAll('input[name=scope]:checked').length`))
	if err != nil || checked != 3 {
		t.Errorf("%d scope boxes ticked, want 3 (%v)", checked, err)
	}
	png, err := chromedp.Run(step, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(artifactDir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifactDir, "consent.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("consent page screenshot: %s", shot)

	if err := chromedp.Do(step,
		chromedp.Click(chromedp.CSS(`button[name=decision][value=approve]`)),
		chromedp.WaitVisible(chromedp.CSS("#done")),
	); err != nil {
		t.Fatalf("approve: %v", err)
	}
	loc, err := chromedp.Run(step, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, redirect+"?") {
		t.Errorf("browser at %s, want the callback %s", loc, redirect)
	}
	var raw string
	select {
	case raw = <-got:
	case <-step.Done():
		t.Fatal("the callback never received the browser")
	}
	cb, err := url.Parse(redirect + "?" + raw)
	if err != nil {
		t.Fatal(err)
	}
	code := codeFrom(t, e, cb, f.state)
	tok, err := f.exchange(e, code)
	if err != nil {
		t.Fatalf("exchange the browser's code: %v", err)
	}
	if s := tok.Extra("scope"); s != read+" "+execute+" "+res {
		t.Errorf("scope = %v", s)
	}
}
