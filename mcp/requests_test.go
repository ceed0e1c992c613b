package mcp_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/testenv"
)

// rawRequest sends path to e byte for byte (no client-side cleaning or re-escaping).
func rawRequest(t testing.TB, e *testenv.Env, method, path, token, body string) *testenv.Response {
	t.Helper()
	req := e.NewRequest(method, "/", strings.NewReader(body))
	req.URL.Path, req.URL.RawPath, req.URL.Opaque = "", "", path
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.Do(req)
}

// TestPathTricks: no spelling of a path reaches a server other than the one it names, and
// none but the canonical one reaches any server at all. The token is valid for
// acme/sales-api and the other server's token for acme/other: every trick is tried with
// both, so a trick that let the gate check one server and the backend serve another would
// show up as a 200.
func TestPathTricks(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	e.CreateServer("acme/other")
	otherID, otherSecret := e.CreateServerClient("acme/other", "mcp:tools:read")
	tokens := map[string]string{
		"sales": e.Token(e.ClientID, e.ClientSecret),
		"other": e.Token(otherID, otherSecret),
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/mcp/acme%2Fsales-api", 400},
		{"/mcp/acme/sales%2Dapi", 400},
		{"/mcp/acme/sales-api%2F..%2Fother", 404},
		{"/mcp/acme/other%2F..%2Fsales-api", 404},
		{"/mcp/acme/other/../sales-api", 404},
		{"/mcp/acme/sales-api/../other", 404},
		{"/mcp/acme/./sales-api", 404},
		{"/mcp/acme/..", 400},
		{"/mcp/acme/.", 400},
		{"/mcp/acme/sales-api;x=1", 400},
		{"/mcp/acme/other;/../sales-api", 404},
		{"/mcp//acme/sales-api", 404},
		{"/mcp/acme//sales-api", 404},
		{"/mcp/acme/sales-api//", 404},
		{"/mcp/acme/sales-api/./", 404},
		{"/mcp/acme/sales-api%2F", 400},
		{"/mcp/acme/sales-api/;", 404},
		{"/mcp/acme/sales-api/extra", 404},
		{"/mcp/acme/sales-api%00", 400},
		{"/mcp/acme/sales-api%20", 400},
		{"/mcp/ACME/sales-api", 404},
		{"/mcp/acme/SALES-API", 404},
		{"/mcp/acme/sales-api%5c..%5cother", 400},
		{"/mcp/acme/nope", 404},
		{"/mcp/", 404},
	} {
		for name, token := range tokens {
			r := rawRequest(t, e, http.MethodPost, tc.path, token, toolsList)
			if r.StatusCode != tc.want {
				t.Errorf("%s with the %s token: status %d, want %d: %s", tc.path, name, r.StatusCode, tc.want, r.Body)
				continue
			}
			if got := decodeRPCError(t, r); got.Error.Code != map[int]int{400: -32600, 404: -32004}[tc.want] {
				t.Errorf("%s: JSON-RPC code %d", tc.path, got.Error.Code)
			}
		}
	}
	// The canonical paths, and the same with one trailing slash, work with their own token
	// only.
	for path, ok := range map[string]string{salesPath: "sales", "/mcp/acme/other": "other",
		salesPath + "/": "sales", "/mcp/acme/other/": "other"} {
		for name, token := range tokens {
			want := http.StatusUnauthorized
			if name == ok {
				want = http.StatusOK
			}
			if r := rawRequest(t, e, http.MethodPost, path, token, toolsList); r.StatusCode != want {
				t.Errorf("%s with the %s token: status %d, want %d", path, name, r.StatusCode, want)
			}
		}
	}
}

// TestTrailingSlash: a client configured with the endpoint plus one trailing slash can
// discover everything from the 401, which points at the canonical metadata, and its
// token (audience: the canonical URL) is accepted there.
func TestTrailingSlash(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	r := rawRequest(t, e, http.MethodPost, salesPath+"/", "", toolsList)
	want := `Bearer resource_metadata="` + metadataURL(e, "acme", "sales-api") + `"`
	if r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != want {
		t.Fatalf("no token: status %d, WWW-Authenticate %q; want 401, %q", r.StatusCode, r.Header.Get("WWW-Authenticate"), want)
	}
	token := e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read")
	if r := rawRequest(t, e, http.MethodPost, salesPath+"/", token, toolsList); r.StatusCode != http.StatusOK ||
		!strings.Contains(string(r.Body), "list_tables") {
		t.Errorf("with a token: status %d: %.300s", r.StatusCode, r.Body)
	}
}

