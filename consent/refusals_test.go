package consent_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
)

// authQuery is a valid authorization query for the seeded public client; tests break one
// parameter at a time.
func authQuery(e *testenv.Env, verifier string) url.Values {
	return url.Values{
		"client_id": {e.PublicClientID}, "response_type": {"code"}, "scope": {read},
		"redirect_uri": {app.DemoRedirectURI}, "state": {"xyz-state-123"},
		"code_challenge": {oauth2S256(verifier)}, "code_challenge_method": {"S256"},
	}
}

// TestPKCERefusals: the authorization endpoint refuses a missing challenge, plain and a
// missing method before anyone logs in (redirecting the error, since client and redirect URI
// are valid); the token endpoint refuses a missing or wrong verifier and says what the
// challenge must be.
func TestPKCERefusals(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	verifier := oauth2.GenerateVerifier()
	for name, edit := range map[string]func(url.Values){
		"missing challenge": func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") },
		"missing method":    func(q url.Values) { q.Del("code_challenge_method") },
		"plain":             func(q url.Values) { q.Set("code_challenge_method", "plain"); q.Set("code_challenge", verifier) },
		"short challenge":   func(q url.Values) { q.Set("code_challenge", "abc") },
	} {
		t.Run(name, func(t *testing.T) {
			q := authQuery(e, verifier)
			edit(q)
			cb := b.get("/oauth/consent?" + q.Encode()).location(t)
			if got := cb.Query().Get("error"); got != "invalid_request" {
				t.Errorf("error = %q, want invalid_request (%s)", got, cb)
			}
			if cb.Query().Get("state") != "xyz-state-123" || cb.Query().Get("iss") != e.URL {
				t.Errorf("error redirect lacks state or iss: %s", cb)
			}
			if !strings.HasPrefix(cb.String(), app.DemoRedirectURI+"?") {
				t.Errorf("error sent to %s", cb)
			}
		})
	}

	// Each attempt on a fresh code: a failed PKCE check uses up the code's PKCE data.
	f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
	code := codeFrom(t, e, approve(t, b, f.authURL(), nil), f.state)
	_, err := f.conf.Exchange(e.Context(), code) // no verifier
	if got, _ := oauthErrorCode(t, err); got != "invalid_grant" && got != "invalid_request" {
		t.Errorf("no verifier: error %q", got)
	}
	if _, err := f.exchange(e, code); err == nil {
		t.Error("a code whose PKCE check failed was redeemed afterwards")
	}

	f = newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
	code = codeFrom(t, e, approve(t, b, f.authURL(), nil), f.state)
	_, err = f.conf.Exchange(e.Context(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	got, desc := oauthErrorCode(t, err)
	if got != "invalid_grant" {
		t.Errorf("wrong verifier: error %q, want invalid_grant", got)
	}
	if !strings.Contains(desc, "BASE64URL(SHA256(code_verifier))") {
		t.Errorf("wrong verifier: description does not say what the challenge must be: %q", desc)
	}
}

// TestRedirectURIVariants: only the registered URI, byte for byte, is accepted, except
// that a loopback redirect may use any port (RFC 8252 7.3). Anything else is an error page:
// never a redirect to a URI that was not verified.
func TestRedirectURIVariants(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	verifier := oauth2.GenerateVerifier()
	for _, bad := range []string{
		"http://localhost:3000/callback/",             // trailing slash
		"http://localhost:3000/Callback",              // case
		"http://LOCALHOST:3000/callback",              // host case
		"http://localhost:3000/callback?next=/x",      // extra query
		"http://evil.example/callback",                // other host
		"https://localhost:3000/callback",             // other scheme
		"http://127.0.0.1:3000/callback",              // another loopback name
		"http://localhost:3000/callback#frag",         // fragment
		"http://localhost.evil.example:3000/callback", // suffix trick
		"javascript:alert(1)//localhost:3000/callback",
	} {
		t.Run(bad, func(t *testing.T) {
			q := authQuery(e, verifier)
			q.Set("redirect_uri", bad)
			p := b.get("/oauth/consent?" + q.Encode())
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q: want 400 and no redirect", p.status, p.header.Get("Location"))
			}
			if !strings.Contains(p.body, "redirect_uri does not exactly match") {
				t.Errorf("the error page does not explain the redirect URI problem:\n%s", p.body)
			}
		})
	}

	// Any port on the registered loopback host, all the way to the token.
	const other = "http://localhost:49152/callback"
	f := newFlow(oauthConfig(e, e.PublicClientID, "", other, read))
	cb := approve(t, b, f.authURL(), nil)
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != other {
		t.Fatalf("redirected to %s, want %s", got, other)
	}
	if _, err := f.exchange(e, codeFrom(t, e, cb, f.state)); err != nil {
		t.Fatalf("exchange with the loopback port variant: %v", err)
	}

	// The token request must repeat the redirect URI of the authorization request.
	f = newFlow(oauthConfig(e, e.PublicClientID, "", other, read))
	code := codeFrom(t, e, approve(t, b, f.authURL(), nil), f.state)
	f.conf.RedirectURL = app.DemoRedirectURI
	if _, err := f.exchange(e, code); err == nil {
		t.Error("code exchanged with a different redirect_uri than it was issued for")
	}
}

// TestUnknownClient: an unknown or missing client_id is an error page, never a redirect.
func TestUnknownClient(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	for name, id := range map[string]string{"unknown": "client_doesnotexist", "missing": ""} {
		q := authQuery(e, oauth2.GenerateVerifier())
		if id == "" {
			q.Del("client_id")
		} else {
			q.Set("client_id", id)
		}
		p := b.get("/oauth/consent?" + q.Encode())
		if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
			t.Errorf("%s client: status %d Location %q, want 400 page", name, p.status, p.header.Get("Location"))
		}
		if !strings.Contains(p.body, "client_id") {
			t.Errorf("%s client: the page does not explain the problem:\n%s", name, p.body)
		}
	}
}

