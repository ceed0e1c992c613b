package demo

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// legacyProtocol forces the go-sdk client onto the initialize handshake
// instead of the 2026 server/discover call it uses by default.
const legacyProtocol = "2025-11-25"

// transport names one way of reaching the server in tests.
type transport struct {
	name        string
	wantVersion string // protocol version the session must end up on
	connect     func(t testing.TB, s *Server) *mcp.ClientSession
}

// transports covers in-memory (discover), HTTP with the default client
// (server/discover) and HTTP with the classic initialize handshake.
var transports = []transport{
	{"in-memory", "2026-07-28", connectInMemory},
	{"http", "2026-07-28", func(t testing.TB, s *Server) *mcp.ClientSession { return connectHTTP(t, s, "") }},
	{"http-initialize", legacyProtocol, func(t testing.TB, s *Server) *mcp.ClientSession { return connectHTTP(t, s, legacyProtocol) }},
}

func newServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func newClient() *mcp.Client {
	return mcp.NewClient(&mcp.Implementation{Name: "demo-test", Version: "0"}, nil)
}

func connectInMemory(t testing.TB, s *Server) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	ct, st := mcp.NewInMemoryTransports()
	ss, err := s.MCP().Connect(ctx, st, nil)
	if err != nil {
		t.Fatalf("server Connect: %v", err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := newClient().Connect(ctx, ct, nil)
	if err != nil {
		t.Fatalf("client Connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func connectHTTP(t testing.TB, s *Server, version string) *mcp.ClientSession {
	t.Helper()
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return dialHTTP(t, ts.URL, version)
}

func dialHTTP(t testing.TB, url, version string) *mcp.ClientSession {
	t.Helper()
	cs, err := newClient().Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("client Connect(%s): %v", url, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// call invokes a tool and fails the test on protocol errors; tool errors
// are returned in the result for the caller to check.
func call(t testing.TB, cs *mcp.ClientSession, tool string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool(%s, %v): protocol error %v", tool, args, err)
	}
	return res
}

// query runs run_query and decodes its structured output, failing the test
// if the call is a tool error.
func query(t testing.TB, cs *mcp.ClientSession, sql string, limit int) RunQueryOutput {
	t.Helper()
	res := call(t, cs, "run_query", RunQueryInput{SQL: sql, Limit: limit})
	if res.IsError {
		t.Fatalf("run_query(%q): tool error: %s", sql, text(res))
	}
	var out RunQueryOutput
	decode(t, res, &out)
	return out
}

// refused runs run_query and returns the error text, failing the test if
// the query was not refused.
func refused(t testing.TB, cs *mcp.ClientSession, sql string) string {
	t.Helper()
	res := call(t, cs, "run_query", RunQueryInput{SQL: sql})
	if !res.IsError {
		t.Fatalf("run_query(%q) succeeded, want a tool error; got %s", sql, text(res))
	}
	return text(res)
}

// decode converts a result's structured content into v.
func decode(t testing.TB, res *mcp.CallToolResult, v any) {
	t.Helper()
	data, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
}

// text joins the text content of a result.
func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// tableCounts returns list_tables as a map.
func tableCounts(t testing.TB, cs *mcp.ClientSession) map[string]int64 {
	t.Helper()
	res := call(t, cs, "list_tables", struct{}{})
	if res.IsError {
		t.Fatalf("list_tables: %s", text(res))
	}
	var out ListTablesOutput
	decode(t, res, &out)
	m := make(map[string]int64)
	for _, tc := range out.Tables {
		m[tc.Name] = tc.Rows
	}
	return m
}
