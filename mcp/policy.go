package mcp

import (
	"path"
	"slices"
	"strings"

	"github.com/conexor/conexor/provider"
)

// Rule says what a token needs for one JSON-RPC method (or API route).
type Rule uint8

// The three kinds of rule.
const (
	// RuleDeny: no scope grants the method, so no token may call it. This is the rule for
	// every method nobody configured: a proxied upstream may implement methods this
	// gateway has never heard of (prompts/get, completion/complete, vendor extensions),
	// and letting any token call those would grant more than the scopes say. Operators
	// open such a method by adding a scope that lists it in the config file.
	RuleDeny Rule = iota
	// RuleAnyToken: any valid token for the server will do (session plumbing).
	RuleAnyToken
	// RuleScoped: the token needs one of the rule's scopes.
	RuleScoped
)

// sessionMethods carry no data of the server's own: the handshake (initialize and its
// 2026 replacement server/discover), keep-alive, log verbosity and the list-changed
// subscription stream. DESIGN.md: they need any valid token for the server.
var sessionMethods = map[string]bool{
	"initialize":           true,
	"server/discover":      true,
	"ping":                 true,
	"logging/setLevel":     true,
	"subscriptions/listen": true,
}

// impliedMethods are granted by whatever grants another method: subscribing to a resource
// is reading it as it changes.
var impliedMethods = map[string]string{
	"resources/subscribe":   "resources/read",
	"resources/unsubscribe": "resources/read",
}

// Policy is the scope policy of the MCP endpoint, built once from the scope registry: each
// scope's Methods list grants those methods whole, its Tools and Resources grant the tools
// and resources methods for some tools and URIs only, and a method granted by several
// scopes needs any one of them. It is immutable and safe for concurrent use.
type Policy struct {
	// grants holds each method's grants in registry order (built-in scopes first), so a
	// refusal names the same scope for the same request on every replica.
	grants map[string][]grant
	// scopes is each method's granting scope names, ForMessage's answer, built once so that
	// answering it allocates nothing.
	scopes map[string][]string
}

// grant is one scope's grant of one method: whole, or limited to what only matches.
type grant struct {
	scope string
	only  *targets // nil: every tool and every resource
}

// targets limit a grant. A scope's Tools limit its grants of the tools methods, its
// Resources those of the resources methods, so each limited grant holds one of the two.
type targets struct {
	tools     []string // path.Match globs of tool names
	resources []string // URI prefixes
}

// targetedMethods are the methods whose grant may be limited, and which member of their
// params names the target the limit applies to. The list methods are granted along with
// them but have no target: their answer is filtered instead (filter.go).
var (
	toolMethods     = []string{"tools/call", "tools/list"}
	resourceMethods = []string{"resources/read", "resources/subscribe", "resources/unsubscribe", "resources/list", "resources/templates/list"}
)

// NewPolicy builds the policy from the registry's scopes (built-in and configured).
func NewPolicy(scopes *provider.Scopes) *Policy {
	p := &Policy{grants: map[string][]grant{}, scopes: map[string][]string{}}
	order := map[string]int{}
	explicit := map[string]bool{}
	for i, sc := range scopes.All() {
		order[sc.Name] = i
		for _, m := range sc.Methods {
			p.add(m, grant{scope: sc.Name})
			explicit[m] = true
		}
	}
	// A method implied by another follows the whole grants of it, unless some scope lists
	// it itself; a limited grant of resources/read limits subscribing the same way (below).
	for m, like := range impliedMethods {
		if !explicit[m] {
			for _, gr := range p.grants[like] {
				p.add(m, gr)
			}
		}
	}
	for _, sc := range scopes.All() {
		if len(sc.Tools) > 0 {
			only := &targets{tools: slices.Clone(sc.Tools)}
			for _, m := range toolMethods {
				p.add(m, grant{scope: sc.Name, only: only})
			}
		}
		if len(sc.Resources) > 0 {
			only := &targets{resources: slices.Clone(sc.Resources)}
			for _, m := range resourceMethods {
				p.add(m, grant{scope: sc.Name, only: only})
			}
		}
	}
	for m, grants := range p.grants {
		slices.SortStableFunc(grants, func(a, b grant) int { return order[a.scope] - order[b.scope] })
		for _, gr := range grants {
			p.scopes[m] = append(p.scopes[m], gr.scope)
		}
	}
	return p
}

// add records a grant; a scope granting a method both whole and limited grants it whole.
func (p *Policy) add(method string, gr grant) {
	grants := p.grants[method]
	for i := range grants {
		if grants[i].scope == gr.scope {
			if gr.only == nil {
				grants[i].only = nil
			}
			return
		}
	}
	p.grants[method] = append(grants, gr)
}

// ForMessage returns the rule for a JSON-RPC message and, for RuleScoped, the scopes any
// one of which grants it (in registry order: built-in scopes first).
//
// Notifications need any token: the MCP ones only report progress, cancellation and
// list changes. A response (a client answering the server's sampling, elicitation or
// roots request) needs any token too: the server asked for it within a session the token
// was already allowed to open.
func (p *Policy) ForMessage(m Message) (Rule, []string) {
	switch m.Kind {
	case KindResponse:
		return RuleAnyToken, nil
	case KindNotification:
		if strings.HasPrefix(m.Method, "notifications/") {
			return RuleAnyToken, nil
		}
	}
	return p.ForMethod(m.Method)
}