// TestCodeReplayRevokesTokens: a code works once; using it again fails and revokes the
// tokens the first use issued (RFC 6749 4.1.2).
func TestCodeReplayRevokesTokens(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
	code := codeFrom(t, e, approve(t, b, f.authURL(), nil), f.state)
	tok, err := f.exchange(e, code)
	if err != nil {
		t.Fatal(err)
	}
	if !active(t, e, tok.AccessToken, "") {
		t.Fatal("fresh access token inactive")
	}
	_, err = f.exchange(e, code)
	if got, _ := oauthErrorCode(t, err); got != "invalid_grant" {
		t.Errorf("replayed code: error %q, want invalid_grant", got)
	}
	if active(t, e, tok.AccessToken, "") {
		t.Error("access token from the first redemption still active after the replay")
	}
	if r := refresh(e, e.PublicClientID, nil, tok.RefreshToken, nil); r.StatusCode == http.StatusOK {
		t.Error("refresh token from the first redemption still works after the replay")
	}
}

// TestConcurrentCodeRedemption: two redemptions of one code at the same moment: exactly
// one gets tokens.
func TestConcurrentCodeRedemption(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	for round := range 3 {
		f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
		code := codeFrom(t, e, approve(t, b, f.authURL(), nil), f.state)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		start := make(chan struct{})
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := f.exchange(e, code); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if ok != 1 {
			t.Errorf("round %d: %d of 2 concurrent redemptions succeeded, want exactly 1", round, ok)
		}
	}
}

// TestExpiredCode: codes live for the configured lifetime (at most 10 minutes); an expired
// one is invalid_grant. fosite checks code expiry against the wall clock, so the lifetime is
// shortened rather than the clock moved.
func TestExpiredCode(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{Configure: func(c *config.Config) { c.AuthorizeCodeTTL = time.Second }})
	b := newBrowser(t, e)
	f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
	code := codeFrom(t, e, approve(t, b, f.authURL(), nil), f.state)
	time.Sleep(1500 * time.Millisecond)
	_, err := f.exchange(e, code)
	if got, _ := oauthErrorCode(t, err); got != "invalid_grant" {
		t.Errorf("expired code: error %q, want invalid_grant", got)
	}
}

// TestCodeIssuedToAnotherClient: a code is bound to the client it was issued to, even if
// another client shares the redirect URI and presents the right verifier.
func TestCodeIssuedToAnotherClient(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	b := newBrowser(t, e)
	other, _ := createAppClient(t, e, "Look-alike app", true, app.DemoRedirectURI)
	f := newFlow(oauthConfig(e, e.PublicClientID, "", app.DemoRedirectURI, read))
	code := codeFrom(t, e, approve(t, b, f.authURL(), nil), f.state)
	thief := *f
	thief.conf = oauthConfig(e, other.ID, "", app.DemoRedirectURI, read)
	_, err := thief.exchange(e, code)
	if got, _ := oauthErrorCode(t, err); got != "invalid_grant" {
		t.Errorf("code redeemed by another client: error %q, want invalid_grant", got)
	}
}

// TestUnverifiedClientErrorsNeedLogin: anyone can register a client whose redirect URI is a
// phishing page, then send people a link to a broken authorization request. RFC 9700 4.11.2:
// the authorization server must authenticate the user before it redirects an error to a
// client it cannot vouch for, or it is an open redirector on its own trusted domain. Errors
// of clients an operator created still go straight back to the client.
func TestUnverifiedClientErrorsNeedLogin(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	const phish = "https://phish.example/cb"
	req := e.NewRequest(http.MethodPost, "/api/oauth/register",
		strings.NewReader(`{"client_name":"Totally Legit","token_endpoint_auth_method":"none","redirect_uris":["`+phish+`"]}`))
	req.Header.Set("Content-Type", "application/json")
	reg := e.Do(req)
	if reg.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.StatusCode, reg.Body)
	}
	dyn := reg.JSON(t)["client_id"].(string)
	q := authQuery(e, oauth2.GenerateVerifier())
	q.Set("client_id", dyn)
	q.Set("redirect_uri", phish)
	q.Set("response_type", "token") // any error will do
	b := newBrowser(t, e)
	p := b.get("/oauth/consent?" + q.Encode())
	if strings.HasPrefix(p.header.Get("Location"), phish) {
		t.Fatalf("an anonymous visitor was redirected to a dynamically registered client's URI: %s", p.header.Get("Location"))
	}
	if p.status != http.StatusOK || p.url.Path != "/login" {
		t.Fatalf("anonymous visitor: status %d at %s, want the login page", p.status, p.url)
	}
	// Once the person has logged in, the error goes back to the client as usual.
	cb := b.loginFrom(p, app.DemoAdminEmail, adminPassword).location(t)
	if !strings.HasPrefix(cb.String(), phish+"?") || cb.Query().Get("error") != "unsupported_response_type" || cb.Query().Get("state") != "xyz-state-123" {
		t.Errorf("after login: %s, want the error at the client's redirect URI", cb)
	}

	// An operator-created client: the error is redirected at once.
	q = authQuery(e, oauth2.GenerateVerifier())
	q.Set("response_type", "token")
	cb = newBrowser(t, e).get("/oauth/consent?" + q.Encode()).location(t)
	if !strings.HasPrefix(cb.String(), app.DemoRedirectURI+"?") || cb.Query().Get("error") != "unsupported_response_type" {
		t.Errorf("admin client: %s", cb)
	}
}
