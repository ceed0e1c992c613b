package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/conexor/conexor/internal/urls"
)

// Response is an HTTP response read in full.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// JSON decodes the body as one JSON object, failing tb if it is not one.
func (r *Response) JSON(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("response body is not a JSON object (status %d): %v\n%s", r.StatusCode, err, r.Body)
	}
	return m
}

// Auth is how a request authenticates its client.
type Auth struct {
	ID, Secret string
	// Basic sends the credentials in an Authorization: Basic header, form-encoded as RFC 6749
	// section 2.3.1 says (client_secret_basic); otherwise they go in the form
	// (client_secret_post).
	Basic bool
}

// Do sends req with e.Client and reads the whole response.
func (e *Env) Do(req *http.Request) *Response {
	e.tb.Helper()
	resp, err := e.Client.Do(req)
	if err != nil {
		e.tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.tb.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}
}

// NewRequest builds a request to path (relative to e.URL), failing the test on error.
func (e *Env) NewRequest(method, path string, body io.Reader) *http.Request {
	e.tb.Helper()
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		e.tb.Fatalf("new request: %v", err)
	}
	return req
}

// PostForm POSTs form to path as application/x-www-form-urlencoded, authenticated as auth
// says (nil: no client authentication).
func (e *Env) PostForm(path string, form url.Values, auth *Auth) *Response {
	e.tb.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = append([]string(nil), v...)
	}
	if auth != nil && !auth.Basic {
		f.Set("client_id", auth.ID)
		f.Set("client_secret", auth.Secret)
	}
	req := e.NewRequest(http.MethodPost, path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != nil && auth.Basic {
		req.SetBasicAuth(url.QueryEscape(auth.ID), url.QueryEscape(auth.Secret))
	}
	return e.Do(req)
}

// Get fetches path.
func (e *Env) Get(path string) *Response {
	e.tb.Helper()
	return e.Do(e.NewRequest(http.MethodGet, path, nil))
}

// ClientCredentials is an x/oauth2 client-credentials configuration for this server.
func (e *Env) ClientCredentials(id, secret string, style oauth2.AuthStyle, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID: id, ClientSecret: secret, TokenURL: e.TokenURL(), Scopes: scopes, AuthStyle: style,
	}
}

// Context returns a context that makes x/oauth2 use e.Client.
func (e *Env) Context() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, e.Client)
}

// Token gets an access token with the client credentials grant (client_secret_post),
// failing the test if none is issued. No scopes means all of the client's.
func (e *Env) Token(id, secret string, scopes ...string) string {
	e.tb.Helper()
	tok, err := e.ClientCredentials(id, secret, oauth2.AuthStyleInParams, scopes...).Token(e.Context())
	if err != nil {
		e.tb.Fatalf("client credentials token for %s: %v", id, err)
	}
	return tok.AccessToken
}

// Introspect asks the introspection endpoint about token as client id, failing the test
// unless it answers 200 with a JSON object.
func (e *Env) Introspect(id, secret, token string) map[string]any {
	e.tb.Helper()
	r := e.PostForm(urls.Introspect, url.Values{"token": {token}}, &Auth{ID: id, Secret: secret})
	if r.StatusCode != http.StatusOK {
		e.tb.Fatalf("introspect as %s: status %d: %s", id, r.StatusCode, r.Body)
	}
	return r.JSON(e.tb)
}

// Revoke posts token to the revocation endpoint as client id and returns the response.
func (e *Env) Revoke(id, secret, token string) *Response {
	e.tb.Helper()
	return e.PostForm(urls.Revoke, url.Values{"token": {token}}, &Auth{ID: id, Secret: secret})
}

// JWKS fetches /.well-known/jwks.json.
func (e *Env) JWKS() jose.JSONWebKeySet {
	e.tb.Helper()
	r := e.Get(urls.JWKS)
	if r.StatusCode != http.StatusOK {
		e.tb.Fatalf("GET %s: status %d: %s", urls.JWKS, r.StatusCode, r.Body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.Body, &set); err != nil {
		e.tb.Fatalf("JWKS: %v\n%s", err, r.Body)
	}
	return set
}

// JWT is an access token whose signature checked out.
type JWT struct {
	Header jose.Header
	// Typ is the typ header.
	Typ string
	// Claims holds the payload; numbers are json.Number.
	Claims map[string]any
}

// VerifyJWT verifies token's signature with the key its kid names in the JWKS this server
// publishes now, failing the test if it does not verify.
func (e *Env) VerifyJWT(token string) *JWT {
	e.tb.Helper()
	j, err := VerifyWithJWKS(token, e.JWKS())
	if err != nil {
		e.tb.Fatalf("verify access token with the JWKS: %v", err)
	}
	return j
}

// VerifyWithJWKS verifies a compact JWS with the public key of set that its kid names, as a
// resource server would. The algorithm must be the key's own.
func VerifyWithJWKS(token string, set jose.JSONWebKeySet) (*JWT, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.HS256})
	if err != nil {
		return nil, err
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%d signatures, want 1", len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return nil, fmt.Errorf("the JWKS has %d keys with kid %q, want 1", len(keys), h.KeyID)
	}
	if keys[0].Algorithm != h.Algorithm {
		return nil, fmt.Errorf("token alg %q, key alg %q", h.Algorithm, keys[0].Algorithm)
	}
	if !keys[0].IsPublic() {
		return nil, errors.New("the JWKS publishes a private or symmetric key")
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	return &JWT{Header: h, Typ: typ, Claims: claims}, nil
}
