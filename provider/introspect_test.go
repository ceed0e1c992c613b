package provider_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// TestIntrospection covers RFC 7662 and who may learn what: a client sees tokens issued to
// itself or for its own MCP server, and {"active":false} for everything else.
func TestIntrospection(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testIntrospection)
}

func testIntrospection(t *testing.T, opts testenv.Options) {
	e := testenv.New(t, opts)
	e.CreateServer("other/api")
	otherID, otherSecret := e.CreateServerClient("other/api", "mcp:tools:read")
	peerID, peerSecret := e.CreateServerClient("acme/sales-api", "mcp:tools:read")

	tok := e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read", "mcp:resources:read")
	claims := e.VerifyJWT(tok).Claims
	want := map[string]any{
		"active":     true,
		"scope":      "mcp:tools:read mcp:resources:read",
		"client_id":  e.ClientID,
		"sub":        e.ClientID,
		"aud":        e.ResourceURL("acme", "sales-api"),
		"iss":        e.URL,
		"exp":        claims["exp"],
		"iat":        claims["iat"],
		"jti":        claims["jti"],
		"token_type": "Bearer",
		"token_use":  "access_token",
	}

	t.Run("own token", func(t *testing.T) {
		got := e.Introspect(e.ClientID, e.ClientSecret, tok)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		// With Basic authentication and a hint.
		r := e.PostForm("/api/oauth/introspect", url.Values{"token": {tok}, "token_type_hint": {"access_token"}},
			&testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret, Basic: true})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("status %d %s", r.StatusCode, r.Body)
		}
		if diff := cmp.Diff(want, r.JSON(t)); diff != "" {
			t.Errorf("with Basic (-want +got):\n%s", diff)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
	})
	t.Run("client of the token's server", func(t *testing.T) {
		// A resource server's own client checking the tokens it receives.
		if diff := cmp.Diff(want, e.Introspect(peerID, peerSecret, tok)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("client of another server", func(t *testing.T) {
		if diff := cmp.Diff(inactive, e.Introspect(otherID, otherSecret, tok)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		// And the other way round.
		otherTok := e.Token(otherID, otherSecret)
		if diff := cmp.Diff(inactive, e.Introspect(e.ClientID, e.ClientSecret, otherTok)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got := e.Introspect(otherID, otherSecret, otherTok)["aud"]; got != e.ResourceURL("other", "api") {
			t.Errorf("other server's token aud = %v", got)
		}
	})
	t.Run("garbage and forged tokens", func(t *testing.T) {
		parts := strings.Split(tok, ".")
		var payload map[string]any
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if err := json.Unmarshal(raw, &payload); err != nil {
			t.Fatal(err)
		}
		payload["scope"] = "mcp:server:manage"
		tampered, _ := json.Marshal(payload)
		for name, bad := range map[string]string{
			"garbage":                  "garbage",
			"empty segments":           "..",
			"refresh-token-shaped":     "ory_rt_abc.def",
			"payload changed":          parts[0] + "." + base64.RawURLEncoding.EncodeToString(tampered) + "." + parts[2],
			"signature dropped":        parts[0] + "." + parts[1] + ".",
			"alg none":                 base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + ".",
			"HS256 with a guessed key": signHS256(t, e.Provider.Keys().CurrentKID(), payload),
		} {
			if diff := cmp.Diff(inactive, e.Introspect(e.ClientID, e.ClientSecret, bad)); diff != "" {
				t.Errorf("%s: (-want +got):\n%s", name, diff)
			}
			if _, err := e.Provider.VerifyAccessToken(context.Background(), bad); err == nil {
				t.Errorf("%s: VerifyAccessToken accepted it", name)
			}
		}
	})
	t.Run("revoked client", func(t *testing.T) {
		id, secret := e.CreateServerClient("acme/sales-api", "mcp:tools:read")
		its := e.Token(id, secret)
		if got := e.Introspect(peerID, peerSecret, its)["active"]; got != true {
			t.Fatalf("before revocation active = %v", got)
		}
		// Straight through the store, as `conexor clients revoke` does from another
		// process: this process learns of it from the revocation set, within its bound
		// (750 ms; at once on Postgres when the notification arrives). A revocation
		// through this process's endpoints is seen at once (TestRevocation).
		if err := e.Store.RevokeClient(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		got := e.Introspect(peerID, peerSecret, its)
		for deadline := time.Now().Add(10 * time.Second); got["active"] != false && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			got = e.Introspect(peerID, peerSecret, its)
		}
		if diff := cmp.Diff(inactive, got); diff != "" {
			t.Errorf("token of a revoked client (-want +got):\n%s", diff)
		}
	})
	t.Run("public client caller", func(t *testing.T) {
		r := e.PostForm("/api/oauth/introspect", url.Values{"token": {tok}, "client_id": {e.PublicClientID}}, nil)
		if r.StatusCode != http.StatusUnauthorized || r.JSON(t)["error"] != "invalid_client" {
			t.Errorf("public client: %d %s, want 401 invalid_client", r.StatusCode, r.Body)
		}
		if strings.Contains(string(r.Body), "active") {
			t.Errorf("a refused caller learned something about the token: %s", r.Body)
		}
	})
}

// signHS256 forges a token for kid with an HMAC key an attacker might try (the kid itself).
func signHS256(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(kid + kid + kid + kid)},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestIntrospectionExpiry moves the App's clock past a token's expiry: introspection must
// then say inactive, and the verifier must report ErrTokenExpired.
func TestIntrospectionExpiry(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Now().Truncate(time.Second))
	e := testenv.New(t, testenv.Options{Now: clock.Now})
	issued := clock.Now()
	tok := e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read")

	got := e.Introspect(e.ClientID, e.ClientSecret, tok)
	if got["active"] != true || got["iat"] != json.Number(itoa(issued.Unix())) || got["exp"] != json.Number(itoa(issued.Add(time.Hour).Unix())) {
		t.Fatalf("fresh token: %v, want active with iat %d and exp %d (the injected clock)", got, issued.Unix(), issued.Add(time.Hour).Unix())
	}

	clock.Advance(time.Hour - time.Second)
	if got := e.Introspect(e.ClientID, e.ClientSecret, tok)["active"]; got != true {
		t.Fatalf("one second before expiry: active = %v, want true", got)
	}

	clock.Advance(time.Second)
	if diff := cmp.Diff(inactive, e.Introspect(e.ClientID, e.ClientSecret, tok)); diff != "" {
		t.Errorf("at expiry (-want +got):\n%s", diff)
	}
	if _, err := e.Provider.VerifyAccessToken(context.Background(), tok); !errors.Is(err, provider.ErrTokenExpired) {
		t.Errorf("VerifyAccessToken after expiry: %v, want ErrTokenExpired", err)
	}

	// A token issued now is good again.
	fresh := e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read")
	if got := e.Introspect(e.ClientID, e.ClientSecret, fresh)["active"]; got != true {
		t.Errorf("token issued after the clock moved: active = %v, want true", got)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestIntrospectionHints: token_type_hint only says where to look first (RFC 7662 section
// 2.1). An access token is found with the hint refresh_token, a refresh token with the hint
// access_token, and each answers as its own kind.
func TestIntrospectionHints(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	const redirect = "http://127.0.0.1:9999/callback"
	id := registerPublic(t, e, redirect)
	r := exchangeCode(t, e, id, nil, redirect)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("code exchange: %d %s", r.StatusCode, r.Body)
	}
	access, refresh := jsonField(t, string(r.Body), "access_token"), jsonField(t, string(r.Body), "refresh_token")
	// A public client cannot introspect; the server's own client may (the audience).
	peerID, peerSecret := e.CreateServerClient("acme/sales-api", "mcp:tools:read")
	introspect := func(token, hint string) map[string]any {
		t.Helper()
		form := url.Values{"token": {token}}
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		r := e.PostForm("/api/oauth/introspect", form, &testenv.Auth{ID: peerID, Secret: peerSecret})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("introspect: %d %s", r.StatusCode, r.Body)
		}
		return r.JSON(t)
	}
	for _, hint := range []string{"", "access_token", "refresh_token", "something_else"} {
		got := introspect(access, hint)
		if got["active"] != true || got["token_use"] != "access_token" || got["token_type"] != "Bearer" || got["client_id"] != id ||
			got["aud"] != e.ResourceURL("acme", "sales-api") || got["scope"] != "mcp:tools:read mcp:tools:execute" {
			t.Errorf("access token, hint %q: %v", hint, got)
		}
		got = introspect(refresh, hint)
		if got["active"] != true || got["token_use"] != "refresh_token" || got["client_id"] != id || got["token_type"] != nil {
			t.Errorf("refresh token, hint %q: %v", hint, got)
		}
	}
}

// TestIntrospectionAfterReuse: a refresh token presented twice revokes its whole grant at the
// token endpoint, not the revocation endpoint; the access tokens it had issued are inactive
// at once, although introspection had seen (and cached) them live.
func TestIntrospectionAfterReuse(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, opts testenv.Options) {
		e := testenv.New(t, opts)
		const redirect = "http://127.0.0.1:9999/callback"
		id := registerPublic(t, e, redirect)
		r := exchangeCode(t, e, id, nil, redirect)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("code exchange: %d %s", r.StatusCode, r.Body)
		}
		first, refresh := jsonField(t, string(r.Body), "access_token"), jsonField(t, string(r.Body), "refresh_token")
		peerID, peerSecret := e.CreateServerClient("acme/sales-api", "mcp:tools:read")
		refreshWith := func(rt string) *testenv.Response {
			return e.PostForm("/api/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {id}}, nil)
		}
		r = refreshWith(refresh)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("refresh: %d %s", r.StatusCode, r.Body)
		}
		second := jsonField(t, string(r.Body), "access_token")
		// Twice each: the second answer is the cache's, which loads the revocation set.
		for _, tok := range []string{first, second, first, second} {
			if got := e.Introspect(peerID, peerSecret, tok)["active"]; got != true {
				t.Fatalf("before reuse: active = %v", got)
			}
		}
		if r := refreshWith(refresh); r.StatusCode != http.StatusBadRequest {
			t.Fatalf("reuse: %d %s, want 400", r.StatusCode, r.Body)
		}
		for name, tok := range map[string]string{"first": first, "second": second} {
			if diff := cmp.Diff(inactive, e.Introspect(peerID, peerSecret, tok)); diff != "" {
				t.Errorf("%s access token after reuse (-want +got):\n%s", name, diff)
			}
		}
	})
}
