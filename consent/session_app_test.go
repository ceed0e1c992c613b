package consent_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
)

// TestLoginLastsTwelveHoursOnTheAppClock: through the app as wired, the login cookie's
// Max-Age is the lifetime, and the person is signed in until a second before it ends and
// not at its end, on the App's clock.
func TestLoginLastsTwelveHoursOnTheAppClock(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Time{})
	e := testenv.New(t, testenv.Options{Now: clock.Now})
	b := newBrowser(t, e)
	lp := b.get("/login")
	follow := b.client.CheckRedirect
	b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := b.loginFrom(lp, app.DemoAdminEmail, adminPassword)
	b.client.CheckRedirect = follow
	if p.status != http.StatusSeeOther {
		t.Fatalf("login: status %d", p.status)
	}
	resp := http.Response{Header: p.header}
	var maxAge int
	for _, c := range resp.Cookies() {
		if c.Name == "conexor_session" {
			maxAge = c.MaxAge
		}
	}
	if maxAge != int((12 * time.Hour).Seconds()) {
		t.Errorf("login cookie Max-Age %d s, want 12 h", maxAge)
	}
	signedIn := func() bool {
		return strings.Contains(b.get("/login").body, signedIn)
	}
	clock.Advance(12*time.Hour - time.Second)
	if !signedIn() {
		t.Error("signed out a second before the lifetime ends")
	}
	clock.Advance(time.Second)
	if signedIn() {
		t.Error("still signed in when the lifetime ends")
	}
}
