package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/conexor/conexor/internal/httpx"
)

// JSON-RPC 2.0 error codes the gateway answers with. The -32xxx codes of the JSON-RPC
// specification come first; the server-defined ones (-32000 to -32099) avoid the codes the
// MCP specification and the go-sdk already use (-32002, -32020 to -32022, -32042).
const (
	CodeParseError     = -32700 // the body is not JSON
	CodeInvalidRequest = -32600 // JSON, but not one JSON-RPC 2.0 message
	CodeMethodNotFound = -32601 // no scope on this server grants the method
	CodeInvalidParams  = -32602 // the backend refused the message's params
	CodeInternalError  = -32603

	CodeUnauthorized   = -32001 // no usable access token (HTTP 401)
	CodeForbidden      = -32003 // the token may not do this (HTTP 403)
	CodeNotFound       = -32004 // no MCP server at this path (HTTP 404)
	CodeServerDisabled = -32005 // the server exists but an administrator disabled it (HTTP 403)
	CodeUnavailable    = -32006 // the upstream or the gateway's own state is unreachable (HTTP 502/503)

	// CodeHeaderMismatch is MCP 2026-07-28's code for an Mcp-Method header that differs
	// from the body (the go-sdk answers the same).
	CodeHeaderMismatch = -32020
)

// Kind is the shape of a JSON-RPC message.
type Kind uint8

// The three JSON-RPC 2.0 message kinds (section 4, 4.1 and 5 of the specification).
const (
	KindRequest      Kind = iota + 1 // method and id
	KindNotification                 // method, no id
	KindResponse                     // result or error, and id: a client answering a server request
)

// Message is what the gate reads from a JSON-RPC body: enough to authorize it, never the
// params.
type Message struct {
	Kind   Kind
	Method string
	// ID is the raw id of a request or response (nil for notifications), echoed in the
	// gateway's own error responses.
	ID jsontext.Value
	// Params holds the few members of params the gate acts on.
	Params Params
}

// Params are the members of a message's params the gate reads: what it authorizes by (a
// tool's name, a resource's URI, a task's ID) and what it checks routing headers against.
// The backend reads the same members, so ParseMessage refuses params holding a member that
// differs from one of these only in case (a case-insensitive decoder could read either).
// A member of another type than the one expected is left empty; the backend refuses it.
type Params struct {
	Name   string // tools/call, prompts/get
	URI    string // resources/read, resources/subscribe, resources/unsubscribe
	TaskID string // tasks/get, tasks/result, tasks/cancel
	// Task reports a task-augmented request (params.task is an object).
	Task bool
	// Arguments is tools/call's raw arguments value; nil when absent.
	Arguments jsontext.Value
	// RefType and RefURI are completion/complete's params.ref.type and .uri: a resource
	// template's arguments are completed under what reading its resources needs.
	RefType, RefURI string
}

// RPCError is a JSON-RPC error object.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Error returns the message.
func (e *RPCError) Error() string { return e.Message }

// MaxMethodLength bounds a method name; MCP's longest is 28 bytes.
const MaxMethodLength = 256

var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewBuffer(nil)) }}

// ParseMessage reads the one JSON-RPC 2.0 message of a Streamable HTTP POST body.
//
// The gate authorizes by the method it finds here, and the backend executes the method it
// finds itself, so the two must never disagree. The parse is therefore stricter than any
// backend: duplicate member names (at any depth) and invalid UTF-8 are refused, as are
// top-level members that differ from "jsonrpc", "method", "id", "params", "result" or
// "error" only in case (a case-insensitive decoder such as encoding/json would read
// {"method":"tools/call","METHOD":"ping"} as ping), trailing data after the object, and
// method names outside printable ASCII. Batches (JSON arrays) were removed from MCP in
// 2025-06-18 and are refused.
func ParseMessage(body []byte) (Message, *RPCError) {
	dec := decoders.Get().(*jsontext.Decoder)
	defer func() {
		dec.Reset(bytes.NewBuffer(nil))
		decoders.Put(dec)
	}()
	dec.Reset(bytes.NewBuffer(body))
	return parseMessage(dec)
}

var (
	errParse = &RPCError{Code: CodeParseError, Message: "Parse error: the body is not valid JSON (UTF-8, no duplicate member names)."}
	errBatch = &RPCError{Code: CodeInvalidRequest, Message: "Invalid Request: JSON-RPC batches are not supported (MCP removed batching in 2025-06-18); send one message per request."}
)

