package provider_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/testenv"
)

// The RFC 8414 document: issuer byte-identical, every endpoint the issuer plus its route, the
// fields MCP clients require, and mcp:server:manage not advertised.
func TestAuthorizationServerMetadata(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	resp, err := http.Get(e.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("status %d, CORS %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"issuer":                                         e.URL,
		"authorization_endpoint":                         e.URL + "/oauth/consent",
		"token_endpoint":                                 e.URL + "/api/oauth/token",
		"revocation_endpoint":                            e.URL + "/api/oauth/revoke",
		"introspection_endpoint":                         e.URL + "/api/oauth/introspect",
		"registration_endpoint":                          e.URL + "/api/oauth/register",
		"jwks_uri":                                       e.URL + "/.well-known/jwks.json",
		"scopes_supported":                               []any{"mcp:tools:read", "mcp:tools:execute", "mcp:resources:read", "mcp:prompts:read", "mcp:server:read"},
		"response_types_supported":                       []any{"code"},
		"code_challenge_methods_supported":               []any{"S256"},
		"token_endpoint_auth_methods_supported":          []any{"client_secret_basic", "client_secret_post", "none"},
		"authorization_response_iss_parameter_supported": true,
		"client_id_metadata_document_supported":          true,
	}
	for k, v := range want {
		if diff := cmp.Diff(v, m[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	grants, _ := m["grant_types_supported"].([]any)
	for _, g := range []string{"authorization_code", "refresh_token", "client_credentials"} {
		found := false
		for _, x := range grants {
			found = found || x == g
		}
		if !found {
			t.Errorf("grant_types_supported %v lacks %s", grants, g)
		}
	}
}
