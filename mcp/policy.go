package mcp

import (
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
// scope's Methods list grants those methods, and a method granted by several scopes needs
// any one of them. It is immutable and safe for concurrent use.
type Policy struct {
	grants map[string][]string
}

// NewPolicy builds the policy from the registry's scopes (built-in and configured).
func NewPolicy(scopes *provider.Scopes) *Policy {
	p := &Policy{grants: map[string][]string{}}
	for _, sc := range scopes.All() {
		for _, m := range sc.Methods {
			if !slices.Contains(p.grants[m], sc.Name) {
				p.grants[m] = append(p.grants[m], sc.Name)
			}
		}
	}
	for m, like := range impliedMethods {
		if _, set := p.grants[m]; !set {
			p.grants[m] = p.grants[like]
		}
	}
	return p
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
	if scopes := p.grants[method]; len(scopes) > 0 {
		return RuleScoped, scopes
	}
	return RuleDeny, nil
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
