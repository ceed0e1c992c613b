package provider

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestClientIDOf: the throttle key is the client_id fosite authenticates, whole. Two CIMD
// client_ids (URLs) sharing their first 128 characters are two buckets; a Basic-auth
// username is URL-decoded as fosite does, and one that does not decode stays as sent.
func TestClientIDOf(t *testing.T) {
	form := func(id string) string {
		r := httptest.NewRequest("POST", "/api/oauth/token", nil)
		r.PostForm = url.Values{"client_id": {id}}
		return clientIDOf(r)
	}
	prefix := "https://client.example/" + strings.Repeat("a", 200)
	if a, b := form(prefix+"/one.json"), form(prefix+"/two.json"); a == b {
		t.Errorf("two client_ids sharing a long prefix have one key %q", a)
	}
	if got := clientIDForLog(httptest.NewRequest("POST", "/", nil)); got != "" {
		t.Errorf("no client_id: %q", got)
	}
	basic := func(user string) string {
		r := httptest.NewRequest("POST", "/api/oauth/token", nil)
		r.SetBasicAuth(user, "secret")
		return clientIDOf(r)
	}
	for user, want := range map[string]string{"acme": "acme", "%61cme": "acme", "%61%63me": "acme", "a%2Bb": "a+b", "a+b": "a b", "%zz": "%zz"} {
		if got := basic(user); got != want {
			t.Errorf("Basic username %q: key %q, want %q", user, got, want)
		}
	}
}
