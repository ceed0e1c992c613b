package provider

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzRegistrationMetadata: what normalizeRegistration accepts is registrable as is (valid
// redirect URIs, the code flow only, a known authentication method); what it refuses is a
// 400 with an RFC 7591 error code.
func FuzzRegistrationMetadata(f *testing.F) {
	for _, s := range []string{
		`{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"token_endpoint_auth_method":"none","scope":"claudeai"}`,
		`{"redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback","http://localhost:8787/callback"]}`,
		`{"redirect_uris":["data:text/html,x"]}`,
		`{"redirect_uris":["https://a/b"],"grant_types":["refresh_token"]}`,
		`{"redirect_uris":["https://a/b"],"response_types":["code","token"],"logo_uri":"javascript:x"}`,
		`{"redirect_uris":["https://a/b"],"client_name":"a\u0000b","application_type":"tv"}`,
	} {
		f.Add(s)
	}
	p := newCIMDProvider(f, true, newClock())
	f.Fuzz(func(t *testing.T, body string) {
		var req registrationRequest
		if json.Unmarshal([]byte(body), &req) != nil {
			return
		}
		md, oe := p.normalizeRegistration(req.ClientMetadata)
		if oe != nil {
			if oe.Status != 400 || (oe.Code != "invalid_client_metadata" && oe.Code != "invalid_redirect_uri") || oe.Description == "" {
				t.Fatalf("refusal %+v", oe)
			}
			return
		}
		if !slices.Contains([]string{"none", "client_secret_basic", "client_secret_post"}, md.TokenEndpointAuthMethod) ||
			!slices.Equal(md.ResponseTypes, []string{"code"}) || !slices.Contains(md.GrantTypes, "authorization_code") ||
			len(md.RedirectURIs) == 0 || len(md.RedirectURIs) > maxRedirectURIs {
			t.Fatalf("accepted %s as %+v", body, md)
		}
		for _, g := range md.GrantTypes {
			if g != "authorization_code" && g != "refresh_token" {
				t.Fatalf("accepted grant type %q", g)
			}
		}
		for _, u := range md.RedirectURIs {
			if err := ValidateRedirectURI(u); err != nil {
				t.Fatalf("accepted redirect URI %q: %v", u, err)
			}
		}
	})
}
