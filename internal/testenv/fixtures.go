package testenv

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// CreateServer creates the MCP server at "org/server" (and its org when missing) with the
// built-in demo backend, and returns it.
func (e *Env) CreateServer(path string) *storage.Server {
	e.tb.Helper()
	orgSlug, slug, ok := strings.Cut(path, "/")
	if !ok || orgSlug == "" || slug == "" || strings.Contains(slug, "/") {
		e.tb.Fatalf("testenv: CreateServer(%q): want ORG/SERVER", path)
	}
	srv, err := e.Provider.CreateServer(context.Background(), provider.ServerSpec{Org: orgSlug, Slug: slug, Name: path})
	if err != nil {
		e.tb.Fatalf("testenv: CreateServer(%q): %v", path, err)
	}
	return srv
}

// ServerByPath returns the MCP server at "org/server", failing the test if there is none.
func (e *Env) ServerByPath(path string) *storage.Server {
	e.tb.Helper()
	orgSlug, slug, _ := strings.Cut(path, "/")
	srv, err := e.Store.ServerByPath(context.Background(), orgSlug, slug)
	if err != nil {
		e.tb.Fatalf("testenv: server %q: %v", path, err)
	}
	return srv
}

// CreateClient creates a client through the provider (as the CLI and dashboard do) and
// returns it with its secret ("" for public clients).
func (e *Env) CreateClient(spec provider.ClientSpec) (*storage.Client, string) {
	e.tb.Helper()
	c, secret, err := e.Provider.CreateClient(context.Background(), spec)
	if err != nil {
		e.tb.Fatalf("testenv: CreateClient(%q): %v", spec.Name, err)
	}
	return c, secret
}

// clientSeq numbers the clients CreateServerClient makes: names are unique per server.
var clientSeq atomic.Int64

// CreateServerClient creates a confidential client_credentials client of the MCP server at
// "org/server" with the given scopes, and returns its ID and secret.
func (e *Env) CreateServerClient(path string, scopes ...string) (id, secret string) {
	e.tb.Helper()
	srv := e.ServerByPath(path)
	c, secret := e.CreateClient(provider.ClientSpec{
		ServerID: srv.ID, Name: fmt.Sprintf("test client %d of %s", clientSeq.Add(1), path), Scopes: scopes,
		GrantTypes: []string{"client_credentials"},
	})
	return c.ID, secret
}
