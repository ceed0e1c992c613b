package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testDuration = 300 * time.Millisecond

// slack allows for scheduling and -race overhead on a 2-core machine.
const slack = 2 * time.Second

// fakeTokenServer answers client_credentials grants with a fake token. If
// failEvery > 0, every failEvery-th request gets a 500. It records how
// clients authenticated and how many connections were opened.
type fakeTokenServer struct {
	*httptest.Server
	failEvery int64
	hits      atomic.Int64
	conns     atomic.Int64
	mu        sync.Mutex
	authSeen  map[string]int // "basic" / "post" / "none"
	badGrant  atomic.Int64
}

func newFakeTokenServer(t *testing.T, failEvery int64) *fakeTokenServer {
	t.Helper()
	f := &fakeTokenServer{failEvery: failEvery, authSeen: map[string]int{}}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.Server.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.Start()
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTokenServer) serve(w http.ResponseWriter, r *http.Request) {
	n := f.hits.Add(1)
	if r.Method != http.MethodPost {
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		f.badGrant.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	kind := "none"
	if u, p, ok := r.BasicAuth(); ok {
		uu, _ := url.QueryUnescape(u)
		pp, _ := url.QueryUnescape(p)
		if uu == "client id" && pp == "s3cr&t:" {
			kind = "basic"
		}
	} else if r.PostForm.Get("client_id") == "client id" && r.PostForm.Get("client_secret") == "s3cr&t:" {
		kind = "post"
	}
	f.mu.Lock()
	f.authSeen[kind]++
	f.mu.Unlock()
	if kind == "none" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	if f.failEvery > 0 && n%f.failEvery == 0 {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": "fake-token",
		"token_type":   "bearer",
		"expires_in":   3600,
		"scope":        r.PostForm.Get("scope"),
	})
}

func (f *fakeTokenServer) authSnapshot() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int, len(f.authSeen))
	for k, v := range f.authSeen {
		m[k] = v
	}
	return m
}

func (f *fakeTokenServer) seen(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.authSeen[kind]
}

func checkPercentiles(t *testing.T, r Result) {
	t.Helper()
	if r.P50 <= 0 || r.P50 > r.P90 || r.P90 > r.P99 || r.P99 > r.Max {
		t.Errorf("percentiles out of order: p50=%s p90=%s p99=%s max=%s", r.P50, r.P90, r.P99, r.Max)
	}
}

