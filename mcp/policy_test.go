package mcp

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/provider"
)

func TestPolicy(t *testing.T) {
	scopes, err := provider.NewScopes([]provider.Scope{
		// Redefines the built-in one: completion/complete moves out of it.
		{Name: "mcp:prompts:read", Methods: []string{"prompts/list", "prompts/get"}},
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

// limitedRegistry is a registry with the README's crm:read example: tools/call of some
// tools, resources/read under one prefix, and a scope with methods besides.
func limitedRegistry(t testing.TB, extra ...provider.Scope) *provider.Scopes {
	t.Helper()
	scopes, err := provider.NewScopes(append([]provider.Scope{
		{Name: "crm:read", Description: "Search CRM records", Tools: []string{"search_*", "get_?"}, Resources: []string{"crm://contacts/"}},
		{Name: "crm:notes", Description: "Read notes", Methods: []string{"prompts/list"}, Resources: []string{"notes://", "crm://contacts/"}},
	}, extra...))
	if err != nil {
		t.Fatal(err)
	}
	return scopes
}

func TestPolicyLimitedGrants(t *testing.T) {
	p := NewPolicy(limitedRegistry(t))
	call := func(tool string) Message {
		return Message{Kind: KindRequest, Method: "tools/call", ID: []byte("1"), Params: Params{Name: tool}}
	}
	res := func(method, uri string) Message {
		return Message{Kind: KindRequest, Method: method, ID: []byte("1"), Params: Params{URI: uri}}
	}
	req := func(m string) Message { return Message{Kind: KindRequest, Method: m, ID: []byte("1")} }
	crm := []string{"crm:read"}
	for _, tc := range []struct {
		msg        Message
		have       []string
		ok         bool
		wouldGrant string
	}{
		{call("search_contacts"), crm, true, ""},
		{call("get_1"), crm, true, ""},
		{call("get_12"), crm, false, "mcp:tools:execute"}, // ? is one character
		{call("delete_contact"), crm, false, "mcp:tools:execute"},
		{call("delete_contact"), []string{"crm:read", "mcp:tools:execute"}, true, ""},
		{call(""), crm, false, "mcp:tools:execute"}, // no name: no limited grant covers it
		{call("search_x"), []string{"mcp:tools:read"}, false, "mcp:tools:execute"},
		{req("tools/list"), crm, true, ""}, // listing comes with the limited grant (filtered)
		{req("resources/list"), crm, true, ""},
		{req("resources/templates/list"), crm, true, ""},
		{req("prompts/list"), crm, false, "mcp:prompts:read"},
		{req("prompts/list"), []string{"crm:notes"}, true, ""},
		{req("prompts/get"), []string{"mcp:prompts:read"}, true, ""},
		{req("completion/complete"), []string{"mcp:prompts:read"}, true, ""},
		{res("resources/read", "crm://contacts/42"), crm, true, ""},
		{res("resources/subscribe", "crm://contacts/42"), crm, true, ""},
		{res("resources/unsubscribe", "crm://contacts/42"), crm, true, ""},
		{res("resources/read", "crm://contacts-archive/42"), crm, false, "mcp:resources:read"},
		{res("resources/read", "crm://contacts/../secrets/1"), crm, false, "mcp:resources:read"},
		{res("resources/read", "crm://contacts/..\\secrets"), crm, false, "mcp:resources:read"},
		{res("resources/read", "crm://contacts/%2E%2E/secrets"), crm, false, "mcp:resources:read"},
		{res("resources/read", "crm://contacts/a%2fb"), crm, false, "mcp:resources:read"},
		{res("resources/read", "crm://contacts/..."), crm, true, ""}, // not a dot segment
		{res("resources/read", "notes://1"), crm, false, "mcp:resources:read"},
		{res("resources/read", "notes://1"), []string{"crm:notes"}, true, ""},
		{res("resources/read", ""), crm, false, "mcp:resources:read"},
		{res("resources/read", "file:///etc/passwd"), []string{"mcp:resources:read"}, true, ""},
	} {
		ok, would := p.Check(tc.msg, tc.have)
		if ok != tc.ok || would != tc.wouldGrant {
			t.Errorf("Check(%s %q%q, %v) = %v, %q; want %v, %q", tc.msg.Method, tc.msg.Params.Name, tc.msg.Params.URI, tc.have, ok, would, tc.ok, tc.wouldGrant)
		}
	}
	// ForMessage lists every scope that grants a method, whole or in part, in registry order.
	for method, want := range map[string][]string{
		"tools/call":          {"mcp:tools:execute", "crm:read"},
		"tools/list":          {"mcp:tools:read", "crm:read"},
		"resources/read":      {"mcp:resources:read", "crm:read", "crm:notes"},
		"resources/subscribe": {"mcp:resources:read", "crm:read", "crm:notes"},
		"prompts/list":        {"mcp:prompts:read", "crm:notes"},
		"completion/complete": {"mcp:prompts:read"},
	} {
		if _, got := p.ForMethod(method); !cmp.Equal(got, want) {
			t.Errorf("ForMethod(%s) = %v, want %v", method, got, want)
		}
	}
}

// TestPolicyRedefinedBuiltins: when the config narrows mcp:tools:execute to some tools, a
// tool no scope grants is one the server does not have for anyone (no scope to name).
func TestPolicyRedefinedBuiltins(t *testing.T) {
	p := NewPolicy(limitedRegistry(t,
		provider.Scope{Name: "mcp:tools:execute", Tools: []string{"safe_*"}},
		provider.Scope{Name: "mcp:resources:read", Methods: []string{"resources/list"}}))
	call := func(tool string) Message {
		return Message{Kind: KindRequest, Method: "tools/call", ID: []byte("1"), Params: Params{Name: tool}}
	}
	for _, tc := range []struct {
		msg        Message
		have       []string
		ok         bool
		wouldGrant string
	}{
		{call("delete_all"), []string{"mcp:tools:execute", "crm:read"}, false, ""},
		{call("safe_echo"), []string{"crm:read"}, false, "mcp:tools:execute"},
		{call("safe_echo"), []string{"mcp:tools:execute"}, true, ""},
		{call("search_x"), []string{"mcp:tools:execute"}, false, "crm:read"},
		// resources/read left mcp:resources:read, and with it subscribing.
		{Message{Kind: KindRequest, Method: "resources/subscribe", Params: Params{URI: "x://1"}}, []string{"mcp:resources:read"}, false, ""},
		{Message{Kind: KindRequest, Method: "resources/read", Params: Params{URI: "notes://1"}}, []string{"mcp:resources:read"}, false, "crm:notes"},
		{Message{Kind: KindRequest, Method: "resources/list"}, []string{"mcp:resources:read"}, true, ""},
	} {
		ok, would := p.Check(tc.msg, tc.have)
		if ok != tc.ok || would != tc.wouldGrant {
			t.Errorf("Check(%s %q%q, %v) = %v, %q; want %v, %q", tc.msg.Method, tc.msg.Params.Name, tc.msg.Params.URI, tc.have, ok, would, tc.ok, tc.wouldGrant)
		}
	}
	if got := p.visibleTools([]string{"mcp:tools:execute", "mcp:tools:read"}); !cmp.Equal(got, []string{"safe_*"}) {
		t.Errorf("visibleTools = %v, want the redefined scope's globs", got)
	}
}

func TestPolicyVisible(t *testing.T) {
	p := NewPolicy(limitedRegistry(t))
	for _, tc := range []struct {
		have             []string
		tools, resources []string
	}{
		{nil, nil, nil},
		{[]string{"mcp:tools:read"}, nil, nil}, // lists every tool, as it always has
		{[]string{"mcp:tools:read", "crm:read"}, []string{"search_*", "get_?"}, []string{"crm://contacts/"}},
		{[]string{"crm:read", "mcp:tools:execute"}, nil, []string{"crm://contacts/"}},
		{[]string{"crm:read", "crm:notes"}, []string{"search_*", "get_?"}, []string{"crm://contacts/", "notes://", "crm://contacts/"}},
		{[]string{"crm:notes", "mcp:resources:read"}, nil, nil},
	} {
		if got := p.visibleTools(tc.have); !cmp.Equal(got, tc.tools) {
			t.Errorf("visibleTools(%v) = %v, want %v", tc.have, got, tc.tools)
		}
		if got := p.visibleResources(tc.have); !cmp.Equal(got, tc.resources) {
			t.Errorf("visibleResources(%v) = %v, want %v", tc.have, got, tc.resources)
		}
	}
}

// TestPolicyCheckAllocatesNothing keeps the gate's hot path as cheap as it was: deciding a
// call, limited grants on the server or not, and finding that no list filter applies.
func TestPolicyCheckAllocatesNothing(t *testing.T) {
	p := NewPolicy(limitedRegistry(t))
	have := []string{"mcp:tools:read", "mcp:tools:execute", "mcp:resources:read"}
	call := Message{Kind: KindRequest, Method: "tools/call", ID: []byte("1"), Params: Params{Name: "search_x"}}
	list := Message{Kind: KindRequest, Method: "tools/list", ID: []byte("1")}
	g := &Gateway{policy: p}
	pr := &principal{Scopes: have}
	if n := testing.AllocsPerRun(100, func() {
		if ok, _ := p.Check(call, have); !ok {
			t.Fatal("refused")
		}
		if ok, _ := p.Check(list, have); !ok {
			t.Fatal("refused")
		}
		if g.listFilter(list, pr) != nil {
			t.Fatal("filtered")
		}
	}); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}

// Completing an argument of a resource template needs what reading the template's
// resources needs: a token limited to some URI prefixes learns no names from templates
// outside them, and one that may read no resource at all completes none.
func TestPermitsTemplateCompletion(t *testing.T) {
	g := &Gateway{policy: NewPolicy(limitedRegistry(t))}
	complete := func(refType, uri string) Message {
		return Message{Kind: KindRequest, Method: "completion/complete", ID: []byte("1"), Params: Params{RefType: refType, RefURI: uri}}
	}
	for _, tc := range []struct {
		have   []string
		msg    Message
		status int    // 0: allowed
		scope  string // the scope a 403 names
	}{
		{[]string{"mcp:prompts:read", "crm:read"}, complete("ref/resource", "crm://contacts/{id}"), 0, ""},
		{[]string{"mcp:prompts:read", "crm:read"}, complete("ref/resource", "crm://deals/{id}"), 403, "mcp:resources:read"},
		{[]string{"mcp:prompts:read", "crm:read"}, complete("ref/resource", "crm://contacts/../deals/{id}"), 403, "mcp:resources:read"},
		{[]string{"mcp:prompts:read", "mcp:resources:read"}, complete("ref/resource", "crm://deals/{id}"), 0, ""},
		{[]string{"mcp:prompts:read"}, complete("ref/resource", "crm://contacts/{id}"), 403, "mcp:resources:read"},
		{[]string{"mcp:prompts:read"}, complete("ref/prompt", ""), 0, ""},
		{[]string{"crm:read"}, complete("ref/resource", "crm://contacts/{id}"), 403, "mcp:prompts:read"},
	} {
		rf := g.permits(&principal{Scopes: tc.have}, tc.msg)
		switch {
		case tc.status == 0 && rf != nil:
			t.Errorf("%v %s %s: refused: %s", tc.have, tc.msg.Params.RefType, tc.msg.Params.RefURI, rf.desc)
		case tc.status != 0 && (rf == nil || rf.status != tc.status || rf.scope != tc.scope):
			t.Errorf("%v %s %s: %+v, want %d naming %s", tc.have, tc.msg.Params.RefType, tc.msg.Params.RefURI, rf, tc.status, tc.scope)
		}
	}
}
