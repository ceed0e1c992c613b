package mcp

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/provider"
)

func TestPolicy(t *testing.T) {
	scopes, err := provider.NewScopes([]provider.Scope{
		{Name: "mcp:prompts:read", Description: "Use prompts", Methods: []string{"prompts/list", "prompts/get"}},
		{Name: "acme:operator", Description: "Run tools", Methods: []string{"tools/call", "initialize"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := NewPolicy(scopes)
	req := func(m string) Message { return Message{Kind: KindRequest, Method: m, ID: []byte("1")} }
	for _, tc := range []struct {
		msg  Message
		rule Rule
		need []string
	}{
		{req("tools/list"), RuleScoped, []string{"mcp:tools:read"}},
		{req("tools/call"), RuleScoped, []string{"mcp:tools:execute", "acme:operator"}},
		{req("resources/list"), RuleScoped, []string{"mcp:resources:read"}},
		{req("resources/read"), RuleScoped, []string{"mcp:resources:read"}},
		{req("resources/templates/list"), RuleScoped, []string{"mcp:resources:read"}},
		{req("resources/subscribe"), RuleScoped, []string{"mcp:resources:read"}},
		{req("prompts/get"), RuleScoped, []string{"mcp:prompts:read"}},
		{req("initialize"), RuleAnyToken, nil}, // a scope listing it grants nothing more
		{req("server/discover"), RuleAnyToken, nil},
		{req("ping"), RuleAnyToken, nil},
		{req("logging/setLevel"), RuleAnyToken, nil},
		{Message{Kind: KindNotification, Method: "notifications/initialized"}, RuleAnyToken, nil},
		{Message{Kind: KindNotification, Method: "notifications/anything/new"}, RuleAnyToken, nil},
		{Message{Kind: KindResponse, ID: []byte("3")}, RuleAnyToken, nil},
		{req("notifications/initialized"), RuleDeny, nil}, // a request, not a notification
		{Message{Kind: KindNotification, Method: "tools/call"}, RuleScoped, []string{"mcp:tools:execute", "acme:operator"}},
		{req("completion/complete"), RuleDeny, nil},
		{req("sampling/createMessage"), RuleDeny, nil},
		{req("vendor/unknown"), RuleDeny, nil},
		{req("GET /api/servers"), RuleScoped, []string{"mcp:server:read"}},
		{req("PATCH /api/servers"), RuleScoped, []string{"mcp:server:manage"}},
	} {
		rule, need := p.ForMessage(tc.msg)
		if rule != tc.rule || !cmp.Equal(need, tc.need) {
			t.Errorf("%+v: rule %d need %v; want %d %v", tc.msg, rule, need, tc.rule, tc.need)
		}
	}

	for _, tc := range []struct {
		rule       Rule
		need, have []string
		want       bool
	}{
		{RuleAnyToken, nil, nil, true},
		{RuleDeny, nil, []string{"mcp:tools:execute"}, false},
		{RuleScoped, []string{"mcp:tools:execute", "acme:operator"}, []string{"acme:operator"}, true},
		{RuleScoped, []string{"mcp:tools:execute"}, []string{"mcp:tools:read", "mcp:tools:executes"}, false},
		{RuleScoped, []string{"mcp:tools:execute"}, nil, false},
	} {
		if got := Allows(tc.rule, tc.need, tc.have); got != tc.want {
			t.Errorf("Allows(%d, %v, %v) = %v", tc.rule, tc.need, tc.have, got)
		}
	}
}
