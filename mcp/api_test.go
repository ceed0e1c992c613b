package mcp_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// TestProtectedResourceMetadata checks the RFC 9728 document field by field, and that it is
// public (not behind the gate).
func TestProtectedResourceMetadata(t *testing.T) {
	e := testenv.New(t, testenv.Options{Configure: func(c *config.Config) {
		c.Scopes = []provider.Scope{{Name: "crm:read", Description: "Read CRM records", Tools: []string{"search_*"}}}
	}})
	r := e.Get("/.well-known/oauth-protected-resource/mcp/acme/sales-api")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", r.StatusCode, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                 e.URL + "/mcp/acme/sales-api",
		"authorization_servers":    []any{e.URL},
		"scopes_supported":         []any{"mcp:tools:read", "mcp:tools:execute", "mcp:resources:read", "mcp:prompts:read", "mcp:server:read", "crm:read"},
		"bearer_methods_supported": []any{"header"},
		"resource_name":            "Sales API",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}

	for path, status := range map[string]int{
		"/.well-known/oauth-protected-resource/mcp/acme/nope":         404,
		"/.well-known/oauth-protected-resource/mcp/nope/sales-api":    404,
		"/.well-known/oauth-protected-resource/mcp/acme%2Fsales-api":  400,
		"/.well-known/oauth-protected-resource/mcp/acme/sales-api/x":  404,
		"/.well-known/oauth-protected-resource/mcp/acme/sales-api%20": 400,
	} {
		if r := rawRequest(t, e, http.MethodGet, path, "", ""); r.StatusCode != status {
			t.Errorf("GET %s: status %d, want %d: %s", path, r.StatusCode, status, r.Body)
		}
	}
}

type serverView struct {
	Org, Server, Name, Description, Status, Kind, Upstream string
	MCPURL                                                 string `json:"mcp_url"`
	ResourceMetadataURL                                    string `json:"resource_metadata_url"`
	Enabled                                                bool
	Scopes                                                 struct {
		Advertised []string
		All        []provider.Scope
	}
}

