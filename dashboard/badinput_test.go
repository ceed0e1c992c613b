package dashboard_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/storage"
)

// TestCreateClientBadInput: every bad input re-renders the form with 422, the input kept
// and a message, and creates nothing.
func TestCreateClientBadInput(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{})
	before := len(r.clients(t))
	long := strings.Repeat("n", 201)
	for _, tt := range []struct {
		name string
		form url.Values
		// keep is input the re-rendered form must still hold; msg is the message.
		keep, msg string
	}{
		{"empty name", url.Values{"name": {"  "}, "scope": {"mcp:tools:read"}, "grant_type": {"client_credentials"}}, `value="mcp:tools:read" checked`, "Enter a name"},
		{"long name", url.Values{"name": {long}, "scope": {"mcp:tools:read"}, "grant_type": {"client_credentials"}}, `value="` + long + `"`, "longer than 200"},
		{"no scope", url.Values{"name": {"Keep me"}, "grant_type": {"client_credentials"}}, `value="Keep me"`, "Choose at least one scope"},
		{"unknown scope", url.Values{"name": {"Keep me"}, "scope": {"mcp:tools:read", "admin:everything"}, "grant_type": {"client_credentials"}}, `value="admin:everything" checked`, `unknown scope "admin:everything"`},
		{"no kind", url.Values{"name": {"Keep me"}, "scope": {"mcp:tools:read"}}, `value="Keep me"`, "Choose a script or service"},
		{"forged kind", url.Values{"name": {"Keep me"}, "scope": {"mcp:tools:read"}, "grant_type": {"implicit"}}, `value="Keep me"`, "Choose a script or service"},
		{"app without redirect", url.Values{"name": {"Keep me"}, "scope": {"mcp:tools:read"}, "grant_type": {"authorization_code"}}, `value="authorization_code" checked`, "at least one redirect URI"},
		{"http redirect", url.Values{"name": {"Keep me"}, "scope": {"mcp:tools:read"}, "grant_type": {"authorization_code"}, "redirect_uri": {"http://app.example/cb"}}, "http://app.example/cb</textarea>", "http://app.example/cb:"},
		{"relative redirect", url.Values{"name": {"Keep me"}, "scope": {"mcp:tools:read"}, "grant_type": {"authorization_code"}, "redirect_uri": {"/cb"}}, "/cb</textarea>", "/cb:"},
		{"javascript redirect", url.Values{"name": {"Keep me"}, "scope": {"mcp:tools:read"}, "grant_type": {"authorization_code"}, "redirect_uri": {"javascript:alert(1)"}}, "javascript:alert(1)</textarea>", "javascript:alert(1):"},
		{"public script", url.Values{"name": {"Keep me"}, "scope": {"mcp:tools:read"}, "grant_type": {"client_credentials"}, "public": {"true"}}, `name="public" value="true" checked`, "cannot be a public client"},
		{"duplicate name", url.Values{"name": {"demo SCRIPT"}, "scope": {"mcp:tools:read"}, "grant_type": {"client_credentials"}}, `value="demo SCRIPT"`, `<p class="field-error">another client of this server is named "demo SCRIPT": choose another name</p>`},
	} {
		p := r.admin.post(serverPage+"/clients", tt.form)
		body := html.UnescapeString(p.body)
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(body, tt.keep) || !strings.Contains(body, tt.msg) {
			t.Errorf("%s: status %d, kept %v, message %v", tt.name, p.status, strings.Contains(body, tt.keep), strings.Contains(body, tt.msg))
		}
		if !strings.Contains(p.body, `class="field-error"`) && !strings.Contains(p.body, `class="alert"`) {
			t.Errorf("%s: no message shown", tt.name)
		}
	}
	if n := len(r.clients(t)); n != before {
		t.Errorf("bad input created %d clients", n-before)
	}
	// Edit refuses the same way and keeps the stored client.
	p := r.admin.post(serverPage+"/clients/"+r.e.ClientID+"/edit", url.Values{"name": {""}, "scope": {"nope"}})
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "Enter a name") {
		t.Errorf("edit with bad input: %d", p.status)
	}
	if c, _ := r.e.Store.ClientByID(context.Background(), r.e.ClientID); c.Name != "Demo script" {
		t.Errorf("client renamed to %q", c.Name)
	}
	// A form too large or not a form is a page, not a 500.
	big := url.Values{"name": {strings.Repeat("x", 70<<10)}}
	if p := r.admin.post(serverPage+"/clients", big); p.status != http.StatusBadRequest {
		t.Errorf("oversized form: %d", p.status)
	}
}

