package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/testenv"
)

// A code_verifier that does not match the challenge is invalid_grant with fosite's
// description plus Conexor's hint on how the challenge is computed; every other
// invalid_grant (a malformed verifier, an unknown or used code) carries no such hint.
func TestPKCEHint(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	const redirect = "http://127.0.0.1:9999/callback"
	id := registerPublic(t, e, redirect)
	const hint = "must be BASE64URL(SHA256(code_verifier)) without '=' padding"

	exchange := func(code, verifier string) *testenv.Response {
		t.Helper()
		return e.PostForm("/api/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {redirect}, "code_verifier": {verifier}, "client_id": {id}}, nil)
	}
	newCode := func() string { return issueCode(t, e, authorizeQuery(e, id, redirect)) }
	used := newCode()
	if r := exchange(used, testVerifier); r.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %s", r.StatusCode, r.Body)
	}

	for _, tt := range []struct {
		name, code, verifier string
		wantHint             bool
	}{
		{"wrong verifier", newCode(), strings.Repeat("w", 43), true},
		{"wrong verifier, every allowed character", newCode(), "aZ09-._~" + strings.Repeat("x", 40), true},
		{"verifier too short", newCode(), "short", false},
		{"verifier too long", newCode(), strings.Repeat("v", 129), false},
		{"verifier with a character outside RFC 7636", newCode(), strings.Repeat("v", 42) + "+", false},
		{"no verifier", newCode(), "", false},
		{"unknown code", "no-such-code", testVerifier, false},
		{"used code", used, testVerifier, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(tt.code, tt.verifier)
			body := r.JSON(t)
			desc, _ := body["error_description"].(string)
			if r.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("status %d: %s", r.StatusCode, r.Body)
			}
			if got := strings.Contains(desc, hint); got != tt.wantHint {
				t.Errorf("hint present = %v, want %v: %s", got, tt.wantHint, desc)
			}
			if tt.wantHint && !strings.Contains(desc, "The PKCE code challenge did not match the code verifier.") {
				t.Errorf("fosite's own description is gone: %s", desc)
			}
		})
	}
}
