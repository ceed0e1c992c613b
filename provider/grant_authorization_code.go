package provider

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"
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

// authorizeCodeFactory composes fosite's authorization code handler wrapped in
// codeGrantHandler, on provenReplays, with code_challenge kept in the stored code
// (codeConfig). It takes the place of compose.OAuth2AuthorizeExplicitFactory.
func authorizeCodeFactory(config fosite.Configurator, storage, strategy any) any {
	store := provenReplays{storage.(*fositeStore)}
	h := compose.OAuth2AuthorizeExplicitFactory(codeConfig{config}, store, strategy).(*oauth2.AuthorizeExplicitGrantHandler)
	return &codeGrantHandler{AuthorizeExplicitGrantHandler: h}
}

// codeConfig keeps the PKCE challenge in the stored authorization code, beside fosite's
// default code and redirect_uri: fosite deletes the PKCE session when the code is redeemed,
// and provenReplays needs the challenge again when the used code comes back. A challenge is
// a hash, no secret.
type codeConfig struct{ fosite.Configurator }

// GetSanitationWhiteList implements fosite.SanitationAllowedProvider.
func (codeConfig) GetSanitationWhiteList(context.Context) []string {
	return []string{"code", "redirect_uri", "code_challenge", "code_challenge_method"}
}

// Revocation on reuse needs proof. RFC 6749 section 4.1.2 (and RFC 9700 section 4.5) has the
// server revoke what a code issued when the code is presented twice, against an attacker who
// redeemed a stolen code. fosite does it as soon as it reads a used code, before PKCE is
// checked, so anyone who saw a public client's used code (in a log, a browser history) could
// end the victim's tokens with any code_verifier. provenReplays, the storage of fosite's code
// handler, shows it a used code only when the token request proves what the first
// redemption had to: the same client (fosite has already authenticated a confidential one),
// the same redirect_uri and a code_verifier matching the stored challenge. For any other
// request the used code reads as unknown: invalid_grant, and nothing is revoked. The check
// needs the token request, which codeGrantHandler puts in the context (tokenRequestKey); it
// costs no query, the code's row is read anyway.
type provenReplays struct{ *fositeStore }

// fosite runs the exchange in one transaction only if its storage is Transactional.
var _ fositestorage.Transactional = provenReplays{}

type tokenRequestKey struct{}

// errUnprovenReplay: a used code presented without proof. It is fosite.ErrNotFound to fosite,
// which answers invalid_grant and revokes nothing.
var errUnprovenReplay = fmt.Errorf("%w: a used authorization code was presented without the client, redirect_uri or code_verifier of its redemption; nothing was revoked", fosite.ErrNotFound)

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s provenReplays) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.fositeStore.GetAuthorizeCodeSession(ctx, code, session)
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) && req != nil {
		ar, _ := ctx.Value(tokenRequestKey{}).(fosite.AccessRequester)
		if ar == nil || !provesCode(ar, req) {
			return nil, errUnprovenReplay
		}
	}
	return req, err
}

// codeGrantHandler is fosite's authorization code handler, run with the token request in its
// context (for provenReplays) and with lost races answered as replays.
//
// A lost race is a replay, not a server error. Of concurrent exchanges of one code, the
// losers pass the checks before the winner commits and then find the code used while
// issuing (fosite.ErrInvalidatedAuthorizeCode on the second read, or the store's
// fosite.ErrSerializationFailure when invalidating it), which fosite answers with 500. They
// proved possession like any replay, so they get the replay's answer: invalid_grant, and
// what the code issued is revoked.
type codeGrantHandler struct {
	*oauth2.AuthorizeExplicitGrantHandler
}

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (h *codeGrantHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	return h.AuthorizeExplicitGrantHandler.HandleTokenEndpointRequest(context.WithValue(ctx, tokenRequestKey{}, ar), ar)
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler.
func (h *codeGrantHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	err := h.AuthorizeExplicitGrantHandler.PopulateTokenEndpointResponse(context.WithValue(ctx, tokenRequestKey{}, ar), ar, resp)
	if err == nil || !(errors.Is(err, fosite.ErrSerializationFailure) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode)) {
		return err
	}
	// fosite's transaction is rolled back; ar carries the code's request ID
	// (HandleTokenEndpointRequest set it). Revoke as fosite does for a replay.
	hint, debug := hintCodeReplay, "Lost a race to redeem the code: "+err.Error()+"."
	if rerr := h.TokenRevocationStorage.RevokeAccessToken(ctx, ar.GetID()); rerr != nil {
		hint += " Additionally, an error occurred during processing the access token revocation."
		debug += " Revocation of access_token: " + rerr.Error() + "."
	}
	if rerr := h.TokenRevocationStorage.RevokeRefreshToken(ctx, ar.GetID()); rerr != nil {
		hint += " Additionally, an error occurred during processing the refresh token revocation."
		debug += " Revocation of refresh_token: " + rerr.Error() + "."
	}
	return fosite.ErrInvalidGrant.WithHint(hint).WithDebug(debug)
}

// provesCode reports whether the token request ar shows what redeeming the stored code
// required: its client, its redirect_uri, and a code_verifier for its challenge (S256, the
// only method allowed). A code stored without a challenge proves nothing.
func provesCode(ar fosite.AccessRequester, stored fosite.Requester) bool {
	if stored.GetClient() == nil || stored.GetClient().GetID() != ar.GetClient().GetID() {
		return false
	}
	form := stored.GetRequestForm()
	if uri := form.Get("redirect_uri"); uri != "" && uri != ar.GetRequestForm().Get("redirect_uri") {
		return false
	}
	challenge := form.Get("code_challenge")
	if challenge == "" || form.Get("code_challenge_method") != "S256" {
		return false
	}
	sum := sha256.Sum256([]byte(ar.GetRequestForm().Get("code_verifier")))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}
