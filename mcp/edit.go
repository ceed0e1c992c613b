package mcp

import (
	"context"

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
func (g *Gateway) editFor(msg Message, info *serverInfo, p *principal) resultEdit {
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
