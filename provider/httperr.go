package provider

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/storage"
)

// MaxFormBytes caps every OAuth request body. Real token, revocation and introspection
// requests are a few hundred bytes.
const MaxFormBytes = 64 << 10

// OAuthError is an RFC 6749 section 5.2 error response (httpx's, the one shape).
type OAuthError = httpx.OAuthError

func oauthErr(status int, code, description string) *OAuthError {
	return &OAuthError{Status: status, Code: code, Description: description}
}

// WriteOAuthError writes an RFC 6749 JSON error (httpx.WriteOAuthError).
func WriteOAuthError(w http.ResponseWriter, r *http.Request, e *OAuthError) {
	httpx.WriteOAuthError(w, r, e)
}

// errUnavailable answers a request the database could not serve (storage.ErrUnavailable:
// unreachable, locked past its busy timeout, read-only): RFC 6749's temporarily_unavailable,
// 503 with Retry-After (WriteOAuthError), so the client retries instead of giving up.
var errUnavailable = oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable",
	"The server cannot reach its database right now; retry the request in a moment.")

// serverFailure is the answer to a request that failed on the server's side: errUnavailable
// when the database is unavailable, else fallback.
func serverFailure(err error, fallback *OAuthError) *OAuthError {
	if errors.Is(err, storage.ErrUnavailable) {
		return errUnavailable
	}
	return fallback
}

// toOAuthError converts a fosite error. Internal details stay in fosite's debug field, which
// is logged and never sent.
func toOAuthError(err error) *OAuthError {
	var oe *OAuthError
	if errors.As(err, &oe) {
		return oe
	}
	if errors.Is(err, storage.ErrUnavailable) {
		// Whatever fosite made of it (invalid_client for a failed client lookup,
		// server_error, "The error is unrecognizable"): the request may well be fine.
		return errUnavailable
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	status := rfc.StatusCode()
	if status == 0 {
		status = http.StatusInternalServerError
	}
	desc := rfc.GetDescription()
	if rfc.ErrorField == fosite.ErrServerError.ErrorField {
		desc = "The server could not complete the request. Try again later."
	}
	return oauthErr(status, rfc.ErrorField, desc)
}

// debugOf returns fosite's internal detail of an error, for logs only.
func debugOf(err error) string {
	rfc := fosite.ErrorToRFC6749Error(err)
	parts := []string{}
	if rfc.DebugField != "" {
		parts = append(parts, rfc.DebugField)
	}
	if c := rfc.Cause(); c != nil {
		parts = append(parts, c.Error())
	}
	return strings.Join(parts, "; ")
}

// parseOAuthForm enforces what every OAuth POST endpoint needs before fosite sees it:
// POST only, a form content type, a capped body, no repeated parameters (RFC 6749 3.1).
func parseOAuthForm(w http.ResponseWriter, r *http.Request, endpoint string) *OAuthError {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return oauthErr(http.StatusMethodNotAllowed, "invalid_request",
			fmt.Sprintf("The %s endpoint accepts only POST with an application/x-www-form-urlencoded body; this request used %s.", endpoint, r.Method))
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		got := r.Header.Get("Content-Type")
		if got == "" {
			got = "none"
		}
		return oauthErr(http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("Send the parameters as Content-Type: application/x-www-form-urlencoded (RFC 6749); this request's content type was %s.", got))
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return oauthErr(http.StatusRequestEntityTooLarge, "invalid_request",
				fmt.Sprintf("The request body is larger than %d KiB.", MaxFormBytes>>10))
		}
		return oauthErr(http.StatusBadRequest, "invalid_request", "The request body is not a valid application/x-www-form-urlencoded form.")
	}
	if len(r.PostForm) == 0 {
		return oauthErr(http.StatusBadRequest, "invalid_request", "The request body is empty; send the parameters in an application/x-www-form-urlencoded body.")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && k != "resource" {
			return oauthErr(http.StatusBadRequest, "invalid_request", fmt.Sprintf("The parameter %q was sent more than once.", k))
		}
	}
	return nil
}

// requireClientID answers a request that names no client at all. RFC 6749 section 5.2 makes
// that invalid_client ("no client authentication included"), 401; fosite would answer 400
// invalid_request. Public clients identify themselves with client_id alone.
func requireClientID(r *http.Request) *OAuthError {
	if _, _, ok := r.BasicAuth(); ok || r.PostForm.Get("client_id") != "" {
		return nil
	}
	return oauthErr(http.StatusUnauthorized, "invalid_client",
		"Client authentication is required: send client_id and client_secret in the form body (client_secret_post) or in an Authorization: Basic header (client_secret_basic).")
}
