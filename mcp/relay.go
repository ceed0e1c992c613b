package mcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// maxEditedBody caps what the relay holds in memory to edit one answer: a JSON body, or one
// SSE event. An answer past it streams through unchanged, and that is logged. It matches the
// go-sdk client's own limit on one event (DefaultMaxEventSize).
const maxEditedBody = 16 << 20

// Messages of the errors the relay answers for a backend that failed mid-answer.
const (
	msgStreamBroke = "The upstream MCP server closed the stream before answering."
	msgAnswerCut   = "The upstream MCP server closed the connection before its answer was complete."
	msgTooLarge    = "The upstream MCP server's answer is larger than the gateway can check for this token (16 MiB)."
)

// responseEditor finds, in the backend's messages, the response to the request in flight
// and applies the request's edit to its result. On a stream with no request in flight (a
// GET stream, which replays earlier streams' events to a client resuming with
// Last-Event-ID, answers included) it edits every response, whatever its id.
type responseEditor struct {
	ctx context.Context
	// id is the request's id, canonical (RFC 8785) so "1" and "1.0"-style spellings
	// compare; nil: any id (newReplayEditor).
	id jsontext.Value
	// rawID is the id as the client sent it: the gateway's own errors echo it, since a
	// client matches the answer to its request by the id it wrote.
	rawID jsontext.Value
	edit  resultEdit // nil: the response is only looked for, never changed
	log   *slog.Logger
}

// newResponseEditor returns the editor of the response to msg, or nil when msg is no
// request (nothing will answer it).
func newResponseEditor(ctx context.Context, msg Message, edit resultEdit, log *slog.Logger) *responseEditor {
	if msg.Kind != KindRequest || len(msg.ID) == 0 {
		return nil
	}
	id := msg.ID.Clone()
	if !isCanonicalID(id) {
		if err := id.Canonicalize(); err != nil {
			return nil
		}
	}
	return &responseEditor{ctx: ctx, id: id, rawID: msg.ID, edit: edit, log: log}
}

// newReplayEditor returns the editor of a stream without a request in flight (GET): edit
// applies to every response on it, whatever its id; nil when there is no edit.
func newReplayEditor(ctx context.Context, edit resultEdit, log *slog.Logger) *responseEditor {
	if edit == nil {
		return nil
	}
	return &responseEditor{ctx: ctx, edit: edit, log: log}
}

// anyID reports whether the editor edits every response (a GET stream's).
func (e *responseEditor) anyID() bool { return e.id == nil }

// apply returns msg with the edit applied if msg is the response to the request, and
// whether it is. An error response, or a message that is not the response, is returned as
// it is; so is a response whose edit returned nothing or something that is not JSON.
func (e *responseEditor) apply(msg []byte) (out []byte, matched bool) {
	matched, start, end := responseTo(msg, e.id)
	if !matched || e.edit == nil || start < 0 {
		return msg, matched
	}
	// Not cloned: every caller's msg is its own and is not reused; an edit only reads it.
	res := e.edit(e.ctx, jsontext.Value(msg[start:end]))
	if res == nil {
		return msg, true
	}
	res = res.Clone()
	if err := res.Compact(); err != nil {
		// A bug in an edit: better the backend's answer than a broken one.
		e.log.ErrorContext(e.ctx, "result edit returned invalid JSON; answer relayed unchanged", "err", err)
		return msg, true
	}
	out = make([]byte, 0, len(msg)-(end-start)+len(res))
	out = append(append(append(out, msg[:start]...), res...), msg[end:]...)
	return out, true
}

