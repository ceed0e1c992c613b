package mcp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/mcp"
)

// relayGateway serves e's servers from a gateway of its own that applies edit after the gate's
// edits (the real ones come with the list filters and tasks); it logs to log and answers
// servers without an upstream with demo (nil: the built-in demo). It returns its base URL.
func relayGateway(t *testing.T, e *testenv.Env, log *slog.Logger, demo http.Handler, edit func(method string, result []byte) []byte) string {
	t.Helper()
	g, err := mcp.New(mcp.Options{Issuer: e.URL, Verifier: e.Provider, Servers: e.Store, Tokens: e.Store, Editor: e.Provider,
		Scopes: e.Provider.Scopes(), Demo: demo, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if edit != nil {
		g.SetResultEditForTest(edit)
	}
	r := mux.NewRouter()
	r.SkipClean(true)
	r.Handle("/mcp/{org}/{server}", g.Endpoints().MCP)
	ts := httptest.NewServer(r)
	t.Cleanup(ts.Close)
	return ts.URL
}

// testEdit hides the tool "hidden" from tools/list and prefixes "edited: " to the text of a
// tools/call result; it leaves every other result alone.
func testEdit(method string, result []byte) []byte {
	switch method {
	case "tools/list":
		var res struct {
			Tools []map[string]any `json:"tools"`
		}
		if json.Unmarshal(result, &res) != nil {
			return nil
		}
		res.Tools = slices.DeleteFunc(res.Tools, func(tool map[string]any) bool { return tool["name"] == "hidden" })
		out, _ := json.Marshal(res)
		return out
	case "tools/call":
		var res map[string]any
		if json.Unmarshal(result, &res) != nil {
			return nil
		}
		for _, c := range res["content"].([]any) {
			c := c.(map[string]any)
			c["text"] = "edited: " + c["text"].(string)
		}
		out, _ := json.Marshal(res)
		return out
	}
	return nil
}

// EchoInput is the argument of the relay tests' echo tools.
type EchoInput struct {
	Text string `json:"text"`
}

// echoServer is a go-sdk server with the tools "visible" and "hidden"; visible reports
// progress before it echoes (on an SSE answer, the notification is an event of its own).
func echoServer() *sdk.Server {
	srv := sdk.NewServer(&sdk.Implementation{Name: "echo", Version: "1"}, nil)
	echo := func(ctx context.Context, req *sdk.CallToolRequest, in EchoInput) (*sdk.CallToolResult, any, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			if err := req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Message: "echoing"}); err != nil {
				return nil, nil, err
			}
		}
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: in.Text}}}, nil, nil
	}
	sdk.AddTool(srv, &sdk.Tool{Name: "visible", Description: "Echoes."}, echo)
	sdk.AddTool(srv, &sdk.Tool{Name: "hidden", Description: "Echoes too."}, echo)
	return srv
}

func echoHandler(jsonResponse bool) http.Handler {
	srv := echoServer()
	return sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv },
		&sdk.StreamableHTTPOptions{JSONResponse: jsonResponse})
}

// checkEdited lists and calls tools through endpoint with the go-sdk client and checks that
// both answers came edited, and that the progress notification of the call came through.
func checkEdited(t *testing.T, e *testenv.Env, endpoint, token string, wantProgress bool) {
	t.Helper()
	var (
		mu       sync.Mutex
		progress []string
	)
	hc := &http.Client{Transport: &bearer{token: token, base: e.Client.Transport}, Timeout: 30 * time.Second}
	client := sdk.NewClient(&sdk.Implementation{Name: "relay-test", Version: "0"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, req.Params.Message)
			mu.Unlock()
		},
	})
	ctx := context.Background()
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: -1},
		&sdk.ClientSessionOptions{ProtocolVersion: legacyProtocol})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if !slices.Equal(names, []string{"visible"}) {
		t.Errorf("tools/list answered %v, want the edited [visible]", names)
	}
	params := &sdk.CallToolParams{Name: "visible", Arguments: EchoInput{Text: "hello"}}
	params.SetProgressToken("p-1")
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatalf("tools/call: %v", err)
	}
	if len(res.Content) != 1 || res.Content[0].(*sdk.TextContent).Text != "edited: hello" {
		t.Errorf("tools/call answered %+v, want the edited text", res.Content)
	}
	if !wantProgress {
		return
	}
	// The client dispatches notifications concurrently with the result: wait for it.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(progress)
		mu.Unlock()
		if n > 0 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(progress, []string{"echoing"}) {
		t.Errorf("progress notifications %v, want [echoing]", progress)
	}
}

