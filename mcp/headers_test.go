package mcp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/conexor/conexor/internal/testenv"
)

// headerUpstream is a stateless go-sdk server whose echo tool binds its message argument
// to the Mcp-Param-Message header (x-mcp-header, MCP 2026-07-28), and a get-sum tool.
func headerUpstream(t *testing.T) (*httptest.Server, *seen) {
	t.Helper()
	srv := sdk.NewServer(&sdk.Implementation{Name: "headers", Version: "1"}, nil)
	text := func(s string) *sdk.CallToolResult {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: s}}}
	}
	srv.AddTool(&sdk.Tool{Name: "echo", InputSchema: map[string]any{
		"type": "object",
		"properties": map[string]any{
			"message": map[string]any{"type": "string", "x-mcp-header": "Message"},
			"opts": map[string]any{"type": "object", "properties": map[string]any{
				"loud": map[string]any{"type": "boolean", "x-mcp-header": "Loud"},
			}},
			"n": map[string]any{"type": "integer", "x-mcp-header": "N"},
		},
	}}, func(_ context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return text("echo " + string(req.Params.Arguments)), nil
	})
	srv.AddTool(&sdk.Tool{Name: "get-sum", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) { return text("sum"), nil })
	rec := &seen{}
	ts := httptest.NewServer(rec.wrap(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv },
		&sdk.StreamableHTTPOptions{Stateless: true, JSONResponse: true})))
	t.Cleanup(ts.Close)
	return ts, rec
}

