package connect_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/conexor/conexor/connect"
)

// fakeAS is an authorization server and bearer-protected MCP server in one, just enough to
// watch what conexor connect sends: RFC 9728 and RFC 8414 metadata, dynamic registration,
// an authorization endpoint that approves at once, and a token endpoint for the three
// grants. Tokens carry scopes; the tool "admin_echo" needs the scope "admin".
type fakeAS struct {
	t   *testing.T
	srv *httptest.Server
	mcp http.Handler
	// tokenTTL is the lifetime of issued access tokens.
	tokenTTL time.Duration

	mu         sync.Mutex
	n          int
	tokens     map[string][]string // access token -> scopes
	refresh    map[string][]string // refresh token -> scopes
	codes      map[string]codeGrant
	tokenReqs  []url.Values
	authReqs   []url.Values
	registered []map[string]any
	mcpHeaders []http.Header
	basicAuth  []string

	// Knobs for the discovery, scope and registration variants (set before first use).
	pathPRM404     bool     // the path-based protected resource metadata answers 404; the root one serves
	challengeScope string   // the scope the 401 names
	regSecret      string   // dynamic registration returns this secret ...
	regMethod      string   // ... and this token_endpoint_auth_method
	prmReqs        []string // paths of the protected resource metadata requests
	codeAuth       []string // how each authorization_code / refresh_token request authenticated
	refreshUseless bool     // refreshes return access tokens the MCP server refuses
	neverEnough    bool     // every tools/call is refused with 403 insufficient_scope "read"
}

type codeGrant struct {
	challenge, redirect, resource string
	scopes                        []string
}

const (
	ccID     = "client_cc"
	ccSecret = "secret_cc"
)

func newFakeAS(t *testing.T, stateless bool) *fakeAS {
	f := &fakeAS{t: t, tokenTTL: time.Hour, tokens: map[string][]string{}, refresh: map[string][]string{}, codes: map[string]codeGrant{}}
	server := mcp.NewServer(&mcp.Implementation{Name: "fake", Version: "1.0.0"}, nil)
	type echoIn struct {
		Text string `json:"text"`
	}
	echo := func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + in.Text}}}, nil, nil
	}
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "echoes"}, echo)
	mcp.AddTool(server, &mcp.Tool{Name: "admin_echo", Description: "echoes, needs admin"}, echo)
	f.mcp = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: stateless, JSONResponse: stateless})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp/acme/demo", f.prm)
	mux.HandleFunc("GET /.well-known/oauth-protected-resource", f.prm)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", f.asMetadata)
	mux.HandleFunc("POST /register", f.register)
	mux.HandleFunc("GET /authorize", f.authorize)
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("/mcp/acme/demo", f.serveMCP)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAS) endpoint() string { return f.srv.URL + "/mcp/acme/demo" }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeAS) prm(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.prmReqs = append(f.prmReqs, r.URL.Path)
	root := r.URL.Path == "/.well-known/oauth-protected-resource"
	f.mu.Unlock()
	if root != f.pathPRM404 {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, 200, map[string]any{"resource": f.endpoint(), "authorization_servers": []string{f.srv.URL},
		"scopes_supported": []string{"read"}})
}

func (f *fakeAS) asMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, map[string]any{
		"issuer": f.srv.URL, "authorization_endpoint": f.srv.URL + "/authorize", "token_endpoint": f.srv.URL + "/token",
		"registration_endpoint": f.srv.URL + "/register", "response_types_supported": []string{"code"},
		"code_challenge_methods_supported": []string{"S256"}, "authorization_response_iss_parameter_supported": true,
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
	})
}

func (f *fakeAS) register(w http.ResponseWriter, r *http.Request) {
	var md map[string]any
	_ = json.NewDecoder(r.Body).Decode(&md)
	f.mu.Lock()
	f.registered = append(f.registered, md)
	f.mu.Unlock()
	md["client_id"] = "client_dyn"
	if f.regSecret != "" {
		md["client_secret"], md["token_endpoint_auth_method"] = f.regSecret, f.regMethod
	}
	writeJSON(w, 201, md)
}

