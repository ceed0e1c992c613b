package provider

import (
	"context"
	"strings"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

// fositeClient is a stored client as fosite sees it: with its audience, the resource URL of
// the MCP server it belongs to. Storage does not know the issuer, so the audience is made
// here; fosite's AudienceMatchingStrategy (AudienceStrategy) checks every requested audience
// against it.
type fositeClient struct {
	*storage.Client
	audience fosite.Arguments
}

// GetAudience implements fosite.Client.
func (c *fositeClient) GetAudience() fosite.Arguments { return c.audience }

// fositeClient wraps c with its audience: none for a client bound to no server (its
// resource is validated against the known servers instead).
func (p *Provider) fositeClient(c *storage.Client) *fositeClient {
	return &fositeClient{Client: c, audience: p.clientAudience(c)}
}

// clientAudience is the resource URL of the server c belongs to, or nothing if it belongs to
// none. The store fills ServerPath in for every bound client it returns.
func (p *Provider) clientAudience(c *storage.Client) fosite.Arguments {
	if c.ServerID == nil {
		return nil
	}
	org, server, _ := strings.Cut(c.ServerPath, "/")
	return fosite.Arguments{urls.Resource(p.cfg.Issuer, org, server)}
}

// storageClient returns the stored client behind a client fosite hands back: the one this
// package gave it (a *fositeClient) or one from a stored request (a *storage.Client).
func storageClient(c fosite.Client) *storage.Client {
	switch c := c.(type) {
	case *fositeClient:
		return c.Client
	case *storage.Client:
		return c
	}
	return nil
}

// fositeStore is the storage fosite is composed with: the store, except that the clients it
// authenticates carry their audience (fositeClient).
type fositeStore struct {
	*storage.Store
	p *Provider
}

// GetClient implements fosite.ClientManager.
func (s fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.Store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.p.fositeClient(storageClient(c)), nil
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage, marking the request (see
// withRevokedHere) for fosite's revocations of a replayed code's tokens.
func (s fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	markRevokedHere(ctx)
	return s.Store.RevokeAccessToken(ctx, requestID)
}
