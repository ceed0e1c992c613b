package mcp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"

	"github.com/conexor/conexor/internal/secret"
	"github.com/conexor/conexor/internal/testenv"
)

const (
	salesPath = "/mcp/acme/sales-api"
	// legacyProtocol makes the go-sdk client use initialize (and sessions) instead of the
	// 2026 stateless server/discover.
	legacyProtocol = "2025-11-25"
)

// bearer adds an Authorization header to every request, as an MCP host configured with a
// token does.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// connect opens a go-sdk client session on endpoint with token, over real HTTP.
func connect(t testing.TB, e *testenv.Env, endpoint, token, version string) *sdk.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: &bearer{token: token, base: e.Client.Transport}, Timeout: 30 * time.Second}
	client := sdk.NewClient(&sdk.Implementation{Name: "conexor-gateway-test", Version: "0"}, nil)
	cs, err := client.Connect(context.Background(),
		&sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: -1},
		&sdk.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect %s: %v", endpoint, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// ccToken gets a client-credentials token with golang.org/x/oauth2/clientcredentials.
func ccToken(t testing.TB, e *testenv.Env, id, secret string, scopes ...string) string {
	t.Helper()
	tok, err := e.ClientCredentials(id, secret, oauth2.AuthStyleInHeader, scopes...).Token(e.Context())
	if err != nil {
		t.Fatalf("client credentials token: %v", err)
	}
	return tok.AccessToken
}

const toolsList = `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`

// rpc POSTs one JSON-RPC body to path with the headers a Streamable HTTP client sends.
func rpc(t testing.TB, e *testenv.Env, path, token, body string) *testenv.Response {
	t.Helper()
	req := e.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.Do(req)
}

// rpcError decodes a JSON-RPC error response.
type rpcError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeRPCError(t testing.TB, r *testenv.Response) rpcError {
	t.Helper()
	var out rpcError
	if err := json.Unmarshal(r.Body, &out); err != nil || out.JSONRPC != "2.0" || out.Error.Code == 0 {
		t.Fatalf("want a JSON-RPC error body, got status %d: %s", r.StatusCode, r.Body)
	}
	return out
}

// metadataURL is the RFC 9728 document of org/server on e.
func metadataURL(e *testenv.Env, org, server string) string {
	return e.URL + "/.well-known/oauth-protected-resource/mcp/" + org + "/" + server
}

// claims returns valid claims for a token of the seeded client at acme/sales-api.
func claims(e *testenv.Env, scope string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"iss": e.URL, "sub": e.ClientID, "aud": e.ResourceURL("acme", "sales-api"), "client_id": e.ClientID,
		"scope": scope, "iat": now, "exp": now + 600, "jti": secret.RandomToken(16),
	}
}

// compact assembles a JWS from a header, claims and a signature function.
func compact(t testing.TB, header, payload map[string]any, sign func(signingInput []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return in + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(in)))
}

func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