// authorize approves at once: a 302 to the redirect URI with code, state and iss.
func (f *fakeAS) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.authReqs = append(f.authReqs, q)
	f.n++
	code := fmt.Sprintf("code-%d", f.n)
	f.codes[code] = codeGrant{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), resource: q.Get("resource"), scopes: strings.Fields(q.Get("scope"))}
	f.mu.Unlock()
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {f.srv.URL}}.Encode(), http.StatusFound)
}

func (f *fakeAS) issue(w http.ResponseWriter, scopes []string, withRefresh bool) {
	f.n++
	tok := fmt.Sprintf("at-%d", f.n)
	f.tokens[tok] = scopes
	resp := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(f.tokenTTL.Seconds()), "scope": strings.Join(scopes, " ")}
	if withRefresh {
		rt := fmt.Sprintf("rt-%d", f.n)
		f.refresh[rt] = scopes
		resp["refresh_token"] = rt
	}
	writeJSON(w, 200, resp)
}

func (f *fakeAS) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenReqs = append(f.tokenReqs, r.PostForm)
	fail := func(code string) { writeJSON(w, 400, map[string]string{"error": code}) }
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
		id, secret, ok := r.BasicAuth()
		f.basicAuth = append(f.basicAuth, id)
		if !ok || id != ccID || secret != ccSecret {
			writeJSON(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
		if r.PostForm.Get("resource") != f.endpoint() {
			fail("invalid_target")
			return
		}
		scopes := strings.Fields(r.PostForm.Get("scope"))
		for _, s := range scopes {
			if s != "read" && s != "admin" {
				fail("invalid_scope")
				return
			}
		}
		if len(scopes) == 0 {
			scopes = []string{"read"}
		}
		f.issue(w, scopes, false)
	case "authorization_code", "refresh_token":
		if !f.clientAuthenticated(r) {
			writeJSON(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		g, ok := f.codes[r.PostForm.Get("code")]
		delete(f.codes, r.PostForm.Get("code"))
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case !ok, base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge, r.PostForm.Get("redirect_uri") != g.redirect:
			fail("invalid_grant")
		case r.PostForm.Get("resource") != f.endpoint() || g.resource != f.endpoint():
			fail("invalid_target")
		default:
			f.issue(w, g.scopes, true)
		}
	case "refresh_token":
		scopes, ok := f.refresh[r.PostForm.Get("refresh_token")]
		delete(f.refresh, r.PostForm.Get("refresh_token")) // rotation
		if !ok {
			fail("invalid_grant")
			return
		}
		if f.refreshUseless {
			f.n++
			writeJSON(w, 200, map[string]any{"access_token": fmt.Sprintf("useless-%d", f.n), "token_type": "Bearer", "expires_in": 3600})
			return
		}
		f.issue(w, scopes, true)
	case "client_credentials":
	default:
		fail("unsupported_grant_type")
	}
}

// clientAuthenticated records how a code or refresh request authenticated the client and
// checks it: a registered secret must come the registered way (basic or post), and only so.
func (f *fakeAS) clientAuthenticated(r *http.Request) bool {
	id, secret, basic := r.BasicAuth()
	how := "none"
	switch {
	case basic:
		how = "basic:" + id + ":" + secret
	case r.PostForm.Get("client_secret") != "":
		how = "post:" + r.PostForm.Get("client_id") + ":" + r.PostForm.Get("client_secret")
	}
	f.codeAuth = append(f.codeAuth, how)
	switch f.regMethod {
	case "client_secret_basic":
		return how == "basic:client_dyn:"+f.regSecret
	case "client_secret_post":
		return how == "post:client_dyn:"+f.regSecret
	}
	return how == "none"
}

// serveMCP is the bearer gate: 401 without a known token, 403 insufficient_scope for
// admin_echo without "admin".
func (f *fakeAS) serveMCP(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	scopes, ok := f.tokens[tok]
	f.mcpHeaders = append(f.mcpHeaders, r.Header.Clone())
	f.mu.Unlock()
	meta := f.srv.URL + "/.well-known/oauth-protected-resource/mcp/acme/demo"
	if !ok {
		scope := ""
		if f.challengeScope != "" {
			scope = `scope="` + f.challengeScope + `", `
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", `+scope+`resource_metadata="`+meta+`"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if f.neverEnough && strings.Contains(string(body), `"tools/call"`) {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="read", resource_metadata="`+meta+`"`)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if strings.Contains(string(body), `"admin_echo"`) && !contains(scopes, "admin") {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="admin", resource_metadata="`+meta+`"`)
			w.WriteHeader(http.StatusForbidden)
			return
		}
	}
	f.mcp.ServeHTTP(w, r)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// revokeAll forgets every access token, as a key rotation or revocation would.
func (f *fakeAS) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string][]string{}
}

