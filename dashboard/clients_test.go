package dashboard_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/conexor/conexor/internal/testenv"
)

// token gets a client credentials token, or the error.
func token(e *testenv.Env, id, secret string) (*oauth2.Token, error) {
	return e.ClientCredentials(id, secret, oauth2.AuthStyleInParams).Token(e.Context())
}

// mcpStatus is the status of an MCP initialize at acme/sales-api with tok.
func mcpStatus(t *testing.T, e *testenv.Env, tok string) int {
	t.Helper()
	req := e.NewRequest(http.MethodPost, "/mcp/acme/sales-api", strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok)
	return e.Do(req).StatusCode
}

// TestClientLifecycle is the product page's path as an admin: create a client with two
// scopes, read the secret once, get a token with exactly those scopes, rotate, edit,
// revoke, and the gate refuses the revoked client's token at once.
func TestClientLifecycle(t *testing.T) {
	t.Parallel()
	testClientLifecycle(t, testenv.Options{})
}

func TestClientLifecyclePostgres(t *testing.T) {
	t.Parallel()
	testClientLifecycle(t, testenv.Options{Postgres: true})
}

func testClientLifecycle(t *testing.T, opts testenv.Options) {
	r := newRoles(t, opts)
	e, b := r.e, r.admin

	p := b.get(serverPage)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Create OAuth Client") || !strings.Contains(p.body, e.URL+"/mcp/acme/sales-api") {
		t.Fatalf("server page: %d\n%s", p.status, p.body)
	}
	p = b.post(serverPage+"/clients", url.Values{"name": {"Nightly report"}, "scope": {"mcp:tools:read", "mcp:resources:read"},
		"grant_type": {"client_credentials"}})
	id, secret := testID(p.body, "client-id"), testID(p.body, "client-secret")
	if p.status != http.StatusOK || id == "" || secret == "" {
		t.Fatalf("create: %d, id %q, secret %q\n%s", p.status, id, secret, p.body)
	}
	if got := p.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("secret page Cache-Control = %q", got)
	}
	if !strings.Contains(html.UnescapeString(p.body), `-d "client_secret=`+secret+`" -d "scope=mcp:tools:read mcp:resources:read"`) {
		t.Errorf("the curl is not filled in:\n%s", p.body)
	}
	tok, err := token(e, id, secret)
	if err != nil {
		t.Fatalf("token with the new client: %v", err)
	}
	if got := tok.Extra("scope"); got != "mcp:tools:read mcp:resources:read" {
		t.Errorf("token scope = %v", got)
	}
	if p := b.get(serverPage); strings.Contains(p.body, secret) || !strings.Contains(p.body, id) {
		t.Error("the server page shows the secret, or not the client")
	}

	// Rotate: the old secret stops working, the new one works.
	rotateForm := url.Values{"secret_version": {secretVersionOn(t, b.get(serverPage).body, id)}}
	p = b.post(serverPage+"/clients/"+id+"/rotate", rotateForm)
	newSecret := testID(p.body, "client-secret")
	if p.status != http.StatusOK || newSecret == "" || newSecret == secret || p.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("rotate: %d %q", p.status, newSecret)
	}
	if _, err := token(e, id, secret); err == nil {
		t.Error("the old secret still works after rotation")
	}
	tok, err = token(e, id, newSecret)
	if err != nil {
		t.Fatalf("new secret: %v", err)
	}
	// The same form again (a reload of the result page) rotates nothing.
	if p := b.post(serverPage+"/clients/"+id+"/rotate", rotateForm); p.status != http.StatusConflict || !strings.Contains(p.body, "already rotated") {
		t.Errorf("the rotate form sent twice: %d", p.status)
	}
	if _, err := token(e, id, newSecret); err != nil {
		t.Errorf("the shown secret stopped working after the form was sent twice: %v", err)
	}

	// Edit: the form shows the client; a narrower scope is stored.
	if p := b.get(serverPage + "/clients/" + id + "/edit"); p.status != http.StatusOK || !strings.Contains(p.body, `value="Nightly report"`) {
		t.Fatalf("edit form: %d", p.status)
	}
	p = b.post(serverPage+"/clients/"+id+"/edit", url.Values{"name": {"Weekly report"}, "scope": {"mcp:tools:read"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", p.status, p.body)
	}
	c, err := e.Store.ClientByID(context.Background(), id)
	if err != nil || c.Name != "Weekly report" || c.Scopes != "mcp:tools:read" {
		t.Fatalf("after edit: %+v %v", c, err)
	}

	// Revoke: a confirmation first, then the gate refuses the token issued before.
	if s := mcpStatus(t, e, tok.AccessToken); s != http.StatusOK {
		t.Fatalf("MCP with the token before revocation: %d", s)
	}
	p = b.get(serverPage + "/clients/" + id + "/revoke")
	if p.status != http.StatusOK || !strings.Contains(p.body, `action="`+serverPage+"/clients/"+id+`/revoke"`) {
		t.Fatalf("revoke confirmation: %d\n%s", p.status, p.body)
	}
	start := time.Now()
	if p = b.post(serverPage+"/clients/"+id+"/revoke", nil); p.status != http.StatusOK {
		t.Fatalf("revoke: %d", p.status)
	}
	if s := mcpStatus(t, e, tok.AccessToken); s != http.StatusUnauthorized {
		t.Errorf("MCP with the revoked client's token right after the revocation: %d, want 401", s)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("revocation took %v", d)
	}
	if _, err := token(e, id, newSecret); err == nil {
		t.Error("a revoked client still gets tokens")
	}
	if p := b.get(serverPage); !strings.Contains(p.body, "Revoked") || strings.Contains(p.body, serverPage+"/clients/"+id+"/rotate") {
		t.Error("the server page does not show the client revoked, or still offers to rotate it")
	}
	// A revoked client can no longer be edited.
	if p := b.post(serverPage+"/clients/"+id+"/edit", url.Values{"name": {"x"}, "scope": {"mcp:tools:read"}}); p.status != http.StatusConflict {
		t.Errorf("edit of a revoked client: %d, want 409", p.status)
	}
}

// TestCreatePublicClient: an application client without a secret shows the consent URL
// of its first redirect URI and no secret.
func TestCreatePublicClient(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{})
	p := r.admin.post(serverPage+"/clients", url.Values{"name": {"Desktop app"}, "scope": {"mcp:tools:read"},
		"grant_type": {"authorization_code"}, "public": {"true"}, "redirect_uri": {"http://127.0.0.1:8765/callback\ncursor://anysphere/cb"}})
	if p.status != http.StatusOK || testID(p.body, "client-id") == "" {
		t.Fatalf("create: %d\n%s", p.status, p.body)
	}
	if strings.Contains(p.body, `data-testid="client-secret"`) {
		t.Error("a public client's page shows a secret")
	}
	consent := testID(p.body, "consent-url")
	u, err := url.Parse(consent)
	if err != nil || u.Path != "/oauth/consent" || u.Query().Get("redirect_uri") != "http://127.0.0.1:8765/callback" ||
		u.Query().Get("client_id") != testID(p.body, "client-id") {
		t.Errorf("consent URL %q", consent)
	}
	c, err := r.e.Store.ClientByID(context.Background(), testID(p.body, "client-id"))
	if err != nil || !c.Public || !slices.Equal(c.RedirectURIs(), []string{"http://127.0.0.1:8765/callback", "cursor://anysphere/cb"}) {
		t.Errorf("stored: %+v %v", c, err)
	}
}

