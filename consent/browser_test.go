package consent_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/browsertest"
	"github.com/conexor/conexor/internal/testenv"
)

// TestBrowserConsentFlow drives a real headless Chromium through the flow a person sees:
// the application sends the browser to /oauth/consent, the person logs in, reads the
// consent page, approves, and the browser lands on the application's callback with a code
// that redeems for a token. The login and consent pages are kept as screenshots in
// testdata/artifacts and must pass axe-core with no serious or critical violation. In CI
// (CI=true) it always runs; elsewhere it is skipped only when no browser is installed (and
// the axe checks when interop/node_modules is missing).
func TestBrowserConsentFlow(t *testing.T) {
	b := browsertest.Start(t)
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

	step := b.Step(60 * time.Second)

	if err := chromedp.Do(step,
		chromedp.Navigate(f.authURL()),
		chromedp.WaitVisible(chromedp.CSS("#email")),
	); err != nil {
		t.Fatalf("reach the login page: %v", err)
	}
	b.Shot("login")
	b.CheckAccessibility("login page")
	b.CheckLayout("login page")
	if err := chromedp.Do(step,
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
	b.Shot("consent")
	b.CheckAccessibility("consent page")
	b.CheckLayout("consent page")

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
