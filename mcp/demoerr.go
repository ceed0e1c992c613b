package mcp

import (
	"bytes"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// maxBackendErrorText caps the backend's text copied into a JSON-RPC error message.
const maxBackendErrorText = 300

// demoWriter stands between the built-in demo server and the client. The go-sdk transport
// reports transport-level problems (a missing "params", an unsupported protocol version,
// a wrong Content-Type or Accept) with http.Error, in text/plain; MCP clients expect
// every error on the endpoint in JSON-RPC. A non-2xx answer that is not JSON is held back
// and rewritten as a JSON-RPC error with the same status and the request's id; everything
// else passes through untouched and unbuffered (SSE responses stream as they are written).
//
// When the request's response has an edit (ed), a successful answer is edited as the
// proxy edits an upstream's: a JSON one is held until the handler returns, an SSE one is
// passed on event by event.
type demoWriter struct {
	http.ResponseWriter
	id      []byte
	status  int
	convert bool
	text    bytes.Buffer

	ed     *responseEditor // nil: nothing to edit
	held   *bytes.Buffer   // the JSON answer, held for the edit
	events *eventStream    // the SSE answer, passed on event by event
	// refused: a successful answer that must be edited could not be (too large, not the
	// response, compressed); it is dropped and finish answers refusal in its place, since
	// the edit may be a filter of what the token may see.
	refused string
}

func (w *demoWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if code >= 300 {
		mt, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
		if mt != "application/json" {
			w.convert = true
			return
		}
	}
	if w.ed != nil && code >= 200 && code < 300 && !plainEncoding(w.Header()) {
		if mt := mediaType(w.Header()); mt == "application/json" || mt == "text/event-stream" {
			w.refuse("demo answer compressed; not relayed unedited", msgUnchecked)
			return
		}
	}
	if w.ed != nil && code >= 200 && code < 300 && plainEncoding(w.Header()) {
		switch mediaType(w.Header()) {
		case "application/json":
			w.held = heldBuffers.Get().(*bytes.Buffer)
			return // written by finish, with the edited length
		case "text/event-stream":
			w.events = newEventStream(w.ed, w.ed.log)
			w.Header().Del("Content-Length")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *demoWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.refused != "":
		return len(b), nil
	case w.convert:
		if room := maxBackendErrorText + 1 - w.text.Len(); room > 0 {
			w.text.Write(b[:min(room, len(b))])
		}
		return len(b), nil
	case w.held != nil:
		if w.held.Len()+len(b) <= maxEditedBody {
			return w.held.Write(b)
		}
		w.held = nil // too big to pool
		w.refuse("demo answer larger than the gateway edits; not relayed unedited", msgTooLarge)
		return len(b), nil
	case w.events != nil:
		if out := w.events.write(nil, b); len(out) > 0 {
			if _, err := w.ResponseWriter.Write(out); err != nil {
				return 0, err
			}
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps SSE responses streaming; a held-back error or JSON answer has nothing to
// flush yet.
func (w *demoWriter) Flush() {
	if w.convert || w.held != nil || w.refused != "" {
		return
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *demoWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// refuse drops the answer being written; finish answers msg in its place.
func (w *demoWriter) refuse(logMsg, msg string) {
	w.ed.log.WarnContext(w.ed.ctx, logMsg)
	w.refused = msg
}

// finish writes the held-back error, if any, and reports whether the backend answered
// with success (2xx).
func (w *demoWriter) finish() (ok bool) {
	var out []byte // the held JSON answer, edited
	if w.held != nil {
		var matched bool
		if out, matched = w.ed.apply(w.held.Bytes()); !matched {
			w.refuse("demo answer is not the response to the request; not relayed unedited", msgUnchecked)
			w.releaseHeld()
		}
	}
	switch {
	case w.refused != "":
		h := w.Header()
		h.Del("Content-Length")
		h.Del("Content-Encoding")
		writeRPCError(w.ResponseWriter, http.StatusBadGateway, w.id, CodeUnavailable, w.refused)
		return false
	case w.convert:
		h := w.Header()
		h.Del("Content-Length")
		writeRPCError(w.ResponseWriter, w.status, w.id, backendErrorCode(w.status, w.text.String()), backendErrorText(w.text.String(), w.status))
	case w.held != nil:
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.ResponseWriter.WriteHeader(w.status)
		_, _ = w.ResponseWriter.Write(out) // a client gone is nobody's failure
		w.releaseHeld()
	case w.events != nil:
		if rest := w.events.rest(); len(rest) > 0 {
			_, _ = w.ResponseWriter.Write(rest)
		}
	}
	return w.status == 0 || w.status >= 200 && w.status < 300
}

// heldBuffers hold the demo's JSON answers while they are edited (tools/list is edited on
// every request: the tool headers learn from it); big ones are left to the collector.
var heldBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// backendErrorCode maps a transport-level refusal to the nearest JSON-RPC code.
func backendErrorCode(status int, text string) int {
	switch {
	case status >= 500:
		return CodeInternalError
	case status == http.StatusBadRequest && strings.Contains(strings.ToLower(text), "params"):
		return CodeInvalidParams
	default:
		return CodeInvalidRequest
	}
}

// backendErrorText is the backend's message trimmed, capped and free of control
// characters, or the status text when it said nothing.
func backendErrorText(text string, status int) string {
	text = strings.TrimSpace(strings.ToValidUTF8(text, ""))
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, text)
	if len(text) > maxBackendErrorText {
		cut := maxBackendErrorText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "..."
	}
	if text == "" {
		text = http.StatusText(status)
	}
	return text
}

// releaseHeld returns the held buffer to the pool, unless it grew big.
func (w *demoWriter) releaseHeld() {
	if w.held.Cap() <= 64<<10 {
		w.held.Reset()
		heldBuffers.Put(w.held)
	}
	w.held = nil
}
