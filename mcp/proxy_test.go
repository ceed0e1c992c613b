package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/netguard"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/mcp"
	"github.com/conexor/conexor/provider"
)

// seen records the requests an upstream received.
type seen struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *seen) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (s *seen) all() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}

// CountInput is the argument of the upstream's streaming tool.
type CountInput struct {
	To int `json:"to"`
}

// newUpstream starts a stateful go-sdk Streamable HTTP MCP server (sessions, SSE
// responses) with one tool, count, that reports progress and logs before it answers. Its
// first progress notification must reach the client before the tool goes on: the tool
// waits for the client to say it got it, so a proxy that buffered responses would stall.
func newUpstream(t *testing.T, firstSeen <-chan struct{}) (*httptest.Server, *seen) {
	t.Helper()
	srv := sdk.NewServer(&sdk.Implementation{Name: "upstream", Version: "1"}, nil)
	sdk.AddTool(srv, &sdk.Tool{Name: "count", Description: "Counts, reporting progress."},
		func(ctx context.Context, req *sdk.CallToolRequest, in CountInput) (*sdk.CallToolResult, any, error) {
			tok := req.Params.GetProgressToken()
			for i := 1; i <= in.To; i++ {
				if err := req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{
					ProgressToken: tok, Progress: float64(i), Total: float64(in.To), Message: fmt.Sprintf("step %d", i)}); err != nil {
					return nil, nil, err
				}
				if err := req.Session.Log(ctx, &sdk.LoggingMessageParams{Level: "info", Data: fmt.Sprintf("counted %d", i)}); err != nil {
					return nil, nil, err
				}
				if i == 1 {
					select {
					case <-firstSeen:
					case <-time.After(10 * time.Second):
						return nil, nil, fmt.Errorf("the client never saw the first progress notification: the response is buffered")
					}
				}
			}
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: fmt.Sprintf("counted to %d", in.To)}}}, nil, nil
		})
	rec := &seen{}
	ts := httptest.NewServer(rec.wrap(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil)))
	t.Cleanup(ts.Close)
	return ts, rec
}

// proxiedEnv runs Conexor with acme/proxied forwarding to upstreamURL, its configured
// headers carrying an API key, and returns a token for it.
func proxiedEnv(t *testing.T, upstreamURL string) (*testenv.Env, string) {
	t.Helper()
	return proxiedEnvOn(t, upstreamURL, false)
}