func invalidRequest(why string) *RPCError {
	return &RPCError{Code: CodeInvalidRequest, Message: "Invalid Request: " + why}
}

func parseMessage(dec *jsontext.Decoder) (Message, *RPCError) {
	var m Message
	switch dec.PeekKind() {
	case '{':
	case '[':
		if _, err := dec.ReadValue(); err != nil {
			return Message{}, errParse
		}
		return m, errBatch
	case 0:
		return Message{}, errParse
	default:
		if _, err := dec.ReadValue(); err != nil {
			return Message{}, errParse
		}
		return m, invalidRequest("the body must be a JSON-RPC 2.0 object.")
	}
	if _, err := dec.ReadToken(); err != nil {
		return Message{}, errParse
	}
	var (
		version              string
		hasMethod, hasResult bool
		shapeErr             *RPCError // reported only if the whole body parses
	)
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return Message{}, errParse
		}
		key := name.String()
		switch key {
		case "jsonrpc", "method":
			v, err := dec.ReadValue()
			if err != nil {
				return Message{}, errParse
			}
			if v.Kind() != '"' {
				shapeErr = firstErr(shapeErr, invalidRequest(`"`+key+`" must be a string.`))
				continue
			}
			s, err := jsontext.AppendUnquote(nil, v)
			if err != nil {
				return Message{}, errParse
			}
			if key == "jsonrpc" {
				version = string(s)
			} else {
				hasMethod, m.Method = true, string(s)
			}
		case "id":
			v, err := dec.ReadValue()
			if err != nil {
				return Message{}, errParse
			}
			// MCP: "the ID MUST NOT be null" and must be a string or an integer. A number
			// with a fraction or an exponent, or past what a double holds exactly, is
			// refused: a backend may answer it under another spelling (the go-sdk answers
			// 1.5 as 1), and the gate finds the answer to edit by its id.
			// (Checked for requests below: a response echoes an id the upstream chose.)
			switch v.Kind() {
			case '"', '0':
				m.ID = v.Clone()
			default:
				shapeErr = firstErr(shapeErr, invalidRequest(`"id" must be a string or an integer.`))
			}
		case "params":
			if dec.PeekKind() != '{' {
				if err := dec.SkipValue(); err != nil {
					return Message{}, errParse
				}
				continue
			}
			rpcErr := parseParams(dec, &m.Params)
			switch {
			case rpcErr == errParse:
				return Message{}, errParse
			case rpcErr != nil:
				shapeErr = firstErr(shapeErr, rpcErr)
			}
		case "result", "error":
			hasResult = true
			if err := dec.SkipValue(); err != nil {
				return Message{}, errParse
			}
		default:
			if isJSONRPCMemberFold(key) {
				shapeErr = firstErr(shapeErr, invalidRequest(`member "`+httpx.Truncate(key, 32)+`" differs from a JSON-RPC member name only in case.`))
			}
			if err := dec.SkipValue(); err != nil {
				return Message{}, errParse
			}
		}
	}
	if _, err := dec.ReadToken(); err != nil { // the closing '}'
		return Message{}, errParse
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		if err == nil {
			return Message{}, invalidRequest("the body must hold exactly one JSON-RPC message.")
		}
		return Message{}, errParse
	}
	if shapeErr != nil {
		return Message{ID: m.ID}, shapeErr
	}
	if version != "2.0" {
		return Message{ID: m.ID}, invalidRequest(`"jsonrpc" must be "2.0".`)
	}
	switch {
	case hasMethod:
		if !validMethod(m.Method) {
			return Message{ID: m.ID}, invalidRequest("the method name must be 1-256 printable ASCII characters.")
		}
		if hasResult {
			return Message{ID: m.ID}, invalidRequest("a message cannot carry both a method and a result or error.")
		}
		m.Kind = KindNotification
		if m.ID != nil {
			if m.ID.Kind() == '0' && !safeInteger(m.ID) {
				return Message{ID: m.ID}, invalidRequest(`"id" must be a string or an integer.`)
			}
			m.Kind = KindRequest
		}
	case hasResult && m.ID != nil:
		m.Kind = KindResponse
	default:
		return Message{ID: m.ID}, invalidRequest(`a message needs a "method", or an "id" with a "result" or "error".`)
	}
	return m, nil
}

