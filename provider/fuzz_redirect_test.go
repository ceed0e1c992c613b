package provider_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/netguard"
	"github.com/conexor/conexor/provider"
)

var redirectSeeds = [][2]string{
	{"http://localhost:3000/callback", "http://localhost:3000/callback"},
	{"http://localhost:49152/callback", "http://localhost:3000/callback"},
	{"http://localhost/callback", "http://localhost:3000/callback"},
	{"http://127.0.0.1:8080/cb", "http://127.0.0.1/cb"},
	{"http://[::1]:1234/cb?x=1", "http://[::1]:80/cb?x=1"},
	{"http://localhost:3000/callback/", "http://localhost:3000/callback"},
	{"http://localhost:3000/Callback", "http://localhost:3000/callback"},
	{"http://LOCALHOST:3000/callback", "http://localhost:3000/callback"},
	{"http://localhost:3000/callback?a=1", "http://localhost:3000/callback"},
	{"http://localhost:3000/callback#x", "http://localhost:3000/callback"},
	{"http://user@localhost:3000/callback", "http://localhost:3000/callback"},
	{"http://localhost.evil.example:3000/callback", "http://localhost:3000/callback"},
	{"http://127.0.0.1:3000/callback", "http://localhost:3000/callback"},
	{"https://localhost:3001/callback", "https://localhost:3000/callback"},
	{"https://app.example.com/cb", "https://app.example.com/cb"},
	{"https://app.example.com:444/cb", "https://app.example.com/cb"},
	{"cursor://anysphere.cursor-retrieval/oauth/callback", "cursor://anysphere.cursor-retrieval/oauth/callback"},
	{"http://localhost:3000/c%62", "http://localhost:3000/cb"},
	{"http://localhost:3000\\@evil.example/cb", "http://localhost:3000/cb"},
	{"javascript:alert(1)//localhost:3000/cb", "http://localhost:3000/cb"},
	{"", ""},
	{"http://[::1/cb", "http://[::1]:1/cb"},
	{"http://localhost", "http://localhost#00000000"}, // found by fuzzing: registered URIs never have fragments
}

// FuzzMatchRedirectURI: matching never panics, and a match is either the registered URI
// byte for byte, or (for a registered URI that passes ValidateRedirectURI) an http loopback
// URI that differs from it only in the port (RFC 8252 7.3): same host spelling, same path and query, no user info, no fragment. The URI to
// redirect to is always the requested one.
func FuzzMatchRedirectURI(f *testing.F) {
	for _, s := range redirectSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, requested, registered string) {
		got, ok := provider.MatchRedirectURI(requested, []string{registered})
		if !ok {
			if got != "" {
				t.Fatalf("no match but returned %q", got)
			}
			if requested == registered {
				t.Fatalf("an exact match was refused: %q", requested)
			}
			return
		}
		if got != requested {
			t.Fatalf("matched %q but redirects to %q", requested, got)
		}
		// Registered URIs passed ValidateRedirectURI (CLI, dashboard, dynamic registration
		// and metadata documents all check it), so only those make the property meaningful.
		if requested == registered || provider.ValidateRedirectURI(registered) != nil {
			return
		}
		reqHost, reqRest, ok1 := splitLoopback(requested)
		regHost, regRest, ok2 := splitLoopback(registered)
		if !ok1 || !ok2 {
			t.Fatalf("non-exact match of a URI that is not http loopback: %q ~ %q", requested, registered)
		}
		if reqHost != regHost || reqRest != regRest {
			t.Fatalf("match differs in more than the port: %q ~ %q (host %q/%q, rest %q/%q)",
				requested, registered, reqHost, regHost, reqRest, regRest)
		}
	})
}

// splitLoopback splits "http://HOST[:PORT]REST" without url.Parse (an independent oracle)
// and reports whether HOST is a loopback name, the port all digits and REST free of a
// fragment.
func splitLoopback(raw string) (host, rest string, ok bool) {
	if len(raw) < 7 || !strings.EqualFold(raw[:7], "http://") {
		return "", "", false
	}
	s := raw[7:]
	end := strings.IndexAny(s, "/?#")
	if end < 0 {
		end = len(s)
	}
	authority, rest := s[:end], s[end:]
	if strings.ContainsAny(authority, "@\\") || strings.Contains(rest, "#") {
		return "", "", false
	}
	host = authority
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
		host = authority[:i]
		for _, c := range authority[i+1:] {
			if c < '0' || c > '9' {
				return "", "", false
			}
		}
	}
	switch strings.Trim(host, "[]") {
	case "localhost", "127.0.0.1", "::1":
		return host, rest, true
	}
	return "", "", false
}

// FuzzValidateRedirectURI: validation never panics, and what it accepts is an absolute URI
// without fragment or user info, https or http on loopback or a private-use scheme, never
// a script-capable scheme.
func FuzzValidateRedirectURI(f *testing.F) {
	for _, s := range redirectSeeds {
		f.Add(s[0])
	}
	for _, s := range []string{"data:text/html,x", "JavaScript:alert(1)", "file:///etc/passwd", "http://example.com/cb",
		"https://*.example.com/cb", "myapp:/cb", "x://", "https://", "com.example.app:/oauth2redirect"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if provider.ValidateRedirectURI(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() {
			t.Fatalf("accepted %q, which is not an absolute URI (%v)", raw, err)
		}
		if u.Fragment != "" || strings.Contains(raw, "#") || u.User != nil || strings.Contains(raw, "*") {
			t.Fatalf("accepted %q with a fragment, user info or wildcard", raw)
		}
		switch scheme := strings.ToLower(u.Scheme); scheme {
		case "https":
			if u.Hostname() == "" {
				t.Fatalf("accepted https URI %q without a host", raw)
			}
		case "http":
			if !netguard.IsLoopbackHost(u.Hostname()) {
				t.Fatalf("accepted http URI %q on a non-loopback host", raw)
			}
		case "javascript", "data", "file", "vbscript", "blob", "about":
			t.Fatalf("accepted script-capable or local scheme: %q", raw)
		}
		if strings.ContainsAny(raw, " \t\r\n<>\"\\") {
			t.Fatalf("accepted %q with characters not allowed in a URI", raw)
		}
	})
}
