package provider

import (
	"context"
	"errors"
	"strings"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/storage"
)

// refreshTokenGrant is the refresh token grant (RFC 6749 section 6). fosite checks the token,
// rotates it for public clients and re-grants the original scopes and audience; Conexor adds
// that the refresh stays with its server and cannot widen the scope.
var refreshTokenGrant = grantRules{
	check: func(_ *Provider, ar fosite.AccessRequester, resource string) error {
		if err := sameServer(ar, resource); err != nil {
			return err
		}
		return noWiderScope(ar)
	},
}

// noWiderScope: RFC 6749 section 6 forbids a scope "not originally granted by the resource
// owner". fosite ignores the scope parameter on refresh and re-grants the original scopes, so
// a request for more would silently "succeed"; refuse it instead, so the client knows it
// must re-authorize.
func noWiderScope(ar fosite.AccessRequester) error {
	for _, s := range strings.Fields(ar.GetRequestForm().Get("scope")) {
		if !ExactScopeStrategy(ar.GetGrantedScopes(), s) {
			return fosite.ErrInvalidScope.WithHintf("The scope '%s' was not granted to this refresh token; a refresh cannot widen the scope. Send the user through /oauth/consent again to ask for it.", httpx.Truncate(s, 128))
		}
	}
	return nil
}

// refreshFactory composes fosite's refresh token handler (in place of
// compose.OAuth2RefreshTokenGrantFactory) with two changes: the family revocation it does on
// reuse is recorded as such (reuseRevocations), and its refusal of an inactive refresh token
// says what happened to the token (refreshGrantHandler).
func refreshFactory(config fosite.Configurator, storage, strategy any) any {
	h := compose.OAuth2RefreshTokenGrantFactory(config, reuseRevocations{storage.(*fositeStore)}, strategy).(*oauth2.RefreshTokenGrantHandler)
	return &refreshGrantHandler{RefreshTokenGrantHandler: h, store: storage.(*fositeStore).Store}
}

// reuseRevocations is the storage of fosite's refresh handler. That handler revokes only in
// one place, reuse detection (a used or revoked refresh token presented again), so its
// revocations are marked as such: a sibling token refused later can then say its grant
// ended because of reuse, not because someone revoked it.
type reuseRevocations struct{ *fositeStore }

// fosite rotates a refresh token in one transaction only if its storage is Transactional.
var _ fositestorage.Transactional = reuseRevocations{}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage.
func (s reuseRevocations) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.Store.RevokeRefreshTokenForReuse(ctx, requestID)
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage.
func (s reuseRevocations) RevokeAccessToken(ctx context.Context, requestID string) error {
	markRevokedHere(ctx)
	return s.Store.RevokeAccessTokenForReuse(ctx, requestID)
}

// Refusals of an inactive refresh token. fosite says "already used" for every one; what the
// client should tell its user differs.
const (
	hintRefreshReuse   = "The refresh token was already used: it was exchanged for a new one before, and presenting it again looks like a stolen token, so every token of this grant is now revoked (reuse detection). Sign in again."
	hintRefreshFamily  = "The refresh token was revoked: an earlier refresh token of this grant was used twice, so every token of the grant was revoked (reuse detection). Sign in again."
	hintRefreshRevoked = "The refresh token was revoked: the grant was ended (by the user, an administrator, a token revocation request or the removal of the client). Sign in again."
)

// refreshGrantHandler is fosite's refresh token handler, with its refusal of an inactive
// refresh token rewritten to say which of the three cases it was. Only that refusal reads
// the token again.
type refreshGrantHandler struct {
	*oauth2.RefreshTokenGrantHandler
	store *storage.Store
}

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (h *refreshGrantHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	err := h.RefreshTokenGrantHandler.HandleTokenEndpointRequest(ctx, ar)
	if err == nil || !errors.Is(err, fosite.ErrInactiveToken) {
		return err
	}
	sig := h.RefreshTokenStrategy.RefreshTokenSignature(ctx, ar.GetRequestForm().Get("refresh_token"))
	state, serr := h.store.RefreshTokenState(ctx, sig)
	if serr != nil {
		return err // fosite's refusal stands; the family was revoked either way
	}
	hint := hintRefreshRevoked
	switch state {
	case storage.RefreshUsed:
		hint = hintRefreshReuse
	case storage.RefreshRevokedForReuse:
		hint = hintRefreshFamily
	}
	return fosite.ErrInvalidGrant.WithWrap(fosite.ErrInactiveToken).WithHint(hint).WithDebug(fosite.ErrorToRFC6749Error(err).GetDescription())
}