// TestMessages: what is not exactly one JSON-RPC 2.0 message gets a JSON-RPC error, and
// the gate never authorizes one method while the backend would read another.
func TestMessages(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	token := e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read")
	for _, tc := range []struct {
		name, body string
		status     int
		code       int
	}{
		{"batch", `[` + toolsList + `,` + toolsList + `]`, 400, -32600},
		{"empty batch", `[]`, 400, -32600},
		{"malformed", `{"jsonrpc":"2.0","id":1,"method":"tools/list"`, 400, -32700},
		{"not JSON", `tools/list`, 400, -32700},
		{"empty body", ``, 400, -32700},
		{"a string", `"tools/list"`, 400, -32600},
		{"no method, no result", `{"jsonrpc":"2.0","id":1}`, 400, -32600},
		{"wrong version", `{"jsonrpc":"1.0","id":1,"method":"tools/list"}`, 400, -32600},
		{"no version", `{"id":1,"method":"tools/list"}`, 400, -32600},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":["tools/call"]}`, 400, -32600},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"tools/list"}`, 400, -32600},
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}`, 400, -32700},
		{"case-folded method", `{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call"}`, 400, -32600},
		{"two messages", toolsList + toolsList, 400, -32600},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\xff\"}", 400, -32700},
		{"control character in method", `{"jsonrpc":"2.0","id":1,"method":"tools/list\u0000"}`, 400, -32600},
		{"too large", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"` + strings.Repeat("a", 5<<20) + `"}}`, 413, -32600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rpc(t, e, salesPath, token, tc.body)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.300s", r.StatusCode, tc.status, r.Body)
			}
			if got := decodeRPCError(t, r); got.Error.Code != tc.code {
				t.Errorf("code %d, want %d: %s", got.Error.Code, tc.code, r.Body)
			}
		})
	}

	// The 2026 Mcp-Method header must say what the body says: an upstream may route by it.
	req := e.NewRequest(http.MethodPost, salesPath, strings.NewReader(toolsList))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Mcp-Method", "ping")
	if r := e.Do(req); r.StatusCode != 400 || decodeRPCError(t, r).Error.Code != -32020 {
		t.Errorf("Mcp-Method mismatch: status %d: %s", r.StatusCode, r.Body)
	}

	// Other HTTP methods: 405 with Allow; GET and DELETE are gated like POST.
	if r := rawRequest(t, e, http.MethodPut, salesPath, token, toolsList); r.StatusCode != 405 || r.Header.Get("Allow") == "" {
		t.Errorf("PUT: status %d, Allow %q", r.StatusCode, r.Header.Get("Allow"))
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		if r := rawRequest(t, e, m, salesPath, "", ""); r.StatusCode != 401 {
			t.Errorf("%s without a token: status %d, want 401", m, r.StatusCode)
		}
		// The stateless demo has no event stream and no sessions (TestDemoTransportErrors).
		if r := rawRequest(t, e, m, salesPath, token, ""); r.StatusCode != 405 {
			t.Errorf("%s with a token: status %d, want 405", m, r.StatusCode)
		}
	}
}

// TestDemoTransportErrors: the demo's transport-level refusals (the go-sdk writes them as
// text/plain) reach the client as JSON-RPC errors with the same status and the request's
// id, and count as refusals, not as "ok". GET and DELETE on the stateless demo say, in
// JSON-RPC and with Allow: POST, that it has no sessions or event stream.
func TestDemoTransportErrors(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	token := e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read", "mcp:tools:execute")
	for _, tc := range []struct {
		name, body string
		header     map[string]string
		status     int
		code       int
		id         string
		text       string
	}{
		{"tools/call without params", `{"jsonrpc":"2.0","id":5,"method":"tools/call"}`, nil, 400, -32602, "5", "params"},
		{"request without id", `{"jsonrpc":"2.0","method":"tools/list"}`, nil, 400, -32600, "null", ""},
		{"unsupported protocol version", `{"jsonrpc":"2.0","id":"v","method":"tools/list"}`,
			map[string]string{"Mcp-Protocol-Version": "1999-01-01"}, 400, -32600, `"v"`, "protocol version"},
		{"text/plain body", toolsList, map[string]string{"Content-Type": "text/plain"}, 415, -32600, "1", "Content-Type"},
		{"Accept without event streams", toolsList, map[string]string{"Accept": "application/json"}, 400, -32600, "1", "Accept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := e.NewRequest(http.MethodPost, salesPath, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+token)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			r := e.Do(req)
			if r.StatusCode != tc.status || r.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, Content-Type %q; want %d, application/json: %s", r.StatusCode, r.Header.Get("Content-Type"), tc.status, r.Body)
			}
			got := decodeRPCError(t, r)
			if got.Error.Code != tc.code || string(got.ID) != tc.id || !strings.Contains(got.Error.Message, tc.text) ||
				got.Error.Message != strings.TrimSpace(got.Error.Message) {
				t.Errorf("body %s: want code %d, id %s, a message with %q", r.Body, tc.code, tc.id, tc.text)
			}
		})
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		r := rawRequest(t, e, m, salesPath, token, "")
		if r.StatusCode != 405 || r.Header.Get("Allow") != "POST" {
			t.Errorf("%s: status %d, Allow %q; want 405, POST", m, r.StatusCode, r.Header.Get("Allow"))
			continue
		}
		if got := decodeRPCError(t, r); !strings.Contains(got.Error.Message, "no sessions") {
			t.Errorf("%s: body %s", m, r.Body)
		}
	}
	m := string(e.Get("/metrics").Body)
	for _, want := range []string{
		`conexor_mcp_requests_total{method="tools/call",outcome="backend_error",server="acme/sales-api"} 1`,
		`conexor_mcp_requests_total{method="http:GET",outcome="method_not_allowed",server="acme/sales-api"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