// ForMethod returns the rule for a method name or an API route ("GET /api/servers").
// Scopes only ever grant: a configured scope that lists "initialize" does not take the
// handshake away from tokens without it.
func (p *Policy) ForMethod(method string) (Rule, []string) {
	if sessionMethods[method] {
		return RuleAnyToken, nil
	}
	if scopes := p.scopes[method]; len(scopes) > 0 {
		return RuleScoped, scopes
	}
	return RuleDeny, nil
}

// Check decides a message for a token holding have: whether it may send it and, when not,
// a scope that would let it (the first in registry order), or "" when no scope of this
// server would: then no token may send it. A tools/call is decided by the tool's name and a
// resources/read, subscribe or unsubscribe by the URI, since a scope may grant them for some
// tools or URIs only. It allocates nothing.
func (p *Policy) Check(m Message, have []string) (ok bool, wouldGrant string) {
	switch rule, _ := p.ForMessage(m); rule {
	case RuleAnyToken:
		return true, ""
	case RuleDeny:
		return false, ""
	}
	target, targeted := targetOf(m)
	for _, gr := range p.grants[m.Method] {
		if targeted && !gr.covers(target) {
			continue
		}
		if slices.Contains(have, gr.scope) {
			return true, ""
		}
		if wouldGrant == "" {
			wouldGrant = gr.scope
		}
	}
	return false, wouldGrant
}

// CheckTemplate decides completing an argument of the resource template uri
// (completion/complete with a ref/resource): it needs what reading the template's resources
// needs, so a token limited to some URI prefixes cannot learn names from templates outside
// them. Like Check, it returns a scope that would allow it, or "".
func (p *Policy) CheckTemplate(uri string, have []string) (ok bool, wouldGrant string) {
	for _, gr := range p.grants["resources/read"] {
		if gr.only != nil && !templateUnder(gr.only.resources, uri) {
			continue
		}
		if slices.Contains(have, gr.scope) {
			return true, ""
		}
		if wouldGrant == "" {
			wouldGrant = gr.scope
		}
	}
	return false, wouldGrant
}

// targetOf returns what a message's grant may be limited to: the tool of a tools/call, the
// URI of a resource read or subscription.
func targetOf(m Message) (string, bool) {
	switch m.Method {
	case "tools/call":
		return m.Params.Name, true
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		return m.Params.URI, true
	}
	return "", false
}

// covers reports whether the grant extends to a tool name or URI.
func (gr grant) covers(target string) bool {
	switch {
	case gr.only == nil:
		return true
	case gr.only.tools != nil:
		return toolMatches(gr.only.tools, target)
	default:
		return uriUnder(gr.only.resources, target)
	}
}

// toolMatches reports whether a tool name matches one of the globs. An empty name matches
// none (the glob "*" would match it): a tools/call without a string name is the backend's
// to refuse, and no limited grant lets it through.
func toolMatches(globs []string, name string) bool {
	if name == "" {
		return false
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok { // the globs were checked when the config was
			return true
		}
	}
	return false
}

// uriUnder reports whether a URI is under one of the prefixes. The prefix is matched as
// written, so "file:///docs/" means the folder and "file:///docs" also "file:///docs-old".
// The upstream, not the gate, resolves a URI, so a URI that might resolve outside the
// prefix is under none: one with a "." or ".." segment (between "/" or "\"), or with a
// percent-encoded dot, slash or backslash after the prefix.
func uriUnder(prefixes []string, uri string) bool {
	if uri == "" || hasDotSegment(uri) {
		return false
	}
	for _, prefix := range prefixes {
		if strings.HasPrefix(uri, prefix) && !hasEncodedSeparator(uri[len(prefix):]) {
			return true
		}
	}
	return false
}

func hasDotSegment(uri string) bool {
	for seg := range strings.FieldsFuncSeq(uri, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func hasEncodedSeparator(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		switch strings.ToLower(s[i+1 : i+3]) {
		case "2e", "2f", "5c":
			return true
		}
	}
	return false
}

// visibleTools returns the globs a tools/list answer must be filtered by for a token
// holding have, or nil when it may see every tool. It sees them all when it may call every
// tool, and also when it may call none: a token with only mcp:tools:read lists every tool
// (that scope's meaning since the product page), and only a limited grant of tools/call
// narrows the list to the tools it may call.
func (p *Policy) visibleTools(have []string) []string {
	return p.visible("tools/call", have, func(t *targets) []string { return t.tools })
}

// visibleResources is visibleTools for resources/list and resources/templates/list: the
// URI prefixes a token with a limited grant of resources/read may read, or nil.
func (p *Policy) visibleResources(have []string) []string {
	return p.visible("resources/read", have, func(t *targets) []string { return t.resources })
}

func (p *Policy) visible(method string, have []string, of func(*targets) []string) []string {
	var limits []string
	for _, gr := range p.grants[method] {
		if !slices.Contains(have, gr.scope) {
			continue
		}
		if gr.only == nil {
			return nil
		}
		limits = append(limits, of(gr.only)...)
	}
	return limits
}

// Allows reports whether a token holding have may call a method with this rule.
func Allows(rule Rule, need, have []string) bool {
	switch rule {
	case RuleAnyToken:
		return true
	case RuleScoped:
		for _, n := range need {
			if slices.Contains(have, n) {
				return true
			}
		}
	}
	return false
}
