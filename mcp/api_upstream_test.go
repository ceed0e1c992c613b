package mcp_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/netguard"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// TestPatchUpstreamPublicOnly: through the API (a token, not an operator) an upstream must be
// on a public address, so mcp:server:manage cannot aim the proxy at the network Conexor runs
// in. This early check answers at once; the proxy enforces the same when it dials
// (TestProxyDialPolicy). api_private_upstreams lifts it for deployments whose upstreams are
// internal, but never for link-local addresses, which nobody may set.
func TestPatchUpstreamPublicOnly(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	id, secret := e.CreateServerClient("acme/sales-api", provider.ScopeServerManage)
	manage := e.Token(id, secret)
	for _, up := range []string{
		"http://127.0.0.1:9/mcp", "http://10.1.2.3/mcp", "http://192.168.0.10:8080/mcp",
		"http://[::1]:9/mcp", "http://localhost:9/mcp", "http://[::ffff:10.0.0.1]/mcp",
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
	if srv := e.ServerByPath("acme/sales-api"); !srv.UpstreamByAPI {
		t.Error("an upstream set through the API is not marked as such: the proxy would dial internal addresses for it")
	}

	open := testenv.New(t, testenv.Options{Configure: func(c *config.Config) { c.APIPrivateUpstreams = true }})
	id, secret = open.CreateServerClient("acme/sales-api", provider.ScopeServerManage)
	token := open.Token(id, secret)
	if r := apiRequest(t, open, http.MethodPatch, token, `{"upstream":"http://10.1.2.3/mcp"}`); r.StatusCode != http.StatusOK {
		t.Errorf("with api_private_upstreams: %d %s", r.StatusCode, r.Body)
	}
	for _, up := range []string{"http://169.254.169.254/latest", "http://[fd00:ec2::254]/", "http://[fe80::1]/mcp"} {
		r := apiRequest(t, open, http.MethodPatch, token, `{"upstream":"`+up+`"}`)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.Body), "link-local, multicast or unspecified") {
			t.Errorf("PATCH upstream %s with api_private_upstreams: %d %s, want 400", up, r.StatusCode, r.Body)
		}
	}
}

// TestPatchRefusesWhatTheCLIRefuses: the API applies the one validation of the CLI and the
// dashboard, and says why in the same words: a URL with user info would be accepted and
// then refused by the gate with a 502 on every call.
func TestPatchRefusesWhatTheCLIRefuses(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	id, secret := e.CreateServerClient("acme/sales-api", provider.ScopeServerManage)
	manage := e.Token(id, secret)
	before := e.ServerByPath("acme/sales-api")
	for _, body := range []string{
		`{"upstream":"http://user:pw@mcp.example.com/"}`,
		`{"upstream":"https://mcp.example.com/mcp#frag"}`,
		`{"name":"a\u0007b"}`,
		`{"description":"` + strings.Repeat("d", 2001) + `"}`,
	} {
		var raw map[string]string
		if err := json.Unmarshal([]byte(body), &raw); err != nil {
			t.Fatal(err)
		}
		change := provider.ServerChange{}
		for k, v := range raw {
			switch k {
			case "upstream":
				change.Upstream = &v
			case "name":
				change.Name = &v
			case "description":
				change.Description = &v
			}
		}
		want := change.Validate()
		if len(want) == 0 {
			t.Fatalf("%s: the validation accepts it", body)
		}
		r := apiRequest(t, e, http.MethodPatch, manage, body)
		var got struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		if err := json.Unmarshal(r.Body, &got); err != nil || r.StatusCode != http.StatusBadRequest ||
			r.Header.Get("Content-Type") != "application/json" || got.Error != "invalid_request" ||
			got.ErrorDescription != "Invalid server: "+want.Error()+"." {
			t.Errorf("PATCH %.60s: %d %s %s, want 400 invalid_request saying %q", body, r.StatusCode, r.Header.Get("Content-Type"), r.Body, want)
		}
	}
	r := apiRequest(t, e, http.MethodPatch, manage, `{"upstream":"http://user:pw@mcp.example.com/"}`)
	if !strings.Contains(string(r.Body), "credentials in a URL leak into logs") || !strings.Contains(string(r.Body), netguard.ErrInvalidUpstream.Error()) {
		t.Errorf("user info refused without saying why: %s", r.Body)
	}
	if got := e.ServerByPath("acme/sales-api"); got.Upstream != before.Upstream || got.Name != before.Name ||
		got.Description != before.Description || !got.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("a refused PATCH changed the server: %+v", got)
	}
}
