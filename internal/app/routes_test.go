package app_test

import (
	"net/http"
	"testing"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/templates"
)

// TestCORSPolicy: the paths browser-based MCP clients call answer a preflight with CORS,
// including paths under them that have no route (a 404 a browser client can read); the
// browser flow, introspection and operations never answer cross-origin. The CORS paths are
// derived from the route table, so this fails when a line of it loses or gains the policy.
func TestCORSPolicy(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	for _, tt := range []struct {
		path string
		cors bool
	}{
		{"/api/oauth/token", true},
		{"/api/oauth/revoke", true},
		{"/api/oauth/register", true},
		{"/.well-known/jwks.json", true},
		{"/.well-known/oauth-authorization-server", true},
		{"/.well-known/oauth-protected-resource", true},
		{"/.well-known/oauth-protected-resource/mcp/acme/sales-api", true},
		{"/.well-known/oauth-protected-resource/other", true},
		{"/mcp/acme/sales-api", true},
		{"/mcp/acme/sales-api/", true},
		{"/mcp/acme", true},
		{"/api/servers/acme/sales-api", true},
		{"/api/servers/nowhere", true},

		{"/api/oauth/introspect", false},
		{"/api/oauth/tokens", false},
		{"/oauth/consent", false},
		{"/login", false},
		{"/logout", false},
		{templates.StylesheetPath, false},
		{"/healthz", false},
		{"/readyz", false},
		{"/metrics", false},
		{"/mcpx", false},
		{"/", false},
	} {
		req := e.NewRequest(http.MethodOptions, tt.path, nil)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		r := e.Do(req)
		got := r.StatusCode == http.StatusNoContent && r.Header.Get("Access-Control-Allow-Origin") == "*"
		if got != tt.cors {
			t.Errorf("preflight %s: status %d, Access-Control-Allow-Origin %q; want CORS %v",
				tt.path, r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"), tt.cors)
		}
		if !tt.cors && r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight %s answers cross-origin", tt.path)
		}
	}
}

// TestPageHeadersOnBrowserPathsOnly: the browser flow's paths (the table's page routes)
// carry the page headers even on the router's own 405; other paths do not.
func TestPageHeadersOnBrowserPathsOnly(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	for _, tt := range []struct {
		method, path string
		page         bool
	}{
		{http.MethodPut, "/oauth/consent", true},
		{http.MethodDelete, "/login", true},
		{http.MethodGet, "/logout", true},
		{http.MethodPut, "/dashboard", true},
		{http.MethodDelete, "/dashboard/acme/servers/sales-api", true},
		{http.MethodGet, "/dashboard/acme/servers/sales-api/clients", true},
		{http.MethodGet, "/healthz", false},
		{http.MethodPut, "/.well-known/jwks.json", false},
		{http.MethodGet, "/nowhere", false},
	} {
		r := e.Do(e.NewRequest(tt.method, tt.path, nil))
		if got := r.Header.Get("X-Frame-Options") == "DENY"; got != tt.page {
			t.Errorf("%s %s: status %d, X-Frame-Options %q; want page headers %v", tt.method, tt.path, r.StatusCode, r.Header.Get("X-Frame-Options"), tt.page)
		}
	}
}
