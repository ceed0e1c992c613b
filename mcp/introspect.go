package mcp

import (
	"context"
	"fmt"
	"net/http"

	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

var _ provider.LiveAccessTokens = (*Gateway)(nil)

// LiveAccessToken implements provider.LiveAccessTokens, so that introspection answers from
// the gate's memory instead of the database: the verified-claims cache (the signature is
// checked, and the stored row asked for, once per token) and the revocation set. It is the
// gate's own check without an audience: introspection has no resource of its own, the
// provider decides who may see the token (mayIntrospect).
//
// It is therefore exactly as fresh as the gate: a revocation through this process is seen
// before its 200 (AfterRevocation), one elsewhere (another replica, the CLI, a refresh
// token replayed) within revocationMaxAge (750 ms), at once on Postgres when the
// notification arrives. With Options.ExactRevocationCheck every call asks the store.
func (g *Gateway) LiveAccessToken(ctx context.Context, token string) (provider.Claims, bool, error) {
	p, rf := g.auth.check(ctx, token, anyAudience)
	switch {
	case rf == nil:
		return *p.Claims, true, nil
	case rf.status == http.StatusServiceUnavailable:
		return provider.Claims{}, false, fmt.Errorf("%w: %s", storage.ErrUnavailable, rf.detail)
	default:
		return provider.Claims{}, false, nil
	}
}

func anyAudience(*provider.Claims) *refusal { return nil }

// AccessTokensRevoked implements provider.LiveAccessTokens: the provider revoked access
// tokens outside the revocation endpoints (a replayed code or refresh token at the token
// endpoint). The set is re-read before it returns, as AfterRevocation does.
func (g *Gateway) AccessTokensRevoked(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revocationQueryTimeout)
	defer cancel()
	if err := g.revoked.refresh(ctx); err != nil {
		// The periodic refresh will still pick it up within its bound.
		g.log.WarnContext(ctx, "re-read revocations after a revocation", "err", err)
	}
}