// proxiedEnvOn is proxiedEnv on SQLite, or on Postgres.
func proxiedEnvOn(t *testing.T, upstreamURL string, postgres bool) (*testenv.Env, string) {
	t.Helper()
	e := testenv.New(t, testenv.Options{Postgres: postgres, Configure: func(c *config.Config) {
		c.Upstreams = map[string]config.Upstream{"acme/proxied": {Headers: map[string]string{"X-Api-Key": "upstream-secret"}}}
		c.APIPrivateUpstreams = true // the tests that PATCH the upstream point it at loopback
	}})
	srv := e.CreateServer("acme/proxied")
	srv.Upstream = upstreamURL
	if err := e.Store.UpdateServer(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	id, secret := e.CreateServerClient("acme/proxied", provider.ScopeToolsRead, provider.ScopeToolsExecute)
	return e, e.Token(id, secret)
}

// TestProxyStreams drives a real stateful upstream through the gateway with the go-sdk
// client: sessions, the standalone GET stream, a tool whose SSE response carries progress
// and log notifications before the result, and DELETE at the end. The upstream never sees
// the client's token or cookies, and always sees the configured API key.
func TestProxyStreams(t *testing.T) {
	firstSeen := make(chan struct{})
	upstream, rec := newUpstream(t, firstSeen)
	e, token := proxiedEnv(t, upstream.URL+"/mcp")

	var (
		mu       sync.Mutex
		progress []string
		logs     []string
		once     sync.Once
	)
	client := sdk.NewClient(&sdk.Implementation{Name: "proxy-test", Version: "0"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, req.Params.Message)
			mu.Unlock()
			once.Do(func() { close(firstSeen) })
		},
		LoggingMessageHandler: func(_ context.Context, req *sdk.LoggingMessageRequest) {
			mu.Lock()
			logs = append(logs, fmt.Sprint(req.Params.Data))
			mu.Unlock()
		},
	})
	hc := &http.Client{Transport: &bearer{token: token, base: e.Client.Transport}}
	req, _ := http.NewRequest(http.MethodGet, "/", nil) // a cookie the upstream must not see
	req.AddCookie(&http.Cookie{Name: "conexor_session", Value: "browser-session"})
	ctx := context.Background()
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: e.URL + "/mcp/acme/proxied", HTTPClient: &http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("Cookie", req.Header.Get("Cookie"))
			return hc.Transport.RoundTrip(r)
		}),
	}, MaxRetries: -1}, &sdk.ClientSessionOptions{ProtocolVersion: legacyProtocol})
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	if cs.ID() == "" {
		t.Error("no Mcp-Session-Id came back through the proxy")
	}
	if err := cs.SetLoggingLevel(ctx, &sdk.SetLoggingLevelParams{Level: "info"}); err != nil {
		t.Fatalf("logging/setLevel: %v", err)
	}
	params := &sdk.CallToolParams{Name: "count", Arguments: CountInput{To: 3}}
	params.SetProgressToken("count-1")
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatalf("tools/call through the proxy: %v", err)
	}
	if res.IsError || len(res.Content) != 1 || res.Content[0].(*sdk.TextContent).Text != "counted to 3" {
		t.Fatalf("result = %+v", res.Content)
	}
	// The client dispatches notifications concurrently with the result: wait for them.
	var gotProgress, gotLogs []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		gotProgress, gotLogs = slices.Sorted(slices.Values(progress)), slices.Sorted(slices.Values(logs))
		mu.Unlock()
		if len(gotProgress) == 3 && len(gotLogs) == 3 {
			break
		}
	}
	if diff := cmp.Diff([]string{"step 1", "step 2", "step 3"}, gotProgress); diff != "" {
		t.Errorf("progress notifications (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"counted 1", "counted 2", "counted 3"}, gotLogs); diff != "" {
		t.Errorf("log notifications (-want +got):\n%s", diff)
	}
	sessionID := cs.ID()
	if err := cs.Close(); err != nil {
		t.Logf("close: %v", err)
	}

	var methods []string
	sawDelete := false
	for _, r := range rec.all() {
		methods = append(methods, r.Method)
		if r.Header.Get("Authorization") != "" {
			t.Errorf("upstream saw Authorization %q on %s", r.Header.Get("Authorization"), r.Method)
		}
		if r.Header.Get("Cookie") != "" {
			t.Errorf("upstream saw Cookie on %s", r.Method)
		}
		if got := r.Header.Get("X-Api-Key"); got != "upstream-secret" {
			t.Errorf("upstream saw X-Api-Key %q on %s, want the configured key", got, r.Method)
		}
		if r.URL.Path != "/mcp" || r.URL.RawQuery != "" {
			t.Errorf("upstream request for %s, want /mcp", r.URL)
		}
		for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Forwarded-Host"} {
			if r.Header.Get(h) != "" {
				t.Errorf("upstream saw %s", h)
			}
		}
		if r.Method == http.MethodDelete {
			sawDelete = true
			// The client's session ID is the upstream's plus the gateway's binding to the
			// principal (TestProxySessionBoundToPrincipal); the upstream gets its own back.
			if got := r.Header.Get("Mcp-Session-Id"); got == "" || !strings.HasPrefix(sessionID, got+".") {
				t.Errorf("DELETE with session %q, want the upstream's part of %q", got, sessionID)
			}
		}
	}
	if !strings.Contains(strings.Join(methods, " "), "GET") {
		t.Errorf("the standalone event stream (GET) never reached the upstream; requests: %v", methods)
	}
	if !sawDelete {
		t.Errorf("upstream never saw the session's DELETE; requests: %v", methods)
	}

	// And a token for acme/proxied gets nothing from acme/sales-api, nor the reverse.
	if r := rpc(t, e, salesPath, token, toolsList); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("proxied server's token at sales-api: %d", r.StatusCode)
	}
	if r := rpc(t, e, "/mcp/acme/proxied", e.Token(e.ClientID, e.ClientSecret), toolsList); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("sales-api token at the proxied server: %d", r.StatusCode)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestProxyUnreachable: an upstream nobody listens on is a quick 502 with a JSON-RPC error.
func TestProxyUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e, token := proxiedEnv(t, "http://"+addr+"/mcp")
	start := time.Now()
	r := rpc(t, e, "/mcp/acme/proxied", token, toolsList)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("502 took %s", took)
	}
	if r.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %s", r.StatusCode, r.Body)
	}
	if got := decodeRPCError(t, r); got.Error.Code != -32006 || string(got.ID) != "1" {
		t.Errorf("body: %s", r.Body)
	}
	if m := e.Get("/metrics"); !strings.Contains(string(m.Body),
		`conexor_mcp_requests_total{method="tools/list",outcome="upstream_error",server="acme/proxied"} 1`) {
		t.Error("the 502 was not counted as upstream_error")
	}
}

// TestProxyHostileUpstream: what an upstream answers cannot set cookies on Conexor's origin,
// start an OAuth flow elsewhere, or redirect the client (with its token) away.
func TestProxyHostileUpstream(t *testing.T) {
	mode := make(chan string, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch <-mode {
		case "cookie":
			w.Header().Set("Set-Cookie", "conexor_session=attacker; Path=/")
			w.Header().Set("Access-Control-Allow-Origin", "https://evil.example")
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`)
		case "401":
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="https://evil.example/.well-known/oauth-protected-resource"`)
			w.WriteHeader(http.StatusUnauthorized)
		case "redirect":
			http.Redirect(w, r, "https://evil.example/collect", http.StatusTemporaryRedirect)
		case "html":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<h1>internal admin</h1>")
		}
	}))
	t.Cleanup(upstream.Close)
	e, token := proxiedEnv(t, upstream.URL+"/mcp")

	mode <- "cookie"
	r := rpc(t, e, "/mcp/acme/proxied", token, toolsList)
	if r.StatusCode != 200 || r.Header.Get("Set-Cookie") != "" || r.Header.Get("Access-Control-Allow-Origin") == "https://evil.example" {
		t.Errorf("cookie: status %d, Set-Cookie %q, ACAO %q", r.StatusCode, r.Header.Get("Set-Cookie"), r.Header.Get("Access-Control-Allow-Origin"))
	}
	for _, m := range []string{"401", "redirect", "html"} {
		mode <- m
		r := rpc(t, e, "/mcp/acme/proxied", token, toolsList)
		if r.StatusCode != http.StatusBadGateway || r.Header.Get("WWW-Authenticate") != "" || r.Header.Get("Location") != "" {
			t.Errorf("%s: status %d, WWW-Authenticate %q, Location %q; want a plain 502", m, r.StatusCode,
				r.Header.Get("WWW-Authenticate"), r.Header.Get("Location"))
		}
	}
}

