package provider

import (
	"context"
	"errors"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/pkce"
)

// authorizationCodeGrant is the authorization code grant (RFC 6749 section 4.1.3) with PKCE
// (RFC 7636). fosite checks the code, the redirect URI, the client and the code_verifier,
// and grants what the user approved; Conexor adds that a resource indicator may name the
// code's server again but never another one (RFC 8707 section 2.2).
var authorizationCodeGrant = grantRules{
	check: func(_ *Provider, ar fosite.AccessRequester, resource string) error {
		return sameServer(ar, resource)
	},
}

// pkceChallengeHint is added to a refusal for a code_verifier that does not match the code's
// challenge: the product page's own one-liner computes the challenge wrongly.
const pkceChallengeHint = "The code_challenge sent to /oauth/consent must be BASE64URL(SHA256(code_verifier)) without '=' padding, e.g. printf %s \"$code_verifier\" | openssl dgst -sha256 -binary | base64 | tr -d '=' | tr '/+' '_-'."

// pkceFactory composes fosite's PKCE handler wrapped in pkceHandler (it must follow the
// authorize code factory, like compose.OAuth2PKCEFactory).
func pkceFactory(config fosite.Configurator, storage, strategy any) any {
	return &pkceHandler{Handler: compose.OAuth2PKCEFactory(config, storage, strategy).(*pkce.Handler)}
}

// pkceHandler is fosite's PKCE handler, with its token-endpoint refusals for a wrong
// code_verifier marked (pkceMismatch) so that the token endpoint can explain them.
//
// fosite v0.49 returns the same value for every PKCE refusal at the token endpoint,
// ErrInvalidGrant with a hint in English, so neither the error value nor ErrorField tells a
// wrong verifier from the others, and matching the hint text breaks on any rewording. What is
// robust is where the error came from and what the request was: wrapping the handler proves
// the first. Of the PKCE handler's invalid_grant outcomes (no PKCE data for the code, which
// wraps fosite.ErrNotFound; a verifier shorter than 43, longer than 128 or with characters
// outside RFC 7636 section 4.1; a verifier without a challenge, which cannot happen here as
// EnforcePKCE refuses a missing challenge as invalid_request first; and the mismatch), only
// the mismatch remains once the PKCE data was found and the verifier is well-formed.
// Verifying the verifier ourselves before fosite would mean reading the PKCE session a second
// time, a query per exchange. TestPKCEHint pins the distinction.
type pkceHandler struct {
	*pkce.Handler
}

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (h *pkceHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	err := h.Handler.HandleTokenEndpointRequest(ctx, ar)
	if err != nil && errors.Is(err, fosite.ErrInvalidGrant) && !errors.Is(err, fosite.ErrNotFound) &&
		wellFormedVerifier(ar.GetRequestForm().Get("code_verifier")) {
		return &pkceMismatch{err: err}
	}
	return err
}

// wellFormedVerifier: RFC 7636 section 4.1, 43 to 128 unreserved characters.
func wellFormedVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// pkceMismatch marks fosite's refusal of a code_verifier that does not match the challenge.
// It unwraps to fosite's error, so the response is fosite's invalid_grant.
type pkceMismatch struct{ err error }

func (e *pkceMismatch) Error() string { return e.err.Error() }
func (e *pkceMismatch) Unwrap() error { return e.err }

func isPKCEMismatch(err error) bool {
	var m *pkceMismatch
	return errors.As(err, &m)
}
