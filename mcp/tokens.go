package mcp

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conexor/conexor/internal/tick"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// Verifier checks an access token's signature (by kid, with the key's own algorithm), typ,
// issuer and expiry, and names the part of it storage keys it by. *provider.Provider is one.
type Verifier interface {
	VerifyAccessToken(ctx context.Context, token string) (*provider.Claims, error)
	AccessTokenSignature(token string) string
}

// TokenStore is what the gate asks storage about access tokens.
type TokenStore interface {
	AccessTokenState(ctx context.Context, signature string) (known, active bool, err error)
	RevokedAccessTokensSince(ctx context.Context, t time.Time) (hashes []string, latest time.Time, err error)
}

// principal is an authenticated token: who, for which server, with which scopes.
type principal struct {
	Claims *provider.Claims
	Scopes []string
	// sigHash is the token's storage key, for the revocation set.
	sigHash string
}

// DefaultMaxCachedTokens bounds the verified-token cache.
const DefaultMaxCachedTokens = 10000

// authenticator turns a bearer token into a principal for one audience.
//
// Verifying an ES256 signature costs far more than the rest of the gate, so a token that
// passed every check is cached, keyed by the SHA-256 of the token (the cache never holds a
// usable token), with its claims, until it expires. A cache hit still checks expiry,
// audience and revocation on every request; only the signature and the store lookup of
// first sight are skipped.
type authenticator struct {
	verifier Verifier
	tokens   TokenStore
	revoked  *revocations
	now      func() time.Time
	exact    bool // check AccessTokenState on every request instead of the revocation set

	cache    sync.Map // [32]byte -> *principal
	cached   atomic.Int64
	maxCache int64
	evictMu  sync.Mutex
}

func (a *authenticator) authenticate(ctx context.Context, token, audience string) (*principal, *refusal) {
	return a.check(ctx, token, func(c *provider.Claims) *refusal { return checkAudience(c, audience) })
}

// check is authenticate with the audience rule given by the caller: the gate's one
// audience per request, or none at all for introspection, whose ownership rule is the
// provider's. The rule runs where the gate has always checked the audience (after expiry,
// before the store and the revocation set), so the gate's refusals keep their order.
func (a *authenticator) check(ctx context.Context, token string, audienceOK func(*provider.Claims) *refusal) (*principal, *refusal) {
	key := sha256.Sum256([]byte(token))
	if v, ok := a.cache.Load(key); ok {
		p := v.(*principal)
		if a.now().Unix() >= p.Claims.Expiry {
			a.forget(key)
			return nil, invalidToken("The access token has expired.", "expired (cached)")
		}
		if rf := audienceOK(p.Claims); rf != nil {
			return nil, rf
		}
		if rf := a.checkRevoked(ctx, token, p.sigHash); rf != nil {
			if rf.status == http.StatusUnauthorized {
				a.forget(key)
			}
			return nil, rf
		}
		return p, nil
	}

	claims, err := a.verifier.VerifyAccessToken(ctx, token)
	if err != nil {
		return nil, verifyRefusal(err)
	}
	if rf := audienceOK(claims); rf != nil {
		return nil, rf
	}
	sig := a.verifier.AccessTokenSignature(token)
	known, active, err := a.tokens.AccessTokenState(ctx, sig)
	switch {
	case err != nil:
		return nil, unavailable("access token state: " + err.Error())
	case !known:
		return nil, invalidToken("The access token is not known to this server.", "signature valid but no stored token")
	case !active:
		return nil, invalidToken("The access token has been revoked.", "revoked (store)")
	}
	p := &principal{Claims: claims, Scopes: claims.Scopes(), sigHash: storage.SignatureHash(sig)}
	a.remember(key, p)
	return p, nil
}

