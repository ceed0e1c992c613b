package httpx

import "net/http"

// OAuthError is the one error body of Conexor's JSON endpoints: RFC 6749 section 5.2's
// shape, which RFC 6750 resource servers and RFC 7591 registration use too, so a client
// parses every refusal the same way.
type OAuthError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// Scope is the scope to ask for, with RFC 6750's insufficient_scope.
	Scope string `json:"scope,omitempty"`
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// WriteOAuthError writes e with WriteJSON's headers. A 503 says when to retry (1 s unless
// the caller set Retry-After); a 401 invalid_client answered to a client that used HTTP
// Basic carries WWW-Authenticate: Basic (RFC 6749 section 5.2).
func WriteOAuthError(w http.ResponseWriter, r *http.Request, e *OAuthError) {
	h := w.Header()
	if e.Status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", "1")
	}
	if e.Status == http.StatusUnauthorized && e.Code == "invalid_client" {
		if _, _, ok := r.BasicAuth(); ok {
			h.Set("WWW-Authenticate", `Basic realm="conexor", charset="UTF-8"`)
		}
	}
	WriteJSON(w, e.Status, e)
}