// TestServerSettings: an admin changes the server; bad input is refused next to the field
// with the input kept.
func TestServerSettings(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{})
	path := serverPage + "/settings"
	for _, tt := range []struct {
		name      string
		form      url.Values
		keep, msg string
	}{
		{"empty name", url.Values{"name": {""}, "description": {"kept text"}}, "kept text</textarea>", "name must be 1-200"},
		{"credentials", url.Values{"name": {"Sales"}, "upstream": {"https://user:pw@mcp.example.com/mcp"}}, `value="https://user:pw@mcp.example.com/mcp"`, "user info"},
		{"private address", url.Values{"name": {"Sales"}, "upstream": {"http://10.1.2.3/mcp"}}, `value="http://10.1.2.3/mcp"`, "private address"},
		{"loopback", url.Values{"name": {"Sales"}, "upstream": {"http://127.0.0.1:9/mcp"}}, `value="http://127.0.0.1:9/mcp"`, "private address"},
		{"not a URL", url.Values{"name": {"Sales"}, "upstream": {"ftp://x"}}, `value="ftp://x"`, "http(s) URL"},
		{"bad header line", url.Values{"name": {"Sales"}, "headers": {"no colon here"}}, "no colon here</textarea>", "is not “Name: value”"},
	} {
		p := r.admin.post(path, tt.form)
		body := html.UnescapeString(p.body)
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(body, tt.keep) || !strings.Contains(body, tt.msg) {
			t.Errorf("%s: status %d, kept %v, message %v", tt.name, p.status, strings.Contains(body, tt.keep), strings.Contains(body, tt.msg))
		}
	}
	if srv := r.e.ServerByPath("acme/sales-api"); srv.Name != "Sales API" || srv.Upstream != "" {
		t.Fatalf("bad input changed the server: %+v", srv)
	}

	p := r.admin.post(path, url.Values{"name": {"Sales (prod)"}, "description": {"Live data"}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Settings saved") {
		t.Fatalf("save: %d", p.status)
	}
	srv := r.e.ServerByPath("acme/sales-api")
	if srv.Name != "Sales (prod)" || srv.Description != "Live data" || srv.Enabled {
		t.Errorf("saved: name %q, description %q, enabled %v (the box was unticked)", srv.Name, srv.Description, srv.Enabled)
	}
	if s := mcpStatus(t, r.e, r.e.Token(r.e.ClientID, r.e.ClientSecret)); s == http.StatusOK {
		t.Error("a disabled server still answers")
	}
}

// TestPrivateUpstreamsAllowed: with api_private_upstreams, the dashboard accepts a private
// upstream.
func TestPrivateUpstreamsAllowed(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{Configure: func(c *config.Config) { c.APIPrivateUpstreams = true }})
	p := r.admin.post(serverPage+"/settings", url.Values{"name": {"Sales"}, "enabled": {"true"}, "upstream": {"http://10.1.2.3/mcp"}})
	if p.status != http.StatusOK {
		t.Fatalf("private upstream with api_private_upstreams: %d", p.status)
	}
	if srv := r.e.ServerByPath("acme/sales-api"); srv.Upstream != "http://10.1.2.3/mcp" || !srv.UpstreamByAPI {
		t.Errorf("stored: %q by API %v", srv.Upstream, srv.UpstreamByAPI)
	}
}

// TestNewServer: an admin creates a server that clients can use at once; bad input is
// refused with the input kept.
func TestNewServer(t *testing.T) {
	t.Parallel()
	testNewServer(t, testenv.Options{})
}

func TestNewServerPostgres(t *testing.T) {
	t.Parallel()
	testNewServer(t, testenv.Options{Postgres: true})
}

