package connect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/conexor/conexor/connect"
)

// approveAtOnce is a browser whose person approves at once: it follows the redirects to the
// loopback callback.
func approveAtOnce(_ context.Context, u string) error {
	go func() {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
		}
	}()
	return nil
}

// When the path-based protected resource metadata answers 404 the root one is used (MCP
// 2025-11-25 discovery order), after the 401 challenge's resource_metadata.
func TestDiscoveryFallsBackToRootMetadata(t *testing.T) {
	as := newFakeAS(t, false)
	as.pathPRM404 = true
	cs, _ := startConnect(t, connect.Options{URL: as.endpoint(), ClientID: ccID, ClientSecret: ccSecret})
	if got := callEcho(t, cs, "echo", "root"); got != "echo: root" {
		t.Errorf("echo = %q", got)
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	// The 401 names the path-based URL, which is also the path-based candidate: both
	// answer 404; then the root one serves.
	got := strings.Join(as.prmReqs, ",")
	const path, root = "/.well-known/oauth-protected-resource/mcp/acme/demo", "/.well-known/oauth-protected-resource"
	if !strings.HasPrefix(got, path+",") || !strings.HasSuffix(got, ","+root) {
		t.Errorf("metadata requests = %s, want the path-based one, then the root one", got)
	}
}

// A secret and token_endpoint_auth_method that dynamic registration returns are used at the
// token endpoint, for the code and for the refresh.
func TestDynamicRegistrationSecretHonoured(t *testing.T) {
	for _, method := range []string{"client_secret_basic", "client_secret_post"} {
		t.Run(method, func(t *testing.T) {
			as := newFakeAS(t, false)
			as.regSecret, as.regMethod = "dyn-secret", method
			cs, _ := startConnect(t, connect.Options{URL: as.endpoint(), OpenBrowser: approveAtOnce, AuthTimeout: 10 * time.Second, StateDir: t.TempDir()})
			callEcho(t, cs, "echo", "a")
			as.revokeAll()
			callEcho(t, cs, "echo", "b") // refresh after the 401
			as.mu.Lock()
			defer as.mu.Unlock()
			prefix := map[string]string{"client_secret_basic": "basic:", "client_secret_post": "post:"}[method]
			if len(as.codeAuth) != 2 {
				t.Fatalf("token requests authenticated as %v, want a code and a refresh", as.codeAuth)
			}
			for _, how := range as.codeAuth {
				if how != prefix+"client_dyn:dyn-secret" {
					t.Errorf("token request authenticated as %q, want %q", how, prefix+"client_dyn:dyn-secret")
				}
			}
		})
	}
}

// Scopes: --scopes, else the 401's scope, else scopes_supported; a pre-registered public
// client without --scopes asks for none, so the server grants what it may have.
func TestScopeSelection(t *testing.T) {
	cases := []struct {
		name      string
		challenge string
		clientID  string
		scopes    []string
		want      string
	}{
		{name: "scopes_supported", want: "read"},
		{name: "challenge", challenge: "read admin", want: "read admin"},
		{name: "explicit", challenge: "read admin", scopes: []string{"admin"}, want: "admin"},
		{name: "preregistered", clientID: "client_pre", want: ""},
		{name: "preregistered challenge", clientID: "client_pre", challenge: "admin", want: "admin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			as := newFakeAS(t, false)
			as.challengeScope = c.challenge
			cs, _ := startConnect(t, connect.Options{URL: as.endpoint(), ClientID: c.clientID, Scopes: c.scopes,
				OpenBrowser: approveAtOnce, AuthTimeout: 10 * time.Second, StateDir: t.TempDir()})
			if _, err := cs.ListTools(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			as.mu.Lock()
			defer as.mu.Unlock()
			auth := as.authReqs[0]
			if _, sent := auth["scope"]; auth.Get("scope") != c.want || (c.want == "" && sent) {
				t.Errorf("authorization request scope = %q (sent %v), want %q", auth.Get("scope"), sent, c.want)
			}
		})
	}
}

// lifecycleServer is a stateful MCP server that enforces the lifecycle: any request of a
// session before its notifications/initialized is refused, and counted. It needs no
// authorization. tools/call takes a little while, so overlapping calls show. With
// pushOnGET, the session's GET event stream carries a notifications/tools/list_changed.
type lifecycleServer struct {
	pushOnGET   bool
	mu          sync.Mutex
	sessions    map[string]bool // session -> initialized
	n           int
	violations  []string
	inflight    atomic.Int32
	maxInflight atomic.Int32
}

func (l *lifecycleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		return
	}
	if r.Method == http.MethodGet && l.pushOnGET {
		l.mu.Lock()
		initialized := l.sessions[r.Header.Get("Mcp-Session-Id")]
		l.mu.Unlock()
		if !initialized {
			http.Error(w, "no initialized session", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	reply := func(result any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": result})
	}
	sid := r.Header.Get("Mcp-Session-Id")
	l.mu.Lock()
	initialized, known := l.sessions[sid]
	switch {
	case m.Method == "initialize":
		l.n++
		sid = fmt.Sprintf("s%d", l.n)
		l.sessions[sid] = false
		l.mu.Unlock()
		w.Header().Set("Mcp-Session-Id", sid)
		reply(map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{"tools": map[string]any{}},
			"serverInfo": map[string]any{"name": "strict", "version": "1"}})
		return
	case !known:
		l.mu.Unlock()
		http.Error(w, "no session", http.StatusBadRequest)
		return
	case m.Method == "notifications/initialized":
		l.sessions[sid] = true
		l.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		return
	case m.ID == nil:
		l.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		return
	case !initialized:
		l.violations = append(l.violations, m.Method)
		l.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": m.ID,
			"error": map[string]any{"code": -32600, "message": "request before notifications/initialized"}})
		return
	}
	l.mu.Unlock()
	switch m.Method {
	case "tools/list":
		reply(map[string]any{"tools": []any{map[string]any{"name": "slow", "inputSchema": map[string]any{"type": "object"}}}})
	case "tools/call":
		n := l.inflight.Add(1)
		for {
			old := l.maxInflight.Load()
			if n <= old || l.maxInflight.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		l.inflight.Add(-1)
		reply(map[string]any{"content": []any{map[string]any{"type": "text", "text": "done"}}})
	default:
		reply(map[string]any{})
	}
}

// The "done means": an upstream that refuses requests before
// notifications/initialized works through connect under 50 concurrent calls, which still
// overlap once the lifecycle allows it.
func TestRelayKeepsLifecycleOrder(t *testing.T) {
	for round := range 5 {
		up := &lifecycleServer{sessions: map[string]bool{}}
		srv := httptest.NewServer(up)
		cs, _ := startConnect(t, connect.Options{URL: srv.URL + "/mcp"})
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{}})
				switch {
				case err != nil:
					errs <- fmt.Errorf("call %d: %w", i, err)
				case res.IsError:
					errs <- fmt.Errorf("call %d: tool error %+v", i, res.Content)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		up.mu.Lock()
		if len(up.violations) > 0 {
			t.Errorf("round %d: the upstream got %v before notifications/initialized", round, up.violations)
		}
		up.mu.Unlock()
		if m := up.maxInflight.Load(); m < 2 {
			t.Errorf("round %d: at most %d tools/call in flight at once; calls after initialization must overlap", round, m)
		}
		cs.Close()
		srv.Close()
	}
}

