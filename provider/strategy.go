package provider

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/conexor/conexor/internal/secret"
)

// Claims are the RFC 9068 claims of a Conexor access token.
type Claims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience Audience `json:"aud"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
	JTI      string   `json:"jti"`
	// NotBefore (nbf) is never set by Conexor, but a token that carries one is honoured:
	// RFC 7519 section 4.1.5 says it must not be accepted before then.
	NotBefore int64 `json:"nbf,omitempty"`
}

// Scopes splits the scope claim.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// Audience is the aud claim: go-jose's, which writes a single audience as a string (as RFC
// 9068's examples and most resource servers expect) and reads a string or an array.
type Audience = jwt.Audience

// Errors a token can fail verification with.
var (
	ErrTokenExpired   = errors.New("token expired")
	ErrTokenWrongType = errors.New("token is not an access token (typ must be at+jwt)")
	ErrTokenIssuer    = errors.New("token issuer is not this server")
	ErrTokenNotYet    = errors.New("token not valid yet (nbf is in the future)")
)

// NotBeforeLeeway is how far in the future a token's nbf may be and the token still be
// accepted: the clock of whoever stamped it may run ahead of this one (replicas, NTP steps).
// Beyond it the token is refused as not valid yet.
const NotBeforeLeeway = time.Minute

// TokenStrategy issues access tokens as RFC 9068 JWTs and leaves authorization codes and
// refresh tokens to fosite's opaque HMAC strategy. It builds the claims fresh for every
// token, so a refreshed token gets its own iat and jti (fosite #774 keeps the old ones).
type TokenStrategy struct {
	oauth2.CoreStrategy // HMAC: codes and refresh tokens
	keys                *Keyring
	issuer              string
	lifespan            time.Duration // of access tokens
	now                 func() time.Time
}

var _ oauth2.CoreStrategy = (*TokenStrategy)(nil)

// AccessTokenSignature implements oauth2.AccessTokenStrategy: a JWT's signature is its third
// segment (only a hash of it is stored).
func (s *TokenStrategy) AccessTokenSignature(_ context.Context, token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	return parts[2]
}

// GenerateAccessToken implements oauth2.AccessTokenStrategy.
func (s *TokenStrategy) GenerateAccessToken(_ context.Context, r fosite.Requester) (string, string, error) {
	sess, ok := r.GetSession().(*Session)
	if !ok {
		return "", "", errors.New("provider: unexpected session type")
	}
	// iat and exp are decided here, for every grant: fosite reloads a code's or refresh
	// token's stored session before this runs, so anything set earlier would be lost, and a
	// refreshed token must not inherit the old iat (fosite #774). The session keeps exp so
	// the stored row and introspection agree with the JWT.
	iat := s.now().UTC().Truncate(time.Second)
	exp := iat.Add(s.lifespan)
	sess.SetExpiresAt(fosite.AccessToken, exp)
	sub := sess.Subject
	if sub == "" {
		sub = r.GetClient().GetID()
	}
	claims := Claims{
		Issuer:   s.issuer,
		Subject:  sub,
		Audience: Audience(r.GetGrantedAudience()),
		ClientID: r.GetClient().GetID(),
		Scope:    strings.Join(r.GetGrantedScopes(), " "),
		IssuedAt: iat.Unix(),
		Expiry:   exp.Unix(),
		JTI:      secret.RandomToken(16),
	}
	token, _, err := s.keys.Sign(claims)
	if err != nil {
		return "", "", err
	}
	return token, s.AccessTokenSignature(context.Background(), token), nil
}

// ValidateAccessToken implements oauth2.AccessTokenStrategy (used by introspection).
func (s *TokenStrategy) ValidateAccessToken(ctx context.Context, _ fosite.Requester, token string) error {
	_, err := s.VerifyAccessToken(ctx, token)
	if errors.Is(err, ErrTokenExpired) {
		return fosite.ErrTokenExpired.WithWrap(err)
	}
	if err != nil {
		return fosite.ErrTokenSignatureMismatch.WithWrap(err)
	}
	return nil
}

// VerifyAccessToken checks signature (by kid), typ, issuer, expiry and not-before (with
// NotBeforeLeeway), and returns the claims.
// Audience and revocation are the resource server's to check.
func (s *TokenStrategy) VerifyAccessToken(ctx context.Context, token string) (*Claims, error) {
	v, err := s.keys.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(v.Type, "at+jwt") && !strings.EqualFold(v.Type, "application/at+jwt") {
		return nil, ErrTokenWrongType
	}
	var c Claims
	if err := json.Unmarshal(v.Payload, &c); err != nil {
		return nil, errors.New("malformed claims")
	}
	if c.Issuer != s.issuer {
		return nil, ErrTokenIssuer
	}
	now := s.now()
	if c.Expiry == 0 || now.Unix() >= c.Expiry {
		return nil, ErrTokenExpired
	}
	if c.NotBefore != 0 && c.NotBefore > now.Add(NotBeforeLeeway).Unix() {
		return nil, ErrTokenNotYet
	}
	return &c, nil
}
