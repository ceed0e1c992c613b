package connect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/conexor/conexor/internal/urls"
)

// discoveryStepTimeout bounds each discovery request: a server that answers with a stream,
// or not at all, must not hold up the MCP client's start.
const discoveryStepTimeout = 10 * time.Second

// discovery is what the remote server says about its authorization.
type discovery struct {
	// resource is the RFC 8707 resource indicator: the protected resource metadata's
	// resource, the endpoint's canonical URL.
	resource string
	prm      *oauthex.ProtectedResourceMetadata
	asm      *oauthex.AuthServerMeta
	// challengeScopes is the scope the 401 of a request without a token names; it is what
	// the client asks for first (MCP 2025-11-25, "Scope Selection Strategy").
	challengeScopes []string
}

// errNoAuthorization means the endpoint answers without a token and publishes no protected
// resource metadata: it needs no authorization, and the relay runs without OAuth.
var errNoAuthorization = errors.New("the MCP server asks for no authorization")

// discover finds the authorization server as an MCP client does (MCP 2025-11-25,
// "Authorization Server Discovery"): it sends a request without a token; the
// resource_metadata of the 401's challenge, else the protected resource metadata at the
// endpoint's path, else at the root (RFC 9728); then the authorization server metadata of
// its first authorization server, RFC 8414 before OpenID discovery (auth.GetAuthServerMetadata
// keeps the spec's order). Every request is bounded by discoveryStepTimeout.
func discover(ctx context.Context, c *http.Client, endpoint string) (*discovery, error) {
	probe, err := probeEndpoint(ctx, c, endpoint)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(endpoint)
	origin := (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	type candidate struct{ metadata, resource string }
	var candidates []candidate
	if probe.metadataURL != "" {
		candidates = append(candidates, candidate{probe.metadataURL, endpoint})
	}
	candidates = append(candidates,
		candidate{origin + urls.PRMetadata + u.Path, endpoint},
		candidate{origin + urls.PRMetadata, endpoint},
		candidate{origin + urls.PRMetadata, origin}, // root metadata naming the origin
	)
	var prm *oauthex.ProtectedResourceMetadata
	var tried []string
	var lastErr error
	for _, cand := range candidates {
		stepCtx, cancel := context.WithTimeout(ctx, discoveryStepTimeout)
		prm, lastErr = oauthex.GetProtectedResourceMetadata(stepCtx, cand.metadata, cand.resource, c)
		cancel()
		if lastErr == nil {
			break
		}
		if len(tried) == 0 || tried[len(tried)-1] != cand.metadata {
			tried = append(tried, cand.metadata)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if prm == nil {
		if probe.status != http.StatusUnauthorized && probe.status != http.StatusForbidden {
			return nil, errNoAuthorization
		}
		return nil, fmt.Errorf("%s asks for a token but publishes no usable protected resource metadata (tried %s; last: %v): check that the URL is the MCP endpoint exactly as the server's admin page shows it, e.g. https://app.example/mcp/ORG/SERVER",
			endpoint, strings.Join(tried, ", "), lastErr)
	}
	if len(prm.AuthorizationServers) == 0 {
		return nil, fmt.Errorf("the protected resource metadata of %s names no authorization server: ask the server's operator to fix its metadata", endpoint)
	}
	issuer := prm.AuthorizationServers[0]
	stepCtx, cancel := context.WithTimeout(ctx, 3*discoveryStepTimeout) // up to three well-known URLs
	asm, err := auth.GetAuthServerMetadata(stepCtx, issuer, c)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("could not read the metadata of the authorization server %s (%v): check that it is reachable from this computer", issuer, err)
	}
	if asm == nil {
		return nil, fmt.Errorf("the authorization server %s publishes no metadata (RFC 8414 or OpenID discovery): ask the server's operator", issuer)
	}
	if asm.TokenEndpoint == "" {
		return nil, fmt.Errorf("the authorization server metadata of %s has no token_endpoint: ask the server's operator", asm.Issuer)
	}
	return &discovery{resource: prm.Resource, prm: prm, asm: asm, challengeScopes: probe.scopes}, nil
}

// probeResult is what the endpoint answers a request without a token.
type probeResult struct {
	status      int
	metadataURL string   // the 401 challenge's resource_metadata (RFC 9728 section 5.1)
	scopes      []string // the 401 challenge's scope
}

// probeEndpoint sends a ping without a token. Only the status and headers are read: a body
// that is an endless event stream is closed at once, and the whole exchange is bounded.
// A 404 means the URL is wrong; it is said here, as a sentence, not as a status code later.
func probeEndpoint(ctx context.Context, c *http.Client, endpoint string) (probeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, discoveryStepTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader([]byte(`{"jsonrpc":"2.0","id":0,"method":"ping"}`)))
	if err != nil {
		return probeResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		return probeResult{}, fmt.Errorf("could not reach %s (%v): check the URL and your network", endpoint, err)
	}
	defer resp.Body.Close()
	res := probeResult{status: resp.StatusCode}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		res.metadataURL, res.scopes = challengeParams(resp)
	case http.StatusNotFound:
		return res, fmt.Errorf("%s answers 404 Not Found: check the URL; a Conexor MCP endpoint looks like https://app.example/mcp/ORG/SERVER", endpoint)
	}
	return res, nil
}

// challengeParams returns the Bearer challenge's resource_metadata and scope.
func challengeParams(resp *http.Response) (metadataURL string, scopes []string) {
	challenges, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return "", nil
	}
	for _, ch := range challenges {
		if ch.Scheme != "bearer" {
			continue
		}
		return ch.Params["resource_metadata"], strings.Fields(ch.Params["scope"])
	}
	return "", nil
}

// challengeOf returns the Bearer challenge's error and scope of a 401 or 403.
func challengeOf(resp *http.Response) (errCode string, scopes []string) {
	challenges, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return "", nil
	}
	for _, ch := range challenges {
		if ch.Scheme != "bearer" {
			continue
		}
		return ch.Params["error"], strings.Fields(ch.Params["scope"])
	}
	return "", nil
}
