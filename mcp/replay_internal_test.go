package mcp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// TestReplayEdit: the edit of a GET stream's responses filters each answer by its shape, as
// the list request answering in that shape would be: tools, resources, templates, and
// tasks (against the task records of a real store), several at once, and a list member in
// another case too. Other results are left alone; a token that sees everything, on a
// gateway without task records, gets no edit at all.
func TestReplayEdit(t *testing.T) {
	tg := newTaskGate(t, "sqlite://"+filepath.Join(t.TempDir(), "t.db"))
	tg.g.policy = NewPolicy(limitedRegistry(t))
	alice := caller("app-a", "usr_alice", append(readOnly, "crm:read")...)
	bob := caller("app-b", "usr_bob", readExec...)
	tg.create(t, alice, "search_a", `{"task":{"taskId":"a-1","status":"working"}}`)
	tg.create(t, bob, "b1", `{"task":{"taskId":"b-1","status":"working"}}`)

	edit := tg.g.replayEdit(tg.info, alice)
	if edit == nil {
		t.Fatal("replayEdit of a limited token = nil: replayed lists would go out unfiltered")
	}
	for _, tc := range []struct{ name, in, want string }{
		{"tools", `{"tools":[{"name":"search_a"},{"name":"delete_a"}],"nextCursor":"n"}`,
			`{"tools":[{"name":"search_a"}],"nextCursor":"n"}`},
		{"tools in another case", `{"Tools":[{"name":"delete_a"}]}`, `{}`},
		{"resources", `{"resources":[{"uri":"crm://contacts/1"},{"uri":"crm://deals/1"}]}`,
			`{"resources":[{"uri":"crm://contacts/1"}]}`},
		{"templates", `{"resourceTemplates":[{"uriTemplate":"crm://contacts/{id}"},{"uriTemplate":"crm://{kind}/{id}"}]}`,
			`{"resourceTemplates":[{"uriTemplate":"crm://contacts/{id}"}]}`},
		{"tasks", `{"tasks":[{"taskId":"a-1"},{"taskId":"b-1"}]}`, `{"tasks":[{"taskId":"a-1"}]}`},
		{"tools and tasks", `{"tools":[{"name":"delete_a"}],"tasks":[{"taskId":"b-1"}]}`, `{"tools":[],"tasks":[]}`}, // members keep their order
		{"another result", `{"content":[{"type":"text","text":"tools"}],"isError":false}`, ""},
		{"not an object", `[{"tools":[{"name":"delete_a"}]}]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := edit(context.Background(), jsontext.Value(tc.in))
			if tc.want == "" {
				if got != nil {
					t.Errorf("edited to %s, want unchanged", got)
				}
				return
			}
			if got == nil {
				t.Fatalf("unchanged, want %s", tc.want)
			}
			c := got.Clone()
			if err := c.Compact(); err != nil || string(c) != tc.want {
				t.Errorf("edited to %s, want %s", got, tc.want)
			}
		})
	}

	plain := &Gateway{log: tg.g.log, policy: tg.g.policy}
	if e := plain.replayEdit(tg.info, bob); e != nil {
		t.Error("replayEdit of a token that sees every list, without task records, is not nil: GET streams would be read for nothing")
	}
}

// TestReplayEventStream: on a GET stream every response is edited whatever its id, and the
// stream goes on after it; notifications, server requests and error responses pass as
// they came. An event too large to check ends the stream rather than pass unread.
func TestReplayEventStream(t *testing.T) {
	const stream = "id: s_0\ndata: \n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"roots/list\"}\n\n" +
		"id: s_1\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"a\":1}}\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{\"b\":2}}\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":8,\"error\":{\"code\":-1,\"message\":\"no\"}}\n\n"
	const want = "id: s_0\ndata: \n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"roots/list\"}\n\n" +
		"id: s_1\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"edited\":{\"a\":1}}}\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{\"edited\":{\"b\":2}}}\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":8,\"error\":{\"code\":-1,\"message\":\"no\"}}\n\n"
	log := slog.New(slog.DiscardHandler)
	for _, size := range []int{1, 5, len(stream)} {
		s := newEventStream(newReplayEditor(context.Background(), wrapEdit, log), log)
		var out []byte
		for i := 0; i < len(stream); i += size {
			out = s.write(out, []byte(stream[i:min(i+size, len(stream))]))
		}
		if string(out) != want {
			t.Errorf("chunks of %d:\n got %q\nwant %q", size, out, want)
		}
	}
	if newReplayEditor(context.Background(), nil, log) != nil {
		t.Error("a GET stream without an edit gets an editor: its events would be read for nothing")
	}

	huge := append([]byte(`data: {"jsonrpc":"2.0","id":7,"result":{"tools":["`), bytes.Repeat([]byte("x"), maxEditedBody)...)
	s := newEventStream(newReplayEditor(context.Background(), wrapEdit, log), log)
	if out := s.write(nil, huge); len(out) != 0 || !s.done {
		t.Fatalf("an event too large to edit on a GET stream: %d bytes out, done %v", len(out), s.done)
	}
}

// The gateway's own error on an event stream echoes the id as the client wrote it, not
// its canonical form: the client matches answers by what it sent.
func TestEventStreamErrorKeepsRawID(t *testing.T) {
	huge := append([]byte(`data: {"jsonrpc":"2.0","id":"a","result":{"tools":["`), bytes.Repeat([]byte("x"), maxEditedBody)...)
	s := newEventStream(editorFor(t, `"\u0061"`, wrapEdit), slog.New(slog.DiscardHandler))
	out := s.write(nil, huge)
	if !s.done || !bytes.Contains(out, []byte(`"id":"\u0061","error":{"code":-32006`)) {
		t.Fatalf("error event %.300q, want the id as sent (\"\\u0061\")", out)
	}
}

// A JSON answer that must be edited and is not the response to the request (another id,
// a server request, unreadable), or is compressed, is the gateway's 502; never relayed
// unedited. identity is no compression.
func TestRelayJSONUncheckedFailsClosed(t *testing.T) {
	p := &proxy{log: slog.New(slog.DiscardHandler)}
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":8,"result":{"tools":[]}}`,
		`{"jsonrpc":"2.0","id":"7","result":{"tools":[]}}`,
		`{"jsonrpc":"2.0","id":7,"method":"roots/list"}`,
		`{"jsonrpc":"2.0","id":7,"result":{"tools":[]},"id":7}`,
		`not json`,
		``,
	} {
		resp := &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}
		var unchecked *errUnchecked
		if err := p.relayJSON(resp, &upstreamCall{}, editorFor(t, "7", wrapEdit)); !errors.As(err, &unchecked) {
			t.Errorf("relayJSON of %s to id 7: %v, want errUnchecked", body, err)
		}
	}

	call := &upstreamCall{msg: Message{Kind: KindRequest, Method: "tools/list", ID: jsontext.Value("7")}, edit: wrapEdit}
	for _, tc := range []struct {
		encoding, contentType string
		ok                    bool
	}{
		{"gzip", "application/json", false},
		{"br", "text/event-stream", false},
		{"identity", "application/json", true},
	} {
		req := httptest.NewRequest(http.MethodPost, "/mcp/acme/x", nil)
		resp := &http.Response{StatusCode: http.StatusOK, Request: req,
			Body:   io.NopCloser(strings.NewReader(`{"jsonrpc":"2.0","id":7,"result":{}}`)),
			Header: http.Header{"Content-Encoding": {tc.encoding}, "Content-Type": {tc.contentType}}}
		err := p.relay(resp, call)
		var unchecked *errUnchecked
		if tc.ok != (err == nil) || !tc.ok && !errors.As(err, &unchecked) {
			t.Errorf("Content-Encoding %s, %s: %v", tc.encoding, tc.contentType, err)
		}
		if tc.ok {
			if b, _ := io.ReadAll(resp.Body); !bytes.Contains(b, []byte(`"edited"`)) {
				t.Errorf("Content-Encoding identity: %s, want it edited", b)
			}
		}
	}
}

// The demo's answers fail closed like an upstream's: a JSON answer too large to edit, one
// that is not the response, or a compressed one is a 502 with the request's id as sent.
func TestDemoUncheckedFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name, encoding string
		body           []byte
	}{
		{"too large", "", append([]byte(`{"jsonrpc":"2.0","id":"a","result":{"tools":["`), bytes.Repeat([]byte("x"), maxEditedBody)...)},
		{"another id", "", []byte(`{"jsonrpc":"2.0","id":"b","result":{"tools":[]}}`)},
		{"compressed", "gzip", []byte(`{"jsonrpc":"2.0","id":"a","result":{"tools":[]}}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := &demoWriter{ResponseWriter: rec, id: []byte(`"\u0061"`), ed: editorFor(t, `"\u0061"`, wrapEdit)}
			w.Header().Set("Content-Type", "application/json")
			if tc.encoding != "" {
				w.Header().Set("Content-Encoding", tc.encoding)
			}
			w.WriteHeader(http.StatusOK)
			for b := tc.body; len(b) > 0; b = b[min(len(b), 1<<20):] {
				w.Write(b[:min(len(b), 1<<20)])
			}
			if w.finish() {
				t.Error("finish reported success")
			}
			body := rec.Body.String()
			if rec.Code != http.StatusBadGateway || strings.Contains(body, "tools") || !strings.Contains(body, `"id":"\u0061"`) {
				t.Errorf("status %d, body %.300s; want a 502 JSON-RPC error with the id as sent", rec.Code, body)
			}
			if rec.Header().Get("Content-Encoding") != "" {
				t.Errorf("the error went out with Content-Encoding %q", rec.Header().Get("Content-Encoding"))
			}
		})
	}
}
