package provider_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// A request that names no known scope gets the advertised scopes the client may have:
// mcp:server:manage, which every registered client is allowed, is never pre-selected.
func TestParseAuthorizeDefaultScopes(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	all := e.Provider.Scopes().Names()
	c, _ := e.CreateClient(provider.ClientSpec{
		Name: "registered", Public: true, Scopes: all,
		GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{"http://127.0.0.1/cb"},
	})
	challenge := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	q := url.Values{
		"client_id": {c.ID}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1/cb"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
		"resource": {e.ResourceURL("acme", "sales-api")},
	}
	for _, scope := range []string{"", "claudeai offline_access"} {
		q.Set("scope", scope)
		ar, aerr := e.Provider.ParseAuthorize(context.Background(), q)
		if aerr != nil {
			t.Fatalf("scope %q: %v", scope, aerr)
		}
		if diff := cmp.Diff(e.Provider.Scopes().Advertised(), ar.Scopes); diff != "" {
			t.Errorf("scope %q: default scopes (-want +got):\n%s", scope, diff)
		}
	}
	q.Set("scope", provider.ScopeServerManage)
	ar, aerr := e.Provider.ParseAuthorize(context.Background(), q)
	if aerr != nil || len(ar.Scopes) != 1 || ar.Scopes[0] != provider.ScopeServerManage {
		t.Fatalf("explicit mcp:server:manage: got %v, %v", ar, aerr)
	}
}

// A client registered before the server advertised mcp:prompts:read (or a scope the config
// added) is not allowed it; an MCP client asking for every advertised scope with it gets
// those it may have, not invalid_scope. Asking for the missing one by name is still refused.
func TestParseAuthorizeAdvertisedScopesOfAnOlderClient(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	older := []string{provider.ScopeToolsRead, provider.ScopeToolsExecute, provider.ScopeResourcesRead, provider.ScopeServerRead, provider.ScopeServerManage}
	c, _ := e.CreateClient(provider.ClientSpec{
		Name: "registered last year", Public: true, Scopes: older,
		GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{"http://127.0.0.1/cb"},
	})
	q := url.Values{
		"client_id": {c.ID}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1/cb"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
		"resource": {e.ResourceURL("acme", "sales-api")},
		"scope":    {"mcp:server:read mcp:prompts:read mcp:tools:read mcp:tools:execute mcp:resources:read"},
	}
	ar, aerr := e.Provider.ParseAuthorize(context.Background(), q)
	if aerr != nil {
		t.Fatalf("scopes_supported: %v", aerr)
	}
	if diff := cmp.Diff([]string{provider.ScopeToolsRead, provider.ScopeToolsExecute, provider.ScopeResourcesRead, provider.ScopeServerRead}, ar.Scopes); diff != "" {
		t.Errorf("granted scopes (-want +got):\n%s", diff)
	}
	q.Set("scope", "mcp:tools:read "+provider.ScopePromptsRead)
	if _, aerr := e.Provider.ParseAuthorize(context.Background(), q); aerr == nil || aerr.Code != "invalid_scope" {
		t.Error("asking for mcp:prompts:read by name, which the client may not have, was not refused")
	}
}
