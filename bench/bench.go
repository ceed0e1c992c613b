// Package bench is a small closed-loop HTTP load generator. RunHTTP is the
// generic engine: N workers issue requests back to back over keep-alive
// connections until a duration, a request count or the context runs out.
// RunToken drives an OAuth 2.0 token endpoint with the client_credentials
// grant on top of it; other request shapes (for example MCP tools/list
// calls) can reuse RunHTTP directly.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxRequests bounds a run whose MaxRequests is zero, so that every
// run is bounded in count as well as in time.
const DefaultMaxRequests = 10_000_000

// maxBodyBytes is how much of a response body is handed to Check; the rest
// is read and discarded so that the connection can be reused.
const maxBodyBytes = 1 << 20

// HTTPOptions configures RunHTTP.
type HTTPOptions struct {
	// Concurrency is the number of workers, each with at most one request
	// in flight. Zero means 1.
	Concurrency int
	// Duration is how long the run lasts. Requests still in flight when it
	// ends are abandoned and not counted (unless Drain). Zero means no time bound other
	// than the context (MaxRequests still applies).
	Duration time.Duration
	// MaxRequests bounds the number of requests issued in total. Zero means
	// DefaultMaxRequests.
	MaxRequests int
	// NewRequest builds one request. It is called once per request, from
	// several goroutines at once, so it must be safe for concurrent use and
	// return a fresh body each time. The run's context is attached to it.
	NewRequest func() (*http.Request, error)
	// Check judges a response, given its (possibly truncated, see
	// maxBodyBytes) body. A non-nil error counts the request as an error.
	// Nil means any 2xx status succeeds.
	Check func(*http.Response, []byte) error
	// HTTPClient is used as is when set. When nil, a client whose transport
	// keeps at least Concurrency idle connections per host is built for the
	// run and its idle connections are closed at the end.
	HTTPClient *http.Client
	// Drain lets the requests in flight when Duration ends complete, and
	// counts them, instead of abandoning them: a cancelled request closes its
	// connection and the server sees it fail, which matters to runs that follow
	// one another on the same HTTPClient (RunSoak's windows). Cancelling ctx
	// still abandons them.
	Drain bool
}

// Result summarises a run.
type Result struct {
	// Requests is the number of completed requests, errors included.
	Requests int
	// Errors is the number of requests that failed: transport errors and
	// responses rejected by Check.
	Errors int
	// Duration is the wall-clock time of the run.
	Duration time.Duration
	// RPS is Requests divided by Duration.
	RPS float64
	// Latency percentiles (nearest rank) and maximum over all completed
	// requests, errors included.
	P50, P90, P99, Max time.Duration
	// StatusCounts counts responses by HTTP status code. Requests that got
	// no response (transport errors) are not in it.
	StatusCounts map[int]int
	// FirstError describes the first error seen, if any.
	FirstError string
}