// responseTo reports whether msg is a JSON-RPC response (result or error) whose id is want
// (canonical; nil: any id, or none), and where the result's value is in msg (start < 0 for
// an error). Only the
// result's bytes are ever replaced, so jsonrpc, id and any other member stay as the backend
// wrote them. Anything unreadable is not the response.
//
// Duplicate member names are looked for at the top level only, where they would let the
// gate edit one result and a client read another: checking every depth costs more than the
// rest of the scan together (the gate's overhead benchmark), and within the result it is
// the edit's own decoder that reads what it acts on.
func responseTo(msg []byte, want jsontext.Value) (matched bool, start, end int) {
	start, end = -1, -1
	dec := scanDecoders.Get().(*jsontext.Decoder)
	defer func() {
		dec.Reset(bytes.NewBuffer(nil), scanOptions)
		scanDecoders.Put(dec)
	}()
	dec.Reset(bytes.NewBuffer(msg), scanOptions) // a *bytes.Buffer is read in place, not copied
	if dec.PeekKind() != '{' {
		return false, -1, -1
	}
	if _, err := dec.ReadToken(); err != nil {
		return false, -1, -1
	}
	idOK := want == nil
	var answer, seenID bool
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return false, -1, -1
		}
		switch name.String() {
		case "id":
			if seenID {
				return false, -1, -1
			}
			seenID = true
			v, err := dec.ReadValue()
			if err != nil {
				return false, -1, -1
			}
			if want != nil {
				idOK = sameID(v, want)
			}
		case "result":
			if answer {
				return false, -1, -1
			}
			v, err := dec.ReadValue()
			if err != nil {
				return false, -1, -1
			}
			answer = true
			end = int(dec.InputOffset())
			start = end - len(v)
		case "error":
			if answer {
				return false, -1, -1
			}
			answer = true
			if err := dec.SkipValue(); err != nil {
				return false, -1, -1
			}
		case "method":
			return false, -1, -1 // a request or notification of the server's own
		default:
			if err := dec.SkipValue(); err != nil {
				return false, -1, -1
			}
		}
	}
	if !idOK || !answer {
		return false, -1, -1
	}
	if _, err := dec.ReadToken(); err != nil { // the closing '}'
		return false, -1, -1
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return false, -1, -1 // more after the message: not one message
	}
	return true, start, end
}

var (
	scanOptions  = jsontext.AllowDuplicateNames(true) // see responseTo
	scanDecoders = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewBuffer(nil), scanOptions) }}
)

func sameID(v, want jsontext.Value) bool {
	if v.Kind() != want.Kind() {
		return false
	}
	if isCanonicalID(v) {
		return bytes.Equal(v, want)
	}
	c := v.Clone()
	return c.Canonicalize() == nil && bytes.Equal(c, want)
}