// post sends one JSON-RPC message with extra headers and returns the response.
func postRPC(e *testenv.Env, token, body string, headers map[string]string) *testenv.Response {
	req := e.NewRequest(http.MethodPost, "/mcp/acme/proxied", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", legacyProtocol)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return e.Do(req)
}

func rpcErrorCode(t *testing.T, r *testenv.Response) int {
	t.Helper()
	var msg struct {
		Error *struct{ Code int } `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &msg); err != nil {
		t.Fatalf("not JSON-RPC: %d %s", r.StatusCode, r.Body)
	}
	if msg.Error == nil {
		return 0
	}
	return msg.Error.Code
}

// Every routing header that reaches the upstream says what the body says: Mcp-Name is
// checked, Mcp-Param-* headers are checked against the arguments the tool's schema binds
// them to (learnt from the tools/list answer the gate relayed), and a header the gate
// cannot check is dropped.
func TestRoutingHeadersMatchBody(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testRoutingHeadersMatchBody(t, false) })
	t.Run("Postgres", func(t *testing.T) { testRoutingHeadersMatchBody(t, true) })
}

func testRoutingHeadersMatchBody(t *testing.T, postgres bool) {
	up, rec := headerUpstream(t)
	e, token := proxiedEnvOn(t, up.URL, postgres)
	const echo = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello","opts":{"loud":true}}}}`
	lastCall := func() http.Header {
		reqs := rec.all()
		if len(reqs) == 0 {
			t.Fatal("the upstream received nothing")
		}
		return reqs[len(reqs)-1].Header
	}

	// Mcp-Name naming another tool than the body's: refused, never forwarded.
	r := postRPC(e, token, echo, map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "get-sum"})
	if r.StatusCode != http.StatusBadRequest || rpcErrorCode(t, r) != -32020 {
		t.Fatalf("Mcp-Name mismatch: %d %s", r.StatusCode, r.Body)
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("a mismatched request reached the upstream (%d requests)", n)
	}

	// Before the gate has seen the tool's schema it cannot check Mcp-Param-*: dropped.
	r = postRPC(e, token, echo, map[string]string{"Mcp-Name": "echo", "Mcp-Param-Message": "not-the-body"})
	if r.StatusCode != http.StatusOK || rpcErrorCode(t, r) != 0 {
		t.Fatalf("call with an unverifiable header: %d %s", r.StatusCode, r.Body)
	}
	if h := lastCall(); h.Get("Mcp-Param-Message") != "" || h.Get("Mcp-Name") != "echo" {
		t.Fatalf("upstream got Mcp-Param-Message %q, Mcp-Name %q; want none and echo", h.Get("Mcp-Param-Message"), h.Get("Mcp-Name"))
	}

	// Mcp-Name on a method without a name: nothing to check it against, dropped.
	r = postRPC(e, token, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, map[string]string{"Mcp-Name": "get-sum"})
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.Body), `"x-mcp-header"`) {
		t.Fatalf("tools/list: %d %s", r.StatusCode, r.Body)
	}
	if h := lastCall(); h.Get("Mcp-Name") != "" {
		t.Fatalf("Mcp-Name on tools/list reached the upstream: %q", h.Get("Mcp-Name"))
	}

	// The gate has now relayed the schema: a header that differs from its argument is
	// refused, the true ones (plain or base64, nested too) pass, unbound ones are dropped.
	before := len(rec.all())
	for _, bad := range []struct {
		body    string
		headers map[string]string
	}{
		{echo, map[string]string{"Mcp-Param-Message": "not-the-body"}},
		{echo, map[string]string{"Mcp-Param-Message": "=?base64?bm90?="}},
		{echo, map[string]string{"Mcp-Param-Message": "hello", "Mcp-Param-Loud": "false"}},
		// A case variant beside the bound argument: a case-insensitive backend could run
		// the tool with the other one.
		{`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello","Message":"other"}}}`,
			map[string]string{"Mcp-Param-Message": "hello"}},
		// An integer is its decimal spelling, nothing that merely parses to it.
		{`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"n":1}}}`, map[string]string{"Mcp-Param-N": "+1"}},
		{`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"n":1}}}`, map[string]string{"Mcp-Param-N": "0x1p0"}},
	} {
		r = postRPC(e, token, bad.body, bad.headers)
		if r.StatusCode != http.StatusBadRequest || rpcErrorCode(t, r) != -32020 {
			t.Errorf("%v: %d %s, want 400 -32020", bad.headers, r.StatusCode, r.Body)
		}
	}
	if n := len(rec.all()); n != before {
		t.Fatalf("%d mismatched calls reached the upstream", n-before)
	}
	r = postRPC(e, token, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get-sum","arguments":{}}}`,
		map[string]string{"Mcp-Param-Message": "anything"})
	if r.StatusCode != http.StatusOK || lastCall().Get("Mcp-Param-Message") != "" {
		t.Fatalf("a header get-sum does not bind: %d %s, upstream got %q", r.StatusCode, r.Body, lastCall().Get("Mcp-Param-Message"))
	}
	r = postRPC(e, token, `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"n":1}}}`,
		map[string]string{"Mcp-Param-N": "1"})
	if r.StatusCode != http.StatusOK || lastCall().Get("Mcp-Param-N") != "1" {
		t.Fatalf("Mcp-Param-N: 1 for n=1: %d %s", r.StatusCode, r.Body)
	}
	for _, good := range []map[string]string{
		{"Mcp-Param-Message": "hello", "Mcp-Param-Loud": "true", "Mcp-Param-Extra": "x"},
		{"Mcp-Param-Message": "=?base64?aGVsbG8=?="},
	} {
		r = postRPC(e, token, echo, good)
		if r.StatusCode != http.StatusOK || rpcErrorCode(t, r) != 0 {
			t.Fatalf("%v: %d %s", good, r.StatusCode, r.Body)
		}
		h := lastCall()
		if h.Get("Mcp-Param-Message") != good["Mcp-Param-Message"] || h.Get("Mcp-Param-Extra") != "" {
			t.Fatalf("%v: upstream got Message %q, Extra %q", good, h.Get("Mcp-Param-Message"), h.Get("Mcp-Param-Extra"))
		}
	}

	// GET and DELETE carry no body to check a routing header against: none reaches the
	// upstream.
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		req := e.NewRequest(method, "/mcp/acme/proxied", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Method", "tools/call")
		req.Header.Set("Mcp-Name", "get-sum")
		req.Header.Set("Mcp-Param-Region", "eu")
		e.Do(req)
		h := lastCall()
		if h.Get("Mcp-Method") != "" || h.Get("Mcp-Name") != "" || h.Get("Mcp-Param-Region") != "" {
			t.Errorf("%s: upstream got routing headers %v", method, h)
		}
	}
}
