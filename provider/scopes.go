package provider

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// The built-in scopes of the product page. mcp:server:manage is deliberately left out of the
// scopes advertised to MCP clients, which ask for everything advertised; they step up to it.
const (
	ScopeToolsRead     = "mcp:tools:read"
	ScopeToolsExecute  = "mcp:tools:execute"
	ScopeResourcesRead = "mcp:resources:read"
	ScopeServerRead    = "mcp:server:read"
	ScopeServerManage  = "mcp:server:manage"
)

// Scope is one grantable permission: its description is shown on the consent page, Methods
// lists the MCP JSON-RPC methods (or API routes) it grants.
type Scope struct {
	Name        string   `yaml:"name" json:"name"`
	Description string   `yaml:"description" json:"description"`
	Methods     []string `yaml:"methods" json:"methods,omitempty"`
}

// BuiltinScopes returns the five scopes every Conexor server has.
func BuiltinScopes() []Scope {
	return []Scope{
		{Name: ScopeToolsRead, Description: "List available tools", Methods: []string{"tools/list"}},
		{Name: ScopeToolsExecute, Description: "Execute tools (query data)", Methods: []string{"tools/call"}},
		{Name: ScopeResourcesRead, Description: "Read resources (skills)", Methods: []string{"resources/list", "resources/read", "resources/templates/list"}},
		{Name: ScopeServerRead, Description: "Read server info", Methods: []string{"GET /api/servers"}},
		{Name: ScopeServerManage, Description: "Update server settings and configuration", Methods: []string{"PATCH /api/servers"}},
	}
}

var scopeNameRE = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`) // RFC 6749 3.3 scope-token, minus ','

// Scopes is the registry of known scopes: the built-ins plus the ones the config adds.
// It is immutable after construction.
type Scopes struct {
	list   []Scope
	byName map[string]Scope
}

// NewScopes builds the registry. Extra scopes may not redefine a built-in one.
func NewScopes(extra []Scope) (*Scopes, error) {
	s := &Scopes{byName: map[string]Scope{}}
	for _, sc := range BuiltinScopes() {
		s.add(sc)
	}
	var problems []string
	for _, sc := range extra {
		switch {
		case !scopeNameRE.MatchString(sc.Name):
			problems = append(problems, fmt.Sprintf("scope %q: name must be 1-128 visible characters without spaces, commas, quotes or backslashes", sc.Name))
		case s.Known(sc.Name):
			problems = append(problems, fmt.Sprintf("scope %q: already defined", sc.Name))
		case strings.TrimSpace(sc.Description) == "":
			problems = append(problems, fmt.Sprintf("scope %q: needs a description (it is shown on the consent page)", sc.Name))
		default:
			s.add(sc)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return s, nil
}

func (s *Scopes) add(sc Scope) {
	s.list = append(s.list, sc)
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

// ScopesForMethod returns the scopes any one of which grants an MCP method.
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
