package dashboard

import (
	"context"
	"net"
	"net/netip"
	"time"

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
	u, err := netguard.ParseUpstream(upstream)
	if err != nil {
		return nil
	}
	host := u.Hostname()
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, a)
	} else {
		lookup := h.LookupIP
		if lookup == nil {
			lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			}
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		addrs, _ = lookup(ctx, host)
	}
	for _, a := range addrs {
		if !netguard.IsPublicAddr(a.Unmap()) {
			return map[string][]string{"upstream": {host + " is a private address (" + a.String() +
				"). Servers set up from the dashboard may only use public addresses; the operator can allow private ones (api_private_upstreams)."}}
		}
	}
	return nil
}
