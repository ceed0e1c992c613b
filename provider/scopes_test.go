package provider_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/provider"
)

func TestBuiltinScopes(t *testing.T) {
	s, err := provider.NewScopes(nil)
	if err != nil {
		t.Fatal(err)
	}
	// mcp:prompts:read is advertised, so MCP clients (which ask for everything advertised)
	// get prompts and completions without any configuration.
	if diff := cmp.Diff([]string{"mcp:tools:read", "mcp:tools:execute", "mcp:resources:read", "mcp:prompts:read", "mcp:server:read"}, s.Advertised()); diff != "" {
		t.Errorf("advertised (-want +got):\n%s", diff)
	}
	for _, m := range []string{"prompts/list", "prompts/get", "completion/complete"} {
		if got := s.ScopesForMethod(m); !cmp.Equal(got, []string{provider.ScopePromptsRead}) {
			t.Errorf("ScopesForMethod(%s) = %v", m, got)
		}
	}
	if sc, _ := s.Get(provider.ScopePromptsRead); sc.Description != "Use prompts and argument completions" {
		t.Errorf("mcp:prompts:read description = %q", sc.Description)
	}
}

// A redefined built-in keeps its place (the scope a refusal names does not move) and, when
// the entry has none, its description; its grants are the entry's alone.
func TestRedefineBuiltinScope(t *testing.T) {
	s, err := provider.NewScopes([]provider.Scope{
		{Name: provider.ScopeToolsExecute, Description: "Run the search tools", Tools: []string{"search_*"}},
		{Name: provider.ScopePromptsRead, Methods: []string{"prompts/list", "prompts/get"}},
		{Name: "crm:read", Description: "Read CRM records", Methods: []string{"tools/call"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"mcp:tools:read", "mcp:tools:execute", "mcp:resources:read", "mcp:prompts:read", "mcp:server:read", "mcp:server:manage", "crm:read"}, s.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	want := []provider.Scope{
		{Name: provider.ScopeToolsExecute, Description: "Run the search tools", Tools: []string{"search_*"}},
		{Name: provider.ScopePromptsRead, Description: "Use prompts and argument completions", Methods: []string{"prompts/list", "prompts/get"}},
	}
	for _, w := range want {
		if got, _ := s.Get(w.Name); !cmp.Equal(got, w) {
			t.Errorf("Get(%s) = %+v, want %+v", w.Name, got, w)
		}
	}
	if got := s.All()[1]; got.Name != provider.ScopeToolsExecute || got.Methods != nil {
		t.Errorf("All()[1] = %+v, want the redefinition in the built-in's place", got)
	}
	if got := s.ScopesForMethod("tools/call"); !cmp.Equal(got, []string{"crm:read"}) {
		t.Errorf("ScopesForMethod(tools/call) = %v, want only crm:read (mcp:tools:execute grants some tools only)", got)
	}

	// The server API's scopes stay fixed; every problem is reported, each on its own.
	_, err = provider.NewScopes([]provider.Scope{
		{Name: provider.ScopeServerManage, Methods: []string{"tools/call"}},
		{Name: provider.ScopeServerRead, Description: "x"},
	})
	var problems provider.ScopeProblems
	if !errors.As(err, &problems) || len(problems) != 2 {
		t.Fatalf("NewScopes = %v, want two problems", err)
	}
}

func TestIsAdvertised(t *testing.T) {
	s, _ := provider.NewScopes(nil)
	for _, tc := range []struct {
		scopes []string
		want   bool
	}{
		{[]string{"mcp:server:read", "mcp:prompts:read", "mcp:tools:read", "mcp:tools:execute", "mcp:resources:read"}, true},
		{[]string{"mcp:tools:read", "mcp:tools:execute", "mcp:resources:read", "mcp:server:read"}, false},
		{[]string{"mcp:tools:read", "mcp:tools:execute", "mcp:resources:read", "mcp:prompts:read", "mcp:server:manage"}, false},
		{nil, false},
	} {
		if got := s.IsAdvertised(tc.scopes); got != tc.want {
			t.Errorf("IsAdvertised(%v) = %v", tc.scopes, got)
		}
	}
}
