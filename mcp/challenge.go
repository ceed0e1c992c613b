package mcp

import (
	"net/http"
	"strings"

	"github.com/conexor/conexor/internal/httpx"
)

// RFC 6750 section 3.1 error codes.
const (
	errInvalidRequest    = "invalid_request"
	errInvalidToken      = "invalid_token"
	errInsufficientScope = "insufficient_scope"
)

// refusal is the gate's reason for turning a request away, in every form it is reported:
// HTTP status, WWW-Authenticate challenge, JSON-RPC or RFC 6750 body, metrics and logs.
type refusal struct {
	status  int
	oauth   string // RFC 6750 error code; "" for a bare challenge (no credentials sent)
	scope   string // the scope to ask for, with insufficient_scope
	desc    string // shown to the client: says what is wrong, never why in detail
	rpcCode int
	outcome string // metrics label
	detail  string // logged only; may name internals, never the token
}

func (rf *refusal) challenged() bool {
	return rf.status == http.StatusUnauthorized || rf.oauth == errInsufficientScope
}

// wwwAuthenticate renders the Bearer challenge of RFC 6750 section 3 with RFC 9728's
// resource_metadata, which is how an MCP client finds the authorization server.
func (rf *refusal) wwwAuthenticate(metadataURL string) string {
	var b strings.Builder
	b.WriteString("Bearer ")
	if rf.oauth != "" {
		b.WriteString(`error="` + rf.oauth + `", `)
		if rf.scope != "" {
			b.WriteString(`scope="` + quotable(rf.scope) + `", `)
		}
		if rf.desc != "" && rf.oauth != errInsufficientScope {
			b.WriteString(`error_description="` + quotable(rf.desc) + `", `)
		}
	}
	b.WriteString(`resource_metadata="` + quotable(metadataURL) + `"`)
	return b.String()
}

// quotable keeps the characters RFC 6750 allows inside error_description and scope
// (%x20-21 / %x23-5B / %x5D-7E): no quote, no backslash, no control or non-ASCII byte.
func quotable(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '\''
		}
	}
	return string(b)
}

// writeMCPRefusal answers on the MCP endpoint: the challenge header where one applies and a
// JSON-RPC error body with the request's id.
func writeMCPRefusal(w http.ResponseWriter, rf *refusal, metadataURL string, id []byte) {
	rf.setHeaders(w, metadataURL)
	writeRPCError(w, rf.status, id, rf.rpcCode, rf.desc)
}

// writeAPIRefusal answers on the server API: the same challenge, an RFC 6750 body.
func writeAPIRefusal(w http.ResponseWriter, rf *refusal, metadataURL string) {
	rf.setHeaders(w, metadataURL)
	code := rf.oauth
	if code == "" {
		code = apiErrorCode(rf.status)
	}
	httpx.WriteJSON(w, rf.status, &httpx.OAuthError{Code: code, Description: rf.desc, Scope: rf.scope})
}

func apiErrorCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "unauthorized" // no credentials: RFC 6750 section 3.1 sets no error code
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	default:
		if status >= 500 {
			return "server_error"
		}
		return errInvalidRequest
	}
}

// setHeaders sets a refusal's headers: the challenge, and Retry-After on a 503 (the
// database is unreachable: the same request may succeed in a moment).
func (rf *refusal) setHeaders(w http.ResponseWriter, metadataURL string) {
	if rf.challenged() {
		w.Header().Set("WWW-Authenticate", rf.wwwAuthenticate(metadataURL))
	}
	if rf.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
}
