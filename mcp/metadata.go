package mcp

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
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
		writeJSON(w, http.StatusMethodNotAllowed, oauthErrorBody{Error: "method_not_allowed", Description: "Use GET."})
		return
	}
	const prefix = "/.well-known/oauth-protected-resource/mcp/"
	vars := mux.Vars(r)
	org, name := vars["org"], vars["server"]
	switch pathProblem(r, prefix, org, name) {
	case 0:
	case http.StatusNotFound:
		writeJSON(w, http.StatusNotFound, oauthErrorBody{Error: "not_found", Description: "No MCP server is registered at this path."})
		return
	default:
		writeJSON(w, http.StatusBadRequest, oauthErrorBody{Error: "invalid_request", Description: "The path must be exactly " + prefix + "{org}/{server}."})
		return
	}
	info, err := g.servers.lookup(r.Context(), org, name)
	if err != nil {
		g.log.WarnContext(r.Context(), "protected resource metadata: server lookup failed", "err", err)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, oauthErrorBody{Error: "temporarily_unavailable", Description: "Retry shortly."})
		return
	}
	if info.srv == nil {
		writeJSON(w, http.StatusNotFound, oauthErrorBody{Error: "not_found", Description: "No MCP server is registered at /mcp/" + org + "/" + name + "."})
		return
	}
	doc := oauthex.ProtectedResourceMetadata{
		Resource:               info.resource,
		AuthorizationServers:   []string{g.issuer},
		ScopesSupported:        g.scopes.Advertised(),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           info.srv.Name,
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(doc)
}