// TestPatchUpstreamKeepsConfiguredHeaders: the configured upstream headers of a server (its
// API key) are the operator's secret and are never shown through any API. A token with
// mcp:server:manage may change the upstream, but pointing it at a host of its choosing would
// hand that host the key on the next request: such a change is refused while headers are
// configured. Moving within the same origin, or back to the demo, still works.
func TestPatchUpstreamKeepsConfiguredHeaders(t *testing.T) {
	upstream, _ := newUpstream(t, make(chan struct{}))
	e, token := proxiedEnv(t, upstream.URL+"/mcp")
	stolen := &seen{}
	thief := httptest.NewServer(stolen.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`))
	})))
	t.Cleanup(thief.Close)
	id, secret := e.CreateServerClient("acme/proxied", provider.ScopeServerManage, provider.ScopeToolsRead)
	manage := e.Token(id, secret)
	patch := func(body string) *testenv.Response {
		req := e.NewRequest(http.MethodPatch, "/api/servers/acme/proxied", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+manage)
		return e.Do(req)
	}

	r := patch(`{"upstream":"` + thief.URL + `/mcp"}`)
	rpc(t, e, "/mcp/acme/proxied", token, toolsList)
	for _, req := range stolen.all() {
		if req.Header.Get("X-Api-Key") != "" {
			t.Fatalf("PATCH to another origin answered %d and the next request sent the configured API key there", r.StatusCode)
		}
	}
	if r.StatusCode != http.StatusForbidden || !strings.Contains(string(r.Body), "configured") {
		t.Errorf("PATCH upstream to another origin: status %d: %s, want 403 naming the configured headers", r.StatusCode, r.Body)
	}
	if got := e.ServerByPath("acme/proxied").Upstream; got != upstream.URL+"/mcp" {
		t.Errorf("upstream after the refused PATCH = %q", got)
	}
	if r := patch(`{"upstream":"` + upstream.URL + `/mcp?v=2"}`); r.StatusCode != http.StatusOK {
		t.Errorf("PATCH within the same origin: %d: %s", r.StatusCode, r.Body)
	}
	if r := patch(`{"upstream":""}`); r.StatusCode != http.StatusOK {
		t.Errorf("PATCH back to the demo: %d: %s", r.StatusCode, r.Body)
	}
	// Now at the demo: any origin would be new, so still refused.
	if r := patch(`{"upstream":"` + thief.URL + `/mcp"}`); r.StatusCode != http.StatusForbidden {
		t.Errorf("PATCH from the demo to an origin of the caller's choosing: %d: %s", r.StatusCode, r.Body)
	}
}

// TestProxySessionBoundToPrincipal: the upstream never learns who is calling (the token is
// not passed through), so only the gateway can keep one caller out of another's MCP session.
// A session ID works only with tokens of the principal that opened the session (same
// subject, client and server; a renewed token included); anyone else who learns it is told
// the session does not exist (404) and nothing reaches the upstream (MCP security best
// practices, "Session Hijacking").
func TestProxySessionBoundToPrincipal(t *testing.T) {
	upstream, rec := newUpstream(t, make(chan struct{}))
	e, _ := proxiedEnv(t, upstream.URL+"/mcp")
	ownerID, ownerSecret := e.CreateServerClient("acme/proxied", provider.ScopeToolsRead)
	cs := connect(t, e, e.URL+"/mcp/acme/proxied", e.Token(ownerID, ownerSecret), legacyProtocol)
	sid := cs.ID()
	if sid == "" {
		t.Fatal("no session")
	}
	otherID, otherSecret := e.CreateServerClient("acme/proxied", provider.ScopeToolsRead)
	other := e.Token(otherID, otherSecret)
	call := func(method, token, session string) *testenv.Response {
		body := ""
		if method == http.MethodPost {
			body = toolsList
		}
		req := e.NewRequest(method, "/mcp/acme/proxied", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", legacyProtocol)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Mcp-Session-Id", session)
		return e.Do(req)
	}
	before := len(rec.all())
	for _, m := range []string{http.MethodPost, http.MethodDelete} {
		if r := call(m, other, sid); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s with another client's session: status %d: %s", m, r.StatusCode, r.Body)
		}
	}
	if r := call(http.MethodPost, e.Token(ownerID, ownerSecret), sid+"x"); r.StatusCode != http.StatusNotFound {
		t.Errorf("POST with an altered session ID: status %d", r.StatusCode)
	}
	if n := len(rec.all()) - before; n != 0 {
		t.Errorf("%d refused requests reached the upstream", n)
	}
	// The session survived, and its owner keeps it with a renewed token.
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatalf("the session's own client: %v", err)
	}
	if r := call(http.MethodPost, e.Token(ownerID, ownerSecret), sid); r.StatusCode != http.StatusOK {
		t.Errorf("the owner with a renewed token: status %d: %s", r.StatusCode, r.Body)
	}
}

// TestProxyEmptyAnswers: an upstream built on the TypeScript SDK answers DELETE (and may
// answer a notification) with a 2xx, no Content-Type and an empty chunked body, so its
// length is unknown. Those are relayed; a body with no content type still is not.
func TestProxyEmptyAnswers(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodDelete || strings.Contains(readAll(t, r.Body), "notifications/"):
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush() // headers out now: the empty body goes chunked
		default:
			w.Header()["Content-Type"] = nil // no sniffing
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			fmt.Fprint(w, `not a JSON-RPC answer`)
		}
	}))
	t.Cleanup(upstream.Close)
	e, token := proxiedEnv(t, upstream.URL+"/mcp")

	if r := rawRequest(t, e, http.MethodDelete, "/mcp/acme/proxied", token, ""); r.StatusCode != http.StatusOK || len(r.Body) != 0 {
		t.Errorf("DELETE: status %d, want the upstream's 200: %s", r.StatusCode, r.Body)
	}
	if r := rpc(t, e, "/mcp/acme/proxied", token, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); r.StatusCode != http.StatusOK || len(r.Body) != 0 {
		t.Errorf("notification: status %d, want the upstream's empty 200: %s", r.StatusCode, r.Body)
	}
	if r := rpc(t, e, "/mcp/acme/proxied", token, toolsList); r.StatusCode != http.StatusBadGateway {
		t.Errorf("a body without a content type: status %d, want 502: %s", r.StatusCode, r.Body)
	}
}

// TestProxyDialPolicy: the address policy acts when the proxy dials, on the address the
// upstream's host resolves to then. An upstream a token holder named through the API that
// resolves to an internal address (localhost here: as if its DNS answer changed after the
// API's early check) is refused with a 502 JSON-RPC error and a log line, and nothing
// reaches it. The same URL set by an operator works, and so does the API's with
// api_private_upstreams.
func TestProxyDialPolicy(t *testing.T) {
	var hits atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`)
	}))
	t.Cleanup(upstream.Close)
	_, port, _ := net.SplitHostPort(upstream.Listener.Addr().String())
	local := "http://localhost:" + port + "/mcp"
	for _, tc := range []struct {
		name              string
		byAPI, apiPrivate bool
		refused           bool
	}{
		{"set through the API", true, false, true},
		{"set by an operator", false, false, false},
		{"set through the API with api_private_upstreams", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			e := testenv.New(t, testenv.Options{Log: slog.New(slog.NewJSONHandler(&logs, nil)),
				Configure: func(c *config.Config) { c.APIPrivateUpstreams = tc.apiPrivate }})
			e.CreateServer("acme/proxied")
			if _, err := e.Provider.UpdateServer(context.Background(), "acme", "proxied",
				provider.ServerChange{Upstream: &local, ByAPI: tc.byAPI}); err != nil {
				t.Fatal(err)
			}
			id, secret := e.CreateServerClient("acme/proxied", provider.ScopeToolsRead)
			before := hits.Load()
			r := rpc(t, e, "/mcp/acme/proxied", e.Token(id, secret), toolsList)
			if !tc.refused {
				if r.StatusCode != http.StatusOK || hits.Load() != before+1 {
					t.Fatalf("status %d, %d upstream hits: %s", r.StatusCode, hits.Load()-before, r.Body)
				}
				return
			}
			if r.StatusCode != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %s", r.StatusCode, r.Body)
			}
			if got := decodeRPCError(t, r); got.Error.Code != mcp.CodeUnavailable || string(got.ID) != "1" ||
				got.Error.Message != "The upstream MCP server is on an address the gateway does not connect to for this server." {
				t.Errorf("body: %s", r.Body)
			}
			if n := hits.Load() - before; n != 0 {
				t.Errorf("%d requests reached the upstream", n)
			}
			var logged bool
			for _, line := range strings.Split(logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "upstream refused by the network policy" &&
					m["server"] == "acme/proxied" && strings.Contains(fmt.Sprint(m["err"]), "is not a public address") {
					logged = true
				}
			}
			if !logged {
				t.Errorf("no log line for the refusal:\n%s", logs.String())
			}
		})
	}
}

// TestUpstreamTransportIgnoresEnvironmentProxy: a proxy from HTTP_PROXY would dial on the
// gateway's behalf, so the address policy would check the proxy, not the upstream.
func TestUpstreamTransportIgnoresEnvironmentProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:3128")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
	for _, policy := range []netguard.Policy{netguard.Public, netguard.Internal} {
		if tr := mcp.NewUpstreamTransport(policy, time.Second, time.Second); tr.Proxy != nil {
			t.Errorf("policy %v: the upstream transport uses a proxy from the environment", policy)
		}
	}
}
