package mcp

import (
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
)

// A header bound to two arguments (in any case) binds neither: the gate could not say which
// one it must equal, so such a header is dropped rather than checked against a random one.
// (The go-sdk refuses such a tool; other servers may not.)
func TestBindingsDropHeadersBoundTwice(t *testing.T) {
	var tool listedTool
	if err := jsonv2.Unmarshal([]byte(`{"name":"t","inputSchema":{"properties":{
		"a":{"type":"string","x-mcp-header":"Region"},
		"b":{"type":"object","properties":{"c":{"type":"string","x-mcp-header":"region"}}},
		"d":{"type":"string","x-mcp-header":"Zone"}}}}`), &tool); err != nil {
		t.Fatal(err)
	}
	b := tool.InputSchema.bindings(nil, nil)
	if len(b) != 1 || b[0].header != "Zone" || len(b[0].path) != 1 || b[0].path[0] != "d" {
		t.Fatalf("bindings = %+v, want only Zone for d", b)
	}
}