func apiRequest(t testing.TB, e *testenv.Env, method, token, body string) *testenv.Response {
	t.Helper()
	req := e.NewRequest(method, "/api/servers/acme/sales-api", strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.Do(req)
}

// TestServerAPI: GET needs mcp:server:read, PATCH mcp:server:manage, both with a token for
// that server; a disabled server refuses MCP traffic and can be enabled again.
func TestServerAPI(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	srv := e.ServerByPath("acme/sales-api")
	admin, adminSecret := e.CreateClient(provider.ClientSpec{ServerID: srv.ID, Name: "admin script",
		Scopes:     []string{provider.ScopeServerRead, provider.ScopeServerManage, provider.ScopeToolsRead},
		GrantTypes: []string{"client_credentials"}})
	manage := ccToken(t, e, admin.ID, adminSecret)
	readOnly := ccToken(t, e, e.ClientID, e.ClientSecret, provider.ScopeServerRead)
	toolsOnly := ccToken(t, e, e.ClientID, e.ClientSecret, provider.ScopeToolsRead)
	md := metadataURL(e, "acme", "sales-api")

	// GET
	r := apiRequest(t, e, http.MethodGet, readOnly, "")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET: status %d: %s", r.StatusCode, r.Body)
	}
	var v serverView
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Org != "acme" || v.Server != "sales-api" || v.Name != "Sales API" || v.MCPURL != e.URL+salesPath ||
		v.ResourceMetadataURL != md || v.Status != "enabled" || !v.Enabled || v.Kind != "demo" || v.Upstream != "" {
		t.Errorf("GET = %+v", v)
	}
	if diff := cmp.Diff([]string{"mcp:tools:read", "mcp:tools:execute", "mcp:resources:read", "mcp:prompts:read", "mcp:server:read"}, v.Scopes.Advertised); diff != "" {
		t.Errorf("advertised scopes (-want +got):\n%s", diff)
	}
	if len(v.Scopes.All) != 6 || v.Scopes.All[5].Name != provider.ScopeServerManage || v.Scopes.All[5].Description == "" {
		t.Errorf("all scopes = %+v", v.Scopes.All)
	}

	// Refusals, with the same challenges as the MCP endpoint and RFC 6750 bodies.
	for _, tc := range []struct {
		name, method, token, body string
		status                    int
		auth, errCode             string
	}{
		{"GET without token", http.MethodGet, "", "", 401, `Bearer resource_metadata="` + md + `"`, "unauthorized"},
		{"GET with tools scope only", http.MethodGet, toolsOnly, "", 403,
			`Bearer error="insufficient_scope", scope="mcp:server:read", resource_metadata="` + md + `"`, "insufficient_scope"},
		{"PATCH with read scope", http.MethodPatch, readOnly, `{"name":"x"}`, 403,
			`Bearer error="insufficient_scope", scope="mcp:server:manage", resource_metadata="` + md + `"`, "insufficient_scope"},
		{"PATCH garbage token", http.MethodPatch, "garbage", `{"name":"x"}`, 401,
			`Bearer error="invalid_token", error_description="` + descMalformed + `", resource_metadata="` + md + `"`, "invalid_token"},
		{"PATCH unknown field", http.MethodPatch, manage, `{"name":"x","upstream_headers":{"X-Key":"1"}}`, 400, "", "invalid_request"},
		{"PATCH field in other case", http.MethodPatch, manage, `{"Name":"x"}`, 400, "", "invalid_request"},
		{"PATCH bad upstream", http.MethodPatch, manage, `{"upstream":"ftp://example.com/mcp"}`, 400, "", "invalid_request"},
		{"PATCH upstream with user info", http.MethodPatch, manage, `{"upstream":"http://u:p@example.com/mcp"}`, 400, "", "invalid_request"},
		{"PATCH empty name", http.MethodPatch, manage, `{"name":"  "}`, 400, "", "invalid_request"},
		{"PATCH not JSON", http.MethodPatch, manage, `name=x`, 400, "", "invalid_request"},
	} {
		r := apiRequest(t, e, tc.method, tc.token, tc.body)
		if r.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, r.StatusCode, tc.status, r.Body)
			continue
		}
		if got := r.Header.Get("WWW-Authenticate"); got != tc.auth {
			t.Errorf("%s: WWW-Authenticate = %q\nwant %q", tc.name, got, tc.auth)
		}
		if got := r.JSON(t)["error"]; got != tc.errCode {
			t.Errorf("%s: error = %v, want %s", tc.name, got, tc.errCode)
		}
	}

	// A token for another server cannot read this one.
	e.CreateServer("acme/other")
	otherID, otherSecret := e.CreateServerClient("acme/other", provider.ScopeServerRead)
	if r := apiRequest(t, e, http.MethodGet, ccToken(t, e, otherID, otherSecret), ""); r.StatusCode != 401 {
		t.Errorf("GET with another server's token: status %d", r.StatusCode)
	}

	// PATCH: rename and disable; MCP traffic is refused at once, with a clear error.
	mcpToken := e.Token(e.ClientID, e.ClientSecret)
	if r := rpc(t, e, salesPath, mcpToken, toolsList); r.StatusCode != 200 {
		t.Fatalf("tools/list before disabling: %d", r.StatusCode)
	}
	r = apiRequest(t, e, http.MethodPatch, manage, `{"name":"Sales (paused)","description":"Back soon.","enabled":false}`)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: status %d: %s", r.StatusCode, r.Body)
	}
	v = serverView{}
	_ = json.Unmarshal(r.Body, &v)
	if v.Name != "Sales (paused)" || v.Description != "Back soon." || v.Enabled || v.Status != "disabled" {
		t.Errorf("PATCH returned %+v", v)
	}
	r = rpc(t, e, salesPath, mcpToken, toolsList)
	if r.StatusCode != http.StatusForbidden || r.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("tools/list on a disabled server: status %d, challenge %q: %s", r.StatusCode, r.Header.Get("WWW-Authenticate"), r.Body)
	}
	if got := decodeRPCError(t, r); got.Error.Code != -32005 || !strings.Contains(got.Error.Message, "disabled") || string(got.ID) != "1" {
		t.Errorf("disabled body: %s", r.Body)
	}
	// Still readable (and so re-enablable) through the API.
	if r := apiRequest(t, e, http.MethodGet, readOnly, ""); r.StatusCode != 200 {
		t.Errorf("GET of a disabled server: %d", r.StatusCode)
	}
	if r := apiRequest(t, e, http.MethodPatch, manage, `{"enabled":true}`); r.StatusCode != 200 {
		t.Fatalf("re-enable: %d: %s", r.StatusCode, r.Body)
	}
	if r := rpc(t, e, salesPath, mcpToken, toolsList); r.StatusCode != 200 {
		t.Errorf("tools/list after re-enabling: %d: %s", r.StatusCode, r.Body)
	}
	stored := e.ServerByPath("acme/sales-api")
	if stored.Name != "Sales (paused)" || !stored.Enabled {
		t.Errorf("stored server = %+v", stored)
	}

	// Switching to an upstream shows kind proxy and, to a manage token, the URL without
	// its query; never any header.
	r = apiRequest(t, e, http.MethodPatch, manage, `{"upstream":"https://mcp.example.com/v1/mcp?api_key=s3cret"}`)
	if r.StatusCode != 200 || strings.Contains(string(r.Body), "s3cret") {
		t.Fatalf("PATCH upstream: %d: %s", r.StatusCode, r.Body)
	}
	v = serverView{}
	_ = json.Unmarshal(r.Body, &v)
	if v.Kind != "proxy" || v.Upstream != "https://mcp.example.com/v1/mcp?redacted" {
		t.Errorf("after PATCH upstream: kind %q upstream %q", v.Kind, v.Upstream)
	}
	r = apiRequest(t, e, http.MethodGet, readOnly, "")
	v = serverView{}
	_ = json.Unmarshal(r.Body, &v)
	if v.Kind != "proxy" || v.Upstream != "" {
		t.Errorf("GET with read scope: kind %q upstream %q (want no upstream)", v.Kind, v.Upstream)
	}
	if r := apiRequest(t, e, http.MethodPatch, manage, `{"upstream":""}`); r.StatusCode != 200 || !strings.Contains(string(r.Body), `"kind":"demo"`) {
		t.Errorf("back to demo: %d: %s", r.StatusCode, r.Body)
	}
}
