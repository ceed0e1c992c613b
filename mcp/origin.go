package mcp

import (
	"net/http"

	"github.com/conexor/conexor/internal/httpx"
)

// originHelp tells the operator how to let a browser-based client in.
const originHelp = " Browser-based MCP clients on another origin must be allowed by the server's operator: " +
	"add the exact origin (scheme://host[:port]) to allowed_origins (CONEXOR_ALLOWED_ORIGINS). " +
	"The issuer's own origin and loopback origins (localhost, 127.0.0.1, [::1]) are always allowed."

// RefuseOrigin answers a request to the MCP endpoint whose Origin is not allowed
// (httpx.CheckOrigin): 403 with a JSON-RPC error without an id, as the MCP transport
// specification asks.
func RefuseOrigin(w http.ResponseWriter, _ *http.Request, origin string) {
	writeRPCError(w, http.StatusForbidden, nil, CodeForbidden,
		"Origin "+httpx.Truncate(origin, 200)+" is not allowed to call this MCP server."+originHelp)
}

// RefuseAPIOrigin answers a server API request whose Origin is not allowed: 403 in the
// API's JSON error shape.
func RefuseAPIOrigin(w http.ResponseWriter, _ *http.Request, origin string) {
	httpx.WriteJSON(w, http.StatusForbidden, httpx.OAuthError{Code: "forbidden",
		Description: "Origin " + httpx.Truncate(origin, 200) + " is not allowed to call this API." + originHelp})
}
