package mcp_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// TestPatchUpstreamPublicOnly: through the API (a token, not an operator) an upstream must be
// on a public address, so mcp:server:manage cannot aim the proxy at the network Conexor runs
// in. api_private_upstreams lifts that for deployments whose upstreams are internal.
func TestPatchUpstreamPublicOnly(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	id, secret := e.CreateServerClient("acme/sales-api", provider.ScopeServerManage)
	manage := e.Token(id, secret)
	for _, up := range []string{
		"http://127.0.0.1:9/mcp", "http://10.1.2.3/mcp", "http://192.168.0.10:8080/mcp",
		"http://[::1]:9/mcp", "http://169.254.169.254/latest", "http://localhost:9/mcp",
	} {
		r := apiRequest(t, e, http.MethodPatch, manage, `{"upstream":"`+up+`"}`)
		if r.StatusCode != http.StatusForbidden || !strings.Contains(string(r.Body), "public address") {
			t.Errorf("PATCH upstream %s: %d %s, want 403 naming public addresses", up, r.StatusCode, r.Body)
		}
	}
	if got := e.ServerByPath("acme/sales-api").Upstream; got != "" {
		t.Fatalf("a refused PATCH changed the upstream to %q", got)
	}
	if r := apiRequest(t, e, http.MethodPatch, manage, `{"upstream":"https://8.8.8.8/mcp"}`); r.StatusCode != http.StatusOK {
		t.Errorf("PATCH to a public address: %d %s", r.StatusCode, r.Body)
	}

	open := testenv.New(t, testenv.Options{Configure: func(c *config.Config) { c.APIPrivateUpstreams = true }})
	id, secret = open.CreateServerClient("acme/sales-api", provider.ScopeServerManage)
	if r := apiRequest(t, open, http.MethodPatch, open.Token(id, secret), `{"upstream":"http://10.1.2.3/mcp"}`); r.StatusCode != http.StatusOK {
		t.Errorf("with api_private_upstreams: %d %s", r.StatusCode, r.Body)
	}
}
