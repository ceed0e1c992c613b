package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/conexor/conexor/connect"
)

var advertised = []string{"mcp:tools:read", "mcp:tools:execute", "mcp:resources:read", "mcp:prompts:read", "mcp:server:read"}

// TestTypeScriptSDK runs interop/sdk-flow.mjs: the official TypeScript MCP SDK (the version
// pinned in interop/package-lock.json) doing discovery, registration, the browser flow,
// tools, refresh, step-up and client credentials against conexor serve.
func TestTypeScriptSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	_, modErr := os.Stat("node_modules/@modelcontextprotocol/sdk/package.json")
	if err != nil || modErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node (%v) and interop/node_modules (%v) are required in CI: run npm ci --prefix interop", err, modErr)
		}
		t.Skip("skipped: needs node and interop/node_modules (npm ci --prefix interop)")
	}
	s := startServer(t)
	id, secret := s.createClient("--server", "acme/sales-api", "--name", "interop M2M", "--scopes", strings.Join(advertised, " "))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "sdk-flow.mjs")
	cmd.Env = append(os.Environ(),
		"CONEXOR_URL="+s.URL, "MCP_URL="+s.MCPURL("acme/sales-api"),
		"ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPassword,
		"CC_CLIENT_ID="+id, "CC_CLIENT_SECRET="+secret,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node sdk-flow.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var summary map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil || summary["ok"] != true {
		t.Fatalf("sdk-flow.mjs summary %q (%v)\nstderr:\n%s", stdout.String(), err, stderr.String())
	}
	t.Logf("TypeScript SDK: %s", lines[len(lines)-1])
}

// recorder records the grant types sent to the token endpoint.
type recorder struct {
	mu     sync.Mutex
	grants []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/api/oauth/token") && req.Body != nil {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		q, _ := url.ParseQuery(string(body))
		r.mu.Lock()
		r.grants = append(r.grants, q.Get("grant_type")+" resource="+q.Get("resource"))
		r.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestGoSDKAuthorizationCode: the go-sdk's own OAuth handler discovers the authorization
// server from a 401, registers, runs the browser flow (here a headless login and consent
// that grants only mcp:tools:read), refreshes, and steps up to mcp:tools:execute on the 403;
// then its token, for acme/sales-api, is refused by acme/other-api.
func TestGoSDKAuthorizationCode(t *testing.T) {
	s := startServer(t)
	mcpURL := s.MCPURL("acme/sales-api")
	const redirect = "http://127.0.0.1:47998/callback"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	b := newBrowser(t)
	var (
		approvals []*approval
		authURLs  []*url.URL
		uncheck   = []string{"mcp:tools:execute"}
	)
	fetch := func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		u, _ := url.Parse(args.URL)
		authURLs = append(authURLs, u)
		a, err := b.approve(ctx, args.URL, redirect, uncheck...)
		if err != nil {
			return nil, err
		}
		approvals = append(approvals, a)
		return &auth.AuthorizationResult{Code: a.Query.Get("code"), State: a.Query.Get("state"), Iss: a.Query.Get("iss")}, nil
	}
	rec := &recorder{}
	firstToken := true
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName: "interop go-sdk", RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scope: "offline_access",
		}},
		AuthorizationCodeFetcher: fetch,
		Client:                   &http.Client{Transport: rec, Timeout: 30 * time.Second},
		// The first access token is handed over as already expired, so the SDK's token
		// source must use the refresh token before anything else.
		NewTokenSource: func(ctx context.Context, cfg *oauth2.Config, tok *oauth2.Token) (oauth2.TokenSource, error) {
			if firstToken {
				firstToken = false
				expired := *tok
				expired.Expiry = time.Now().Add(-time.Minute)
				tok = &expired
			}
			return cfg.TokenSource(ctx, tok), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "interop-go-sdk", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: mcpURL, OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()

	if len(approvals) != 1 || !approvals[0].LoggedIn {
		t.Fatalf("approvals = %+v", approvals)
	}
	q := authURLs[0].Query()
	if q.Get("resource") != mcpURL || q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || q.Get("code_challenge") == "" {
		t.Errorf("authorization request = %v", q)
	}
	// The go-sdk asks for the protected resource metadata's scopes_supported, in no fixed order.
	if diff := cmp.Diff(advertised, approvals[0].Offered, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("consent page offered (-want +got):\n%s", diff)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	if len(tools.Tools) == 0 {
		t.Fatal("no tools")
	}
	rec.mu.Lock()
	grants := strings.Join(rec.grants, "\n")
	rec.mu.Unlock()
	if !strings.Contains(grants, "authorization_code resource="+mcpURL) || !strings.Contains(grants, "refresh_token") {
		t.Errorf("token requests:\n%s\nwant the code exchange with resource, then a refresh", grants)
	}

	// tools/call needs mcp:tools:execute, which was not granted: 403 insufficient_scope, and
	// the handler authorizes again for the wider scope.
	uncheck = nil
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "run_query", Arguments: map[string]any{"sql": "SELECT name FROM customers ORDER BY id LIMIT 1"}})
	if err != nil {
		t.Fatalf("tools/call after step-up: %v", err)
	}
	if res.IsError {
		t.Fatalf("tools/call: %+v", res)
	}
	if len(authURLs) != 2 {
		t.Fatalf("%d authorizations, want 2 (the second a step-up)", len(authURLs))
	}
	if scope := authURLs[1].Query().Get("scope"); !strings.Contains(scope, "mcp:tools:execute") || !strings.Contains(scope, "mcp:tools:read") {
		t.Errorf("step-up asked for %q", scope)
	}

	// The token is for acme/sales-api only.
	ts, _ := h.TokenSource(ctx)
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if aud := jwtClaim(t, tok.AccessToken, "aud"); aud != mcpURL {
		t.Errorf("aud = %v, want %s", aud, mcpURL)
	}
	s.cli("servers", "create", "acme/other-api", "--name", "Other API")
	for _, tt := range []struct {
		url  string
		want int
	}{{mcpURL, http.StatusOK}, {s.MCPURL("acme/other-api"), http.StatusUnauthorized}} {
		status, hdr := postInitialize(t, tt.url, tok.AccessToken)
		if status != tt.want {
			t.Errorf("%s with a token for %s: %d, want %d", tt.url, mcpURL, status, tt.want)
		}
		if tt.want == http.StatusUnauthorized && !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate = %q", hdr.Get("WWW-Authenticate"))
		}
	}
}

