package mcp

import (
	"net/http"
	"strings"

	"github.com/conexor/conexor/internal/urls"
)

// pathProblem checks that a request for prefix+org+"/"+server reached the router exactly as
// that string, so that no encoding or dot-segment trick can make the gate check one server
// while something else reads another. It returns 0 for a canonical path, 400 for one that
// uses percent-encoding, ';' parameters or dot segments, and 404 for segments no server
// can have (slugs are 1-64 of a-z, 0-9 and '-', as the CLI creates them).
//
// The router never cleans paths (SkipClean) and matches the decoded path, so
// /mcp/acme%2Fsales-api would match {org}=acme {server}=sales-api: comparing the escaped
// path with the canonical one catches that and every variant of it.
//
// The MCP endpoint alone also takes exactly one trailing slash (clients are configured
// with it often enough); everything about the server, the token's audience included,
// still goes by the canonical URL without it.
func pathProblem(r *http.Request, prefix, org, server string) int {
	canonical, path := prefix+org+"/"+server, r.URL.EscapedPath()
	if r.URL.RawPath != "" || path != canonical && !(prefix == urls.MCPPrefix && path == canonical+"/") {
		return http.StatusBadRequest
	}
	for _, seg := range [2]string{org, server} {
		if seg == "." || seg == ".." || strings.ContainsAny(seg, "%;\\") {
			return http.StatusBadRequest
		}
		if !urls.ValidSlug(seg) {
			return http.StatusNotFound
		}
	}
	return 0
}