// String renders the result as a multi-line report.
func (r Result) String() string {
	var b strings.Builder
	errPct := 0.0
	if r.Requests > 0 {
		errPct = 100 * float64(r.Errors) / float64(r.Requests)
	}
	fmt.Fprintf(&b, "requests:    %d (%d errors, %.2f%%)\n", r.Requests, r.Errors, errPct)
	fmt.Fprintf(&b, "duration:    %s\n", r.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "throughput:  %.1f req/s\n", r.RPS)
	fmt.Fprintf(&b, "latency:     p50=%s p90=%s p99=%s max=%s\n",
		fmtLatency(r.P50), fmtLatency(r.P90), fmtLatency(r.P99), fmtLatency(r.Max))
	if len(r.StatusCounts) > 0 {
		codes := make([]int, 0, len(r.StatusCounts))
		for c := range r.StatusCounts {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		parts := make([]string, len(codes))
		for i, c := range codes {
			parts[i] = fmt.Sprintf("%d=%d", c, r.StatusCounts[c])
		}
		fmt.Fprintf(&b, "status:      %s\n", strings.Join(parts, " "))
	}
	if r.FirstError != "" {
		fmt.Fprintf(&b, "first error: %s\n", r.FirstError)
	}
	return b.String()
}

func fmtLatency(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

// worker-local tallies, merged at the end.
type tally struct {
	latencies []time.Duration
	errors    int
	status    map[int]int
}

// RunHTTP runs the load described by o and returns its result. If ctx is
// cancelled before the run ends by itself, the partial result is returned
// together with ctx's error; if NewRequest fails, the run stops and the
// partial result is returned with that error.
func RunHTTP(ctx context.Context, o HTTPOptions) (Result, error) {
	if o.NewRequest == nil {
		return Result{}, errors.New("bench: NewRequest is required")
	}
	if o.Concurrency < 0 || o.Duration < 0 || o.MaxRequests < 0 {
		return Result{}, errors.New("bench: Concurrency, Duration and MaxRequests must not be negative")
	}
	conc := o.Concurrency
	if conc == 0 {
		conc = 1
	}
	maxReq := o.MaxRequests
	if maxReq == 0 {
		maxReq = DefaultMaxRequests
	}
	check := o.Check
	if check == nil {
		check = func(resp *http.Response, _ []byte) error {
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
	}
	client := o.HTTPClient
	if client == nil {
		tr := newTransport(conc)
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}

	runCtx := ctx
	var cancel context.CancelFunc
	if o.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, o.Duration)
	} else {
		runCtx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	// The requests' context: the run's, unless those in flight at its end drain.
	reqCtx := runCtx
	if o.Drain {
		reqCtx = ctx
	}

	// Preallocate room for the latencies each worker is likely to record.
	perWorker := (maxReq + conc - 1) / conc
	if perWorker > 1<<16 {
		perWorker = 1 << 16
	}

	var (
		issued   atomic.Int64
		errOnce  sync.Once
		firstErr string
		buildErr atomic.Pointer[error]
		wg       sync.WaitGroup
	)
	tallies := make([]tally, conc)
	recordErr := func(err error) {
		errOnce.Do(func() { firstErr = err.Error() })
	}

	start := time.Now()
	for w := 0; w < conc; w++ {
		t := &tallies[w]
		t.latencies = make([]time.Duration, 0, perWorker)
		t.status = make(map[int]int)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 4096)
			for runCtx.Err() == nil {
				if issued.Add(1) > int64(maxReq) {
					return
				}
				req, err := o.NewRequest()
				if err != nil {
					// A broken request factory would fail every time.
					err = fmt.Errorf("bench: building request: %w", err)
					recordErr(err)
					buildErr.CompareAndSwap(nil, &err)
					t.errors++
					cancel()
					return
				}
				req = req.WithContext(reqCtx)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if reqCtx.Err() != nil {
						return // abandoned at the end of the run
					}
					t.latencies = append(t.latencies, time.Since(t0))
					t.errors++
					recordErr(err)
					continue
				}
				buf, err = readBody(resp.Body, buf[:0])
				lat := time.Since(t0)
				if err != nil && reqCtx.Err() != nil {
					return
				}
				t.latencies = append(t.latencies, lat)
				t.status[resp.StatusCode]++
				if err == nil {
					err = check(resp, buf)
				}
				if err != nil {
					t.errors++
					recordErr(err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	res := Result{Duration: elapsed, StatusCounts: make(map[int]int), FirstError: firstErr}
	n := 0
	for i := range tallies {
		n += len(tallies[i].latencies)
	}
	all := make([]time.Duration, 0, n)
	for i := range tallies {
		t := &tallies[i]
		all = append(all, t.latencies...)
		res.Errors += t.errors
		for c, k := range t.status {
			res.StatusCounts[c] += k
		}
	}
	res.Requests = len(all)
	// A request-building failure is an error without a completed request.
	if res.Errors > res.Requests {
		res.Requests = res.Errors
	}
	if elapsed > 0 {
		res.RPS = float64(res.Requests) / elapsed.Seconds()
	}
	if len(all) > 0 {
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		res.P50 = percentile(all, 50)
		res.P90 = percentile(all, 90)
		res.P99 = percentile(all, 99)
		res.Max = all[len(all)-1]
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := buildErr.Load(); err != nil {
		return res, *err
	}
	return res, nil
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// readBody reads up to maxBodyBytes into buf, discards the rest and closes
// the body, so the connection goes back to the pool.
func readBody(body io.ReadCloser, buf []byte) ([]byte, error) {
	defer body.Close()
	lr := io.LimitReader(body, maxBodyBytes)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf, err
		}
	}
	_, err := io.Copy(io.Discard, body)
	return buf, err
}

func newTransport(conc int) *http.Transport {
	return &http.Transport{
		// A load generator talks to the target directly, never via a proxy.
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc * 2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// TokenOptions configures RunToken.
type TokenOptions struct {
	// TokenURL is the token endpoint, e.g. http://127.0.0.1:8080/api/oauth/token.
	TokenURL     string
	ClientID     string
	ClientSecret string
	// Scope is sent as the scope parameter when not empty.
	Scope       string
	Concurrency int
	Duration    time.Duration
	// BasicAuth sends the client credentials with HTTP Basic
	// (client_secret_basic) instead of in the form (client_secret_post).
	BasicAuth  bool
	HTTPClient *http.Client
	// MaxRequests bounds the number of requests; zero means
	// DefaultMaxRequests.
	MaxRequests int
	// Drain is HTTPOptions.Drain.
	Drain bool
}

// RunToken drives o.TokenURL with client_credentials grants. A response
// counts as an error unless it is a 200 whose JSON body has a non-empty
// access_token.
func RunToken(ctx context.Context, o TokenOptions) (Result, error) {
	if o.TokenURL == "" {
		return Result{}, errors.New("bench: TokenURL is required")
	}
	if _, err := url.Parse(o.TokenURL); err != nil {
		return Result{}, fmt.Errorf("bench: TokenURL: %w", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if o.Scope != "" {
		form.Set("scope", o.Scope)
	}
	creds := clientAuth{id: o.ClientID, secret: o.ClientSecret, basic: o.BasicAuth}
	body := creds.form(form).Encode()
	return RunHTTP(ctx, HTTPOptions{
		Concurrency: o.Concurrency,
		Duration:    o.Duration,
		MaxRequests: o.MaxRequests,
		HTTPClient:  o.HTTPClient,
		Drain:       o.Drain,
		NewRequest:  func() (*http.Request, error) { return creds.post(o.TokenURL, body) },
		Check:       CheckTokenResponse,
	})
}

// clientAuth is how a confidential client authenticates its requests: in the form
// (client_secret_post) or with HTTP Basic (client_secret_basic).
type clientAuth struct {
	id, secret string
	basic      bool
}

// form adds the credentials to form unless they travel in a header.
func (c clientAuth) form(form url.Values) url.Values {
	if !c.basic {
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	}
	return form
}

// post builds a form POST of body to target.
func (c clientAuth) post(target, body string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.basic {
		// RFC 6749 section 2.3.1: Basic credentials are form-urlencoded first.
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	}
	return req, nil
}

// CheckTokenResponse accepts a 200 response whose JSON body carries a
// non-empty access_token.
func CheckTokenResponse(resp *http.Response, body []byte) error {
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, snippet(body))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return fmt.Errorf("decoding token response: %v: %s", err, snippet(body))
	}
	if tok.AccessToken == "" {
		return fmt.Errorf("token response without access_token: %s", snippet(body))
	}
	return nil
}

func snippet(b []byte) string {
	const n = 200
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