func postInitialize(t *testing.T, endpoint, token string) (int, http.Header) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

func jwtClaim(t *testing.T, token, name string) any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20s", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims[name]
}

// syncBuffer is a bytes.Buffer safe for a child process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConnectStdio drives `conexor connect` as Claude Desktop does: the go-sdk client
// starts it (CommandTransport) and speaks MCP over its stdio; it gets tokens with the client
// credentials of a client created with the CLI.
func TestConnectStdio(t *testing.T) {
	s := startServer(t)
	id, secret := s.createClient("--server", "acme/sales-api", "--name", "Claude Desktop", "--scopes", "mcp:tools:read mcp:tools:execute")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.Command(binary, "connect", s.MCPURL("acme/sales-api"))
	cmd.Env = append(os.Environ(), "CONEXOR_CLIENT_ID="+id, "CONEXOR_CLIENT_SECRET="+secret, "CONEXOR_CONNECT_STATE_DIR="+t.TempDir())
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	defer func() {
		if t.Failed() {
			t.Logf("conexor connect stderr:\n%s", stderr.String())
		}
	}()
	client := mcp.NewClient(&mcp.Implementation{Name: "claude-desktop-like", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect over stdio: %v", err)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if !contains(names, "run_query") {
		t.Errorf("tools = %v", names)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "run_query", Arguments: map[string]any{"sql": "SELECT count(*) AS n FROM customers"}})
	if err != nil || res.IsError {
		t.Fatalf("tools/call: %v %+v", err, res)
	}
	text, _ := res.Content[0].(*mcp.TextContent)
	if text == nil || !strings.Contains(text.Text, "n") {
		t.Errorf("tools/call content = %+v", res.Content)
	}
	if err := cs.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if !strings.Contains(stderr.String(), "access token obtained") {
		t.Errorf("stderr lacks the token log:\n%s", stderr.String())
	}
}

