package mcp

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/internal/urls"
)

// serveMetadata serves RFC 9728 protected resource metadata for one MCP server, at the
// path RFC 9728 section 3.1 derives from the resource URL (the well-known suffix inserted
// between host and path). It is public: a client reads it before it has any token.
//
// resource is the canonical URL byte for byte (what clients send as RFC 8707 resource and
// what tokens carry as aud); scopes_supported leaves out mcp:server:manage because clients
// ask for everything listed there, and should step up to management deliberately.
func (g *Gateway) serveMetadata(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		preflight(w, "GET, HEAD, OPTIONS")
		return
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		httpx.WriteOAuthError(w, r, &httpx.OAuthError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Description: "Use GET."})
		return
	}
	const prefix = urls.PRMetadata + urls.MCPPrefix
	vars := mux.Vars(r)
	org, name := vars["org"], vars["server"]
	switch pathProblem(r, prefix, org, name) {
	case 0:
	case http.StatusNotFound:
		httpx.WriteOAuthError(w, r, &httpx.OAuthError{Status: http.StatusNotFound, Code: "not_found", Description: "No MCP server is registered at this path."})
		return
	default:
		httpx.WriteOAuthError(w, r, &httpx.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The path must be exactly " + prefix + "{org}/{server}."})
		return
	}
	info, err := g.servers.lookup(r.Context(), org, name)
	if err != nil {
		g.log.WarnContext(r.Context(), "protected resource metadata: server lookup failed", "err", err)
		httpx.WriteOAuthError(w, r, &httpx.OAuthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "Retry shortly."})
		return
	}
	if info.srv == nil {
		httpx.WriteOAuthError(w, r, &httpx.OAuthError{Status: http.StatusNotFound, Code: "not_found", Description: "No MCP server is registered at " + urls.MCPPrefix + urls.ServerPath(org, name) + "."})
		return
	}
	doc := oauthex.ProtectedResourceMetadata{
		Resource:               info.resource,
		AuthorizationServers:   []string{g.issuer},
		ScopesSupported:        g.scopes.Advertised(),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           info.srv.Name,
	}
	httpx.WriteDocument(w, "application/json", 5*time.Minute, doc)
}
