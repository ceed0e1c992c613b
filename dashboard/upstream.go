package dashboard

import (
	"context"

	"github.com/conexor/conexor/internal/netguard"
)

// upstreamProblems refuses, by field, an upstream URL on a private address unless
// api_private_upstreams allows it: an admin of an org is a token holder of that org, not the
// operator, the same rule as the server API (PATCH /api/servers). The host's literal
// address, or every address it resolves to now, must be public. It is an early answer for
// the form; the guard is the proxy's dial-time policy (ServerChange.ByAPI). A URL the
// provider refuses anyway, or a host that does not resolve, passes here.
func (h *Handler) upstreamProblems(ctx context.Context, upstream string) map[string][]string {
	if upstream == "" || h.PrivateUpstreams {
		return nil
	}
	if what, ok := netguard.PublicUpstream(ctx, upstream, h.LookupIP); !ok {
		return map[string][]string{"upstream": {what + " is a private address. Servers set up from the dashboard may only use public addresses; the operator can allow private ones (api_private_upstreams)."}}
	}
	return nil
}
