package mcp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// sseEvent is one event of a text/event-stream: its id and its data lines joined.
type sseEvent struct{ id, data string }

// readEvents reads an event stream to its end.
func readEvents(t *testing.T, body io.Reader) []sseEvent {
	t.Helper()
	var (
		out []sseEvent
		ev  sseEvent
		has bool
	)
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if has {
				out = append(out, ev)
			}
			ev, has = sseEvent{}, false
		case strings.HasPrefix(line, "id:"):
			ev.id, has = strings.TrimSpace(line[3:]), true
		case strings.HasPrefix(line, "data:"):
			ev.data, has = ev.data+strings.TrimPrefix(line[5:], " "), true
		case strings.HasPrefix(line, "event:"):
			has = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the event stream: %v", err)
	}
	return out
}

// TestResumedStreamIsFiltered: a go-sdk upstream that keeps its streams' events
// (EventStore) replays, to a GET with Last-Event-ID, the events of an earlier POST's stream,
// its answer included. Through the real gate, a token limited to crm:read sees the replayed
// tools/list and resources/list answers filtered as the POST's were: the delete tool and the
// deal outside the prefix never reach it. On SQLite and Postgres.
func TestResumedStreamIsFiltered(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) { testResumedStreamIsFiltered(t, testenv.Options{Postgres: db == "postgres"}) })
	}
}