// parseParams reads a params object into p. It returns errParse when the JSON is broken,
// another *RPCError when a member's name is a case variant of one the gate reads.
func parseParams(dec *jsontext.Decoder, p *Params) *RPCError {
	if _, err := dec.ReadToken(); err != nil { // '{'
		return errParse
	}
	var shapeErr *RPCError
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return errParse
		}
		key := name.String()
		var dst *string
		switch key {
		case "name":
			dst = &p.Name
		case "uri":
			dst = &p.URI
		case "taskId":
			dst = &p.TaskID
		case "task":
			p.Task = dec.PeekKind() == '{'
		case "ref":
			if dec.PeekKind() == '{' {
				if rpcErr := parseRef(dec, p); rpcErr != nil {
					if rpcErr == errParse {
						return errParse
					}
					shapeErr = firstErr(shapeErr, rpcErr)
				}
				continue
			}
		case "arguments":
			v, err := dec.ReadValue()
			if err != nil {
				return errParse
			}
			p.Arguments = v.Clone()
			continue
		default:
			if isParamsMemberFold(key) {
				shapeErr = firstErr(shapeErr, invalidRequest(`params member "`+httpx.Truncate(key, 32)+`" differs from a member name the gateway reads only in case.`))
			}
		}
		v, err := dec.ReadValue()
		if err != nil {
			return errParse
		}
		if dst != nil && v.Kind() == '"' {
			s, err := jsontext.AppendUnquote(nil, v)
			if err != nil {
				return errParse
			}
			*dst = string(s)
		}
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return errParse
	}
	return shapeErr
}

// parseRef reads completion/complete's ref object: its type and uri, refusing case
// variants of them.
func parseRef(dec *jsontext.Decoder, p *Params) *RPCError {
	if _, err := dec.ReadToken(); err != nil { // '{'
		return errParse
	}
	var shapeErr *RPCError
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return errParse
		}
		key := name.String()
		var dst *string
		switch {
		case key == "type":
			dst = &p.RefType
		case key == "uri":
			dst = &p.RefURI
		case strings.EqualFold(key, "type") || strings.EqualFold(key, "uri"):
			shapeErr = firstErr(shapeErr, invalidRequest(`params.ref member "`+httpx.Truncate(key, 32)+`" differs from a member name the gateway reads only in case.`))
		}
		v, err := dec.ReadValue()
		if err != nil {
			return errParse
		}
		if dst != nil && v.Kind() == '"' {
			s, err := jsontext.AppendUnquote(nil, v)
			if err != nil {
				return errParse
			}
			*dst = string(s)
		}
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return errParse
	}
	return shapeErr
}

func isParamsMemberFold(key string) bool {
	for _, k := range [...]string{"name", "uri", "taskId", "task", "arguments", "ref"} {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

// safeInteger reports whether a JSON number is an integer written without fraction or
// exponent, within ±(2^53-1).
func safeInteger(v jsontext.Value) bool {
	if bytes.ContainsAny(v, ".eE") {
		return false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return err == nil && n <= 1<<53-1 && n >= -(1<<53-1)
}

func firstErr(have, next *RPCError) *RPCError {
	if have != nil {
		return have
	}
	return next
}

func isJSONRPCMemberFold(key string) bool {
	for _, k := range [...]string{"jsonrpc", "method", "id", "params", "result", "error"} {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

func validMethod(m string) bool {
	if m == "" || len(m) > MaxMethodLength {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 0x21 || m[i] > 0x7e {
			return false
		}
	}
	return true
}

// rpcErrorBody is a JSON-RPC error response. ID is the request's id, or null when there is
// none (or it could not be read), as section 5 of the specification says.
type rpcErrorBody struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   RPCError        `json:"error"`
}

var jsonNull = json.RawMessage("null")

// writeRPCError answers with a JSON-RPC error object and an HTTP status. Every refusal the
// gateway makes on the MCP endpoint goes through here, so clients always get a body they
// can parse, and nothing is cached.
func writeRPCError(w http.ResponseWriter, status int, id jsontext.Value, code int, msg string) {
	raw := jsonNull
	if len(id) > 0 {
		raw = json.RawMessage(id)
	}
	httpx.WriteJSON(w, status, rpcErrorBody{JSONRPC: "2.0", ID: raw, Error: RPCError{Code: code, Message: msg}})
}
