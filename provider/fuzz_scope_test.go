package provider_test

import (
	"strings"
	"testing"

	"github.com/conexor/conexor/provider"
)

// FuzzParseScopeParam: whatever a client sends as scope, parsing never panics and yields
// clean scope tokens: no separators, no empties, no duplicates, each a piece of the input;
// and parsing its own space-joined output gives the same list back.
func FuzzParseScopeParam(f *testing.F) {
	for _, seed := range []string{
		"", " ", ",", ",,, ,",
		"mcp:tools:read mcp:tools:execute",
		"mcp:tools:read,mcp:tools:execute",
		"mcp:tools:read, mcp:tools:execute ,mcp:resources:read",
		"mcp:tools:read\tmcp:tools:read\nmcp:tools:read\r",
		"claudeai offline_access openid",
		"a\u00a0b",            // a non-breaking space is not a separator
		"mcp:tools:read\x00x", // NUL stays inside the token
		"\xff\xfe,\xc3",
		strings.Repeat("s ", 500),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := provider.ParseScopeParam(raw)
		seen := map[string]bool{}
		for _, s := range out {
			if s == "" {
				t.Fatalf("ParseScopeParam(%q) has an empty scope: %q", raw, out)
			}
			if strings.ContainsAny(s, " ,\t\n\r") {
				t.Fatalf("ParseScopeParam(%q) has a scope with a separator: %q", raw, s)
			}
			if seen[s] {
				t.Fatalf("ParseScopeParam(%q) has %q twice", raw, s)
			}
			seen[s] = true
			if !strings.Contains(raw, s) {
				t.Fatalf("ParseScopeParam(%q) invented %q", raw, s)
			}
		}
		again := provider.ParseScopeParam(strings.Join(out, " "))
		if strings.Join(again, " ") != strings.Join(out, " ") {
			t.Fatalf("not stable: %q -> %q -> %q", raw, out, again)
		}
	})
}
