package provider

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/storage"
)

// introspection is an RFC 7662 section 2.2 response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       Audience `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	TokenUse  string   `json:"token_use,omitempty"`
}

// IntrospectHandler serves POST /api/oauth/introspect (RFC 7662). The caller must be a
// confidential client; it learns about tokens issued to itself or for its own MCP server and
// gets {"active":false} for everything else, as for revoked, expired and unknown tokens.
// (fosite accepts any valid access token as the caller's credential and checks no ownership.)
func (p *Provider) IntrospectHandler(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(storage.WithClientCache(r.Context())) // the caller is often the token's client too
	ctx := r.Context()
	if oe := parseOAuthForm(w, r, "introspection"); oe != nil {
		WriteOAuthError(w, r, oe)
		return
	}
	authDone, ok := p.beginClientAuth(w, r)
	if !ok {
		return
	}
	caller, err := p.oauth.AuthenticateClient(ctx, r, r.PostForm)
	authDone(clientAuthFailed(err))
	if errors.Is(err, storage.ErrUnavailable) {
		p.log.ErrorContext(ctx, "introspection failed", "client_id", clientIDForLog(r), "detail", debugOf(err))
		WriteOAuthError(w, r, errUnavailable)
		return
	}
	if err != nil {
		p.log.InfoContext(ctx, "introspection refused", "client_id", clientIDForLog(r), "detail", debugOf(err))
		WriteOAuthError(w, r, oauthErr(http.StatusUnauthorized, "invalid_client", "Client authentication failed: introspection needs a confidential client's ID and secret."))
		return
	}
	if caller.IsPublic() {
		WriteOAuthError(w, r, oauthErr(http.StatusUnauthorized, "invalid_client", "Public clients cannot introspect tokens: use a confidential client's ID and secret."))
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		WriteOAuthError(w, r, oauthErr(http.StatusBadRequest, "invalid_request", "The token parameter is required."))
		return
	}
	out, err := p.introspect(ctx, caller, token, r.PostForm.Get("token_type_hint"))
	if err != nil {
		// Only a database failure: "inactive" would tell a resource server to refuse a
		// token that may be valid.
		p.log.ErrorContext(ctx, "introspection failed", "client_id", caller.GetID(), "detail", debugOf(err))
		WriteOAuthError(w, r, errUnavailable)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// introspect answers for token; the error is storage.ErrUnavailable's, every other failure
// is an inactive token.
func (p *Provider) introspect(ctx context.Context, caller fosite.Client, token, hint string) (introspection, error) {
	use := fosite.AccessToken
	if hint == "refresh_token" {
		use = fosite.RefreshToken
	}
	tu, ar, err := p.oauth.IntrospectToken(ctx, token, use, NewSession(""))
	if errors.Is(err, storage.ErrUnavailable) {
		return introspection{}, err
	}
	if err != nil {
		return introspection{Active: false}, nil
	}
	if !p.mayIntrospect(caller, ar) {
		p.log.InfoContext(ctx, "introspection of a foreign token answered inactive", "client_id", caller.GetID(), "token_client_id", ar.GetClient().GetID())
		return introspection{Active: false}, nil
	}
	out := introspection{
		Active:   true,
		Scope:    strings.Join(ar.GetGrantedScopes(), " "),
		ClientID: ar.GetClient().GetID(),
		Aud:      Audience(ar.GetGrantedAudience()),
		Iss:      p.cfg.Issuer,
	}
	if sess, ok := ar.GetSession().(*Session); ok {
		out.Sub = sess.Subject
	}
	if tu == fosite.AccessToken {
		out.TokenType, out.TokenUse = "Bearer", "access_token"
		if c, err := p.strategy.VerifyAccessToken(ctx, token); err == nil {
			out.Exp, out.Iat, out.JTI, out.Sub = c.Expiry, c.IssuedAt, c.JTI, c.Subject
		}
	} else {
		out.TokenUse = "refresh_token"
		out.Exp = ar.GetSession().GetExpiresAt(fosite.RefreshToken).Unix()
		out.Iat = ar.GetRequestedAt().Unix()
	}
	return out, nil
}

// mayIntrospect: a client may see tokens issued to itself, or tokens whose audience is the
// MCP server the client belongs to (a resource server checking the tokens it receives).
func (p *Provider) mayIntrospect(caller fosite.Client, ar fosite.Requester) bool {
	if ar.GetClient().GetID() == caller.GetID() {
		return true
	}
	for _, a := range ar.GetGrantedAudience() {
		if ExactScopeStrategy(caller.GetAudience(), a) {
			return true
		}
	}
	return false
}