// TestRelayEditsUpstreamAnswers: the edit of a request's response applies to a go-sdk
// upstream's answer through the gate, whether it answers with JSON or with an event stream
// (where the progress notification before the answer passes as it came).
func TestRelayEditsUpstreamAnswers(t *testing.T) {
	for _, tc := range []struct {
		name         string
		jsonResponse bool
	}{{"json", true}, {"sse", false}} {
		t.Run(tc.name, func(t *testing.T) {
			upstream := httptest.NewServer(echoHandler(tc.jsonResponse))
			t.Cleanup(upstream.Close)
			e, token := proxiedEnv(t, upstream.URL+"/mcp")
			base := relayGateway(t, e, nil, nil, testEdit)
			checkEdited(t, e, base+"/mcp/acme/proxied", token, !tc.jsonResponse)
		})
	}
}

// TestRelayEditsDemoAnswers: answers of the in-process backend are edited the same way:
// the built-in demo (JSON), and a go-sdk server answering with an event stream in its place.
func TestRelayEditsDemoAnswers(t *testing.T) {
	t.Run("built-in", func(t *testing.T) {
		e := testenv.New(t, testenv.Options{})
		base := relayGateway(t, e, nil, nil, func(method string, result []byte) []byte {
			if method != "tools/list" {
				return nil
			}
			return []byte(`{"tools":[{"name":"only_this","inputSchema":{"type":"object"}}]}`)
		})
		cs := connect(t, e, base+salesPath, e.Token(e.ClientID, e.ClientSecret), legacyProtocol)
		tools, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(tools.Tools) != 1 || tools.Tools[0].Name != "only_this" {
			t.Errorf("tools/list through the demo: %+v, want the edited list", tools.Tools)
		}
	})
	t.Run("event stream", func(t *testing.T) {
		e := testenv.New(t, testenv.Options{})
		srv := echoServer()
		demo := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, &sdk.StreamableHTTPOptions{Stateless: true})
		base := relayGateway(t, e, nil, demo, testEdit)
		checkEdited(t, e, base+salesPath, e.Token(e.ClientID, e.ClientSecret), true)
	})
}

// rawUpstream answers every POST with the answer set last: a content type and a body, as
// written.
type rawUpstream struct {
	mu                sync.Mutex
	contentType, body string
}

func (u *rawUpstream) set(contentType, body string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.contentType, u.body = contentType, body
}

func (u *rawUpstream) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	w.Header().Set("Content-Type", u.contentType)
	io.WriteString(w, u.body)
}

// TestRelayBytes: an answer is relayed byte for byte (whitespace, member order, CRLF line
// ends, comments and event fields) when there is no edit or the edit leaves it; an edit
// replaces the result's value only, keeping jsonrpc, id, other members and the event's
// fields; an error answer, a response to another id and a request of the server's own that
// reuses the id are never edited.
func TestRelayBytes(t *testing.T) {
	const (
		jsonAnswer = "{ \"jsonrpc\" : \"2.0\", \"id\":1 , \"result\" : {\"tools\":[ {\"name\":\"a\"} ]}, \"x\":1 }\n"
		jsonEdited = "{ \"jsonrpc\" : \"2.0\", \"id\":1 , \"result\" : {\"edited\":true}, \"x\":1 }\n"
		jsonError  = "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32000,\"message\":\"no\"}}"
		events     = ": hello\n\n" +
			"event: message\r\nid: 5\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"x\"}}\r\n\r\n" +
			"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"roots/list\"}\n\n" +
			"data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n" +
			"event: message\nid: 6\nretry: 500\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}\n\n"
		eventsEdited = ": hello\n\n" +
			"event: message\r\nid: 5\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"x\"}}\r\n\r\n" +
			"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"roots/list\"}\n\n" +
			"data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n" +
			"event: message\nid: 6\nretry: 500\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"edited\":true}}\n\n"
	)
	upstream := &rawUpstream{}
	ts := httptest.NewServer(upstream)
	t.Cleanup(ts.Close)
	e := testenv.New(t, testenv.Options{})
	srv := e.CreateServer("acme/proxied")
	srv.Upstream = ts.URL + "/mcp"
	if err := e.Store.UpdateServer(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	id, secret := e.CreateServerClient("acme/proxied", "mcp:tools:read")
	token := e.Token(id, secret)
	editing := relayGateway(t, e, nil, nil, func(string, []byte) []byte { return []byte(`{ "edited" : true }`) })
	leaving := relayGateway(t, e, nil, nil, func(string, []byte) []byte { return nil })

	for _, tc := range []struct {
		name, contentType, body string
		base                    string
		want                    string
	}{
		{"json, no edit", "application/json", jsonAnswer, e.URL, jsonAnswer},
		{"json, edit leaves it", "application/json", jsonAnswer, leaving, jsonAnswer},
		{"json, edited", "application/json", jsonAnswer, editing, jsonEdited},
		{"json error, edit", "application/json", jsonError, editing, jsonError},
		{"events, no edit", "text/event-stream", events, e.URL, events},
		{"events, edit leaves them", "text/event-stream", events, leaving, events},
		{"events, edited", "text/event-stream", events, editing, eventsEdited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upstream.set(tc.contentType, tc.body)
			// ping: no edit of the gate's own applies to it (tools/list has the tool headers').
			req, _ := http.NewRequest(http.MethodPost, tc.base+"/mcp/acme/proxied", strings.NewReader(ping))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := e.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := readAll(t, resp.Body)
			if resp.StatusCode != http.StatusOK || got != tc.want {
				t.Errorf("status %d, body\n%q\nwant\n%q", resp.StatusCode, got, tc.want)
			}
			if cl := resp.Header.Get("Content-Length"); tc.contentType == "application/json" && cl != fmt.Sprint(len(tc.want)) {
				t.Errorf("Content-Length %q for %d bytes", cl, len(tc.want))
			}
		})
	}
}

