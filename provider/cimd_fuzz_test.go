package provider

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzClientIDURL: whatever checkClientIDURL accepts is an https URL with a path, no
// fragment, no user info and no dot segments.
func FuzzClientIDURL(f *testing.F) {
	for _, s := range []string{"https://app.example/client.json", "https://app.example", "https://a/../b", "http://a/b",
		"https://u:p@a/b", "https://a/b#c", "HTTPS://A/B?x=1", "https://[::1]:8443/c", "https:///x", "https:opaque"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if checkClientIDURL(id) != "" {
			return
		}
		u, err := url.Parse(id)
		if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Host == "" || u.User != nil ||
			strings.Contains(id, "#") || u.Path == "" || u.Path == "/" || len(id) > maxClientIDURL {
			t.Fatalf("accepted %q", id)
		}
		if slices.Contains(strings.Split(u.EscapedPath(), "/"), "..") {
			t.Fatalf("accepted dot segments in %q", id)
		}
	})
}

// FuzzClientDocument: a document that parses describes a public authorization-code client
// with valid redirect URIs, and its client_id is the URL.
func FuzzClientDocument(f *testing.F) {
	const id = "https://app.example/client.json"
	f.Add(`{"client_id":"` + id + `","redirect_uris":["http://127.0.0.1/cb"]}`)
	f.Add(`{"client_id":"` + id + `","redirect_uris":["javascript:x"],"token_endpoint_auth_method":"none"}`)
	f.Add(`{"client_id":"` + id + `","redirect_uris":["cursor://a/b"],"grant_types":["client_credentials"]}`)
	f.Add(`{"client_id":"` + id + `x","redirect_uris":["https://a/b"]}`)
	f.Add(`{"client_id":"` + id + `","redirect_uris":["https://a/b"],"client_secret":"s"}`)
	f.Add(`[]`)
	p := newCIMDProvider(f, true, newClock())
	f.Fuzz(func(t *testing.T, body string) {
		md, err := p.cimd.parse(id, []byte(body))
		if err != nil {
			return
		}
		if md.TokenEndpointAuthMethod != "none" || len(md.RedirectURIs) == 0 || !slices.Contains(md.GrantTypes, "authorization_code") ||
			slices.Contains(md.GrantTypes, "client_credentials") || md.ClientName == "" {
			t.Fatalf("accepted %s as %+v", body, md)
		}
		for _, u := range md.RedirectURIs {
			if err := ValidateRedirectURI(u); err != nil {
				t.Fatalf("accepted redirect URI %q: %v", u, err)
			}
		}
	})
}
