package httpx

import (
	"net/http"
	"strings"
)

// CORS header values for the endpoints browser-based MCP clients call: any origin, never
// credentials (these endpoints authenticate with bearer tokens and client secrets, not
// cookies), the MCP transport's own headers allowed and readable.
const (
	corsAllowMethods  = "GET, HEAD, POST, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID"
	corsExposeHeaders = "WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After"
	corsMaxAge        = "86400"
)

// The values of the two headers every response on a CORS path carries, shared by all of
// them instead of allocated per request. Capacity equals length, so a handler that Adds
// a value gets a new slice; nothing writes into a header's slice in place.
var (
	corsAnyOrigin = []string{"*"}
	corsExposed   = []string{corsExposeHeaders}
)

// CORS answers cross-origin requests for the paths match accepts and passes everything else
// through untouched. It wraps the whole router rather than single routes so a preflight
// (OPTIONS) is answered here, 204, before a route that allows only GET or POST could
// answer 405. Responses on matching paths carry Access-Control-Allow-Origin: * and expose
// WWW-Authenticate and Mcp-Session-Id, which a browser client needs to discover the
// authorization server from a 401 and to keep its MCP session.
func CORS(match func(path string) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !match(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h["Access-Control-Allow-Origin"] = corsAnyOrigin
		h["Access-Control-Expose-Headers"] = corsExposed
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// MatchPaths returns a matcher for CORS: a pattern ending in "/" matches every path under
// it, any other pattern matches that path exactly.
func MatchPaths(patterns ...string) func(string) bool {
	var exact = map[string]bool{}
	var prefixes []string
	for _, p := range patterns {
		if strings.HasSuffix(p, "/") {
			prefixes = append(prefixes, p)
		} else {
			exact[p] = true
		}
	}
	return func(path string) bool {
		if exact[path] {
			return true
		}
		for _, p := range prefixes {
			if strings.HasPrefix(path, p) {
				return true
			}
		}
		return false
	}
}