// TestCORS: browser-based MCP clients can read the metadata, register, get and revoke
// tokens, fetch the JWKS and call the MCP endpoint cross-origin; the browser flow never
// answers cross-origin.
func TestCORS(t *testing.T) {
	s := startServer(t)
	send := func(method, path, body string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		req.Header.Set("Origin", "https://app.example")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, ep := range []struct{ method, path, contentType, body string }{
		{"GET", "/.well-known/oauth-authorization-server", "", ""},
		{"GET", "/.well-known/oauth-protected-resource/mcp/acme/sales-api", "", ""},
		{"GET", "/.well-known/jwks.json", "", ""},
		{"POST", "/api/oauth/register", "application/json", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`},
		{"POST", "/api/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=x&client_secret=y"},
		{"POST", "/api/oauth/revoke", "application/x-www-form-urlencoded", "token=x&client_id=x&client_secret=y"},
		{"POST", "/mcp/acme/sales-api", "application/json", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
	} {
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			pre := send(http.MethodOptions, ep.path, "", map[string]string{
				"Access-Control-Request-Method":  ep.method,
				"Access-Control-Request-Headers": "authorization, content-type, mcp-session-id, mcp-protocol-version, last-event-id",
			})
			allowHeaders := strings.ToLower(pre.Header.Get("Access-Control-Allow-Headers"))
			if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), ep.method) {
				t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
			}
			for _, h := range []string{"authorization", "content-type", "mcp-session-id", "mcp-protocol-version", "last-event-id"} {
				if !strings.Contains(allowHeaders, h) {
					t.Errorf("preflight does not allow %s: %q", h, allowHeaders)
				}
			}
			if pre.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed")
			}
			hdr := map[string]string{}
			if ep.contentType != "" {
				hdr["Content-Type"] = ep.contentType
			}
			resp := send(ep.method, ep.path, ep.body, hdr)
			expose := resp.Header.Get("Access-Control-Expose-Headers")
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(expose, "WWW-Authenticate") || !strings.Contains(expose, "Mcp-Session-Id") {
				t.Errorf("%s %s: %d, CORS headers %v", ep.method, ep.path, resp.StatusCode, resp.Header)
			}
		})
	}
	for _, ep := range []struct{ method, path string }{
		{"GET", "/login"}, {"OPTIONS", "/login"}, {"POST", "/logout"}, {"OPTIONS", "/oauth/consent"},
		{"GET", "/oauth/consent?client_id=nobody&response_type=code"},
	} {
		if resp := send(ep.method, ep.path, "", nil); resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s answers cross-origin: %v", ep.method, ep.path, resp.Header)
		}
	}
}

// TestMetadataEndpointsReachable: every endpoint the RFC 8414 document names answers at
// exactly that URL, without a redirect.
func TestMetadataEndpointsReachable(t *testing.T) {
	s := startServer(t)
	resp, err := http.Get(s.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md["issuer"] != s.URL || md["registration_endpoint"] != s.URL+"/api/oauth/register" || md["client_id_metadata_document_supported"] != true {
		t.Fatalf("metadata = %v", md)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, key := range []string{"token_endpoint", "revocation_endpoint", "introspection_endpoint", "registration_endpoint", "jwks_uri", "authorization_endpoint"} {
		u, _ := md[key].(string)
		method := http.MethodPost
		if key == "jwks_uri" || key == "authorization_endpoint" {
			method = http.MethodGet
		}
		req, _ := http.NewRequest(method, u, strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode >= 300 && r.StatusCode < 400 || r.StatusCode == http.StatusNotFound || r.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("%s %s (%s): %d", method, u, key, r.StatusCode)
		}
	}
}

// TestGoSDKClientIDMetadataDocument: the go-sdk client identifies itself with a client ID
// metadata document (an https URL, served here by the test with its own CA, which the
// server trusts through SSL_CERT_FILE; private addresses allowed for the test) instead of
// registering, and completes the flow.
func TestGoSDKClientIDMetadataDocument(t *testing.T) {
	const redirect = "http://127.0.0.1:47997/callback"
	var hits atomic.Int32
	var docURL string
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id": docURL, "client_name": "Interop CIMD client", "redirect_uris": []string{redirect},
			"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
		})
	}))
	defer docs.Close()
	docURL = docs.URL + "/oauth/client.json"
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: docs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "SSL_CERT_FILE="+ca, "CONEXOR_CIMD_ALLOW_PRIVATE=true")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newBrowser(t)
	var seen *approval
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: docURL},
		RedirectURL:                    redirect,
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			a, err := b.approve(ctx, args.URL, redirect)
			if err != nil {
				return nil, err
			}
			seen = a
			return &auth.AuthorizationResult{Code: a.Query.Get("code"), State: a.Query.Get("state"), Iss: a.Query.Get("iss")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "interop-cimd", Version: "1.0.0"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.MCPURL("acme/sales-api"), OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	if seen == nil || len(seen.Offered) == 0 {
		t.Fatalf("no consent page: %+v", seen)
	}
	ts, _ := h.TokenSource(ctx)
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if cid := jwtClaim(t, tok.AccessToken, "client_id"); cid != docURL {
		t.Errorf("client_id claim = %v, want the document URL %s", cid, docURL)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("document fetched %d times, want 1 (cached)", n)
	}
}

// TestConnectBrowserFlow runs the connect bridge in process with no client credentials:
// it registers itself, and the headless person approves in the "browser"; the code comes
// back to its loopback listener. A second start with the same state directory reuses the
// registration and refresh token: no new client, no browser.
func TestConnectBrowserFlow(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var opened atomic.Int32
	approve := approveInBrowser(t, newBrowser(t))
	open := func(ctx context.Context, authURL string) error {
		opened.Add(1)
		return approve(ctx, authURL)
	}
	stateDir := t.TempDir()
	for range 2 {
		listTablesThroughBridge(t, ctx, connect.Options{URL: s.MCPURL("acme/sales-api"), StateDir: stateDir, OpenBrowser: open})
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("the browser was opened %d times over two starts, want 1 (the second refreshes)", n)
	}
}

// The README's public-client path: a client created with --public and only some of the
// scopes the server advertises, given to connect by its ID alone. connect asks for no
// scope (it cannot know the client's), and the server grants what the client may have;
// asking for scopes_supported was refused with invalid_scope ("mcp:resources:read").
func TestConnectPublicClientWithSomeScopes(t *testing.T) {
	s := startServer(t)
	id, _ := s.createClient("--server", "acme/sales-api", "--name", "Claude Desktop", "--scopes", "mcp:tools:read mcp:tools:execute",
		"--public", "--redirect-uri", "http://127.0.0.1/callback")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	listTablesThroughBridge(t, ctx, connect.Options{URL: s.MCPURL("acme/sales-api"), ClientID: id, StateDir: t.TempDir(),
		OpenBrowser: approveInBrowser(t, newBrowser(t))})
}

// approveInBrowser is connect's OpenBrowser for a headless person who approves at once:
// the consent page is answered and the browser lands on the bridge's loopback callback.
func approveInBrowser(t *testing.T, b *browser) func(ctx context.Context, authURL string) error {
	return func(ctx context.Context, authURL string) error {
		go func() {
			u, _ := url.Parse(authURL)
			a, err := b.approve(ctx, authURL, u.Query().Get("redirect_uri"))
			if err != nil {
				t.Errorf("browser: %v", err)
				return
			}
			resp, err := http.Get(a.Location)
			if err != nil {
				t.Errorf("callback: %v", err)
				return
			}
			resp.Body.Close()
		}()
		return nil
	}
}

// listTablesThroughBridge runs connect with opts (its stdio and logs filled in) under a go-sdk
// MCP client, calls list_tables through it and stops it; the bridge's log is shown on failure.
func listTablesThroughBridge(t *testing.T, ctx context.Context, opts connect.Options) {
	t.Helper()
	clientR, bridgeW := io.Pipe()
	bridgeR, clientW := io.Pipe()
	stderr := &syncBuffer{}
	opts.In, opts.Out, opts.Stderr = bridgeR, bridgeW, stderr
	opts.Log, opts.AuthTimeout = slog.New(slog.NewTextHandler(stderr, nil)), 30*time.Second
	done := make(chan error, 1)
	go func() {
		done <- connect.Run(ctx, opts)
		bridgeW.Close()
	}()
	defer func() {
		if t.Failed() {
			t.Logf("bridge log:\n%s", stderr.String())
		}
	}()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "stdio-client", Version: "1.0.0"}, nil).
		Connect(ctx, &mcp.IOTransport{Reader: clientR, Writer: clientW}, nil)
	if err != nil {
		clientW.Close()
		t.Fatalf("connect: %v (bridge: %v)", err, <-done)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_tables", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("tools/call: %v %+v", err, res)
	}
	cs.Close()
	clientW.Close()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
