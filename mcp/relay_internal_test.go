package mcp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// upcase is an edit that makes every result {"edited":<result>}.
func wrapEdit(_ context.Context, result jsontext.Value) jsontext.Value {
	return jsontext.Value(`{"edited":` + string(result) + `}`)
}

func editorFor(t testing.TB, id string, edit resultEdit) *responseEditor {
	t.Helper()
	ed := newResponseEditor(context.Background(), Message{Kind: KindRequest, Method: "tools/call", ID: jsontext.Value(id)},
		edit, slog.New(slog.DiscardHandler))
	if ed == nil {
		t.Fatal("no editor for a request")
	}
	return ed
}

// TestEventStream: events pass whole and byte for byte, whatever the chunking; only the
// response to the pending id is edited, with its other fields kept; a server's own request
// with the same id, an error response and a response to another id are not.
func TestEventStream(t *testing.T) {
	const stream = ": keep-alive\n\n" +
		"event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\r\n\r\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"sampling/createMessage\",\"params\":{}}\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{}}\n\n" +
		"event: message\nid: 2\nretry: 100\ndata: {\"jsonrpc\":\"2.0\",\n" +
		"data:  \"id\":7,\"result\":{\"a\":[1, 2]},\"x\":0}\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"late\":true}}\n\n"
	const want = ": keep-alive\n\n" +
		"event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\r\n\r\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"sampling/createMessage\",\"params\":{}}\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{}}\n\n" +
		"event: message\nid: 2\nretry: 100\ndata: {\"jsonrpc\":\"2.0\",\n" +
		"data:  \"id\":7,\"result\":{\"edited\":{\"a\":[1,2]}},\"x\":0}\n\n" +
		// Only the first response to the id is the answer.
		"data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"late\":true}}\n\n"
	for _, size := range []int{1, 2, 3, 7, 64, len(stream)} {
		s := newEventStream(editorFor(t, "7", wrapEdit), slog.New(slog.DiscardHandler))
		var out []byte
		for i := 0; i < len(stream); i += size {
			out = s.write(out, []byte(stream[i:min(i+size, len(stream))]))
		}
		if string(out) != want {
			t.Errorf("chunks of %d:\n got %q\nwant %q", size, out, want)
		}
		if s.pending {
			t.Errorf("chunks of %d: the response was not recognized", size)
		}
	}

	// Without an edit, or with none pending (a GET stream), every byte passes.
	for name, s := range map[string]*eventStream{
		"no edit":    newEventStream(editorFor(t, "7", nil), slog.New(slog.DiscardHandler)),
		"no request": newEventStream(nil, slog.New(slog.DiscardHandler)),
	} {
		if out := s.write(nil, []byte(stream)); string(out) != stream {
			t.Errorf("%s: got %q", name, out)
		}
	}

	// An unfinished event is held back.
	s := newEventStream(editorFor(t, "7", wrapEdit), slog.New(slog.DiscardHandler))
	if out := s.write(nil, []byte("data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n")); len(out) != 0 || !s.pending {
		t.Errorf("half an event came out: %q", out)
	}
}

// TestResponseTo: the id is compared as JSON (a string is never the number), an error is
// matched but has no result to edit, and an unreadable message is no answer.
func TestResponseTo(t *testing.T) {
	for _, tc := range []struct {
		msg, id string
		match   bool
		result  string
	}{
		{`{"jsonrpc":"2.0","id":1,"result":{"x":1}}`, `1`, true, `{"x":1}`},
		{`{"result" : [ 1 ] , "id":"\u0061"}`, `"a"`, true, `[ 1 ]`},
		{`{"jsonrpc":"2.0","id":"1","result":{}}`, `1`, false, ``},
		{`{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"no"}}`, `1`, true, ``},
		{`{"jsonrpc":"2.0","id":1,"method":"ping"}`, `1`, false, ``},
		{`{"jsonrpc":"2.0","id":1,"result":{},"id":1}`, `1`, false, ``}, // duplicate member
		{`{"jsonrpc":"2.0","id":1,"result":{},"result":{"x":1}}`, `1`, false, ``},
		{`{"jsonrpc":"2.0","id":1,"error":{},"result":{"x":1}}`, `1`, false, ``},
		{`{"jsonrpc":"2.0","id":1,"result":{"a":1,"a":2}}`, `1`, true, `{"a":1,"a":2}`}, // the edit's decoder judges inside
		{`{"jsonrpc":"2.0","id":1,"result":`, `1`, false, ``},
		{`[{"jsonrpc":"2.0","id":1,"result":{}}]`, `1`, false, ``},
	} {
		ed := editorFor(t, tc.id, nil)
		match, start, end := responseTo([]byte(tc.msg), ed.id)
		got := ""
		if start >= 0 {
			got = tc.msg[start:end]
		}
		if match != tc.match || got != tc.result {
			t.Errorf("%s for id %s: match %v, result %q; want %v, %q", tc.msg, tc.id, match, got, tc.match, tc.result)
		}
	}
}

