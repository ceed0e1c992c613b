package storage

import (
	"context"
	"sync"
)

// clientCache holds the clients one request has loaded. An OAuth request reads its client
// several times: fosite authenticates it, and every stored code, PKCE session and token
// it then loads names it again (four loads per authorization-code exchange, two per
// refresh). Within one request the client cannot usefully change, so it is read once.
type clientCache struct {
	mu      sync.Mutex
	clients map[string]*Client
}

type clientCacheKey struct{}

// WithClientCache returns a context in which ClientByID (and so GetClient and every token
// lookup) loads each client at most once. Give it one request's context, never a
// long-lived one: a cached client does not see a later revocation or edit.
func WithClientCache(ctx context.Context) context.Context {
	if _, ok := ctx.Value(clientCacheKey{}).(*clientCache); ok {
		return ctx
	}
	return context.WithValue(ctx, clientCacheKey{}, &clientCache{clients: map[string]*Client{}})
}

func cachedClient(ctx context.Context, id string) (*Client, *clientCache) {
	cc, ok := ctx.Value(clientCacheKey{}).(*clientCache)
	if !ok {
		return nil, nil
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.clients[id], cc
}

func (cc *clientCache) put(c *Client) {
	if cc == nil {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.clients[c.ID] = c
}
