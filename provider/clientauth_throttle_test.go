package provider_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/internal/urls"
)

// TestClientAuthThrottle: wrong client secrets are throttled per client_id (issue 12, item
// 8). Of 50 wrong secrets for one client at the token endpoint the first 10 get 401 and the
// rest 429 invalid_client with Retry-After; another client is not affected; once the
// Retry-After has passed the right secret works. Revocation and introspection are
// throttled the same way.
func TestClientAuthThrottle(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testClientAuthThrottle)
}

func testClientAuthThrottle(t *testing.T, opts testenv.Options) {
	e := testenv.New(t, opts)
	peerID, peerSecret := e.CreateServerClient("acme/sales-api", "mcp:tools:read")
	form := url.Values{"grant_type": {"client_credentials"}}

	// flood sends n wrong secrets for id to path and counts the answers.
	flood := func(path, id string, n int, extra url.Values) (unauthorized, throttled int, last *testenv.Response) {
		t.Helper()
		for i := range n {
			r := e.PostForm(path, extra, &testenv.Auth{ID: id, Secret: "wrong-secret-" + strconv.Itoa(i)})
			switch r.StatusCode {
			case http.StatusUnauthorized:
				unauthorized++
			case http.StatusTooManyRequests:
				throttled++
				last = r
				body := r.JSON(t)
				if body["error"] != "invalid_client" || body["error_description"] == "" {
					t.Fatalf("429 body %s, want RFC 6749 invalid_client with a description", r.Body)
				}
				if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 2 {
					t.Fatalf("429 Retry-After %q, want 1 or 2 seconds", r.Header.Get("Retry-After"))
				}
			default:
				t.Fatalf("wrong secret %d at %s: %d %s, want 401 or 429", i+1, path, r.StatusCode, r.Body)
			}
		}
		return unauthorized, throttled, last
	}

	start := time.Now()
	unauthorized, throttled, last := flood(urls.Token, e.ClientID, 50, form)
	elapsed := time.Since(start)
	// 10 free failures, plus one per second the flood took (the bucket refills meanwhile).
	if maxOK := 10 + int(elapsed/time.Second) + 1; throttled == 0 || unauthorized < 10 || unauthorized > maxOK {
		t.Fatalf("50 wrong secrets in %s: %d answered 401, %d 429; want 10 (at most %d) 401 and the rest 429",
			elapsed.Round(time.Millisecond), unauthorized, throttled, maxOK)
	}

	// Another client from the same address is not affected.
	r := e.PostForm(urls.Token, form, &testenv.Auth{ID: peerID, Secret: peerSecret})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("another client during the flood: %d %s, want 200", r.StatusCode, r.Body)
	}

	// After the Retry-After, the right secret works (and, being right, costs nothing).
	wait, _ := strconv.Atoi(last.Header.Get("Retry-After"))
	time.Sleep(time.Duration(wait)*time.Second + 100*time.Millisecond)
	r = e.PostForm(urls.Token, form, &testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret, Basic: true})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("the right secret after Retry-After: %d %s, want 200", r.StatusCode, r.Body)
	}

	// The revocation and introspection endpoints charge the same budget.
	for _, path := range []string{urls.Revoke, urls.Introspect} {
		id, _ := e.CreateServerClient("acme/sales-api", "mcp:tools:read")
		if _, throttled, _ := flood(path, id, 25, url.Values{"token": {"x"}}); throttled == 0 {
			t.Errorf("25 wrong secrets at %s: none answered 429", path)
		}
	}
}

// TestClientAuthThrottleEncodedID: fosite URL-decodes a Basic-auth username (RFC 6749
// section 2.3.1), so acme, %61cme and %61%63me name one client; they must share one
// budget, or an attacker gets 10 free guesses per spelling. Of 40 wrong secrets over three
// spellings, at most 10 (plus one per second of the flood) are answered 401.
func TestClientAuthThrottleEncodedID(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, opts testenv.Options) {
		e := testenv.New(t, opts)
		id, _ := e.CreateServerClient("acme/sales-api", "mcp:tools:read")
		var all strings.Builder
		for _, b := range []byte(id) {
			fmt.Fprintf(&all, "%%%02X", b)
		}
		spellings := []string{id, fmt.Sprintf("%%%02x", id[0]) + id[1:], all.String()}
		form := url.Values{"grant_type": {"client_credentials"}}.Encode()
		start := time.Now()
		var unauthorized, throttled int
		for i := range 40 {
			req := e.NewRequest(http.MethodPost, urls.Token, strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(spellings[i%len(spellings)], "wrong-secret-"+strconv.Itoa(i))
			switch r := e.Do(req); r.StatusCode {
			case http.StatusUnauthorized:
				unauthorized++
			case http.StatusTooManyRequests:
				throttled++
			default:
				t.Fatalf("wrong secret %d as %q: %d %s, want 401 or 429", i+1, spellings[i%len(spellings)], r.StatusCode, r.Body)
			}
		}
		if maxOK := 10 + int(time.Since(start)/time.Second) + 1; unauthorized > maxOK || throttled == 0 {
			t.Fatalf("40 wrong secrets over spellings %q: %d answered 401, %d 429; want at most %d 401",
				spellings, unauthorized, throttled, maxOK)
		}
	})
}

// TestClientAuthStaleClientSharesAddress: a client with a stale secret retrying about once a
// second must not throttle the other clients behind the same address (hosted connectors and
// corporate NAT share egress addresses). Two minutes of test clock: with the address budget
// of 30 and one every 2 s it was empty after about one minute.
func TestClientAuthStaleClientSharesAddress(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, opts testenv.Options) {
		clock := testenv.NewClock(time.Now().Truncate(time.Second))
		opts.Now = clock.Now
		e := testenv.New(t, opts)
		stale, _ := e.CreateServerClient("acme/sales-api", "mcp:tools:read")
		form := url.Values{"grant_type": {"client_credentials"}}
		for s := range 120 {
			clock.Advance(time.Second)
			r := e.PostForm(urls.Token, form, &testenv.Auth{ID: stale, Secret: "stale-secret"})
			if r.StatusCode != http.StatusUnauthorized && r.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("stale client at %d s: %d %s, want 401 or 429", s, r.StatusCode, r.Body)
			}
			if s%10 != 9 {
				continue
			}
			if r := e.PostForm(urls.Token, form, &testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret}); r.StatusCode != http.StatusOK {
				t.Fatalf("another client from the same address after %d s of a stale one failing: %d %s, want 200", s+1, r.StatusCode, r.Body)
			}
		}
	})
}
