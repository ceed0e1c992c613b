package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// DefaultIntrospectTokens is how many access tokens RunIntrospect obtains when
// IntrospectOptions.Tokens is zero.
const DefaultIntrospectTokens = 100

// IntrospectOptions configures RunIntrospect.
type IntrospectOptions struct {
	// TokenURL is the token endpoint the tokens are obtained from (client credentials),
	// IntrospectURL the RFC 7662 endpoint driven with them.
	TokenURL, IntrospectURL string
	// ClientID and ClientSecret are a confidential client's: it obtains the tokens and
	// introspects them (a client may always see its own tokens).
	ClientID     string
	ClientSecret string
	// Scope is sent as the scope parameter of the token requests when not empty.
	Scope string
	// Tokens is how many access tokens are introspected, round robin (default
	// DefaultIntrospectTokens): more than one, so that a server caching one answer
	// is not what is measured.
	Tokens      int
	Concurrency int
	Duration    time.Duration
	// BasicAuth sends the client credentials with HTTP Basic instead of in the form.
	BasicAuth  bool
	HTTPClient *http.Client
	// MaxRequests bounds the number of introspections; zero means DefaultMaxRequests.
	MaxRequests int
}

// RunIntrospect obtains o.Tokens access tokens, then drives o.IntrospectURL with them round
// robin. An introspection counts as an error unless it is a 200 saying "active":true: every
// token is live for the whole run, so anything else is a wrong answer.
func RunIntrospect(ctx context.Context, o IntrospectOptions) (Result, error) {
	for name, u := range map[string]string{"TokenURL": o.TokenURL, "IntrospectURL": o.IntrospectURL} {
		if u == "" {
			return Result{}, fmt.Errorf("bench: %s is required", name)
		}
		if _, err := url.Parse(u); err != nil {
			return Result{}, fmt.Errorf("bench: %s: %w", name, err)
		}
	}
	n := o.Tokens
	if n == 0 {
		n = DefaultIntrospectTokens
	}
	if n < 0 {
		return Result{}, errors.New("bench: Tokens must not be negative")
	}
	client := o.HTTPClient
	if client == nil {
		tr := newTransport(max(o.Concurrency, 1))
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	creds := clientAuth{id: o.ClientID, secret: o.ClientSecret, basic: o.BasicAuth}
	bodies := make([]string, n)
	for i := range bodies {
		tok, err := obtainToken(ctx, client, o.TokenURL, o.Scope, creds)
		if err != nil {
			return Result{}, fmt.Errorf("bench: obtaining token %d of %d: %w", i+1, n, err)
		}
		bodies[i] = creds.form(url.Values{"token": {tok}, "token_type_hint": {"access_token"}}).Encode()
	}

	var next atomic.Uint64
	return RunHTTP(ctx, HTTPOptions{
		Concurrency: o.Concurrency,
		Duration:    o.Duration,
		MaxRequests: o.MaxRequests,
		HTTPClient:  client,
		NewRequest: func() (*http.Request, error) {
			return creds.post(o.IntrospectURL, bodies[(next.Add(1)-1)%uint64(n)])
		},
		Check: CheckActiveIntrospection,
	})
}

// obtainToken runs one client_credentials grant and returns its access token.
func obtainToken(ctx context.Context, client *http.Client, tokenURL, scope string, creds clientAuth) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, err := creds.post(tokenURL, creds.form(form).Encode())
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return "", err
	}
	body, err := readBody(resp.Body, nil)
	if err != nil {
		return "", err
	}
	if err := CheckTokenResponse(resp, body); err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tok) // CheckTokenResponse decoded it already
	return tok.AccessToken, nil
}

// CheckActiveIntrospection accepts a 200 response whose JSON body says "active": true.
func CheckActiveIntrospection(resp *http.Response, body []byte) error {
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, snippet(body))
	}
	var in struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return fmt.Errorf("decoding introspection response: %v: %s", err, snippet(body))
	}
	if !in.Active {
		return fmt.Errorf("token not active: %s", snippet(body))
	}
	return nil
}
