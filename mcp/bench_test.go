package mcp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/conexor/conexor/bench"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/mcp"
	"github.com/conexor/conexor/mcp/demo"
	"github.com/conexor/conexor/provider"
)

// benchClients is the number of concurrent clients of the budget: the gate may
// cost at most 10% of tools/list throughput at 64 concurrent clients.
const benchClients = 64

// benchTargets serves tools/list four ways on loopback HTTP:
//
//	direct       the demo handler alone (no gate, no token), the baseline
//	direct-auth  the same, with the Authorization header sent (and ignored): what carrying
//	             a bearer token costs client and server before anyone checks it
//	gate         the gateway (router, gate, demo) with the revocation set
//	exact        the same with a storage lookup per request instead of the set
//	app          the whole Conexor handler (middleware, metrics, CORS, gate, demo)
//	filtered     the gate again, with a token whose only tools scope is limited to some
//	             tools (benchQueryScope): every answer is parsed and filtered
//	proxied      the whole Conexor handler in front of direct as a server's upstream (the
//	             proxy and its relay, over a second loopback connection): what an upstream
//	             MCP server loses when it is called through Conexor
//	hop          a bare httputil.ReverseProxy in front of direct, no gate: what the second
//	             HTTP exchange itself costs on this machine, which proxied cannot avoid
//
// and returns their URLs and the token to send to each (none to direct).
func benchTargets(b *testing.B) (urls, tokens map[string]string) {
	b.Helper()
	e := testenv.New(b, testenv.Options{Configure: func(c *config.Config) {
		c.Scopes = append(c.Scopes, provider.Scope{Name: benchQueryScope, Description: "Run queries",
			Tools: []string{"list_*", "run_query"}})
	}})
	token := e.Token(e.ClientID, e.ClientSecret, provider.ScopeToolsRead)
	id, secret := e.CreateServerClient("acme/sales-api", benchQueryScope)
	urls = map[string]string{"app": e.URL + salesPath}
	tokens = map[string]string{"direct-auth": token, "gate": token, "app": token, "exact": token, "filtered": e.Token(id, secret)}

	d, err := demo.New(demo.Options{DisableLocalhostProtection: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	direct := httptest.NewServer(d.Handler())
	b.Cleanup(direct.Close)
	urls["direct"] = direct.URL + salesPath
	urls["direct-auth"] = direct.URL + salesPath

	// The demo behind direct is also an upstream of e, set by the operator (so loopback is
	// allowed): the same server called directly and through Conexor.
	srv := e.CreateServer(benchProxiedPath)
	srv.Upstream = direct.URL + "/mcp"
	if err := e.Store.UpdateServer(context.Background(), srv); err != nil {
		b.Fatal(err)
	}
	pid, psecret := e.CreateServerClient(benchProxiedPath, provider.ScopeToolsRead)
	urls["proxied"] = e.URL + "/mcp/" + benchProxiedPath
	tokens["proxied"] = e.Token(pid, psecret)
	target, err := url.Parse(direct.URL)
	if err != nil {
		b.Fatal(err)
	}
	hopTransport := http.DefaultTransport.(*http.Transport).Clone()
	hopTransport.MaxIdleConnsPerHost = benchClients
	b.Cleanup(hopTransport.CloseIdleConnections)
	hop := httptest.NewServer(&httputil.ReverseProxy{Transport: hopTransport,
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }})
	b.Cleanup(hop.Close)
	urls["hop"] = hop.URL + salesPath

	// The standalone gateways verify tokens of e's issuer and serve its servers; they only
	// listen elsewhere (the path, not the host, names the server).
	for name, exact := range map[string]bool{"gate": false, "exact": true} {
		g, err := mcp.New(mcp.Options{Issuer: e.URL, Verifier: e.Provider, Servers: e.Store, Tokens: e.Store, Editor: e.Provider,
			Scopes: e.Provider.Scopes(), Demo: d.Handler(), ExactRevocationCheck: exact})
		if err != nil {
			b.Fatal(err)
		}
		r := mux.NewRouter()
		r.SkipClean(true)
		r.Handle("/mcp/{org}/{server}", g.Endpoints().MCP)
		ts := httptest.NewServer(r)
		b.Cleanup(ts.Close)
		urls[name] = ts.URL + salesPath
	}
	urls["filtered"] = urls["gate"]
	return urls, tokens
}

// benchProxiedPath is the proxied target's server: direct as an upstream.
const benchProxiedPath = "acme/bench-upstream"

// benchQueryScope is the filtered target's scope: tools/call of list_tables and run_query
// only, so its tools/list answers leave describe_table out.
const benchQueryScope = "demo:query"

func toolsListRequest(url, token string) func() (*http.Request, error) {
	body := []byte(toolsList)
	return func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return req, nil
	}
}

