package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestIdentityAssertionTypeScript: `conexor servers create --identity-header` turns identity
// assertions on; a go-sdk client's tool call through the running gateway reaches a go-sdk
// upstream with the assertion, and the README's TypeScript check (jose, run by
// identity-verify.mjs from the README's own text) accepts it against the live JWKS with the
// caller's claims. The same check refuses it for another audience, refuses an access
// token (typ at+jwt) passed off as an assertion, and refuses the assertions of evil/crm, a
// server of another org pointed at the same upstream URL: the snippet trusts acme/crm only.
func TestIdentityAssertionTypeScript(t *testing.T) {
	node, err := exec.LookPath("node")
	_, modErr := os.Stat("node_modules/jose/package.json")
	if err != nil || modErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node (%v) and interop/node_modules (%v) are required in CI: run npm ci --prefix interop", err, modErr)
		}
		t.Skip("skipped: needs node and interop/node_modules (npm ci --prefix interop)")
	}
	var mu sync.Mutex
	var assertions []string
	up := sdk.NewServer(&sdk.Implementation{Name: "identity-upstream", Version: "1"}, nil)
	sdk.AddTool(up, &sdk.Tool{Name: "whoami", Description: "Answers."},
		func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "hello"}}}, nil, nil
		})
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return up }, nil)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		assertions = append(assertions, r.Header.Get("X-Conexor-Identity"))
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(upstream.Close)
	upstreamURL := upstream.URL + "/mcp"

	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// call creates the server at path with upstreamURL and identity assertions on, calls a
	// tool through it with a client-credentials token, and returns the client, the token and
	// the assertion the upstream got last.
	call := func(path string) (id string, tok *oauth2.Token, assertion string) {
		t.Helper()
		s.cli("servers", "create", path, "--name", path, "--upstream", upstreamURL, "--identity-header", "X-Conexor-Identity")
		id, secret := s.createClient("--server", path, "--name", "identity M2M", "--scopes", "mcp:tools:read mcp:tools:execute")
		cc := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.URL + "/api/oauth/token",
			EndpointParams: map[string][]string{"resource": {s.MCPURL(path)}}}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		client := sdk.NewClient(&sdk.Implementation{Name: "identity-interop", Version: "0"}, nil)
		cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: s.MCPURL(path),
			HTTPClient: oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)), MaxRetries: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		if _, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil {
			t.Fatalf("tools/call through %s: %v", path, err)
		}
		mu.Lock()
		got := append([]string(nil), assertions...)
		mu.Unlock()
		if len(got) == 0 || got[len(got)-1] == "" {
			t.Fatalf("the upstream got no identity assertion through %s: %q", path, got)
		}
		return id, tok, got[len(got)-1]
	}
	id, tok, assertion := call("acme/crm")

	verify := func(assertion, audience string) (map[string]any, string, error) {
		cmd := exec.CommandContext(ctx, node, "identity-verify.mjs")
		cmd.Env = append(os.Environ(), "ISSUER="+s.URL, "AUDIENCE="+audience, "ASSERTION="+assertion)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var payload map[string]any
		if err == nil {
			err = json.Unmarshal(stdout.Bytes(), &payload)
		}
		return payload, stderr.String(), err
	}
	payload, stderr, err := verify(assertion, upstreamURL)
	if err != nil {
		t.Fatalf("the README's TypeScript check refused the assertion the upstream got: %v\n%s", err, stderr)
	}
	for k, want := range map[string]any{"iss": s.URL, "aud": upstreamURL, "sub": id, "client_id": id, "org": "acme",
		"resource": s.MCPURL("acme/crm"), "scope": "mcp:tools:read mcp:tools:execute"} {
		if payload[k] != want {
			t.Errorf("claim %s = %#v, want %#v", k, payload[k], want)
		}
	}
	if _, ok := payload["act"]; ok {
		t.Errorf("act = %#v for client credentials, want none", payload["act"])
	}
	if exp, iat := payload["exp"].(float64), payload["iat"].(float64); exp-iat != 60 {
		t.Errorf("lifetime %v s, want 60", exp-iat)
	}
	if _, stderr, err := verify(assertion, upstream.URL+"/other"); err == nil || !strings.Contains(stderr, "ERR_JWT_CLAIM_VALIDATION_FAILED") {
		t.Errorf("another audience: err %v, stderr %q; want the aud check to refuse it", err, stderr)
	}
	if _, stderr, err := verify(tok.AccessToken, upstreamURL); err == nil || !strings.Contains(stderr, "typ") {
		t.Errorf("an access token as the assertion: err %v, stderr %q; want the typ check to refuse it", err, stderr)
	}

	// Another org's server pointed at the same upstream: its assertion is genuine and
	// addressed to this upstream, and the README's check refuses it for its resource.
	_, _, evil := call("evil/crm")
	if evil == assertion {
		t.Fatal("evil/crm's call carried acme/crm's assertion")
	}
	if payload, stderr, err := verify(evil, upstreamURL); err == nil || !strings.Contains(stderr, "is not acme/crm") {
		t.Errorf("evil/crm's assertion at acme/crm's upstream: err %v, payload %v, stderr %q; want the resource check to refuse it",
			err, payload, stderr)
	}
}
