package provider

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// The built-in scopes: the product page's five, and mcp:prompts:read, without which a
// proxied server's prompts and completions would be unusable until an operator wrote config.
// mcp:server:manage is deliberately left out of the scopes advertised to MCP clients, which
// ask for everything advertised; they step up to it.
const (
	ScopeToolsRead     = "mcp:tools:read"
	ScopeToolsExecute  = "mcp:tools:execute"
	ScopeResourcesRead = "mcp:resources:read"
	ScopePromptsRead   = "mcp:prompts:read"
	ScopeServerRead    = "mcp:server:read"
	ScopeServerManage  = "mcp:server:manage"
)

// Scope is one grantable permission: its description is shown on the consent page, Methods
// lists the MCP JSON-RPC methods (or API routes) it grants outright.
//
// Tools and Resources grant part of a method: Tools (path.Match globs of tool names) grants
// tools/call of the matching tools and tools/list showing only those; Resources (URI
// prefixes) grants resources/read, resources/subscribe and resources/unsubscribe of URIs
// under a prefix, and resources/list and resources/templates/list showing only those.
type Scope struct {
	Name        string   `yaml:"name" json:"name"`
	Description string   `yaml:"description" json:"description"`
	Methods     []string `yaml:"methods" json:"methods,omitempty"`
	Tools       []string `yaml:"tools" json:"tools,omitempty"`
	Resources   []string `yaml:"resources" json:"resources,omitempty"`
}

// BuiltinScopes returns the six scopes every Conexor server has, before the config file
// overrides any of them.
func BuiltinScopes() []Scope {
	return []Scope{
		{Name: ScopeToolsRead, Description: "List available tools", Methods: []string{"tools/list"}},
		{Name: ScopeToolsExecute, Description: "Execute tools (query data)", Methods: []string{"tools/call"}},
		{Name: ScopeResourcesRead, Description: "Read resources (skills)", Methods: []string{"resources/list", "resources/read", "resources/templates/list"}},
		{Name: ScopePromptsRead, Description: "Use prompts and argument completions", Methods: []string{"prompts/list", "prompts/get", "completion/complete"}},
		{Name: ScopeServerRead, Description: "Read server info", Methods: []string{"GET /api/servers"}},
		{Name: ScopeServerManage, Description: "Update server settings and configuration", Methods: []string{"PATCH /api/servers"}},
	}
}

// Overridable reports whether the config file may redefine a built-in scope: the MCP ones
// are defaults an operator may narrow or widen (say, move completion/complete out of
// mcp:prompts:read); the server API's two guard the server's own settings and stay fixed.
func Overridable(name string) bool {
	switch name {
	case ScopeToolsRead, ScopeToolsExecute, ScopeResourcesRead, ScopePromptsRead:
		return true
	}
	return false
}

// methodsOfTools and methodsOfResources are the methods a Tools or Resources list grants in
// part; listing one of them in Methods as well would grant it whole and restrict nothing.
var (
	methodsOfTools     = []string{"tools/call"}
	methodsOfResources = []string{"resources/read", "resources/subscribe", "resources/unsubscribe"}
)

// grantProblems returns what is wrong with a scope's Tools and Resources, one sentence each.
func grantProblems(sc Scope) []string {
	var out []string
	for _, g := range sc.Tools {
		switch _, err := path.Match(g, ""); {
		case strings.TrimSpace(g) == "":
			out = append(out, fmt.Sprintf("scope %q: tools: an empty tool name or glob matches nothing", sc.Name))
		case err != nil:
			out = append(out, fmt.Sprintf("scope %q: tools: %q is not a valid glob (path.Match syntax: *, ?, [a-z], \\ to escape)", sc.Name, g))
		}
	}
	for _, prefix := range sc.Resources {
		if strings.TrimSpace(prefix) == "" {
			out = append(out, fmt.Sprintf("scope %q: resources: an empty URI prefix would grant every resource; list the prefixes, or grant resources/read in methods", sc.Name))
		}
	}
	for _, m := range sc.Methods {
		if len(sc.Tools) > 0 && slices.Contains(methodsOfTools, m) {
			out = append(out, fmt.Sprintf("scope %q: methods grants %s for every tool, so tools restricts nothing; remove one of them", sc.Name, m))
		}
		if len(sc.Resources) > 0 && slices.Contains(methodsOfResources, m) {
			out = append(out, fmt.Sprintf("scope %q: methods grants %s of every resource, so resources restricts nothing; remove one of them", sc.Name, m))
		}
	}
	return out
}