// checkToolsListOf checks a target's answers: every target lists run_query, and only the
// filtered one leaves describe_table out.
func checkToolsListOf(target string) func(*http.Response, []byte) error {
	return func(resp *http.Response, body []byte) error {
		filtered := !bytes.Contains(body, []byte(`"describe_table"`))
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"run_query"`)) || filtered != (target == "filtered") {
			return fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
		}
		return nil
	}
}

// BenchmarkGateOverhead measures authorized tools/list requests per second over loopback
// HTTP from 64 closed-loop clients (bench.RunHTTP), for each target of benchTargets, in
// alternating rounds so that load from elsewhere on the machine hits all of them alike.
// It reports each target's median throughput and CPU time per request, and the cost of
// each relative to direct.
//
//	go test -run '^$' -bench GateOverhead -benchtime 1x ./mcp/
//
// CONEXOR_BENCH_SECONDS (default 3) sets the length of each round, CONEXOR_BENCH_ROUNDS
// (default 3) the number of rounds, CONEXOR_BENCH_TARGETS (default all) the targets, which
// must include direct: every cost is against it (for proxied, the upstream called directly).
func BenchmarkGateOverhead(b *testing.B) {
	seconds, rounds := envInt("CONEXOR_BENCH_SECONDS", 3), envInt("CONEXOR_BENCH_ROUNDS", 3)
	urls, tokens := benchTargets(b)
	order := benchOrder()
	rps := map[string][]float64{}
	cpu := map[string]time.Duration{} // process CPU time (server and load generator) per target
	reqs := map[string]int{}
	for range b.N {
		for round := 0; round < rounds; round++ {
			for _, name := range order {
				before := processCPU()
				res, err := bench.RunHTTP(context.Background(), bench.HTTPOptions{
					Concurrency: benchClients,
					Duration:    time.Duration(seconds) * time.Second,
					NewRequest:  toolsListRequest(urls[name], tokens[name]),
					Check:       checkToolsListOf(name),
				})
				used := processCPU() - before
				if err != nil || res.Errors > 0 {
					b.Fatalf("%s: %v, %d errors (first: %s)", name, err, res.Errors, res.FirstError)
				}
				cpu[name] += used
				reqs[name] += res.Requests
				rps[name] = append(rps[name], res.RPS)
				b.Logf("round %d %-6s %8.0f req/s  p50 %-8s p99 %-8s  %5.0f µs CPU/req", round+1, name, res.RPS,
					res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), perReq(used, res.Requests))
			}
		}
	}
	// Throughput swings with whatever else runs on the machine, so each target's median
	// round counts. CPU time per request (this process: server and load generator) swings
	// far less, and on a CPU-bound machine it is what throughput is divided by.
	base, baseCPU := median(rps["direct"]), perReq(cpu["direct"], reqs["direct"])
	for _, name := range order {
		c := perReq(cpu[name], reqs[name])
		b.ReportMetric(median(rps[name]), name+"-req/s")
		b.ReportMetric(c, name+"-cpu-µs/req")
		if name != "direct" {
			b.ReportMetric(100*(1-median(rps[name])/base), name+"-cost-%")
			b.ReportMetric(100*(c/baseCPU-1), name+"-cpu-cost-%")
		}
	}
}

// benchOrder is the targets of benchTargets in the order each round runs them, or those
// CONEXOR_BENCH_TARGETS names (comma-separated), so that a comparison of two targets can
// run alone.
func benchOrder() []string {
	if v := strings.TrimSpace(os.Getenv("CONEXOR_BENCH_TARGETS")); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"direct", "direct-auth", "gate", "app", "exact", "filtered", "hop", "proxied"}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func perReq(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkToolsList is the same comparison as go test benchmarks (ns/op per request,
// allocations), for profiling: go test -run '^$' -bench ToolsList -cpuprofile cpu.out ./mcp/
func BenchmarkToolsList(b *testing.B) {
	urls, tokens := benchTargets(b)
	for _, name := range benchOrder() {
		b.Run(name, func(b *testing.B) {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost = 2 * benchClients
			b.Cleanup(tr.CloseIdleConnections)
			hc := &http.Client{Transport: tr}
			newReq := toolsListRequest(urls[name], tokens[name])
			check := checkToolsListOf(name)
			b.SetParallelism((benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			b.ResetTimer()
			var once sync.Once
			b.RunParallel(func(pb *testing.PB) {
				buf := new(bytes.Buffer)
				for pb.Next() {
					req, _ := newReq()
					resp, err := hc.Do(req)
					if err != nil {
						once.Do(func() { b.Error(err) })
						return
					}
					buf.Reset()
					_, _ = buf.ReadFrom(resp.Body)
					resp.Body.Close()
					if err := check(resp, buf.Bytes()); err != nil {
						once.Do(func() { b.Error(err) })
						return
					}
				}
			})
		})
	}
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(strings.TrimSpace(os.Getenv(name)), &n); err != nil || n <= 0 {
		return def
	}
	return n
}

// BenchmarkGateInProcess is the gate's own cost per request, without HTTP: the router and
// gate in front of a backend that does nothing, called directly, against the same backend
// alone. The difference is what the gate adds to every authorized tools/list.
func BenchmarkGateInProcess(b *testing.B) {
	e := testenv.New(b, testenv.Options{})
	token := e.Token(e.ClientID, e.ClientSecret, provider.ScopeToolsRead)
	noop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	g, err := mcp.New(mcp.Options{Issuer: e.URL, Verifier: e.Provider, Servers: e.Store, Tokens: e.Store, Editor: e.Provider,
		Scopes: e.Provider.Scopes(), Demo: noop})
	if err != nil {
		b.Fatal(err)
	}
	r := mux.NewRouter()
	r.SkipClean(true)
	r.Handle("/mcp/{org}/{server}", g.Endpoints().MCP)
	for name, h := range map[string]http.Handler{"backend-only": noop, "gate": r} {
		b.Run(name, func(b *testing.B) { benchInProcess(b, h, e.URL+salesPath, token) })
	}
}

// BenchmarkAppInProcess is the whole app's cost per request without HTTP: the same
// authorized tools/list served by the gateway alone (router, gate, demo) and by the whole
// Conexor handler (recovery, CORS, page headers, metrics, router, gate, demo), called
// directly. The difference is the app's middleware; profile it with
//
//	go test -run '^$' -bench AppInProcess -cpuprofile cpu.out -memprofile mem.out ./mcp/
func BenchmarkAppInProcess(b *testing.B) {
	e := testenv.New(b, testenv.Options{})
	token := e.Token(e.ClientID, e.ClientSecret, provider.ScopeToolsRead)
	d, err := demo.New(demo.Options{DisableLocalhostProtection: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	g, err := mcp.New(mcp.Options{Issuer: e.URL, Verifier: e.Provider, Servers: e.Store, Tokens: e.Store, Editor: e.Provider,
		Scopes: e.Provider.Scopes(), Demo: d.Handler()})
	if err != nil {
		b.Fatal(err)
	}
	r := mux.NewRouter()
	r.SkipClean(true)
	r.Handle("/mcp/{org}/{server}", g.Endpoints().MCP)
	for _, t := range []struct {
		name string
		h    http.Handler
	}{{"gate", r}, {"app", e.App.Handler()}} {
		b.Run(t.name, func(b *testing.B) { benchInProcess(b, t.h, e.URL+salesPath, token) })
	}
}

// benchInProcess calls h with an authorized tools/list from parallel goroutines, without
// HTTP, and fails on any answer but 200.
func benchInProcess(b *testing.B, h http.Handler, target, token string) {
	body := []byte(toolsList)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}
