package urls

import (
	"strings"
	"testing"
)

func TestValidSlug(t *testing.T) {
	for s, want := range map[string]bool{
		"acme": true, "sales-api": true, "a": true, "0day": true, "a-": true, strings.Repeat("a", 64): true,
		"": false, "-a": false, "Acme": false, "a_b": false, "a.b": false, "a/b": false, "%61": false,
		"é": false, "a b": false, strings.Repeat("a", 65): false, "..": false,
	} {
		if got := ValidSlug(s); got != want {
			t.Errorf("ValidSlug(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestSplitServerPath(t *testing.T) {
	org, server, err := SplitServerPath("acme/sales-api")
	if err != nil || org != "acme" || server != "sales-api" {
		t.Fatalf("SplitServerPath(acme/sales-api) = %q, %q, %v", org, server, err)
	}
	for _, bad := range []string{"", "acme", "acme/", "/sales", "acme/sales/x", "Acme/sales", "acme/sa les"} {
		if _, _, err := SplitServerPath(bad); err == nil || !strings.Contains(err.Error(), "ORG/SERVER") {
			t.Errorf("SplitServerPath(%q) error = %v, want one that names ORG/SERVER", bad, err)
		}
	}
}

func TestBuiltURLs(t *testing.T) {
	for _, iss := range []string{"https://auth.example.com", "https://auth.example.com/"} {
		if got, want := Resource(iss, "acme", "sales-api"), "https://auth.example.com/mcp/acme/sales-api"; got != want {
			t.Errorf("Resource(%q) = %q, want %q", iss, got, want)
		}
		if got, want := ResourceMetadata(iss, "acme", "sales-api"), "https://auth.example.com/.well-known/oauth-protected-resource/mcp/acme/sales-api"; got != want {
			t.Errorf("ResourceMetadata(%q) = %q, want %q", iss, got, want)
		}
		if got, want := Endpoint(iss, Token), "https://auth.example.com/api/oauth/token"; got != want {
			t.Errorf("Endpoint(%q, Token) = %q, want %q", iss, got, want)
		}
	}
}

func TestServerPathOfResource(t *testing.T) {
	const iss = "https://auth.example.com"
	for res, want := range map[string]string{
		Resource(iss, "acme", "sales-api"):            "acme/sales-api",
		Resource(iss+"/", "acme", "sales-api"):        "acme/sales-api",
		"https://auth.example.com/mcp/acme":           "",
		"https://auth.example.com/mcp/acme/a/b":       "",
		"https://auth.example.com/mcp/Acme/x":         "",
		"https://other.example.com/mcp/acme/x":        "",
		"https://auth.example.com/api/servers/acme/x": "",
		"": "",
	} {
		got, ok := ServerPathOfResource(iss, res)
		if got != want || ok != (want != "") {
			t.Errorf("ServerPathOfResource(%q) = %q, %v; want %q", res, got, ok, want)
		}
	}
}