func (f *fakeAS) grants() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, q := range f.tokenReqs {
		out = append(out, q.Get("grant_type"))
	}
	return out
}

// startConnect runs connect.Run on in-memory pipes and returns an MCP client session
// talking to it, as Claude Desktop would over the process's stdio.
func startConnect(t *testing.T, opts connect.Options) (*mcp.ClientSession, <-chan error) {
	t.Helper()
	return startConnectWith(t, opts, nil)
}

// startConnectWith is startConnect with the MCP client's options (its handlers).
func startConnectWith(t *testing.T, opts connect.Options, clientOpts *mcp.ClientOptions) (*mcp.ClientSession, <-chan error) {
	t.Helper()
	clientR, connectW := io.Pipe()
	connectR, clientW := io.Pipe()
	opts.In, opts.Out = connectR, connectW
	opts.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Stderr = testWriter{t}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- connect.Run(ctx, opts)
		connectW.Close()
	}()
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1.0.0"}, clientOpts)
	cs, err := client.Connect(ctx, &mcp.IOTransport{Reader: clientR, Writer: clientW}, nil)
	if err != nil {
		cancel()
		t.Fatalf("connect over stdio: %v (run: %v)", err, waitErr(done))
	}
	t.Cleanup(func() {
		cs.Close()
		clientW.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("conexor connect did not stop after the client closed stdin")
		}
		cancel()
	})
	return cs, done
}

func waitErr(done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		return fmt.Errorf("still running")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func callEcho(t *testing.T, cs *mcp.ClientSession, tool, text string) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"text": text}})
	if err != nil {
		t.Fatalf("tools/call %s: %v", tool, err)
	}
	if res.IsError || len(res.Content) != 1 {
		t.Fatalf("tools/call %s: %+v", tool, res)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

// With a secret: client credentials with the resource indicator, every message relayed
// (stateful SSE and stateless JSON servers alike), MCP-Protocol-Version set after
// initialize, a new token after a 401.
func TestConnectClientCredentials(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		t.Run(fmt.Sprintf("stateless=%v", stateless), func(t *testing.T) {
			as := newFakeAS(t, stateless)
			cs, _ := startConnect(t, connect.Options{URL: as.endpoint() + "/", ClientID: ccID, ClientSecret: ccSecret})
			tools, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(tools.Tools) != 2 {
				t.Errorf("tools = %+v", tools.Tools)
			}
			if got := callEcho(t, cs, "echo", "hi"); got != "echo: hi" {
				t.Errorf("echo = %q", got)
			}
			if !stateless { // go-sdk v1.8.0's Ping sends no _meta, which 2026-07-28 (stateless) servers refuse
				if err := cs.Ping(context.Background(), nil); err != nil {
					t.Errorf("ping: %v", err)
				}
			}
			as.mu.Lock()
			last := as.mcpHeaders[len(as.mcpHeaders)-1]
			cc := as.tokenReqs[0]
			basic := as.basicAuth[0]
			as.mu.Unlock()
			if last.Get("Mcp-Protocol-Version") == "" {
				t.Errorf("no MCP-Protocol-Version after initialize: %v", last)
			}
			if cc.Get("resource") != as.endpoint() || basic != ccID {
				t.Errorf("token request %v (basic %q): want resource %s and client_secret_basic", cc, basic, as.endpoint())
			}

			as.revokeAll()
			if got := callEcho(t, cs, "echo", "again"); got != "echo: again" {
				t.Errorf("after revocation: %q", got)
			}
			if g := as.grants(); len(g) != 2 {
				t.Errorf("token requests %v, want a second one after the 401", g)
			}
		})
	}
}

