package provider

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"

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

// LiveAccessTokens answers whether an access token is live (signature, typ, issuer, expiry,
// known to the store, not revoked) from memory where it can: the MCP gate's verified-claims
// cache and revocation set (*mcp.Gateway). Introspection then costs no query for a token
// already seen, where fosite's path reads the token row and its client and verifies the
// signature on every call. How stale a revocation can be is the implementation's bound
// (the gate's: none for revocations through this process, 750 ms for others).
type LiveAccessTokens interface {
	// LiveAccessToken returns the token's claims and true when it is live, false when it
	// is not (malformed, forged, expired, unknown, revoked), and an error wrapping
	// storage.ErrUnavailable only when it cannot tell now.
	LiveAccessToken(ctx context.Context, token string) (Claims, bool, error)
	// AccessTokensRevoked says this process has just revoked access tokens (committed)
	// outside the revocation endpoints, which the app wraps for the same purpose: it
	// returns once LiveAccessToken honours them (or, failing that, logs; its own bound
	// holds then).
	AccessTokensRevoked(ctx context.Context)
}

// revokedHereKey marks a token request during which fosite revoked access tokens: a used
// authorization code proven replayed, a refresh token reused (the whole grant is revoked).
// The answer then waits until introspection honours the revocation (TokenHandler), as the
// answer of the revocation endpoint does.
type revokedHereKey struct{}

func withRevokedHere(ctx context.Context) (context.Context, *atomic.Bool) {
	b := new(atomic.Bool)
	return context.WithValue(ctx, revokedHereKey{}, b), b
}

// markRevokedHere records a revocation in a request marked by withRevokedHere.
func markRevokedHere(ctx context.Context) {
	if b, ok := ctx.Value(revokedHereKey{}).(*atomic.Bool); ok {
		b.Store(true)
	}
}

// afterRevokedHere lets p.live catch up with the revocations of a marked request.
func (p *Provider) afterRevokedHere(ctx context.Context, revoked *atomic.Bool) {
	if revoked.Load() && p.live != nil {
		p.live.AccessTokensRevoked(ctx)
	}
}

// IntrospectFrom makes introspection of access tokens (JWTs) ask live instead of fosite
// (refresh tokens keep fosite's path). Call it while wiring, before serving; without it
// every introspection goes through fosite.
func (p *Provider) IntrospectFrom(live LiveAccessTokens) { p.live = live }

// introspect answers for token; the error is storage.ErrUnavailable's, every other failure
// is an inactive token.
func (p *Provider) introspect(ctx context.Context, caller fosite.Client, token, hint string) (introspection, error) {
	if p.live != nil && isJWT(token) {
		// Whatever the hint says: RFC 7662 section 2.1 lets the server look further than
		// the hint, and a JWT is never a refresh token here (those are opaque).
		return p.introspectLive(ctx, caller, token)
	}
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
	if !p.mayIntrospect(caller, ar.GetClient().GetID(), ar.GetGrantedAudience()) {
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
		// The stored row keeps no scopes (storage's slimAccessToken): they, like the rest,
		// come from the token fosite has just validated.
		if c, err := p.strategy.VerifyAccessToken(ctx, token); err == nil {
			out.Exp, out.Iat, out.JTI, out.Sub = c.Expiry, c.IssuedAt, c.JTI, c.Subject
			out.Scope = c.Scope
		}
	} else {
		out.TokenUse = "refresh_token"
		out.Exp = ar.GetSession().GetExpiresAt(fosite.RefreshToken).Unix()
		out.Iat = ar.GetRequestedAt().Unix()
	}
	return out, nil
}

// introspectLive answers for an access token from p.live. The answer is the one fosite's
// path gives: the JWT's claims are those of the stored request (GenerateAccessToken builds
// them from it: client, granted scopes and audience, the session's subject or else the
// client), and fosite's path took sub, exp, iat and jti from the JWT already.
func (p *Provider) introspectLive(ctx context.Context, caller fosite.Client, token string) (introspection, error) {
	c, live, err := p.live.LiveAccessToken(ctx, token)
	if err != nil {
		return introspection{}, err
	}
	if !live {
		return introspection{Active: false}, nil
	}
	if !p.mayIntrospect(caller, c.ClientID, c.Audience) {
		p.log.InfoContext(ctx, "introspection of a foreign token answered inactive", "client_id", caller.GetID(), "token_client_id", c.ClientID)
		return introspection{Active: false}, nil
	}
	return introspection{
		Active:    true,
		Scope:     c.Scope,
		ClientID:  c.ClientID,
		Sub:       c.Subject,
		Aud:       c.Audience,
		Iss:       p.cfg.Issuer,
		Exp:       c.Expiry,
		Iat:       c.IssuedAt,
		JTI:       c.JTI,
		TokenType: "Bearer",
		TokenUse:  "access_token",
	}, nil
}

// isJWT: a compact JWS has three segments; fosite's refresh tokens have two.
func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

// mayIntrospect: a client may see tokens issued to itself, or tokens whose audience is the
// MCP server the client belongs to (a resource server checking the tokens it receives).
func (p *Provider) mayIntrospect(caller fosite.Client, tokenClientID string, audience []string) bool {
	if tokenClientID == caller.GetID() {
		return true
	}
	for _, a := range audience {
		if ExactScopeStrategy(caller.GetAudience(), a) {
			return true
		}
	}
	return false
}
