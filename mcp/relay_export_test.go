package mcp

import (
	"context"

	"github.com/go-json-experiment/json/jsontext"
)

// SetResultEditForTest makes g apply f, after the gate's own edits, to the result of the
// response to every request it relays (upstream or demo): f gets the request's method and
// the result, and returns the result to send or nil to leave it. The relay's tests need an
// edit before the real ones (list filters, tasks, tool headers) exist. Call it before g
// serves anything.
func (g *Gateway) SetResultEditForTest(f func(method string, result []byte) []byte) {
	g.proxy.testEdit = func(msg Message) resultEdit {
		return func(_ context.Context, result jsontext.Value) jsontext.Value {
			if out := f(msg.Method, result); out != nil {
				return jsontext.Value(out)
			}
			return nil
		}
	}
}