const ping = `{"jsonrpc":"2.0","id":1,"method":"ping"}`

// logLines are the JSON log records in logs whose msg is msg.
func logLines(logs *syncBuffer, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestUpstreamDiesMidCall: a go-sdk upstream dies while a tools/call is streaming (after a
// progress notification, before the answer). The client gets a JSON-RPC error for its call
// on the stream at once, not a hang; one log line names the server, the method, the client
// and the subject; ReverseProxy's own anonymous lines are gone. Later requests get a 502.
func TestUpstreamDiesMidCall(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) { upstreamDiesMidCall(t, db == "postgres") })
	}
}

func upstreamDiesMidCall(t *testing.T, postgres bool) {
	started := make(chan struct{})
	srv := sdk.NewServer(&sdk.Implementation{Name: "dying", Version: "1"}, nil)
	sdk.AddTool(srv, &sdk.Tool{Name: "hang", Description: "Reports progress, then waits."},
		func(ctx context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
			if err := req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1}); err != nil {
				return nil, nil, err
			}
			close(started)
			<-ctx.Done()
			return nil, nil, ctx.Err()
		})
	upstream := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil))
	t.Cleanup(upstream.Close)

	var logs syncBuffer
	e := testenv.New(t, testenv.Options{Postgres: postgres, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	s := e.CreateServer("acme/proxied")
	s.Upstream = upstream.URL + "/mcp"
	if err := e.Store.UpdateServer(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	id, secret := e.CreateServerClient("acme/proxied", "mcp:tools:read", "mcp:tools:execute")
	token := e.Token(id, secret)

	progressed := make(chan struct{}, 1)
	hc := &http.Client{Transport: &bearer{token: token, base: e.Client.Transport}}
	client := sdk.NewClient(&sdk.Implementation{Name: "relay-test", Version: "0"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *sdk.ProgressNotificationClientRequest) {
			select {
			case progressed <- struct{}{}:
			default:
			}
		},
	})
	// Generous: the assertion is that the error is the gateway's, not this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// No standalone GET stream: its own end (TestUpstreamCutsAnswer) would fail the whole
	// session in the client, racing the answer to the call under test.
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: e.URL + "/mcp/acme/proxied", HTTPClient: hc,
		MaxRetries: -1, DisableStandaloneSSE: true},
		&sdk.ClientSessionOptions{ProtocolVersion: legacyProtocol})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	done := make(chan error, 1)
	go func() {
		params := &sdk.CallToolParams{Name: "hang", Arguments: map[string]any{}}
		params.SetProgressToken("p")
		_, err := cs.CallTool(ctx, params)
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("the call ended before the tool started: %v", err)
	}
	<-progressed // the stream is flowing through the gateway
	upstream.Listener.Close()
	upstream.CloseClientConnections()

	err = <-done
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != mcp.CodeUnavailable ||
		rpcErr.Message != "The upstream MCP server closed the stream before answering." {
		t.Fatalf("CallTool returned %v (deadline: %v), want the gateway's JSON-RPC error", err, ctx.Err())
	}

	lines := logLines(&logs, "upstream stream broke before answering")
	if len(lines) != 1 {
		t.Fatalf("%d log lines for the broken call, want 1:\n%s", len(lines), logs.String())
	}
	l := lines[0]
	if l["server"] != "acme/proxied" || l["method"] != "tools/call" || l["client_id"] != id || l["sub"] != id || l["err"] == "" {
		t.Errorf("log line %v: want server, method, client_id, sub and err", l)
	}
	if strings.Contains(logs.String(), "ReverseProxy") {
		t.Errorf("ReverseProxy logged on its own:\n%s", logs.String())
	}

	r := rpc(t, e, "/mcp/acme/proxied", token, toolsList)
	if r.StatusCode != http.StatusBadGateway || decodeRPCError(t, r).Error.Code != mcp.CodeUnavailable {
		t.Errorf("a request to the dead upstream: status %d: %s", r.StatusCode, r.Body)
	}
}