// isCanonicalID reports whether v is a JSON-RPC id that RFC 8785 canonicalization would
// leave as it is: an integer of at most 15 digits (exact as a float64, so written back the
// same; no leading zero, no -0), or a string of printable ASCII without quote or
// backslash (nothing to escape or unescape). Those are the ids clients send; checking them
// costs nanoseconds where Canonicalize costs microseconds, twice per proxied request.
// Anything else is canonicalized.
func isCanonicalID(v jsontext.Value) bool {
	switch {
	case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
		for _, c := range v[1 : len(v)-1] {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				return false
			}
		}
		return true
	case len(v) > 0:
		d := v
		if d[0] == '-' {
			d = d[1:]
		}
		if len(d) == 0 || len(d) > 15 || (d[0] == '0' && (len(d) > 1 || len(v) > 1)) {
			return false // empty, too long for a float64, a leading zero, or -0
		}
		for _, c := range d {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	return false
}

// eventStream splits a text/event-stream into its events (an event ends at a blank line,
// WHATWG HTML "Interpreting an event stream") and passes each on whole, so a client never
// gets half an event. The response to the request in flight has its data replaced by the
// edited message; its other fields (event, id, retry) and every other event pass as they
// came, byte for byte. Lines end in LF or CRLF (what every MCP SDK writes).
type eventStream struct {
	// ed is nil when no request awaits an answer and nothing edits (a GET stream of a token
	// that sees everything): events are not read. On a GET stream with an edit it is an
	// any-id editor, applied to every response.
	ed *responseEditor
	// pending: the response to ed's request has not come by yet (never on a GET stream).
	pending bool
	// partial holds the event being received; scanned is how much of it has been searched
	// for line ends, lineStart where its last line starts.
	partial            []byte
	scanned, lineStart int
	// raw: an event outgrew maxEditedBody; from then on bytes pass through as they come.
	raw bool
	// done: the answer could not be edited, so an error was sent in its place and the rest
	// of the stream is dropped.
	done bool
	log  *slog.Logger
}

func newEventStream(ed *responseEditor, log *slog.Logger) *eventStream {
	return &eventStream{ed: ed, pending: ed != nil && !ed.anyID(), log: log}
}

// write appends to out every event that p completes (edited where it is the response),
// keeps the rest for the next write, and returns out.
func (s *eventStream) write(out, p []byte) []byte {
	switch {
	case s.done:
		return out
	case s.raw:
		return append(out, p...)
	}
	s.partial = append(s.partial, p...)
	done := 0 // bytes of partial already passed on
	for {
		i := bytes.IndexByte(s.partial[s.scanned:], '\n')
		if i < 0 {
			break
		}
		lineEnd := s.scanned + i
		line := bytes.TrimSuffix(s.partial[s.lineStart:lineEnd], []byte("\r"))
		s.scanned = lineEnd + 1
		s.lineStart = s.scanned
		if len(line) == 0 {
			out = s.event(out, s.partial[done:s.scanned])
			done = s.scanned
		}
	}
	if done > 0 {
		n := copy(s.partial, s.partial[done:])
		s.partial = s.partial[:n]
		s.scanned -= done
		s.lineStart -= done
	}
	if len(s.partial) > maxEditedBody && s.pending && s.ed.edit != nil {
		// It may be the answer, and the answer must be edited (a filter of what this
		// token may see): fail closed, never relay it unfiltered.
		s.log.WarnContext(s.ctxOrBackground(), "upstream event larger than the gateway edits; answered with an error", "limit", maxEditedBody)
		s.done, s.pending, s.partial = true, false, nil
		return append(out, errorEvent(s.ed.rawID, msgTooLarge)...)
	}
	if len(s.partial) > maxEditedBody && s.ed != nil && s.ed.anyID() && s.ed.edit != nil {
		// A GET stream whose responses must be edited: the event may be a replayed
		// answer, and no id is known to answer with an error. End the stream.
		s.log.WarnContext(s.ctxOrBackground(), "upstream event larger than the gateway edits on a replaying stream; stream ended", "limit", maxEditedBody)
		s.done, s.partial = true, nil
		return out
	}
	if len(s.partial) > maxEditedBody {
		// Held whole, an event this big would cost the gateway its size again per
		// stream; the go-sdk client would refuse it anyway. Whether it was the response
		// is unknown, so none is claimed to be missing if the stream breaks later.
		s.log.WarnContext(s.ctxOrBackground(), "upstream event larger than the gateway edits; relayed unchanged", "limit", maxEditedBody)
		s.raw, s.pending = true, false
		out = append(out, s.partial...)
		s.partial = nil
	}
	return out
}

// rest returns the unfinished event's bytes (for a backend that ended without a blank
// line and will not fail: the in-process demo).
func (s *eventStream) rest() []byte {
	p := s.partial
	s.partial, s.scanned, s.lineStart = nil, 0, 0
	return p
}

func (s *eventStream) ctxOrBackground() context.Context {
	if s.ed != nil {
		return s.ed.ctx
	}
	return context.Background()
}

// event appends one complete event (ending in its blank line) to out.
func (s *eventStream) event(out, ev []byte) []byte {
	replay := s.ed != nil && s.ed.anyID()
	if !s.pending && !replay {
		return append(out, ev...)
	}
	data, ok := eventData(ev)
	if !ok {
		return append(out, ev...)
	}
	if s.ed.edit != nil && hasBareCR(ev) {
		// A client ends a line at a lone CR as at LF (WHATWG), the relay only at LF: the
		// client could read an event in it the relay did not see. Dropped.
		s.log.WarnContext(s.ctxOrBackground(), "upstream event with a bare CR on an edited stream; dropped")
		return out
	}
	edited, matched := s.ed.apply(data)
	if !matched {
		if s.ed.edit != nil && len(bytes.TrimSpace(data)) > 0 { // an empty one primes a resumable stream
			if _, rpcErr := ParseMessage(data); rpcErr != nil {
				// Not one well-formed message (duplicate members, a bare CR splitting it
				// for a client as it does not for the relay): a client could read an
				// answer in it that the edit never saw. Dropped.
				s.log.WarnContext(s.ctxOrBackground(), "upstream event unreadable on an edited stream; dropped", "reason", rpcErr.Message)
				return out
			}
		}
		return append(out, ev...)
	}
	if !replay {
		s.pending = false // only the first response to the id is the answer
	}
	if len(edited) == len(data) && bytes.Equal(edited, data) {
		return append(out, ev...)
	}
	// The event again, its data lines replaced by the edited message's. JSON has line
	// breaks only as whitespace, so splitting the message there keeps it intact.
	first := true
	for line := range bytes.Lines(ev) {
		body := bytes.TrimRight(line, "\r\n")
		if len(body) == 0 {
			continue
		}
		if !isDataLine(body) {
			out = append(append(out, body...), '\n')
			continue
		}
		if first {
			first = false
			for seg := range bytes.SplitSeq(edited, []byte("\n")) {
				out = append(append(append(out, "data: "...), seg...), '\n')
			}
		}
	}
	return append(out, '\n')
}

// hasBareCR reports whether ev holds a CR that is not the start of a CRLF.
func hasBareCR(ev []byte) bool {
	for i := bytes.IndexByte(ev, '\r'); i >= 0; {
		if i+1 >= len(ev) || ev[i+1] != '\n' {
			return true
		}
		j := bytes.IndexByte(ev[i+1:], '\r')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// eventData joins an event's data lines as an SSE client does (LF between them, one space
// after the colon dropped); ok is false when the event has none.
func eventData(ev []byte) (data []byte, ok bool) {
	for line := range bytes.Lines(ev) {
		line = bytes.TrimRight(line, "\r\n")
		if !isDataLine(line) {
			continue
		}
		v := line[len("data"):]
		v = bytes.TrimPrefix(v, []byte(":"))
		v = bytes.TrimPrefix(v, []byte(" "))
		if ok {
			data = append(data, '\n')
		}
		data, ok = append(data, v...), true
	}
	return data, ok
}

func isDataLine(line []byte) bool {
	return bytes.HasPrefix(line, []byte("data")) && (len(line) == 4 || line[4] == ':')
}

// errorEvent is an SSE event carrying a JSON-RPC error response to id.
func errorEvent(id jsontext.Value, msg string) []byte {
	body := errorBody(id, CodeUnavailable, msg)
	out := make([]byte, 0, len(body)+32)
	out = append(out, "event: message\ndata: "...)
	out = append(out, body...)
	return append(out, "\n\n"...)
}

// errorBody is a JSON-RPC error response as writeRPCError writes it, without the HTTP.
func errorBody(id jsontext.Value, code int, msg string) []byte {
	raw := jsontext.Value("null")
	if len(id) > 0 {
		raw = id
	}
	b := []byte(`{"jsonrpc":"2.0","id":`)
	b = append(b, raw...)
	b = append(b, `,"error":{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"message":`...)
	q, _ := jsontext.AppendQuote(nil, msg)
	b = append(b, q...)
	return append(b, "}}"...)
}

// errSilent is what the relay hands httputil.ReverseProxy for a body it has already dealt
// with (logged, or the client left): ReverseProxy logs every read error but io.EOF and
// context.Canceled, by identity, and aborts the client's response after any, which is what
// is wanted; the log line it would add names neither server, method nor client.
var errSilent = context.Canceled

// relayedBody reads an upstream answer for the proxy: SSE event by event (stream set), or
// as it comes. When the upstream fails mid-answer it logs one line and, on an event stream
// whose request got no answer yet, sends the client a JSON-RPC error for it before ending
// the stream cleanly.
type relayedBody struct {
	body   io.ReadCloser
	stream *eventStream // nil: not an event stream; bytes pass unread
	p      *proxy
	call   *upstreamCall
	ctx    context.Context
	method string // the HTTP method, for the log of GET and DELETE

	chunk  []byte
	out    []byte // read, not yet returned
	outBuf []byte
	err    error // returned once out is drained
}

func (r *relayedBody) Read(b []byte) (int, error) {
	if r.stream == nil {
		n, err := r.body.Read(b)
		if err != nil && err != io.EOF {
			err = r.broken(err)
		}
		return n, err
	}
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.chunk == nil {
			r.chunk = make([]byte, 32<<10)
		}
		n, err := r.body.Read(r.chunk)
		r.out = r.stream.write(r.outBuf[:0], r.chunk[:n])
		r.outBuf = r.out[:0]
		if r.stream.done {
			r.err = io.EOF
			continue
		}
		if err != nil {
			// An unfinished event is dropped, as an SSE client drops one at the end.
			r.err = r.broken(err)
		}
	}
	n := copy(b, r.out)
	r.out = r.out[n:]
	return n, nil
}

// broken decides what a read error means, and returns the error to give ReverseProxy.
func (r *relayedBody) broken(err error) error {
	switch {
	case err == io.EOF:
		// The upstream ended the stream. Without an answer that is still no failure: a
		// server may close a POST's stream and let the client resume it with
		// Last-Event-ID (MCP 2025-11-25).
		return io.EOF
	case r.ctx.Err() != nil:
		return errSilent // the client went away, or its token ended the stream
	}
	if r.stream == nil {
		r.call.failed = true
		r.p.logFailure(r.ctx, r.call, r.method, "upstream answer cut short", err)
		return errSilent // headers and part of the body are out: abort the response
	}
	if r.stream.ed == nil || r.stream.ed.anyID() {
		// A GET stream: the client reconnects (with Last-Event-ID) if it wants more.
		r.call.failed = true
		r.p.logFailure(r.ctx, r.call, r.method, "upstream event stream broke", err)
		return io.EOF
	}
	if !r.stream.pending {
		return io.EOF // the answer came; the rest of the stream is no one's loss
	}
	r.call.failed = true
	r.p.logFailure(r.ctx, r.call, r.method, "upstream stream broke before answering", err)
	r.out = append(r.out, errorEvent(r.call.id, msgStreamBroke)...)
	return io.EOF
}

func (r *relayedBody) Close() error { return r.body.Close() }

// errAnswerCut reports a JSON answer the upstream did not finish.
type errAnswerCut struct{ err error }

func (e *errAnswerCut) Error() string { return "reading the upstream answer: " + e.err.Error() }
func (e *errAnswerCut) Unwrap() error { return e.err }

// relay sets resp's body up for the client: SSE answers event by event, JSON answers to a
// request with an edit read whole and edited, any other body as it comes. The response to
// a request without an edit is relayed byte for byte. An answer that must be edited and
// cannot be read (compressed) is the gateway's 502: an edit may be a filter of what the
// token may see, so such an answer never reaches the client unedited.
func (p *proxy) relay(resp *http.Response, call *upstreamCall) error {
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	ctx := resp.Request.Context()
	rb := &relayedBody{body: resp.Body, p: p, call: call, ctx: ctx, method: resp.Request.Method}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	// A compressed answer (never asked for: no Accept-Encoding is forwarded) is not read.
	plain := plainEncoding(resp.Header)
	mt := mediaType(resp.Header)
	if ok2xx && (call.edit != nil || p.testEdit != nil) && !(plain && (mt == "text/event-stream" || mt == "application/json")) {
		// An answer that must be edited and would not be read (compressed, or of a type
		// the relay does not parse but a lenient client might): never relayed unedited.
		if ed := p.editor(ctx, call); ed != nil && ed.edit != nil {
			resp.Body.Close()
			return &errUnchecked{"upstream answer with Content-Type " + strconv.Quote(resp.Header.Get("Content-Type")) +
				" and Content-Encoding " + strconv.Quote(resp.Header.Get("Content-Encoding")) + " cannot be edited"}
		}
	}
	switch {
	case ok2xx && plain && mt == "text/event-stream":
		// Read even without an edit: only the events tell whether the request got its
		// answer before a break, and a client must never get half an event.
		rb.stream = newEventStream(p.editor(ctx, call), p.log)
		resp.ContentLength = -1 // events may be dropped, added or edited
		resp.Header.Del("Content-Length")
	case ok2xx && plain && mt == "application/json" && (call.edit != nil || p.testEdit != nil):
		if ed := p.editor(ctx, call); ed != nil && ed.edit != nil {
			return p.relayJSON(resp, call, ed)
		}
	}
	resp.Body = rb
	return nil
}

// plainEncoding reports whether the body is as written: no Content-Encoding, or identity.
func plainEncoding(h http.Header) bool {
	ce := strings.TrimSpace(h.Get("Content-Encoding"))
	return ce == "" || strings.EqualFold(ce, "identity")
}

// msgUnchecked answers a request whose answer had to be edited and could not be.
const msgUnchecked = "The upstream MCP server's answer could not be checked."

// errUnchecked reports an answer that must be edited and cannot be: compressed, or not the
// response to the request (another id, or unreadable).
type errUnchecked struct{ why string }

func (e *errUnchecked) Error() string { return e.why }

// relayJSON reads a JSON answer whole and applies the edit. An answer cut short becomes the
// gateway's own 502 (nothing has been sent yet); so does one past maxEditedBody, and one
// that is not the response to the request: the edit may be a filter of what the token may
// see, so an answer is never relayed unedited.
func (p *proxy) relayJSON(resp *http.Response, call *upstreamCall, ed *responseEditor) error {
	body := resp.Body
	buf, err := readAll(io.LimitReader(body, maxEditedBody+1), resp.ContentLength)
	if err != nil {
		body.Close()
		return &errAnswerCut{err}
	}
	if len(buf) > maxEditedBody {
		// The edit may be a filter of what this token may see: fail closed, never relay
		// the answer unfiltered.
		body.Close()
		return &errUpstreamStatus{fmt.Sprintf("upstream answer larger than the %d bytes the gateway edits", maxEditedBody)}
	}
	body.Close()
	out, matched := ed.apply(buf)
	if !matched && !ed.anyID() {
		return &errUnchecked{"upstream JSON answer is not the response to the request (another id, or unreadable)"}
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

// readAll is io.ReadAll with a first buffer the size of the answer (its Content-Length,
// or relayBuffer when unknown) instead of 512 bytes grown eight times for a typical list.
func readAll(r io.Reader, contentLength int64) ([]byte, error) {
	size := relayBuffer
	if contentLength >= 0 && contentLength < maxEditedBody {
		size = int(contentLength) + 1 // room for the read that meets EOF
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				return b, nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append pick the next size
		}
	}
}

// relayBuffer is the first buffer of an answer of unknown length that the relay reads whole.
const relayBuffer = 8 << 10

// editor is the response editor of call's request, with the test hook's edit after the
// gate's (nil for notifications and responses). A GET (or DELETE) carries no message: its
// editor, if the gate gave it an edit (replayEdit), edits every response on the stream, as
// a resumed stream replays earlier requests' answers.
func (p *proxy) editor(ctx context.Context, call *upstreamCall) *responseEditor {
	if call.msg.Kind == 0 {
		return newReplayEditor(ctx, call.edit, p.log)
	}
	return newResponseEditor(ctx, call.msg, p.withTestEdit(call.msg, call.edit), p.log)
}

// demoEditor is the response editor of msg's answer from the in-process demo, nil when
// there is no edit: the demo cannot fail mid-answer, so an answer without an edit is not
// looked at at all (the gate's overhead benchmark runs on this path).
func (p *proxy) demoEditor(ctx context.Context, msg Message, edit resultEdit) *responseEditor {
	edit = p.withTestEdit(msg, edit)
	if edit == nil {
		return nil
	}
	return newResponseEditor(ctx, msg, edit, p.log)
}

// withTestEdit adds the edit of SetResultEditForTest (export_test.go) after edit; nil
// outside the package's tests.
func (p *proxy) withTestEdit(msg Message, edit resultEdit) resultEdit {
	if p.testEdit == nil {
		return edit
	}
	return chain(edit, p.testEdit(msg))
}

// logFailure logs an upstream failure once, naming what the operator needs to find it.
func (p *proxy) logFailure(ctx context.Context, call *upstreamCall, httpMethod, msg string, err error) {
	method := call.msg.Method
	switch call.msg.Kind {
	case 0:
		method = "http:" + httpMethod
	case KindResponse:
		method = "response"
	}
	attrs := []slog.Attr{slog.String("server", call.info.path), slog.String("method", method)}
	if call.principal != nil {
		attrs = append(attrs, slog.String("client_id", call.principal.Claims.ClientID), slog.String("sub", call.principal.Claims.Subject))
	}
	attrs = append(attrs, slog.Any("err", err))
	p.log.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
}

// mediaType is the Content-Type without parameters, lower case.
func mediaType(h http.Header) string {
	ct := h.Get("Content-Type")
	if ct == "" {
		return ""
	}
	// A bad parameter still leaves the type (Go returns it with ErrInvalidMediaParameter),
	// and a client reads the body by that type: so does the relay.
	if mt, _, err := mime.ParseMediaType(ct); err == nil || errors.Is(err, mime.ErrInvalidMediaParameter) {
		return mt
	}
	return ""
}