var scopeNameRE = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`) // RFC 6749 3.3 scope-token, minus ','

// Scopes is the registry of known scopes: the built-ins plus the ones the config adds.
// It is immutable after construction.
type Scopes struct {
	list   []Scope
	byName map[string]Scope
}

// NewScopes builds the registry: the built-in scopes, then the extra ones. An extra scope
// named like an overridable built-in one replaces it in place (its Methods, Tools and
// Resources always, its description if it has one), so registry order, and with it the
// scope a refusal names, stays the same; any other name may be defined once.
func NewScopes(extra []Scope) (*Scopes, error) {
	s := &Scopes{byName: map[string]Scope{}}
	for _, sc := range BuiltinScopes() {
		s.add(sc)
	}
	var problems []string
	overridden := map[string]bool{}
	for _, sc := range extra {
		builtin, isBuiltin := builtinScope(sc.Name)
		isBuiltin = isBuiltin && !overridden[sc.Name] // a second redefinition is "already defined"
		grants := grantProblems(sc)
		switch {
		case !scopeNameRE.MatchString(sc.Name):
			problems = append(problems, fmt.Sprintf("scope %q: name must be 1-128 visible characters without spaces, commas, quotes or backslashes", sc.Name))
		case isBuiltin && !Overridable(sc.Name):
			problems = append(problems, fmt.Sprintf("scope %q: built in and fixed (only %s, %s, %s and %s may be redefined)",
				sc.Name, ScopeToolsRead, ScopeToolsExecute, ScopeResourcesRead, ScopePromptsRead))
		case len(grants) > 0:
			problems = append(problems, grants...)
		case isBuiltin:
			overridden[sc.Name] = true
			if strings.TrimSpace(sc.Description) == "" {
				sc.Description = builtin.Description
			}
			s.replace(sc)
		case s.Known(sc.Name):
			problems = append(problems, fmt.Sprintf("scope %q: already defined", sc.Name))
		case strings.TrimSpace(sc.Description) == "":
			problems = append(problems, fmt.Sprintf("scope %q: needs a description (it is shown on the consent page)", sc.Name))
		default:
			s.add(sc)
		}
	}
	if len(problems) > 0 {
		return nil, ScopeProblems(problems)
	}
	return s, nil
}

// ScopeProblems is NewScopes's error: every problem of the configured scopes, one sentence
// each, so that the config's Validate can list them one per line with its own.
type ScopeProblems []string

func (e ScopeProblems) Error() string { return strings.Join(e, "; ") }

func builtinScope(name string) (Scope, bool) {
	for _, b := range BuiltinScopes() {
		if b.Name == name {
			return b, true
		}
	}
	return Scope{}, false
}

func (s *Scopes) add(sc Scope) {
	s.list = append(s.list, sc)
	s.byName[sc.Name] = sc
}

// replace swaps a scope for its new definition, keeping its place.
func (s *Scopes) replace(sc Scope) {
	for i := range s.list {
		if s.list[i].Name == sc.Name {
			s.list[i] = sc
		}
	}
	s.byName[sc.Name] = sc
}

// Known reports whether name is a scope of this server.
func (s *Scopes) Known(name string) bool { _, ok := s.byName[name]; return ok }

// Get returns a scope by name.
func (s *Scopes) Get(name string) (Scope, bool) { sc, ok := s.byName[name]; return sc, ok }

// All returns every scope in definition order.
func (s *Scopes) All() []Scope { return append([]Scope(nil), s.list...) }

// Names returns every scope name in definition order.
func (s *Scopes) Names() []string {
	out := make([]string, len(s.list))
	for i, sc := range s.list {
		out[i] = sc.Name
	}
	return out
}

// Advertised returns the scopes MCP clients should ask for by default: all but
// mcp:server:manage, which must be asked for explicitly.
func (s *Scopes) Advertised() []string {
	var out []string
	for _, sc := range s.list {
		if sc.Name != ScopeServerManage {
			out = append(out, sc.Name)
		}
	}
	return out
}

// IsAdvertised reports whether scopes are exactly the advertised ones, in any order: what
// an MCP client asks for when it asks for scopes_supported, meaning "what I may have". A
// client registered before a scope was added to the server (mcp:prompts:read, or one from
// the config) may not have them all, and must not be refused for asking.
func (s *Scopes) IsAdvertised(scopes []string) bool {
	adv := s.Advertised()
	if len(scopes) != len(adv) {
		return false
	}
	for _, sc := range adv {
		if !slices.Contains(scopes, sc) {
			return false
		}
	}
	return true
}

// ScopesForMethod returns the scopes any one of which grants an MCP method outright (by
// Methods; the gateway's policy adds the scopes that grant it in part, by Tools or Resources).
func (s *Scopes) ScopesForMethod(method string) []string {
	var out []string
	for _, sc := range s.list {
		for _, m := range sc.Methods {
			if m == method {
				out = append(out, sc.Name)
			}
		}
	}
	return out
}

// ParseScopeParam splits a scope parameter on spaces or commas (the product page uses commas,
// RFC 6749 spaces), dropping empties and duplicates while keeping order.
func ParseScopeParam(raw string) []string {
	fields := strings.FieldsFunc(raw, func(r rune) bool {
		return r == ' ' || r == ',' || r == '\t' || r == '\n' || r == '\r'
	})
	seen := map[string]bool{}
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// Partition splits requested scopes into the ones this server knows and the unknown ones.
func (s *Scopes) Partition(requested []string) (known, unknown []string) {
	for _, r := range requested {
		if s.Known(r) {
			known = append(known, r)
		} else {
			unknown = append(unknown, r)
		}
	}
	return known, unknown
}

// ExactScopeStrategy is fosite's ScopeStrategy with exact matching: fosite's default treats
// "a" as granting "a.b" and "*" as granting everything, which no MCP scope should.
func ExactScopeStrategy(haystack []string, needle string) bool {
	for _, h := range haystack {
		if h == needle {
			return true
		}
	}
	return false
}

// Contains reports whether all of want are in have.
func Contains(have, want []string) bool {
	for _, w := range want {
		if !ExactScopeStrategy(have, w) {
			return false
		}
	}
	return true
}

// SortedCopy returns a sorted copy, for stable comparison and storage.
func SortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}