func TestRunTokenCountsRequests(t *testing.T) {
	srv := newFakeTokenServer(t, 0)
	const conc = 4
	start := time.Now()
	res, err := RunToken(context.Background(), TokenOptions{
		TokenURL:     srv.URL + "/oauth2/token",
		ClientID:     "client id",
		ClientSecret: "s3cr&t:",
		Scope:        "mcp:tools",
		Concurrency:  conc,
		Duration:     testDuration,
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("RunToken: %v", err)
	}
	t.Logf("\n%s", res)
	if res.Requests == 0 {
		t.Fatal("no requests completed")
	}
	if res.Errors != 0 {
		t.Errorf("Errors = %d, want 0 (first: %s)", res.Errors, res.FirstError)
	}
	if res.FirstError != "" {
		t.Errorf("FirstError = %q, want empty", res.FirstError)
	}
	if got := res.StatusCounts[200]; got != res.Requests {
		t.Errorf("StatusCounts[200] = %d, want %d (all: %v)", got, res.Requests, res.StatusCounts)
	}
	// Every counted request reached the server; a few more may have been
	// abandoned in flight at the deadline.
	if hits := srv.hits.Load(); int64(res.Requests) > hits || hits > int64(res.Requests+conc) {
		t.Errorf("server saw %d requests, result counts %d", hits, res.Requests)
	}
	if got := srv.seen("post"); got == 0 || srv.seen("basic") != 0 || srv.seen("none") != 0 {
		t.Errorf("auth seen: %v, want client_secret_post only", srv.authSnapshot())
	}
	if srv.badGrant.Load() != 0 {
		t.Errorf("server rejected %d grant requests", srv.badGrant.Load())
	}
	if res.RPS <= 0 {
		t.Errorf("RPS = %v", res.RPS)
	}
	checkPercentiles(t, res)
	// The run must last its duration and stop on its own: a bound, not a timing assertion
	// (the timer and the clock read at start may disagree by a scheduler tick).
	if res.Duration < testDuration*9/10 || elapsed > testDuration+slack {
		t.Errorf("run took %s (reported %s), want about %s", elapsed, res.Duration, testDuration)
	}
	// Keep-alive: connections are reused, not opened per request.
	if c := srv.conns.Load(); c > 2*conc {
		t.Errorf("server saw %d connections for %d requests with concurrency %d", c, res.Requests, conc)
	}
}

func TestRunTokenBasicAuth(t *testing.T) {
	srv := newFakeTokenServer(t, 0)
	res, err := RunToken(context.Background(), TokenOptions{
		TokenURL:     srv.URL,
		ClientID:     "client id",
		ClientSecret: "s3cr&t:",
		Concurrency:  2,
		Duration:     testDuration,
		BasicAuth:    true,
	})
	if err != nil {
		t.Fatalf("RunToken: %v", err)
	}
	if res.Requests == 0 || res.Errors != 0 {
		t.Fatalf("Requests=%d Errors=%d first=%q", res.Requests, res.Errors, res.FirstError)
	}
	if srv.seen("basic") == 0 || srv.seen("post") != 0 || srv.seen("none") != 0 {
		t.Errorf("auth seen: %v, want client_secret_basic only", srv.authSnapshot())
	}
}

func TestRunTokenDetectsServerErrors(t *testing.T) {
	srv := newFakeTokenServer(t, 10)
	res, err := RunToken(context.Background(), TokenOptions{
		TokenURL:     srv.URL,
		ClientID:     "client id",
		ClientSecret: "s3cr&t:",
		Concurrency:  3,
		Duration:     testDuration,
	})
	if err != nil {
		t.Fatalf("RunToken: %v", err)
	}
	t.Logf("\n%s", res)
	if res.Requests < 10 {
		t.Fatalf("only %d requests in %s", res.Requests, testDuration)
	}
	if res.Errors == 0 || res.StatusCounts[500] == 0 {
		t.Fatalf("Errors=%d StatusCounts=%v, want 500s counted as errors", res.Errors, res.StatusCounts)
	}
	if res.Errors != res.StatusCounts[500] {
		t.Errorf("Errors=%d, StatusCounts[500]=%d; want equal", res.Errors, res.StatusCounts[500])
	}
	if res.StatusCounts[200]+res.StatusCounts[500] != res.Requests {
		t.Errorf("status counts %v do not add up to %d", res.StatusCounts, res.Requests)
	}
	if !strings.Contains(res.FirstError, "500") {
		t.Errorf("FirstError = %q, want it to mention status 500", res.FirstError)
	}
	if s := res.String(); !strings.Contains(s, "500=") || !strings.Contains(s, "first error:") {
		t.Errorf("report lacks status or error lines:\n%s", s)
	}
	checkPercentiles(t, res)
}

func TestRunTokenWrongCredentials(t *testing.T) {
	srv := newFakeTokenServer(t, 0)
	res, err := RunToken(context.Background(), TokenOptions{
		TokenURL:     srv.URL,
		ClientID:     "client id",
		ClientSecret: "wrong",
		Concurrency:  1,
		Duration:     100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("RunToken: %v", err)
	}
	if res.Requests == 0 || res.Errors != res.Requests || res.StatusCounts[401] != res.Requests {
		t.Errorf("Requests=%d Errors=%d StatusCounts=%v, want all 401 errors", res.Requests, res.Errors, res.StatusCounts)
	}
}

func TestRunHTTPCheckRejectsBodyWithoutToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"token_type":"bearer"}`)
	}))
	defer srv.Close()
	res, err := RunToken(context.Background(), TokenOptions{TokenURL: srv.URL, Concurrency: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != res.Requests || res.StatusCounts[200] != res.Requests {
		t.Errorf("Requests=%d Errors=%d StatusCounts=%v, want every 200 without access_token to be an error", res.Requests, res.Errors, res.StatusCounts)
	}
	if !strings.Contains(res.FirstError, "access_token") {
		t.Errorf("FirstError = %q", res.FirstError)
	}
}

func TestRunHTTPMaxRequests(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	res, err := RunHTTP(context.Background(), HTTPOptions{
		Concurrency: 4,
		Duration:    10 * time.Second,
		MaxRequests: 50,
		NewRequest:  func() (*http.Request, error) { return http.NewRequest(http.MethodGet, srv.URL, nil) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 50 || hits.Load() != 50 || res.Errors != 0 {
		t.Errorf("Requests=%d hits=%d Errors=%d, want 50, 50, 0", res.Requests, hits.Load(), res.Errors)
	}
	if res.Duration > 5*time.Second {
		t.Errorf("run with a count bound took %s", res.Duration)
	}
}

func TestRunHTTPStopsOnContextCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := RunHTTP(ctx, HTTPOptions{
		Concurrency: 2,
		Duration:    time.Minute,
		NewRequest:  func() (*http.Request, error) { return http.NewRequest(http.MethodGet, srv.URL, nil) },
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 150*time.Millisecond+slack {
		t.Errorf("run took %s after cancel", elapsed)
	}
	if res.Requests == 0 {
		t.Errorf("partial result lost: %+v", res)
	}
}

// A server that hangs must not hold the run past its duration.
func TestRunHTTPStopsWithSlowServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	res, err := RunHTTP(context.Background(), HTTPOptions{
		Concurrency: 3,
		Duration:    testDuration,
		NewRequest:  func() (*http.Request, error) { return http.NewRequest(http.MethodGet, srv.URL, nil) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > testDuration+slack {
		t.Errorf("run took %s, want about %s", elapsed, testDuration)
	}
	if res.Requests != 0 || res.Errors != 0 {
		t.Errorf("abandoned requests were counted: %+v", res)
	}
}

func TestRunHTTPTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close() // nothing listens there any more
	res, err := RunHTTP(context.Background(), HTTPOptions{
		Concurrency: 1,
		Duration:    100 * time.Millisecond,
		MaxRequests: 20,
		NewRequest:  func() (*http.Request, error) { return http.NewRequest(http.MethodGet, u, nil) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != res.Requests || len(res.StatusCounts) != 0 || res.FirstError == "" {
		t.Errorf("want only transport errors, got %+v", res)
	}
}

func TestRunHTTPRequestBuildError(t *testing.T) {
	res, err := RunHTTP(context.Background(), HTTPOptions{
		Concurrency: 2,
		Duration:    time.Minute,
		NewRequest:  func() (*http.Request, error) { return nil, errors.New("no request for you") },
	})
	if err == nil || !strings.Contains(err.Error(), "no request for you") {
		t.Errorf("err = %v", err)
	}
	if res.Errors == 0 {
		t.Errorf("Errors = 0")
	}
}

func TestRunHTTPOptionsValidation(t *testing.T) {
	if _, err := RunHTTP(context.Background(), HTTPOptions{Duration: time.Second}); err == nil {
		t.Error("missing NewRequest accepted")
	}
	newReq := func() (*http.Request, error) { return http.NewRequest(http.MethodGet, "http://127.0.0.1:1", nil) }
	if _, err := RunHTTP(context.Background(), HTTPOptions{Concurrency: -1, NewRequest: newReq}); err == nil {
		t.Error("negative concurrency accepted")
	}
	if _, err := RunToken(context.Background(), TokenOptions{}); err == nil {
		t.Error("missing TokenURL accepted")
	}
}

func TestPercentile(t *testing.T) {
	s := make([]time.Duration, 100)
	for i := range s {
		s[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, c := range []struct {
		p    int
		want time.Duration
	}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}} {
		if got := percentile(s, c.p); got != c.want {
			t.Errorf("percentile(%d) = %s, want %s", c.p, got, c.want)
		}
	}
	if got := percentile(s[:1], 50); got != time.Millisecond {
		t.Errorf("single sample: %s", got)
	}
}

func TestResultString(t *testing.T) {
	r := Result{
		Requests: 1000, Errors: 10, Duration: 2 * time.Second, RPS: 500,
		P50: 1200 * time.Microsecond, P90: 3 * time.Millisecond, P99: 9 * time.Millisecond, Max: 40 * time.Millisecond,
		StatusCounts: map[int]int{500: 10, 200: 990}, FirstError: "status 500: boom",
	}
	s := r.String()
	for _, want := range []string{"1000", "10 errors", "1.00%", "500.0 req/s", "p50=1.2ms", "p99=9ms", "max=40ms", "200=990 500=10", "first error: status 500: boom"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if strings.Count(s, "\n") < 4 {
		t.Errorf("report is not multi-line:\n%s", s)
	}
}

// fakeIntrospectServer issues tokens tok-1, tok-2, ... at /token and answers /introspect
// with active true for the tokens it issued (except inactive ones), counting each token's
// introspections and checking the caller's credentials.
type fakeIntrospectServer struct {
	*httptest.Server
	issued   atomic.Int64
	mu       sync.Mutex
	seen     map[string]int
	inactive string
}

func newFakeIntrospectServer(t *testing.T, inactive string) *fakeIntrospectServer {
	t.Helper()
	f := &fakeIntrospectServer{seen: map[string]int{}, inactive: inactive}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id, secret, basic := r.BasicAuth()
		if basic {
			id, _ = url.QueryUnescape(id)
			secret, _ = url.QueryUnescape(secret)
		} else {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		w.Header().Set("Content-Type", "application/json")
		if id != "client id" || secret != "s3cr&t:" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		switch r.URL.Path {
		case "/token":
			fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"bearer"}`, f.issued.Add(1))
		case "/introspect":
			tok := r.PostForm.Get("token")
			f.mu.Lock()
			f.seen[tok]++
			f.mu.Unlock()
			var n int64
			if _, err := fmt.Sscanf(tok, "tok-%d", &n); err != nil || n < 1 || n > f.issued.Load() || tok == f.inactive {
				fmt.Fprint(w, `{"active":false}`)
				return
			}
			fmt.Fprint(w, `{"active":true,"client_id":"client id"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeIntrospectServer) options(tokens int, basic bool) IntrospectOptions {
	return IntrospectOptions{TokenURL: f.URL + "/token", IntrospectURL: f.URL + "/introspect",
		ClientID: "client id", ClientSecret: "s3cr&t:", Tokens: tokens, Concurrency: 4, Duration: testDuration, BasicAuth: basic}
}

// RunIntrospect obtains its tokens first, then introspects every one of them, round robin,
// with either way of authenticating.
func TestRunIntrospectRoundRobin(t *testing.T) {
	for _, basic := range []bool{false, true} {
		f := newFakeIntrospectServer(t, "")
		res, err := RunIntrospect(context.Background(), f.options(5, basic))
		if err != nil {
			t.Fatalf("basic=%v: %v", basic, err)
		}
		if res.Errors != 0 || res.Requests < 5 || res.StatusCounts[http.StatusOK] != res.Requests {
			t.Errorf("basic=%v: %d requests, %d errors, status %v (%s)", basic, res.Requests, res.Errors, res.StatusCounts, res.FirstError)
		}
		if n := f.issued.Load(); n != 5 {
			t.Errorf("basic=%v: %d tokens obtained, want 5", basic, n)
		}
		f.mu.Lock()
		for i := 1; i <= 5; i++ {
			// Round robin: no token is introspected more than once ahead of another
			// (give or take the requests in flight when the run ended).
			tok := fmt.Sprintf("tok-%d", i)
			if got, lo := f.seen[tok], res.Requests/5-4; got < lo || got == 0 {
				t.Errorf("basic=%v: %s introspected %d times of %d, want about a fifth", basic, tok, got, res.Requests)
			}
		}
		f.mu.Unlock()
	}
	// The default is DefaultIntrospectTokens.
	f := newFakeIntrospectServer(t, "")
	o := f.options(0, false)
	o.MaxRequests = 10
	if _, err := RunIntrospect(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if n := f.issued.Load(); n != DefaultIntrospectTokens {
		t.Errorf("%d tokens obtained, want %d", n, DefaultIntrospectTokens)
	}
}

// An answer that is not "active":true is an error, even with status 200.
func TestRunIntrospectCountsInactive(t *testing.T) {
	f := newFakeIntrospectServer(t, "tok-2")
	res, err := RunIntrospect(context.Background(), f.options(4, false))
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.Errors > res.Requests/4+4 || !strings.Contains(res.FirstError, "not active") {
		t.Errorf("%d errors of %d requests (first: %q), want about a quarter, not active", res.Errors, res.Requests, res.FirstError)
	}
	if res.StatusCounts[http.StatusOK] != res.Requests {
		t.Errorf("status %v: every answer was a 200", res.StatusCounts)
	}
}

// Wrong credentials fail at the first token, before any load.
func TestRunIntrospectWrongCredentials(t *testing.T) {
	f := newFakeIntrospectServer(t, "")
	o := f.options(3, false)
	o.ClientSecret = "wrong"
	_, err := RunIntrospect(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "obtaining token 1 of 3") || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("err = %v, want the first token's invalid_client", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != 0 {
		t.Errorf("introspected %v without tokens", f.seen)
	}
	if _, err := RunIntrospect(context.Background(), IntrospectOptions{TokenURL: f.URL}); err == nil {
		t.Error("no IntrospectURL accepted")
	}
}
