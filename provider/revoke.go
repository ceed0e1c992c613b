package provider

import (
	"errors"
	"net/http"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/storage"
)

// RevokeHandler serves POST /api/oauth/revoke (RFC 7009) for access and refresh tokens.
// Unknown tokens answer 200 (section 2.2); another client's token is refused; a storage
// failure is 503 so the client retries, never a 200 that leaves the token alive (fosite's
// own writer answers 200 there).
func (p *Provider) RevokeHandler(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(storage.WithClientCache(r.Context())) // authentication and the token name the same client
	ctx := r.Context()
	refuse := func(oe *OAuthError, detail string) {
		p.metrics.Revoked.WithLabelValues(oe.Code).Inc()
		p.log.InfoContext(ctx, "revocation refused", "client_id", clientIDForLog(r), "error", oe.Code, "detail", detail)
		WriteOAuthError(w, r, oe)
	}
	if oe := parseOAuthForm(w, r, "revocation"); oe != nil {
		refuse(oe, "")
		return
	}
	if oe := requireClientID(r); oe != nil {
		refuse(oe, "")
		return
	}
	if r.PostForm.Get("token") == "" {
		refuse(oauthErr(400, "invalid_request", "The token parameter is required."), "")
		return
	}
	authDone, ok := p.beginClientAuth(w, r)
	if !ok {
		p.metrics.Revoked.WithLabelValues("too_many_requests").Inc()
		return
	}
	err := p.oauth.NewRevocationRequest(ctx, r)
	authDone(clientAuthFailed(err))
	switch {
	case err == nil:
		p.metrics.Revoked.WithLabelValues("revoked").Inc()
		p.log.InfoContext(ctx, "token revoked", "client_id", clientIDForLog(r), "hint", r.PostForm.Get("token_type_hint"))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, fosite.ErrUnauthorizedClient):
		refuse(oauthErr(400, "unauthorized_client", "This token was not issued to the authenticated client, so it may not revoke it."), "")
	case errors.Is(err, fosite.ErrTemporarilyUnavailable), errors.Is(err, fosite.ErrServerError), errors.Is(err, storage.ErrUnavailable):
		p.metrics.Revoked.WithLabelValues("unavailable").Inc()
		p.log.ErrorContext(ctx, "revocation failed", "client_id", clientIDForLog(r), "detail", debugOf(err))
		w.Header().Set("Retry-After", "1")
		WriteOAuthError(w, r, oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "The token could not be revoked right now; retry the request."))
	default:
		refuse(toOAuthError(err), debugOf(err))
	}
}