// Tokens are renewed before they expire, without waiting for a 401.
func TestConnectRenewsBeforeExpiry(t *testing.T) {
	as := newFakeAS(t, false)
	as.tokenTTL = 2 * time.Second
	cs, _ := startConnect(t, connect.Options{URL: as.endpoint(), ClientID: ccID, ClientSecret: ccSecret})
	callEcho(t, cs, "echo", "1")
	time.Sleep(1700 * time.Millisecond) // past 2s - 2s/4
	callEcho(t, cs, "echo", "2")
	as.mu.Lock()
	defer as.mu.Unlock()
	if len(as.tokenReqs) < 2 {
		t.Errorf("%d token requests; the token was not renewed before it expired", len(as.tokenReqs))
	}
	for i, h := range as.mcpHeaders {
		if i == 0 && h.Get("Authorization") == "" {
			continue // discovery's probe, which asks for the 401 challenge
		}
		if _, ok := as.tokens[strings.TrimPrefix(h.Get("Authorization"), "Bearer ")]; !ok {
			t.Errorf("request %d carried an unknown token", i)
		}
	}
}

// A wrong secret fails at start, with the token endpoint's error on standard error.
func TestConnectWrongSecret(t *testing.T) {
	as := newFakeAS(t, false)
	err := connect.Run(context.Background(), connect.Options{URL: as.endpoint(), ClientID: ccID, ClientSecret: "nope",
		In: strings.NewReader(""), Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("Run = %v, want an invalid_client error", err)
	}
}

// Without a secret: dynamic registration with a loopback redirect URI, the browser flow with
// PKCE S256, state and resource, refresh after a 401, and a new browser flow for a 403
// insufficient_scope (step-up).
func TestConnectBrowserFlow(t *testing.T) {
	as := newFakeAS(t, false)
	var opened []string
	var mu sync.Mutex
	browser := func(ctx context.Context, u string) error {
		mu.Lock()
		opened = append(opened, u)
		mu.Unlock()
		go func() { // the person approves: follow the redirects to the loopback callback
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
			}
		}()
		return nil
	}
	cs, _ := startConnect(t, connect.Options{URL: as.endpoint(), OpenBrowser: browser, AuthTimeout: 10 * time.Second})
	if got := callEcho(t, cs, "echo", "x"); got != "echo: x" {
		t.Errorf("echo = %q", got)
	}
	as.mu.Lock()
	reg := as.registered[0]
	auth := as.authReqs[0]
	as.mu.Unlock()
	redirect := reg["redirect_uris"].([]any)[0].(string)
	if !strings.HasPrefix(redirect, "http://127.0.0.1:") || !strings.HasSuffix(redirect, "/callback") || reg["token_endpoint_auth_method"] != "none" {
		t.Errorf("registration = %v", reg)
	}
	if auth.Get("code_challenge_method") != "S256" || auth.Get("code_challenge") == "" || auth.Get("state") == "" ||
		auth.Get("resource") != as.endpoint() || auth.Get("client_id") != "client_dyn" || auth.Get("scope") != "read" {
		t.Errorf("authorization request = %v", auth)
	}

	as.revokeAll()
	callEcho(t, cs, "echo", "after revocation")
	if g := as.grants(); strings.Join(g, ",") != "authorization_code,refresh_token" {
		t.Errorf("grants = %v, want a refresh after the 401", g)
	}

	if got := callEcho(t, cs, "admin_echo", "y"); got != "echo: y" {
		t.Errorf("admin_echo = %q", got)
	}
	as.mu.Lock()
	step := as.authReqs[len(as.authReqs)-1]
	as.mu.Unlock()
	if step.Get("scope") != "read admin" {
		t.Errorf("step-up asked for scope %q, want \"read admin\"", step.Get("scope"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(opened) != 2 {
		t.Errorf("browser opened %d times, want 2 (start, step-up)", len(opened))
	}
}

// A public client given by ID skips registration; its redirect URI is on 127.0.0.1 with
// the listener's port (the server matches loopback redirect URIs on any port).
func TestConnectBrowserFlowPreregistered(t *testing.T) {
	as := newFakeAS(t, true)
	browser := func(ctx context.Context, u string) error {
		go func() {
			if resp, err := http.Get(u); err == nil {
				resp.Body.Close()
			}
		}()
		return nil
	}
	cs, _ := startConnect(t, connect.Options{URL: as.endpoint(), ClientID: "client_pre", Scopes: []string{"read", "admin"},
		OpenBrowser: browser, AuthTimeout: 10 * time.Second})
	if got := callEcho(t, cs, "admin_echo", "z"); got != "echo: z" {
		t.Errorf("admin_echo = %q", got)
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if len(as.registered) != 0 {
		t.Errorf("registered %v, want no registration", as.registered)
	}
	auth := as.authReqs[0]
	if auth.Get("client_id") != "client_pre" || auth.Get("scope") != "read admin" || !strings.HasPrefix(auth.Get("redirect_uri"), "http://127.0.0.1:") {
		t.Errorf("authorization request = %v", auth)
	}
}

// TestMain keeps the bridge's saved state out of the user's config directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "conexor-connect-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv(connect.StateDirEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Claude Desktop starts the bridge at every launch: the second start reuses the client the
// first registered and its refresh token, with no registration and no browser. When the
// refresh token is no longer good, the browser flow runs again for the same client.
func TestConnectReusesRegistration(t *testing.T) {
	as := newFakeAS(t, false)
	dir := filepath.Join(t.TempDir(), "state")
	var opened atomic.Int32
	browser := func(ctx context.Context, u string) error {
		opened.Add(1)
		go func() {
			if resp, err := http.Get(u); err == nil {
				resp.Body.Close()
			}
		}()
		return nil
	}
	run := func(name string) {
		t.Run(name, func(t *testing.T) {
			cs, _ := startConnect(t, connect.Options{URL: as.endpoint(), OpenBrowser: browser, AuthTimeout: 10 * time.Second, StateDir: dir})
			if got := callEcho(t, cs, "echo", name); got != "echo: "+name {
				t.Errorf("echo = %q", got)
			}
		})
	}
	run("first")
	run("second")
	as.mu.Lock()
	registered, authorized := len(as.registered), len(as.authReqs)
	as.mu.Unlock()
	if registered != 1 || authorized != 1 || opened.Load() != 1 {
		t.Fatalf("after two starts: %d registrations, %d authorizations, browser opened %d times; want 1 each", registered, authorized, opened.Load())
	}
	if g := as.grants(); strings.Join(g, ",") != "authorization_code,refresh_token" {
		t.Errorf("grants = %v, want the second start to refresh", g)
	}

	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("state files %v, want one", files)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, files[0]: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode().Perm(), err, want)
		}
	}

	as.mu.Lock()
	as.refresh = map[string][]string{} // the refresh token was revoked
	as.mu.Unlock()
	run("third")
	as.mu.Lock()
	defer as.mu.Unlock()
	if len(as.registered) != 1 || len(as.authReqs) != 2 || as.authReqs[1].Get("client_id") != "client_dyn" {
		t.Errorf("after a refused refresh: %d registrations, %d authorizations (%v); want the browser flow for the saved client",
			len(as.registered), len(as.authReqs), as.authReqs)
	}
}