// FuzzEventStream: whatever an upstream sends, the relay does not panic, and without an
// edit it passes every complete event byte for byte.
func FuzzEventStream(f *testing.F) {
	f.Add([]byte("data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n"), 3)
	f.Add([]byte("event: x\r\ndata\r\ndata: 1\r\n\r\n: c\n\n"), 1)
	f.Fuzz(func(t *testing.T, in []byte, size int) {
		size = max(1, size%64)
		edited := newEventStream(editorFor(t, "7", wrapEdit), slog.New(slog.DiscardHandler))
		plain := newEventStream(editorFor(t, "7", nil), slog.New(slog.DiscardHandler))
		var out []byte
		for i := 0; i < len(in); i += size {
			chunk := in[i:min(i+size, len(in))]
			edited.write(nil, chunk)
			out = plain.write(out, chunk)
		}
		if !bytes.Equal(append(out, plain.rest()...), in) {
			t.Fatalf("unedited stream changed:\n in %q\nout %q", in, out)
		}
	})
}

// An event too large to hold is relayed as it comes when nothing edits the answer, but
// when the answer must be edited (a filter of what the token may see) it is never relayed
// unedited: the client gets a JSON-RPC error in its place and the stream ends.
func TestEventStreamTooLargeFailsClosed(t *testing.T) {
	huge := append([]byte(`data: {"jsonrpc":"2.0","id":7,"result":{"tools":["`), bytes.Repeat([]byte("x"), maxEditedBody)...)

	plain := newEventStream(editorFor(t, "7", nil), slog.New(slog.DiscardHandler))
	if out := plain.write(nil, huge); !bytes.Equal(out, huge) || plain.done {
		t.Fatalf("without an edit: %d bytes out of %d, done %v", len(out), len(huge), plain.done)
	}

	s := newEventStream(editorFor(t, "7", wrapEdit), slog.New(slog.DiscardHandler))
	out := s.write(nil, huge)
	if !s.done || bytes.Contains(out, []byte("xxxx")) || !bytes.Contains(out, []byte(`"id":7,"error":{"code":-32006`)) {
		t.Fatalf("with an edit: done %v, out %.200s", s.done, out)
	}
	if more := s.write(nil, []byte("\n\ndata: {}\n\n")); len(more) != 0 {
		t.Fatalf("after the error the stream goes on: %q", more)
	}
}

// The same for a JSON answer: one too large to edit is the gateway's 502, never relayed
// unfiltered.
func TestRelayJSONTooLargeFailsClosed(t *testing.T) {
	body := append([]byte(`{"jsonrpc":"2.0","id":7,"result":{"tools":["`), bytes.Repeat([]byte("x"), maxEditedBody)...)
	resp := &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(body)), Header: http.Header{}}
	p := &proxy{log: slog.New(slog.DiscardHandler)}
	err := p.relayJSON(resp, &upstreamCall{}, editorFor(t, "7", wrapEdit))
	var us *errUpstreamStatus
	if !errors.As(err, &us) {
		t.Fatalf("relayJSON of a %d-byte answer: %v, want errUpstreamStatus", len(body), err)
	}
}

// On a stream whose answer must be edited, an event the relay cannot read as one message is
// dropped, not passed on: a client might read an unedited answer in it. Well-formed events
// that are not the answer pass as they came.
func TestEventStreamDropsUnreadableEvents(t *testing.T) {
	s := newEventStream(editorFor(t, "7", wrapEdit), slog.New(slog.DiscardHandler))
	in := "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{},\"result\":{\"all\":1}}\n\n" + // duplicate result
		"data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"a\":1}}\r\rdata: x\n\n" + // a bare CR splits it for a client
		"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n"
	out := string(s.write(nil, []byte(in)))
	if out != "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n" {
		t.Fatalf("out = %q, want only the notification", out)
	}
	plain := newEventStream(editorFor(t, "7", nil), slog.New(slog.DiscardHandler))
	if out := string(plain.write(nil, []byte(in))); out != in {
		t.Fatalf("without an edit the stream changed: %q", out)
	}
}

// TestIsCanonicalID: every id the fast path takes as canonical is exactly what RFC 8785
// canonicalization makes of it, and the ids clients send take the fast path.
func TestIsCanonicalID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		fast bool
	}{
		{`1`, true}, {`0`, true}, {`-7`, true}, {`123456789012345`, true}, {`"abc"`, true},
		{`""`, true}, {`"a b-c_d:1/2"`, true},
		{`-0`, false}, {`1234567890123456`, false}, {`12345678901234567890`, false}, {`1.0`, false},
		{`1e2`, false}, {`1E2`, false}, {`0.5`, false}, {`-`, false}, {`"a\"b"`, false}, {`"a\\b"`, false},
		{`"\u0041"`, false}, {`"é"`, false}, {`"a/b"`, true}, {`"\/"`, false}, {`null`, false},
		{`true`, false}, {` 1`, false}, {`1 `, false}, {`{}`, false}, {`[1]`, false}, {`"`, false},
	} {
		v := jsontext.Value(tc.id)
		if got := isCanonicalID(v); got != tc.fast {
			t.Errorf("isCanonicalID(%s) = %v, want %v", tc.id, got, tc.fast)
		}
		if !isCanonicalID(v) {
			continue
		}
		c := v.Clone()
		if err := c.Canonicalize(); err != nil || string(c) != tc.id {
			t.Errorf("%s is taken as canonical, but canonicalizes to %s (%v)", tc.id, c, err)
		}
	}
}
