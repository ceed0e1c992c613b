package provider_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/testenv"
)

// FuzzVerifyAccessToken: every request to an MCP endpoint hands the verifier a string of
// the caller's choosing. Whatever it is, verification never panics, and what it accepts is
// a compact JWS of this issuer that has not expired and names its storage signature.
func FuzzVerifyAccessToken(f *testing.F) {
	e := testenv.New(f, testenv.Options{})
	tok := e.Token(e.ClientID, e.ClientSecret)
	parts := strings.Split(tok, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	for _, seed := range []string{
		tok, "", ".", "..", "a.b.c", tok + ".", parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		b64([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + ".",
		b64([]byte(`{"alg":"HS256","kid":"x"}`)) + "." + parts[1] + "." + parts[2],
		b64([]byte(`{"alg":"ES256","kid":`)) + "." + parts[1] + "." + parts[2],
		b64([]byte(`{"alg":"ES256","crit":["exp"],"kid":"k"}`)) + "." + b64([]byte(`{"aud":7}`)) + "." + parts[2],
		`{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`,
	} {
		f.Add(seed)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := e.Provider.VerifyAccessToken(ctx, token)
		if err != nil {
			return
		}
		if c.Issuer != e.URL || c.Expiry <= time.Now().Unix() || strings.Count(token, ".") != 2 || e.Provider.AccessTokenSignature(token) == "" {
			t.Fatalf("accepted %q as %+v", token, c)
		}
	})
}

// FuzzCanonicalResource: whatever a client sends as resource, canonicalisation never panics,
// and what it accepts is this issuer's /mcp/{org}/{server} with two plain segments, which
// canonicalises to itself.
func FuzzCanonicalResource(f *testing.F) {
	e := testenv.New(f, testenv.Options{})
	for _, seed := range []string{
		e.URL + "/mcp/acme/sales-api", e.URL + "/mcp/acme/sales-api/", strings.ToUpper(e.URL) + "/mcp/acme/sales-api",
		e.URL + "/mcp/acme%2Fsales-api", e.URL + "/mcp/acme/../sales-api", e.URL + "/mcp/acme/sales-api#x",
		e.URL + "/mcp/acme/sales-api?x=1", "https://evil.example/mcp/acme/sales-api", "//mcp/a/b", "", "http://[::1", e.URL + "/mcp/a;b/c",
		e.URL + "/mcp//a/b", e.URL + "/mcp/a/b/c", "http://u@" + strings.TrimPrefix(e.URL, "http://") + "/mcp/a/b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		canonical, org, server, err := e.Provider.CanonicalResource(raw)
		if err != nil {
			return
		}
		if canonical != e.URL+"/mcp/"+org+"/"+server || org == "" || server == "" ||
			strings.ContainsAny(org+server, "/%;#?\\") || org == "." || org == ".." || server == "." || server == ".." {
			t.Fatalf("CanonicalResource(%q) = %q (%q, %q)", raw, canonical, org, server)
		}
		again, _, _, err := e.Provider.CanonicalResource(canonical)
		if err != nil || again != canonical {
			t.Fatalf("CanonicalResource(%q) = %q, but that canonicalises to %q (%v)", raw, canonical, again, err)
		}
	})
}