func testNewServer(t *testing.T, opts testenv.Options) {
	r := newRoles(t, opts)
	const path = "/dashboard/acme/servers/new"
	if p := r.admin.get(path); p.status != http.StatusOK || !strings.Contains(p.body, `name="slug"`) {
		t.Fatalf("new server form: %d", p.status)
	}
	for _, tt := range []struct {
		name      string
		form      url.Values
		keep, msg string
	}{
		{"bad slug", url.Values{"slug": {"Bad Slug"}, "name": {"Kept"}, "backend": {"demo"}}, `value="Kept"`, "must be ORG/SERVER"},
		{"reserved slug", url.Values{"slug": {"new"}, "name": {"Kept"}, "backend": {"demo"}}, `value="Kept"`, "taken by the dashboard"},
		{"taken slug", url.Values{"slug": {"sales-api"}, "name": {"Kept"}, "backend": {"demo"}}, `value="sales-api"`, "already has a server"},
		{"no name", url.Values{"slug": {"fresh"}, "name": {""}, "backend": {"demo"}}, `value="fresh"`, "name must be 1-200"},
		{"upstream missing", url.Values{"slug": {"fresh"}, "name": {"Kept"}, "backend": {"upstream"}}, `value="upstream" checked`, "Enter the upstream"},
		{"private upstream", url.Values{"slug": {"fresh"}, "name": {"Kept"}, "backend": {"upstream"}, "upstream": {"http://192.168.1.5/mcp"}}, `value="http://192.168.1.5/mcp"`, "private address"},
		{"no backend", url.Values{"slug": {"fresh"}, "name": {"Kept"}}, `value="fresh"`, "Choose the built-in demo"},
	} {
		p := r.admin.post(path, tt.form)
		body := html.UnescapeString(p.body)
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(body, tt.keep) || !strings.Contains(body, tt.msg) {
			t.Errorf("%s: status %d, kept %v, message %v", tt.name, p.status, strings.Contains(body, tt.keep), strings.Contains(body, tt.msg))
		}
	}
	if _, err := r.e.Store.ServerByPath(context.Background(), "acme", "fresh"); err == nil {
		t.Fatal("bad input created a server")
	}

	p := r.admin.post(path, url.Values{"slug": {"fresh"}, "name": {"Fresh data"}, "backend": {"demo"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/acme/servers/fresh" {
		t.Fatalf("create: %d %q", p.status, p.header.Get("Location"))
	}
	// Usable at once: a client created on its page gets a token the gateway accepts.
	p = r.admin.post("/dashboard/acme/servers/fresh/clients", url.Values{"name": {"Script"}, "scope": {"mcp:tools:read"}, "grant_type": {"client_credentials"}})
	tok := r.e.Token(testID(p.body, "client-id"), testID(p.body, "client-secret"))
	req := r.e.NewRequest(http.MethodPost, "/mcp/acme/fresh", strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp := r.e.Do(req); resp.StatusCode != http.StatusOK {
		t.Errorf("MCP on the new server: %d %s", resp.StatusCode, resp.Body)
	}
	if p := r.admin.get("/dashboard"); !strings.Contains(p.body, "Fresh data") {
		t.Error("the dashboard does not list the new server")
	}
}

// TestUpstreamWithConfiguredHeadersLocked: the operator's configured upstream headers are
// never sent to an origin an admin picks: moving that upstream elsewhere is refused.
func TestUpstreamWithConfiguredHeadersLocked(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{Configure: func(c *config.Config) {
		c.Upstreams = map[string]config.Upstream{"acme/sales-api": {Headers: map[string]string{"X-Api-Key": "operator-secret"}}}
	}})
	p := r.admin.post(serverPage+"/settings", url.Values{"name": {"Sales API"}, "enabled": {"true"}, "upstream": {"https://93.184.215.14/mcp"}})
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(p.body), "configured credentials") {
		t.Fatalf("moving a locked upstream: %d", p.status)
	}
	if srv := r.e.ServerByPath("acme/sales-api"); srv.Upstream != "" {
		t.Errorf("upstream moved to %q", srv.Upstream)
	}
	// Other changes still save.
	if p := r.admin.post(serverPage+"/settings", url.Values{"name": {"Renamed"}, "enabled": {"true"}}); p.status != http.StatusOK {
		t.Errorf("rename: %d", p.status)
	}
}

// TestNewServerAtAConfiguredPath: the configuration file sends the operator's headers to
// whatever server is at its path, so an admin cannot create that server with an upstream of
// their own.
func TestNewServerAtAConfiguredPath(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{Configure: func(c *config.Config) {
		c.Upstreams = map[string]config.Upstream{"acme/crm": {Headers: map[string]string{"X-Api-Key": "operator-secret"}}}
	}})
	p := r.admin.post("/dashboard/acme/servers/new", url.Values{"slug": {"crm"}, "name": {"CRM"}, "backend": {"upstream"},
		"upstream": {"https://93.184.215.14/mcp"}})
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(p.body), "only the operator can create this server") {
		t.Fatalf("creating a server at a configured path: %d", p.status)
	}
	if _, err := r.e.Store.ServerByPath(context.Background(), "acme", "crm"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the server was created: %v", err)
	}
}