func testResumedStreamIsFiltered(t *testing.T, opts testenv.Options) {
	srv := sdk.NewServer(&sdk.Implementation{Name: "crm", Version: "1"}, nil)
	for _, name := range []string{"search_contacts", "delete_contact"} {
		sdk.AddTool(srv, &sdk.Tool{Name: name, Description: name},
			func(context.Context, *sdk.CallToolRequest, NameInput) (*sdk.CallToolResult, any, error) {
				return &sdk.CallToolResult{}, nil, nil
			})
	}
	read := func(_ context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
		return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: req.Params.URI, Text: "x"}}}, nil
	}
	srv.AddResource(&sdk.Resource{URI: "crm://contacts/1", Name: "contact-1"}, read)
	srv.AddResource(&sdk.Resource{URI: "crm://deals/1", Name: "deal-1"}, read)
	upstream := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv },
		&sdk.StreamableHTTPOptions{EventStore: sdk.NewMemoryEventStore(nil)}))
	t.Cleanup(upstream.Close)

	opts.Configure = func(c *config.Config) { c.Scopes = []provider.Scope{crmScope} }
	e := testenv.New(t, opts)
	server := e.CreateServer("acme/crm")
	server.Upstream = upstream.URL
	if err := e.Store.UpdateServer(context.Background(), server); err != nil {
		t.Fatal(err)
	}
	id, secret := e.CreateServerClient("acme/crm", provider.ScopeToolsRead, provider.ScopeResourcesRead, crmScope.Name)
	token := ccToken(t, e, id, secret, provider.ScopeToolsRead, crmScope.Name)

	var session string
	send := func(method, body, lastEventID string) *http.Response {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, e.URL+"/mcp/acme/crm", rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", legacyProtocol)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		resp, err := e.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode/100 != 2 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %d %s", method, body, resp.StatusCode, b)
		}
		return resp
	}
	init := send(http.MethodPost, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+legacyProtocol+
		`","capabilities":{},"clientInfo":{"name":"replay-test","version":"0"}}}`, "")
	session = init.Header.Get("Mcp-Session-Id")
	io.Copy(io.Discard, init.Body)
	if session == "" {
		t.Fatal("initialize: no session")
	}
	send(http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "").Body.Close()

	for _, tc := range []struct {
		method, visible, hidden string
	}{
		{"tools/list", `"search_contacts"`, `"delete_contact"`},
		{"resources/list", `"crm://contacts/1"`, `"crm://deals/1"`},
	} {
		t.Run(tc.method, func(t *testing.T) {
			// The POST: its answer is filtered; its first event (the priming event, with no
			// data) gives the id to resume after.
			events := readEvents(t, send(http.MethodPost, fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":%q}`, tc.method), "").Body)
			if len(events) < 2 || events[0].id == "" {
				t.Fatalf("POST %s: events %+v, want a priming event with an id, then the answer", tc.method, events)
			}
			last := events[len(events)-1].data
			if !strings.Contains(last, tc.visible) || strings.Contains(last, tc.hidden) {
				t.Fatalf("POST %s answered %s, want it filtered", tc.method, last)
			}

			// The GET resuming after the priming event replays the answer: filtered too.
			replayed := readEvents(t, send(http.MethodGet, "", events[0].id).Body)
			var answer string
			for _, ev := range replayed {
				if strings.Contains(ev.data, `"id":7`) {
					answer = ev.data
				}
			}
			if answer == "" {
				t.Fatalf("GET with Last-Event-ID %s replayed %+v, want the answer to id 7", events[0].id, replayed)
			}
			if !strings.Contains(answer, tc.visible) || strings.Contains(answer, tc.hidden) {
				t.Errorf("GET with Last-Event-ID replayed %s, want it filtered (without %s)", answer, tc.hidden)
			}
		})
	}
}

// TestUncheckedAnswerIsBadGateway: through the gate, a JSON answer that must be edited but
// is to another id, or compressed, is the gateway's 502 JSON-RPC error with the request's
// id as the client wrote it; the upstream's result never reaches the client.
func TestUncheckedAnswerIsBadGateway(t *testing.T) {
	upstream := &rawUpstream{}
	var encoding atomic.Value
	encoding.Store("")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if enc := encoding.Load().(string); enc != "" {
			w.Header().Set("Content-Encoding", enc)
		}
		upstream.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	e, token := proxiedEnv(t, ts.URL+"/mcp")
	base := relayGateway(t, e, nil, nil, func(string, []byte) []byte { return []byte(`{"edited":true}`) })
	const request = `{"jsonrpc":"2.0","id":"\u0031","method":"ping"}`
	for _, tc := range []struct{ name, ct, body, enc string }{
		{"another id", "application/json", `{"jsonrpc":"2.0","id":2,"result":{"secret":true}}`, ""},
		{"compressed", "application/json", `{"jsonrpc":"2.0","id":"1","result":{"secret":true}}`, "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upstream.set(tc.ct, tc.body)
			encoding.Store(tc.enc)
			req, _ := http.NewRequest(http.MethodPost, base+"/mcp/acme/proxied", strings.NewReader(request))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := e.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := readAll(t, resp.Body)
			want := `{"jsonrpc":"2.0","id":"\u0031","error":{"code":-32006,"message":"The upstream MCP server's answer could not be checked."}}`
			if resp.StatusCode != http.StatusBadGateway || strings.TrimSpace(got) != want {
				t.Errorf("status %d, body %s; want 502 %s", resp.StatusCode, got, want)
			}
		})
	}
}

// A JSON answer whose Content-Type has a bad parameter is still JSON to a lenient client
// (the TypeScript SDK tests includes("application/json")), so the relay reads and edits it
// as JSON; an answer of another type is refused. Either way the upstream's own result never
// reaches the client.
func TestOddContentTypesAreEditedOrRefused(t *testing.T) {
	upstream := &rawUpstream{}
	ts := httptest.NewServer(upstream)
	t.Cleanup(ts.Close)
	e, token := proxiedEnv(t, ts.URL+"/mcp")
	base := relayGateway(t, e, nil, nil, func(string, []byte) []byte { return []byte(`{"edited":true}`) })
	for ct, wantStatus := range map[string]int{"application/json; v": http.StatusOK, "text/plain": http.StatusBadGateway} {
		upstream.set(ct, `{"jsonrpc":"2.0","id":1,"result":{"secret":true}}`)
		req, _ := http.NewRequest(http.MethodPost, base+"/mcp/acme/proxied", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := e.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantStatus || strings.Contains(got, "secret") {
			t.Errorf("%s: status %d, body %s; want %d and never the upstream's result", ct, resp.StatusCode, got, wantStatus)
		}
	}
}
