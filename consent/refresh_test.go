package consent_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
)

// tokenResponse is a token endpoint answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

func decodeToken(t testing.TB, r *testenv.Response) tokenResponse {
	t.Helper()
	var out tokenResponse
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("token response (status %d) is not JSON: %s", r.StatusCode, r.Body)
	}
	return out
}

// mustRefresh refreshes as the seeded public client and fails the test unless it works.
func mustRefresh(t testing.TB, e *testenv.Env, rt string, extra url.Values) tokenResponse {
	t.Helper()
	r := refresh(e, e.PublicClientID, nil, rt, extra)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("refresh: status %d: %s", r.StatusCode, r.Body)
	}
	return decodeToken(t, r)
}

// TestRefreshRotation: every refresh returns a new refresh token, and the used one then
// fails; the scope stays what was granted. On SQLite always, on Postgres when configured.
func TestRefreshRotation(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			e := testenv.New(t, testenv.Options{Postgres: db == "postgres"})
			b := newBrowser(t, e)
			tok := tokens(t, e, b, newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read, execute, res)), untick(execute))

			r1 := mustRefresh(t, e, tok.RefreshToken, nil)
			if r1.RefreshToken == "" || r1.RefreshToken == tok.RefreshToken {
				t.Fatalf("refresh did not rotate: %+v", r1)
			}
			if r1.Scope != read+" "+res {
				t.Errorf("refreshed scope = %q, want the granted %q", r1.Scope, read+" "+res)
			}
			r2 := mustRefresh(t, e, r1.RefreshToken, nil)
			if r2.RefreshToken == r1.RefreshToken {
				t.Fatal("second refresh did not rotate")
			}
			if r := refresh(e, e.PublicClientID, nil, r1.RefreshToken, nil); r.StatusCode != http.StatusBadRequest || decodeToken(t, r).Error != "invalid_grant" {
				t.Errorf("used refresh token: status %d %s, want 400 invalid_grant", r.StatusCode, r.Body)
			}
		})
	}
}

// TestRefreshReuseRevokesFamily: presenting a used refresh token is taken as theft: every
// token of that grant, including the newest refresh token, stops working (RFC 9700 4.14.2).
func TestRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	tok := tokens(t, e, b, newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read)), nil)
	r1 := mustRefresh(t, e, tok.RefreshToken, nil)
	for name, tk := range map[string]string{"first access token": tok.AccessToken, "refreshed access token": r1.AccessToken} {
		if !active(t, e, tk, "") {
			t.Fatalf("%s inactive before reuse", name)
		}
	}
	if !active(t, e, r1.RefreshToken, "refresh_token") {
		t.Fatal("new refresh token inactive before reuse")
	}

	if r := refresh(e, e.PublicClientID, nil, tok.RefreshToken, nil); r.StatusCode == http.StatusOK {
		t.Fatal("a used refresh token was accepted")
	}
	for name, tk := range map[string]string{"first access token": tok.AccessToken, "refreshed access token": r1.AccessToken} {
		if active(t, e, tk, "") {
			t.Errorf("%s still active after refresh token reuse", name)
		}
	}
	if active(t, e, r1.RefreshToken, "refresh_token") {
		t.Error("newest refresh token still active after reuse of an older one")
	}
	if r := refresh(e, e.PublicClientID, nil, r1.RefreshToken, nil); r.StatusCode == http.StatusOK {
		t.Error("the newest refresh token still refreshes after reuse was detected")
	}
}

// TestRefreshNeverWidensScope: a refresh may keep or narrow the granted scope, never add
// a scope the person did not grant, even one the client may request.
func TestRefreshNeverWidensScope(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	tok := tokens(t, e, b, newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read, execute)), untick(execute))
	if got := tok.Extra("scope"); got != read {
		t.Fatalf("granted scope = %v", got)
	}
	r := refresh(e, e.PublicClientID, nil, tok.RefreshToken, url.Values{"scope": {read + " " + execute}})
	if r.StatusCode != http.StatusBadRequest || decodeToken(t, r).Error != "invalid_scope" {
		t.Fatalf("widening refresh: status %d %s, want 400 invalid_scope", r.StatusCode, r.Body)
	}
	// The refused attempt did not use the refresh token up.
	got := mustRefresh(t, e, tok.RefreshToken, url.Values{"scope": {read}})
	if got.Scope != read {
		t.Errorf("refresh scope = %q", got.Scope)
	}
	if claims := e.VerifyJWT(got.AccessToken).Claims; claims["scope"] != read {
		t.Errorf("refreshed JWT scope = %v", claims["scope"])
	}
}