// TestClientOfAnotherServer: a client ID of another server, or none, is not found.
func TestClientOfAnotherServer(t *testing.T) {
	t.Parallel()
	r := newRoles(t, testenv.Options{})
	r.e.CreateServer("acme/other")
	other, _ := r.e.CreateServerClient("acme/other", "mcp:tools:read")
	for _, path := range []string{serverPage + "/clients/" + other + "/edit", serverPage + "/clients/nope/revoke"} {
		if p := r.admin.get(path); p.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, p.status)
		}
	}
	if p := r.admin.post(serverPage+"/clients/"+other+"/revoke", nil); p.status != http.StatusNotFound {
		t.Errorf("revoke through another server: %d", p.status)
	}
	if c, _ := r.e.Store.ClientByID(context.Background(), other); c == nil || c.Revoked() {
		t.Error("the other server's client was revoked")
	}
}

var secretVersionRE = regexp.MustCompile(`action="[^"]*/clients/([^/"]+)/rotate"><input type="hidden" name="csrf_token" value="[^"]*"><input type="hidden" name="secret_version" value="([^"]+)"`)

// secretVersionOn reads the secret_version of client id's rotate form off a server page.
func secretVersionOn(t *testing.T, body, id string) string {
	t.Helper()
	for _, m := range secretVersionRE.FindAllStringSubmatch(body, -1) {
		if m[1] == id {
			return m[2]
		}
	}
	t.Fatalf("no rotate form for %s on the page", id)
	return ""
}
