package mcp

import (
	"bytes"
	"context"
	"encoding/base64"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The routing headers of MCP 2026-07-28 (SEP-2243) repeat parts of the body so that
// intermediaries can route without reading it: Mcp-Method (the method), Mcp-Name (the tool
// or prompt name, or the resource URI) and Mcp-Param-<Name> (a tool argument the tool's
// input schema marks with x-mcp-header). An upstream, or anything between Conexor and it,
// may act on a header instead of the body, so a header that reaches the upstream must say
// what the body says. The gate checks every one it can and drops the ones it cannot check;
// a mismatch is refused with the specification's code (CodeHeaderMismatch).
const (
	headerMethod      = "Mcp-Method"
	headerName        = "Mcp-Name"
	headerParamPrefix = forwardedParamPrefix
)

// checkRoutingHeaders checks Mcp-Method and Mcp-Name against msg. Mcp-Name on a method
// that has no name is dropped: there is nothing to check it against.
func checkRoutingHeaders(r *http.Request, msg Message) *refusal {
	if msg.Kind == KindResponse {
		// A response has no method or name; nothing may claim one.
		r.Header.Del(headerMethod)
		r.Header.Del(headerName)
		return nil
	}
	if vals := r.Header.Values(headerMethod); len(vals) > 0 && (len(vals) != 1 || vals[0] != msg.Method) {
		return headerMismatch("Mcp-Method must equal the body's method.")
	}
	vals := r.Header.Values(headerName)
	if len(vals) == 0 {
		return nil
	}
	want, named := nameOf(msg)
	if !named {
		r.Header.Del(headerName)
		return nil
	}
	if len(vals) != 1 || vals[0] != want {
		return headerMismatch("Mcp-Name must equal the body's " + nameMember(msg.Method) + ".")
	}
	return nil
}

// dropRoutingHeaders removes every routing header from a request without a body to check
// them against (GET, DELETE).
func dropRoutingHeaders(h http.Header) {
	h.Del(headerMethod)
	h.Del(headerName)
	for k := range h {
		if strings.HasPrefix(k, headerParamPrefix) {
			delete(h, k)
		}
	}
}

// nameOf is what Mcp-Name repeats for msg, and whether msg's method has one.
func nameOf(msg Message) (string, bool) {
	switch msg.Method {
	case "tools/call", "prompts/get":
		return msg.Params.Name, true
	case "resources/read":
		return msg.Params.URI, true
	}
	return "", false
}

func nameMember(method string) string {
	if method == "resources/read" {
		return "params.uri"
	}
	return "params.name"
}

func headerMismatch(why string) *refusal {
	return &refusal{status: http.StatusBadRequest, rpcCode: CodeHeaderMismatch, outcome: "bad_message",
		desc: "Header mismatch: " + why}
}

// checkParamHeaders checks the Mcp-Param-* headers of a tools/call against its arguments,
// by the bindings of the tool learnt from the upstream's tools/list answers. A header the
// gate cannot check (any method but tools/call, a tool whose schema this process has not
// seen, a name the schema does not bind) is dropped: the upstream gets only what is true.
func (g *Gateway) checkParamHeaders(r *http.Request, info *serverInfo, msg Message) *refusal {
	var names []string
	for k := range r.Header {
		if strings.HasPrefix(k, headerParamPrefix) {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	var bindings []headerBinding
	if msg.Kind == KindRequest && msg.Method == "tools/call" {
		server, upstream := toolHeadersKey(info)
		bindings = g.toolHeaders.lookup(server, upstream, msg.Params.Name)
	}
	var args map[string]jsontext.Value
	for _, k := range names {
		b, ok := findBinding(bindings, strings.TrimPrefix(k, headerParamPrefix))
		if !ok {
			r.Header.Del(k)
			continue
		}
		vals := r.Header.Values(k)
		if args == nil {
			args = map[string]jsontext.Value{}
			if len(msg.Params.Arguments) > 0 {
				_ = jsonv2.Unmarshal(msg.Params.Arguments, &args)
			}
		}
		arg, present := lookupArgument(args, b.path)
		if len(vals) != 1 || !present || !headerEquals(vals[0], arg) {
			return headerMismatch(k + " must equal the argument " + strings.Join(b.path, ".") + " of the body.")
		}
	}
	return nil
}

func findBinding(bindings []headerBinding, header string) (headerBinding, bool) {
	for _, b := range bindings {
		if strings.EqualFold(b.header, header) {
			return b, true
		}
	}
	return headerBinding{}, false
}

// lookupArgument follows path through nested argument objects. A member with a case
// variant beside it (region and Region) counts as absent, so its header is a mismatch: a
// case-insensitive backend could run the tool with the other one.
func lookupArgument(args map[string]jsontext.Value, path []string) (jsontext.Value, bool) {
	obj := args
	var v jsontext.Value
	for i, part := range path {
		if i > 0 {
			obj = nil
			if jsonv2.Unmarshal(v, &obj) != nil {
				return nil, false
			}
		}
		var ok bool
		if v, ok = obj[part]; !ok {
			return nil, false
		}
		for k := range obj {
			if k != part && strings.EqualFold(k, part) {
				return nil, false
			}
		}
	}
	if v.Kind() == 'n' {
		return nil, false
	}
	return v, true
}

// headerEquals compares a header value (plain, or =?base64?…?=) with a primitive JSON
// argument the way SEP-2243 encodes it: a string as itself, a boolean as true/false, an
// integer in decimal. Anything else (a fraction, an object) never equals a header.
func headerEquals(header string, arg jsontext.Value) bool {
	if enc, ok := strings.CutPrefix(header, "=?base64?"); ok {
		enc, ok = strings.CutSuffix(enc, "?=")
		if !ok {
			return false
		}
		dec, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return false
		}
		header = string(dec)
	}
	switch arg.Kind() {
	case '"':
		s, err := jsontext.AppendUnquote(nil, arg)
		return err == nil && string(s) == header
	case 't', 'f':
		return header == string(arg)
	case '0':
		// The integer in decimal, exactly as SEP-2243 writes it: not 0x1p0, +1 or 1e0,
		// which something between here and the upstream could read differently.
		want, err := strconv.ParseFloat(string(arg), 64)
		if err != nil || want != math.Trunc(want) || math.Abs(want) > 1<<53-1 {
			return false
		}
		return header == strconv.FormatInt(int64(want), 10)
	}
	return false
}

// headerBinding is one x-mcp-header annotation: the argument at path travels in
// Mcp-Param-<header>.
type headerBinding struct {
	path   []string
	header string
}

// toolHeadersKey names a server's bindings: its ID (a server deleted and created again at
// the same path starts afresh) and upstream (a new upstream has its own tools, and the
// bindings learnt from the old one are dropped).
func toolHeadersKey(info *serverInfo) (server, upstream string) {
	if info.upstream == nil {
		return info.srv.ID, ""
	}
	return info.srv.ID, info.upstream.String()
}

// maxToolsWithHeaders bounds what one server's tools/list answers can make the gate keep.
const maxToolsWithHeaders = 4096

// toolHeaderCache holds, per server, the tools whose input schemas bind arguments to
// headers, as its current upstream listed them: at most one upstream's tools per server, so
// the cache is bounded by the servers there are. Tools without bindings are not kept: for
// them, as for tools never seen, every Mcp-Param-* header is dropped. The bindings are the
// server's, not a caller's: an upstream that shows different schemas of one tool to
// different callers gets the headers checked against the latest list the gate relayed.
type toolHeaderCache struct {
	mu      sync.RWMutex
	servers map[string]*serverTools
}

type serverTools struct {
	upstream string
	tools    map[string][]headerBinding
}

func (c *toolHeaderCache) get(server, upstream string) map[string][]headerBinding {
	if st := c.servers[server]; st != nil && st.upstream == upstream {
		return st.tools
	}
	return nil
}

func (c *toolHeaderCache) lookup(server, upstream, tool string) []headerBinding {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.get(server, upstream)[tool]
}

func (c *toolHeaderCache) has(server, upstream string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.get(server, upstream)) > 0
}

// learn records the bindings of the tools on one page of a tools/list answer; a tool that
// no longer binds anything is forgotten, and so is all a previous upstream listed.
func (c *toolHeaderCache) learn(server, upstream string, tools []listedTool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.servers == nil {
		c.servers = map[string]*serverTools{}
	}
	st := c.servers[server]
	if st == nil || st.upstream != upstream {
		st = &serverTools{upstream: upstream, tools: map[string][]headerBinding{}}
		c.servers[server] = st
	}
	for _, t := range tools {
		b := t.InputSchema.bindings(nil, nil)
		if len(b) == 0 {
			delete(st.tools, t.Name)
			continue
		}
		if _, known := st.tools[t.Name]; known || len(st.tools) < maxToolsWithHeaders {
			st.tools[t.Name] = b
		}
	}
}

// listedTool is what the gate reads of a tool in a tools/list answer.
type listedTool struct {
	Name        string       `json:"name"`
	InputSchema schemaObject `json:"inputSchema"`
}

type schemaObject struct {
	Properties map[string]schemaProperty `json:"properties"`
}

type schemaProperty struct {
	XMCPHeader string                    `json:"x-mcp-header"`
	Properties map[string]schemaProperty `json:"properties"`
}

// bindings returns the schema's bindings. A header bound to two arguments binds none: the
// gate could not say which one it must equal, so it is dropped.
func (s schemaObject) bindings(prefix []string, out []headerBinding) []headerBinding {
	all := collectBindings(s.Properties, prefix, out)
	unique := all[:0:0]
	for i, b := range all {
		dup := false
		for j, o := range all {
			if i != j && strings.EqualFold(b.header, o.header) {
				dup = true
				break
			}
		}
		if !dup {
			unique = append(unique, b)
		}
	}
	return unique
}

func collectBindings(props map[string]schemaProperty, prefix []string, out []headerBinding) []headerBinding {
	for name, p := range props {
		path := append(append([]string(nil), prefix...), name)
		if p.XMCPHeader != "" {
			out = append(out, headerBinding{path: path, header: p.XMCPHeader})
		}
		out = collectBindings(p.Properties, path, out)
	}
	return out
}

var xMCPHeader = []byte(`"x-mcp-header"`)

// toolHeadersEdit learns, from a tools/list answer, which tool arguments the client repeats
// in Mcp-Param-* headers, so the gate can check those headers against the body. It only
// reads: the answer goes on unchanged. An answer that binds nothing is not even parsed,
// unless this server had bindings before (one may have gone away).
func (g *Gateway) toolHeadersEdit(msg Message, info *serverInfo) resultEdit {
	if msg.Method != "tools/list" || info == nil || info.upstream == nil {
		// The built-in demo binds no argument to a header: nothing to learn, and its
		// answers then stream without being read.
		return nil
	}
	server, upstream := toolHeadersKey(info)
	return func(_ context.Context, result jsontext.Value) jsontext.Value {
		if !bytes.Contains(result, xMCPHeader) && !g.toolHeaders.has(server, upstream) {
			return nil
		}
		var page struct {
			Tools []listedTool `json:"tools"`
		}
		if err := jsonv2.Unmarshal(result, &page); err == nil {
			g.toolHeaders.learn(server, upstream, page.Tools)
		}
		return nil
	}
}
