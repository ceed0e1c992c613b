package dashboard

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

func TestRefusal(t *testing.T) {
	for _, tt := range []struct {
		role string
		n    need
		want int
	}{
		{storage.RoleAdmin, needRead, 0},
		{storage.RoleAdmin, needAdmin, 0},
		{storage.RoleMember, needRead, 0},
		{storage.RoleMember, needAdmin, 403},
		{"", needRead, 404},
		{"", needAdmin, 404},
		{"owner", needRead, 404}, // an unknown role grants nothing
	} {
		if got := refusal(tt.role, tt.n); got != tt.want {
			t.Errorf("refusal(%q, %d) = %d, want %d", tt.role, tt.n, got, tt.want)
		}
	}
}

func TestClientInput(t *testing.T) {
	for _, tt := range []struct {
		name   string
		form   url.Values
		create bool
		fields []string // fields with problems
		spec   provider.ClientSpec
	}{
		{"script", url.Values{"name": {" Job "}, "scope": {"a", "b"}, "grant_type": {"client_credentials"}, "redirect_uri": {"https://x/cb"}}, true, nil,
			provider.ClientSpec{ServerID: "s", Name: "Job", Scopes: []string{"a", "b"}, GrantTypes: []string{"client_credentials"}}},
		{"app", url.Values{"name": {"App"}, "scope": {"a"}, "grant_type": {"authorization_code"}, "public": {"true"}, "redirect_uri": {" https://x/cb \r\n\n cursor://y "}}, true, nil,
			provider.ClientSpec{ServerID: "s", Name: "App", Scopes: []string{"a"}, GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{"https://x/cb", "cursor://y"}, Public: true}},
		{"empty", url.Values{}, true, []string{"grant_type", "name", "scope"}, provider.ClientSpec{}},
		{"public script", url.Values{"name": {"x"}, "scope": {"a"}, "grant_type": {"client_credentials"}, "public": {"on"}}, true, []string{"public"}, provider.ClientSpec{}},
		{"app without uri", url.Values{"name": {"x"}, "scope": {"a"}, "grant_type": {"authorization_code"}}, true, []string{"redirect_uri"}, provider.ClientSpec{}},
		{"edit needs no kind", url.Values{"name": {"x"}, "scope": {"a"}}, false, nil, provider.ClientSpec{}},
	} {
		in := parseClientInput(tt.form)
		got := slices.Sorted(maps.Keys(in.problems(tt.create)))
		if !slices.Equal(got, tt.fields) {
			t.Errorf("%s: problems in %v, want %v", tt.name, got, tt.fields)
		}
		if tt.spec.ServerID != "" {
			s := in.spec("s")
			if s.Name != tt.spec.Name || !slices.Equal(s.Scopes, tt.spec.Scopes) || !slices.Equal(s.GrantTypes, tt.spec.GrantTypes) ||
				!slices.Equal(s.RedirectURIs, tt.spec.RedirectURIs) || s.Public != tt.spec.Public {
				t.Errorf("%s: spec %+v, want %+v", tt.name, s, tt.spec)
			}
		}
	}
}

func TestParseHeaderLines(t *testing.T) {
	h, err := parseHeaderLines("X-Api-Key: abc:def\r\n\n  Other :  v  ")
	if err != nil || len(h) != 2 || h["X-Api-Key"] != "abc:def" || h["Other"] != "v" {
		t.Errorf("got %v %v", h, err)
	}
	if h, err := parseHeaderLines("  \n"); h != nil || err != nil {
		t.Errorf("empty box: %v %v, want nil (nothing typed)", h, err)
	}
	for _, bad := range []string{"no colon", ": value"} {
		if _, err := parseHeaderLines(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestSettingsChange: an unchanged upstream is left out of the change, so saving the name
// does not turn an operator's upstream into the dashboard's.
func TestSettingsChange(t *testing.T) {
	srv := &storage.Server{Upstream: "http://10.0.0.1/mcp"}
	c := serverInput{Name: "n", Upstream: "http://10.0.0.1/mcp"}.settingsChange(srv)
	if c.Upstream != nil || !c.ByAPI || *c.Name != "n" || c.Enabled == nil || *c.Enabled {
		t.Errorf("unchanged upstream: %+v", c)
	}
	c = serverInput{Upstream: ""}.settingsChange(srv)
	if c.Upstream == nil || *c.Upstream != "" {
		t.Errorf("switch to the demo: upstream %v", c.Upstream)
	}
}

func TestConnectSteps(t *testing.T) {
	const mcp, tok = "https://h.example/mcp/acme/s", "https://h.example/api/oauth/token"
	steps := connectSteps(mcp, tok, "conexor-s")
	ids := map[string]bool{}
	for _, s := range steps {
		ids[s.ID] = true
		if !strings.Contains(s.Code, mcp) && !strings.Contains(s.Code, tok) {
			t.Errorf("%s: the code names neither the MCP URL nor the token URL:\n%s", s.ID, s.Code)
		}
	}
	for _, want := range []string{"claude", "claude-desktop", "claude-code", "cursor", "vscode", "mcp-remote", "n8n", "curl"} {
		if !ids[want] {
			t.Errorf("no instructions for %s", want)
		}
	}
	if !strings.Contains(steps[2].Code, "claude mcp add --transport http conexor-s "+mcp) {
		t.Errorf("Claude Code: %s", steps[2].Code)
	}
}
