package connect

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// authorizer is the go-sdk's OAuth hook for the Streamable HTTP transport: it supplies
// tokens, and after a 401 or 403 gets better ones before the transport retries once.
type authorizer interface {
	auth.OAuthHandler
	// start gets the first token, so a misconfiguration fails at once, on standard error,
	// instead of on the MCP client's first request.
	start(ctx context.Context) error
}

// renewEarly is how long before expiry a token is renewed: a minute, or a quarter of the
// lifetime for short-lived tokens, so a request never carries one that expires in flight.
func renewEarly(tok *oauth2.Token) time.Duration {
	if tok == nil || tok.Expiry.IsZero() {
		return time.Minute
	}
	return min(time.Minute, time.Until(tok.Expiry)/4)
}

// tokenFunc adapts a function to oauth2.TokenSource.
type tokenFunc func() (*oauth2.Token, error)

func (f tokenFunc) Token() (*oauth2.Token, error) { return f() }

// clientCredentials gets tokens with the client credentials grant (RFC 6749 4.4) and the
// resource indicator (RFC 8707); a new one is requested a minute before the current one
// expires.
type clientCredentials struct {
	cfg clientcredentials.Config
	ctx context.Context // carries the HTTP client
	log *slog.Logger

	mu     sync.Mutex
	ts     oauth2.TokenSource
	access string // the access token fetched last
}

func newClientCredentials(d *discovery, c *http.Client, opts Options) *clientCredentials {
	style := oauth2.AuthStyleInParams
	if slices.Contains(d.asm.TokenEndpointAuthMethodsSupported, "client_secret_basic") || len(d.asm.TokenEndpointAuthMethodsSupported) == 0 {
		style = oauth2.AuthStyleInHeader
	}
	return &clientCredentials{
		cfg: clientcredentials.Config{
			ClientID: opts.ClientID, ClientSecret: opts.ClientSecret, TokenURL: d.asm.TokenEndpoint,
			Scopes: opts.Scopes, AuthStyle: style,
			EndpointParams: map[string][]string{"resource": {d.resource}},
		},
		ctx: context.WithValue(context.Background(), oauth2.HTTPClient, c),
		log: opts.Log,
	}
}

func (a *clientCredentials) start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.renewLocked()
}

// renewLocked fetches a token now and makes a source that renews it early.
func (a *clientCredentials) renewLocked() error {
	cfg := a.cfg
	tok, err := cfg.Token(a.ctx)
	if err != nil {
		return fmt.Errorf("client credentials token from %s: %w", cfg.TokenURL, err)
	}
	a.log.Info("access token obtained", "grant_type", "client_credentials", "expires", tok.Expiry.Format(time.RFC3339), "scope", tok.Extra("scope"))
	a.access = tok.AccessToken
	a.ts = oauth2.ReuseTokenSourceWithExpiry(tok, tokenFunc(func() (*oauth2.Token, error) {
		t, err := cfg.Token(a.ctx)
		if err == nil {
			a.log.Info("access token renewed", "grant_type", "client_credentials", "expires", t.Expiry.Format(time.RFC3339))
			a.mu.Lock()
			a.access = t.AccessToken
			a.mu.Unlock()
		}
		return t, err
	}), renewEarly(tok))
	return nil
}

// TokenSource implements auth.OAuthHandler.
func (a *clientCredentials) TokenSource(context.Context) (oauth2.TokenSource, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ts, nil
}

// Authorize implements auth.OAuthHandler: after a 401 (a revoked token, a rotated key) it
// gets a new token; after a 403 insufficient_scope it asks for the challenge's scopes too,
// which works when the client is allowed them.
func (a *clientCredentials) Authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	defer discard(resp)
	a.mu.Lock()
	defer a.mu.Unlock()
	code, scopes := challengeOf(resp)
	switch {
	case resp.StatusCode == http.StatusUnauthorized && a.access != bearerOf(req):
		return nil // renewed meanwhile, for a concurrent request: retry with that token
	case resp.StatusCode == http.StatusUnauthorized:
		a.log.Warn("the MCP server refused the access token; getting a new one", "error", code)
		return a.renewLocked()
	case resp.StatusCode == http.StatusForbidden && code == "insufficient_scope" && len(scopes) > 0:
		if len(a.cfg.Scopes) == 0 {
			return fmt.Errorf("the MCP server asks for scope %q, which this client's token lacks: ask an operator to give the client that scope (conexor clients create --scopes ...), or set --scopes / CONEXOR_SCOPES to include it", strings.Join(scopes, " "))
		}
		wider := union(a.cfg.Scopes, scopes)
		if len(wider) == len(a.cfg.Scopes) {
			return fmt.Errorf("the MCP server refuses the request even with the scope %q, which this client's token has: ask the server's operator", strings.Join(scopes, " "))
		}
		a.log.Info("the MCP server asks for more scopes", "scope", strings.Join(wider, " "))
		prev := a.cfg.Scopes
		a.cfg.Scopes = wider
		if err := a.renewLocked(); err != nil {
			a.cfg.Scopes = prev
			return err
		}
	}
	return nil
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// bearerOf is the access token a request carried.
func bearerOf(req *http.Request) string {
	if req == nil {
		return ""
	}
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
}

// discard drains and closes a response body, as auth.OAuthHandler requires.
func discard(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
}
