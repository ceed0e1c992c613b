package provider_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/conexor/conexor/internal/testenv"
)

// TestConcurrentCodeExchange: of 16 parallel exchanges of one code, exactly one gets 200 and
// every other 400 invalid_grant, in each of 5 rounds (issue 12, item 2: on Postgres the
// losers that found the code used while issuing got 500 server_error "error; error").
func TestConcurrentCodeExchange(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, opts testenv.Options) {
		const parallel, rounds = 16, 5
		e := testenv.New(t, opts)
		const redirect = "http://127.0.0.1:9999/callback"
		id := registerPublic(t, e, redirect)
		for round := range rounds {
			code := issueCode(t, e, authorizeQuery(e, id, redirect))
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
				"code_verifier": {testVerifier}, "client_id": {id}}
			type result struct {
				status int
				body   string
			}
			results := make([]result, parallel)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range parallel {
				wg.Go(func() {
					<-start
					resp, err := http.PostForm(e.TokenURL(), form)
					if err != nil {
						results[i] = result{body: err.Error()}
						return
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					results[i] = result{resp.StatusCode, string(b)}
				})
			}
			close(start)
			wg.Wait()
			ok := 0
			for i, r := range results {
				switch {
				case r.status == http.StatusOK:
					ok++
				case r.status == http.StatusBadRequest && oauthError(r.body) == "invalid_grant":
				default:
					t.Errorf("round %d, request %d: %d %s, want 200 once and 400 invalid_grant otherwise", round, i, r.status, r.body)
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d of %d exchanges of one code got 200, want exactly 1", round, ok, parallel)
			}
		}
	})
}

func oauthError(body string) string {
	var v struct{ Error string }
	_ = json.Unmarshal([]byte(body), &v)
	return v.Error
}

// TestUsedCodeReplayNeedsProof (issue 12, item 9): a used code presented with a wrong
// code_verifier, another client or another redirect_uri is refused and revokes nothing (it
// proves nothing: anyone may have seen the code); presented with the right verifier it is a
// replay, and every token the code issued is revoked (RFC 6749 section 4.1.2).
func TestUsedCodeReplayNeedsProof(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, opts testenv.Options) {
		e := testenv.New(t, opts)
		const redirect = "http://127.0.0.1:9999/callback"
		id := registerPublic(t, e, redirect)
		otherID := registerPublic(t, e, redirect)
		code := issueCode(t, e, authorizeQuery(e, id, redirect))
		exchange := func(client, verifier, redirectURI string) *testenv.Response {
			t.Helper()
			return e.PostForm("/api/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {redirectURI}, "code_verifier": {verifier}, "client_id": {client}}, nil)
		}
		r := exchange(id, testVerifier, redirect)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("first exchange: %d %s", r.StatusCode, r.Body)
		}
		tok := r.JSON(t)
		access, _ := tok["access_token"].(string)
		refresh, _ := tok["refresh_token"].(string)
		if access == "" || refresh == "" {
			t.Fatalf("first exchange issued no access and refresh token: %s", r.Body)
		}
		active := func() bool {
			t.Helper()
			return e.Introspect(e.ClientID, e.ClientSecret, access)["active"] == true
		}

		for _, tt := range []struct{ name, client, verifier, redirect string }{
			{"wrong verifier", id, strings.Repeat("w", 43), redirect},
			{"no verifier", id, "", redirect},
			{"another client", otherID, testVerifier, redirect},
			{"another redirect_uri", id, testVerifier, "http://127.0.0.1:9999/other"},
		} {
			r := exchange(tt.client, tt.verifier, tt.redirect)
			if r.StatusCode != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" {
				t.Errorf("%s: %d %s, want 400 invalid_grant", tt.name, r.StatusCode, r.Body)
			}
			if !active() {
				t.Fatalf("%s: the used code presented without proof revoked the access token it issued", tt.name)
			}
		}

		// The refresh token still works (and its rotation leaves a live family to revoke).
		rr := e.PostForm("/api/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {id}}, nil)
		if rr.StatusCode != http.StatusOK {
			t.Fatalf("refresh after unproven replays: %d %s", rr.StatusCode, rr.Body)
		}
		refreshed, _ := rr.JSON(t)["access_token"].(string)

		r = exchange(id, testVerifier, redirect)
		if r.StatusCode != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" ||
			!strings.Contains(fmt.Sprint(r.JSON(t)["error_description"]), "already been used") {
			t.Fatalf("replay with the right verifier: %d %s, want 400 invalid_grant saying the code was used", r.StatusCode, r.Body)
		}
		if active() {
			t.Errorf("a proven replay left the code's access token active")
		}
		if e.Introspect(e.ClientID, e.ClientSecret, refreshed)["active"] == true {
			t.Errorf("a proven replay left the refreshed access token active")
		}
	})
}

// TestUsedCodeWrongClientSecret: a confidential client's used code with a wrong secret is
// refused as invalid_client before the code is looked at, and revokes nothing.
func TestUsedCodeWrongClientSecret(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	const redirect = "https://n8n.example/rest/oauth2-credential/callback"
	reg := registerJSON(t, e, map[string]any{"client_name": "conf", "token_endpoint_auth_method": "client_secret_post", "redirect_uris": []string{redirect}})
	if reg.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.StatusCode, reg.Body)
	}
	id, _ := reg.JSON(t)["client_id"].(string)
	secret, _ := reg.JSON(t)["client_secret"].(string)
	code := issueCode(t, e, authorizeQuery(e, id, redirect))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {testVerifier}}
	r := e.PostForm("/api/oauth/token", form, &testenv.Auth{ID: id, Secret: secret})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("first exchange: %d %s", r.StatusCode, r.Body)
	}
	access, _ := r.JSON(t)["access_token"].(string)
	if r := e.PostForm("/api/oauth/token", form, &testenv.Auth{ID: id, Secret: secret + "x"}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("used code, wrong secret: %d %s, want 401", r.StatusCode, r.Body)
	}
	if e.Introspect(e.ClientID, e.ClientSecret, access)["active"] != true {
		t.Errorf("a used code with a wrong client secret revoked the access token it issued")
	}
}
