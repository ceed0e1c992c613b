package mcp

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// resultEdit sees the result of the backend's response to the request in flight (the
// JSON-RPC response with the request's id, whether it came as a JSON body or as an event on
// an SSE stream) and returns the result to send instead, or nil to send it unchanged. An
// error response is never passed to it. It is how the gate shows a token only what it may
// use (the list filters), learns what it must know of the backend (the tools' routing
// headers) and records what a response creates (tasks).
type resultEdit func(ctx context.Context, result jsontext.Value) jsontext.Value

// editFor returns the edits of msg's response for principal p, or nil when nothing in the
// response concerns the gate (the common case: the response then streams through as it is).
// A GET has no message (Kind 0): its stream gets replayEdit, for the answers a resumed
// stream replays. A DELETE's answer is read by nobody but for its status: no edit.
func (g *Gateway) editFor(r *http.Request, msg Message, info *serverInfo, p *principal) resultEdit {
	if r.Method == http.MethodGet {
		return g.replayEdit(info, p)
	}
	if msg.Kind != KindRequest {
		return nil
	}
	// Order matters: what is learnt from the backend's answer is learnt from all of it,
	// before a filter takes away what this token may not see.
	return chain(
		g.toolHeadersEdit(msg, info),
		g.listFilter(msg, p),
		g.taskEdit(msg, info, p),
	)
}

// chain runs edits in order, each on the result of the one before; nil edits are skipped.
func chain(edits ...resultEdit) resultEdit {
	var live []resultEdit
	for _, e := range edits {
		if e != nil {
			live = append(live, e)
		}
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		return live[0]
	}
	return func(ctx context.Context, result jsontext.Value) jsontext.Value {
		var changed jsontext.Value
		for _, e := range live {
			if next := e(ctx, result); next != nil {
				result, changed = next, next
			}
		}
		return changed
	}
}

// replayShapes are the results whose edits filter what a token may see, by the member that
// gives a result its shape, with the list request that answers in that shape.
var replayShapes = []struct{ member, method string }{
	{"tools", "tools/list"},
	{"resources", "resources/list"},
	{"resourceTemplates", "resources/templates/list"},
	{"tasks", "tasks/list"},
}

// replayEdit is the edit of every response on a stream without a request in flight: a GET
// stream, which replays to a client resuming with Last-Event-ID (MCP Streamable HTTP
// resumability) the events of an earlier POST's stream, that request's answer included.
// Which request a replayed answer is to is not known there, so the answer is edited by its
// shape: a result with a "tools" array is filtered as a tools/list answer would be, and so
// on for resources, resource templates and tasks (several edits when several members are
// there). It returns nil when p sees every entry of every list: the stream then passes
// unread. It filters only; what other edits learn or record (tool headers, created tasks)
// is not learnt from a replay.
func (g *Gateway) replayEdit(info *serverInfo, p *principal) resultEdit {
	type shaped struct {
		member string
		edit   resultEdit
	}
	var live []shaped
	for _, s := range replayShapes {
		req := Message{Kind: KindRequest, Method: s.method}
		var e resultEdit
		if s.method == "tasks/list" {
			e = g.taskEdit(req, info, p)
		} else {
			e = g.listFilter(req, p)
		}
		if e != nil {
			live = append(live, shaped{s.member, e})
		}
	}
	if len(live) == 0 {
		return nil
	}
	return func(ctx context.Context, result jsontext.Value) jsontext.Value {
		names := topMembers(result)
		var edits []resultEdit
		for _, s := range live {
			// In any case: a case-insensitive client decoder (encoding/json) reads "Tools"
			// as tools, and the list filters drop such a member.
			if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, s.member) }) {
				edits = append(edits, s.edit)
			}
		}
		if e := chain(edits...); e != nil {
			return e(ctx, result)
		}
		return nil
	}
}

// topMembers returns the names of result's top-level members; none when result is not an
// object (no client reads a list out of it). The relay has checked result's syntax.
func topMembers(result jsontext.Value) []string {
	dec := jsontext.NewDecoder(bytes.NewReader(result), jsontext.AllowDuplicateNames(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil
	}
	var names []string
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return names
		}
		names = append(names, name.String())
		if err := dec.SkipValue(); err != nil {
			return names
		}
	}
	return names
}