// A server that answers discovery's request with an endless event stream does not hold
// up the start.
func TestDiscoveryProbeBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Mcp-Session-Id") != "" || strings.HasPrefix(r.URL.Path, "/.well-known/") {
			if strings.HasPrefix(r.URL.Path, "/.well-known/") {
				http.NotFound(w, r)
			}
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, ": waiting\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	start := time.Now()
	err := connect.Run(context.Background(), connect.Options{URL: srv.URL + "/mcp", In: strings.NewReader(""), Out: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %s with an event-stream answer to discovery", d)
	}
}

// A wrong URL is said as a sentence that names what to check.
func TestWrongURLIsASentence(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	err := connect.Run(context.Background(), connect.Options{URL: srv.URL + "/mcp/acme/typo", In: strings.NewReader(""), Out: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "answers 404 Not Found: check the URL") {
		t.Errorf("Run = %v, want a sentence about the URL", err)
	}
}

// countingBrowser approves at once and counts how often it was opened.
func countingBrowser(n *atomic.Int32) func(context.Context, string) error {
	return func(ctx context.Context, u string) error {
		n.Add(1)
		return approveAtOnce(ctx, u)
	}
}

// A 401 mid-session refreshes once; when the server refuses the refreshed token too, the
// browser flow runs, and the same call still succeeds.
func TestUnauthorizedAfterRefreshReauthorizes(t *testing.T) {
	as := newFakeAS(t, false)
	var opened atomic.Int32
	cs, _ := startConnect(t, connect.Options{URL: as.endpoint(), OpenBrowser: countingBrowser(&opened), AuthTimeout: 10 * time.Second, StateDir: t.TempDir()})
	callEcho(t, cs, "echo", "1")
	as.mu.Lock()
	as.refreshUseless = true
	as.mu.Unlock()
	as.revokeAll()
	if got := callEcho(t, cs, "echo", "2"); got != "echo: 2" {
		t.Errorf("echo = %q", got)
	}
	if g := strings.Join(as.grants(), ","); g != "authorization_code,refresh_token,authorization_code" {
		t.Errorf("grants = %s, want one refresh, then the browser", g)
	}
	if n := opened.Load(); n != 2 {
		t.Errorf("browser opened %d times, want 2", n)
	}
}

// A 403 insufficient_scope that asks for nothing the token lacks does not send the person
// to the browser again (and again): the call fails with a sentence.
func TestStepUpStopsWhenNothingNew(t *testing.T) {
	as := newFakeAS(t, false)
	as.neverEnough = true
	var opened atomic.Int32
	cs, _ := startConnect(t, connect.Options{URL: as.endpoint(), OpenBrowser: countingBrowser(&opened), AuthTimeout: 10 * time.Second, StateDir: t.TempDir()})
	for range 3 {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
		if err == nil || !strings.Contains(err.Error(), "refuses the request even with the scope") {
			t.Errorf("tools/call = %v, want the refusal explained", err)
		}
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("browser opened %d times, want 1 (the first authorization only)", n)
	}
}

// Progress passes from the server to the client during a call, the client's cancellation
// reaches the server while the call runs, a server request reaches the client and its
// answer the server, and a notification outside any call (sent on the session's GET event
// stream, which the relay opens) reaches the client.
func TestRelayProgressCancellationAndServerRequests(t *testing.T) {
	cancelled := make(chan struct{})
	var elicited atomic.Value
	server := mcp.NewServer(&mcp.Implementation{Name: "streams", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "wait"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1, Message: "started"})
		<-ctx.Done()
		close(cancelled)
		return nil, nil, ctx.Err()
	})
	mcp.AddTool(server, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		var session *mcp.ServerSession
		for ss := range server.Sessions() {
			session = ss
		}
		res, err := session.Elicit(context.WithoutCancel(ctx), &mcp.ElicitParams{Message: "name?", RequestedSchema: &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{"name": {Type: "string"}}}})
		if err != nil {
			return nil, nil, err
		}
		elicited.Store(res.Action)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: res.Action}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	t.Cleanup(srv.Close) // after connect stops (cleanups run last first)

	progress := make(chan string, 1)
	cs, _ := startConnectWith(t, connect.Options{URL: srv.URL + "/mcp"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			select {
			case progress <- req.Params.Message:
			default:
			}
		},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "decline"}, nil
		},
	})

	ctx, cancel := context.WithCancel(context.Background())
	callDone := make(chan error, 1)
	go func() {
		params := &mcp.CallToolParams{Name: "wait", Arguments: map[string]any{}}
		params.SetProgressToken("p1")
		_, err := cs.CallTool(ctx, params)
		callDone <- err
	}()
	select {
	case msg := <-progress:
		if msg != "started" {
			t.Errorf("progress message %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no progress notification reached the client")
	}
	cancel()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the client's cancellation did not reach the server")
	}
	<-callDone

	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask", Arguments: map[string]any{}})
	if err != nil {
		t.Fatalf("tools/call ask: %v", err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "decline" || elicited.Load() != "decline" {
		t.Errorf("elicitation answer = %q, want decline", got)
	}
}

// A notification the server sends outside any call, on the session's GET event stream,
// reaches the client: the relay opens that stream, as an MCP client would.
func TestRelayOpensServerEventStream(t *testing.T) {
	up := &lifecycleServer{sessions: map[string]bool{}, pushOnGET: true}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close) // after connect stops, which ends the GET stream
	listChanged := make(chan struct{}, 1)
	startConnectWith(t, connect.Options{URL: srv.URL + "/mcp"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case listChanged <- struct{}{}:
			default:
			}
		},
	})
	select {
	case <-listChanged:
	case <-time.After(5 * time.Second):
		t.Fatal("notifications/tools/list_changed from the GET event stream did not reach the client")
	}
}