// cutUpstream announces a body longer than it sends, then drops the connection: on POST a
// JSON answer, on GET an event stream with one whole event and half of another.
func cutUpstream(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		if r.Method == http.MethodGet {
			fmt.Fprint(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
			ev := "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\ndata: {\"jsonrpc\""
			fmt.Fprintf(buf, "%x\r\n%s\r\n", len(ev), ev)
		} else {
			fmt.Fprint(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":\"2.0\",")
		}
		buf.Flush()
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/mcp"
}

// TestUpstreamCutsAnswer: a JSON answer cut short becomes a 502 JSON-RPC error when it is
// read whole for an edit; streamed (no edit), the client's response is aborted. A GET
// stream cut mid-event ends cleanly after the last whole event. Each failure is one log
// line naming the server, the method and the client, and ReverseProxy logs nothing.
func TestUpstreamCutsAnswer(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	e := testenv.New(t, testenv.Options{Log: log})
	s := e.CreateServer("acme/proxied")
	s.Upstream = cutUpstream(t)
	if err := e.Store.UpdateServer(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	id, secret := e.CreateServerClient("acme/proxied", "mcp:tools:read")
	token := e.Token(id, secret)
	editing := relayGateway(t, e, log, nil, testEdit)
	send := func(method, url, body string) (*http.Response, error) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		return e.Client.Do(req)
	}

	resp, err := send(http.MethodPost, editing+"/mcp/acme/proxied", toolsList)
	if err != nil {
		t.Fatal(err)
	}
	r := &testenv.Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: []byte(readAll(t, resp.Body))}
	resp.Body.Close()
	if got := decodeRPCError(t, r); r.StatusCode != http.StatusBadGateway || got.Error.Code != mcp.CodeUnavailable || string(got.ID) != "1" ||
		got.Error.Message != "The upstream MCP server closed the connection before its answer was complete." {
		t.Errorf("edited JSON answer cut short: status %d: %s", r.StatusCode, r.Body)
	}

	// ping has no edit: its answer streams, and is cut mid-way.
	resp, err = send(http.MethodPost, e.URL+"/mcp/acme/proxied", ping)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Errorf("a streamed JSON answer cut short reached the client as a complete response")
	}

	resp, err = send(http.MethodGet, e.URL+"/mcp/acme/proxied", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	resp.Body.Close()
	if err := sc.Err(); err != nil || !slices.Equal(got, []string{`data: {"jsonrpc":"2.0","method":"notifications/message","params":{}}`, ""}) {
		t.Errorf("GET stream cut mid-event: %q, err %v; want the whole event and a clean end", got, err)
	}

	for _, want := range []struct{ msg, method string }{
		{"upstream answer cut short", "tools/list"},
		{"upstream answer cut short", "ping"},
		{"upstream event stream broke", "http:GET"},
	} {
		n := 0
		for _, l := range logLines(&logs, want.msg) {
			if l["method"] == want.method && l["server"] == "acme/proxied" && l["client_id"] == id {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d log lines %q for %s, want 1:\n%s", n, want.msg, want.method, logs.String())
		}
	}
	if strings.Contains(logs.String(), "ReverseProxy") {
		t.Errorf("ReverseProxy logged on its own:\n%s", logs.String())
	}
}