// watch returns a context for a request that outlives its start (the standalone event
// stream of Streamable HTTP can stay open for hours): it ends when the token expires or is
// revoked, checked as often as the revocation set refreshes. The token is held only for
// the request's lifetime, never in the cache. A check the store cannot answer leaves the
// stream open; new requests are refused then anyway.
func (a *authenticator) watch(ctx context.Context, token string, p *principal) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(p.Claims.Expiry-a.now().Unix())*time.Second)
	go tick.Every(ctx, revocationRefreshAfter, func(ctx context.Context) {
		if rf := a.checkRevoked(ctx, token, p.sigHash); rf != nil && rf.status == http.StatusUnauthorized {
			cancel()
		}
	})
	return ctx, cancel
}

func (a *authenticator) checkRevoked(ctx context.Context, token, sigHash string) *refusal {
	if a.exact {
		known, active, err := a.tokens.AccessTokenState(ctx, a.verifier.AccessTokenSignature(token))
		switch {
		case err != nil:
			return unavailable("access token state: " + err.Error())
		case !known || !active:
			return invalidToken("The access token has been revoked.", "revoked (store)")
		}
		return nil
	}
	revoked, err := a.revoked.revoked(ctx, sigHash)
	if err != nil {
		return unavailable("revocation set stale and refresh failed: " + err.Error())
	}
	if revoked {
		return invalidToken("The access token has been revoked.", "revoked (revocation set)")
	}
	return nil
}

// checkAudience: RFC 8707 and the MCP specification bind a token to one resource; Conexor's
// tokens name exactly one, which must be this server's canonical URL, byte for byte.
func checkAudience(c *provider.Claims, audience string) *refusal {
	if len(c.Audience) == 1 && c.Audience[0] == audience {
		return nil
	}
	return invalidToken("The access token is for another resource; request a token for "+audience+" (RFC 8707 resource parameter).",
		"audience mismatch")
}

func verifyRefusal(err error) *refusal {
	switch {
	case errors.Is(err, provider.ErrTokenExpired):
		return invalidToken("The access token has expired.", "expired")
	case errors.Is(err, provider.ErrTokenNotYet):
		return invalidToken("The access token is not valid yet: its nbf (not before) time is in the future.", "nbf in the future")
	case errors.Is(err, provider.ErrTokenIssuer):
		return invalidToken("The access token was not issued by this authorization server.", "wrong issuer")
	case errors.Is(err, provider.ErrTokenWrongType):
		return invalidToken("The token is not an access token (typ must be at+jwt).", "wrong typ")
	case errors.Is(err, provider.ErrUnknownKey):
		return invalidToken("The access token is signed with an unknown key.", "unknown kid")
	default:
		return invalidToken("The access token is malformed or its signature is invalid.", err.Error())
	}
}

func (a *authenticator) remember(key [32]byte, p *principal) {
	if _, loaded := a.cache.LoadOrStore(key, p); loaded {
		return
	}
	if a.cached.Add(1) <= a.maxCache {
		return
	}
	// Over the bound: drop expired entries, then arbitrary ones, down to 90%. Rare (only
	// on first sight of a token beyond the bound) and off the hot path of cached tokens.
	a.evictMu.Lock()
	defer a.evictMu.Unlock()
	now := a.now().Unix()
	target := a.maxCache * 9 / 10
	a.cache.Range(func(k, v any) bool {
		if v.(*principal).Claims.Expiry <= now {
			a.forget(k.([32]byte))
		}
		return true
	})
	a.cache.Range(func(k, _ any) bool {
		if a.cached.Load() <= target {
			return false
		}
		a.forget(k.([32]byte))
		return true
	})
}

func (a *authenticator) forget(key [32]byte) {
	if _, loaded := a.cache.LoadAndDelete(key); loaded {
		a.cached.Add(-1)
	}
}

func invalidToken(desc, detail string) *refusal {
	return &refusal{status: http.StatusUnauthorized, oauth: errInvalidToken, desc: desc,
		rpcCode: CodeUnauthorized, outcome: "invalid_token", detail: detail}
}

func unavailable(detail string) *refusal {
	return &refusal{status: http.StatusServiceUnavailable, desc: "The gateway cannot check the access token right now; retry shortly.",
		rpcCode: CodeUnavailable, outcome: "unavailable", detail: detail}
}