// TestRevokeRefreshTokenRevokesAccessTokens: RFC 7009 2.1, revoking a refresh token
// revokes the access tokens of the same grant.
func TestRevokeRefreshTokenRevokesAccessTokens(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	tok := tokens(t, e, b, newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read)), nil)
	r1 := mustRefresh(t, e, tok.RefreshToken, nil)

	rv := e.PostForm("/api/oauth/revoke", url.Values{"token": {r1.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {e.PublicClientID}}, nil)
	if rv.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", rv.StatusCode, rv.Body)
	}
	for name, tk := range map[string]string{"access token": tok.AccessToken, "refreshed access token": r1.AccessToken} {
		if active(t, e, tk, "") {
			t.Errorf("%s still active after its refresh token was revoked", name)
		}
	}
	if r := refresh(e, e.PublicClientID, nil, r1.RefreshToken, nil); r.StatusCode == http.StatusOK {
		t.Error("a revoked refresh token still refreshes")
	}
}

// TestRefreshedJWTHasFreshIatAndJTI: fosite clones the stored session on refresh and would
// keep the first token's iat (fosite #774); Conexor's tokens get their own iat, exp and jti.
func TestRefreshedJWTHasFreshIatAndJTI(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Time{})
	e := testenv.New(t, testenv.Options{Now: clock.Now})
	b := newBrowser(t, e)
	tok := tokens(t, e, b, newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read)), nil)
	first := e.VerifyJWT(tok.AccessToken).Claims

	clock.Advance(90 * time.Second)
	second := e.VerifyJWT(mustRefresh(t, e, tok.RefreshToken, nil).AccessToken).Claims
	iat1, _ := first["iat"].(json.Number).Int64()
	iat2, _ := second["iat"].(json.Number).Int64()
	exp2, _ := second["exp"].(json.Number).Int64()
	if iat2-iat1 != 90 {
		t.Errorf("refreshed iat = %d, first iat = %d: want 90 s later", iat2, iat1)
	}
	if exp2-iat2 != 3600 {
		t.Errorf("refreshed exp - iat = %d, want 3600", exp2-iat2)
	}
	if first["jti"] == second["jti"] || second["jti"] == "" {
		t.Errorf("jti not fresh: %v then %v", first["jti"], second["jti"])
	}
	if first["sub"] != second["sub"] || first["aud"] != second["aud"] {
		t.Errorf("sub/aud changed on refresh: %v %v -> %v %v", first["sub"], first["aud"], second["sub"], second["aud"])
	}
}

// TestRefreshWithAnotherClientsToken: a refresh token works only for the client it was
// issued to, public or confidential; a failed attempt by another client does not burn it.
func TestRefreshWithAnotherClientsToken(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	tok := tokens(t, e, b, newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read)), nil)

	other, _ := createAppClient(t, e, "Other public app", true, app.DemoRedirectURI)
	conf, secret := createAppClient(t, e, "Other confidential app", false, "https://other.example.com/cb")
	for name, r := range map[string]*testenv.Response{
		"public":       refresh(e, other.ID, nil, tok.RefreshToken, nil),
		"confidential": refresh(e, conf.ID, &testenv.Auth{ID: conf.ID, Secret: secret, Basic: true}, tok.RefreshToken, nil),
	} {
		if r.StatusCode != http.StatusBadRequest || decodeToken(t, r).Error != "invalid_grant" {
			t.Errorf("%s client refreshing another's token: %d %s, want 400 invalid_grant", name, r.StatusCode, r.Body)
		}
	}
	if !strings.Contains(mustRefresh(t, e, tok.RefreshToken, nil).Scope, read) {
		t.Error("owner's refresh failed")
	}
}
