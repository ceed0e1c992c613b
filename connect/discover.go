package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/conexor/conexor/internal/urls"
)

// discovery is what the remote server says about its authorization.
type discovery struct {
	// resource is the RFC 8707 resource indicator: the protected resource metadata's
	// resource, the endpoint's canonical URL.
	resource string
	prm      *oauthex.ProtectedResourceMetadata
	asm      *oauthex.AuthServerMeta
}

// discover finds the authorization server as an MCP client does (MCP 2025-11-25,
// "Authorization Server Discovery"): the protected resource metadata at the endpoint's
// well-known path, else the one a 401 from the endpoint names, then the authorization
// server metadata (RFC 8414) of its first authorization server.
func discover(ctx context.Context, c *http.Client, endpoint string) (*discovery, error) {
	u, _ := url.Parse(endpoint)
	wellKnown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: urls.PRMetadata + u.Path}).String()
	prm, err := oauthex.GetProtectedResourceMetadata(ctx, wellKnown, endpoint, c)
	if err != nil {
		named, perr := metadataURLFromChallenge(ctx, c, endpoint)
		if perr != nil || named == "" || named == wellKnown {
			return nil, fmt.Errorf("find the authorization server of %s: %w", endpoint, err)
		}
		if prm, err = oauthex.GetProtectedResourceMetadata(ctx, named, endpoint, c); err != nil {
			return nil, fmt.Errorf("find the authorization server of %s: %w", endpoint, err)
		}
	}
	if len(prm.AuthorizationServers) == 0 {
		return nil, fmt.Errorf("the protected resource metadata of %s names no authorization server", endpoint)
	}
	asm, err := auth.GetAuthServerMetadata(ctx, prm.AuthorizationServers[0], c)
	if err != nil {
		return nil, fmt.Errorf("authorization server metadata of %s: %w", prm.AuthorizationServers[0], err)
	}
	if asm == nil {
		return nil, fmt.Errorf("%s publishes no authorization server metadata (RFC 8414)", prm.AuthorizationServers[0])
	}
	if asm.TokenEndpoint == "" {
		return nil, fmt.Errorf("the authorization server metadata of %s has no token_endpoint", asm.Issuer)
	}
	return &discovery{resource: prm.Resource, prm: prm, asm: asm}, nil
}

// metadataURLFromChallenge asks the endpoint without a token and returns the
// resource_metadata its 401 names (RFC 9728 section 5.1).
func metadataURLFromChallenge(ctx context.Context, c *http.Client, endpoint string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusUnauthorized {
		return "", fmt.Errorf("%s answered %d without a token, not 401", endpoint, resp.StatusCode)
	}
	challenges, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return "", err
	}
	for _, ch := range challenges {
		if v := ch.Params["resource_metadata"]; v != "" {
			return v, nil
		}
	}
	return "", errors.New("the 401 names no resource_metadata")
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
