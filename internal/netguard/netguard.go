// Package netguard is Conexor's one network-address policy: which hosts count as loopback,
// which IP addresses are public, which addresses an outbound connection may reach (Policy:
// Public for destinations a remote party names, Internal for an operator's), and what an
// upstream URL must look like (ParseUpstream). Every outbound connection a remote party can
// steer (a client metadata document's URL, an MCP server's upstream) is checked at dial
// time, on the address actually dialed (Policy.Control), so DNS rebinding cannot slip past
// a check made earlier on a name. It imports nothing of Conexor's.
package netguard

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"
)

// IsLoopbackHost reports whether host is a loopback literal or localhost.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var nonPublicPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"240.0.0.0/4",     // reserved, broadcast
		"100::/64",        // discard
		"2001::/23",       // IETF protocol assignments (Teredo, ORCHID, ...)
		"2001:db8::/32",   // documentation
		"fec0::/10",       // site-local (deprecated)
		"64:ff9b:1::/48",  // local-use NAT64
		"::/96",           // IPv4-compatible (deprecated): embeds an IPv4 address some stacks route to
		"::ffff:0:0:0/96", // SIIT IPv4-translated (RFC 2765): the same, through a translator
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// IsPublicAddr reports whether ip is a public unicast address: not loopback, private
// (RFC 1918, unique-local), link-local, unspecified, multicast, shared (CGNAT) or reserved,
// also when an IPv4 address hides inside IPv6 (mapped, NAT64, 6to4).
func IsPublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublicPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return IsPublicAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(ip):
			return IsPublicAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	return true
}

// Resolver looks up the addresses of a host (net.DefaultResolver.LookupNetIP with "ip").
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// DefaultResolver is the system's resolver.
func DefaultResolver(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// PublicUpstream is the early answer, for a person, to an upstream URL set by someone who
// may only use public addresses: the host's literal address, or every address it resolves
// to now (looked up within 2 s), must be public. It returns what was found ("host (addr)")
// and whether it is public. A URL that does not parse, or a host that does not resolve,
// passes: ParseUpstream refuses the first at entry, and the dialer's policy is the guard for
// every address a name resolves to later.
func PublicUpstream(ctx context.Context, upstream string, lookup Resolver) (string, bool) {
	u, err := ParseUpstream(upstream)
	if err != nil {
		return upstream, true
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return a.String(), IsPublicAddr(a)
	}
	if lookup == nil {
		lookup = DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, host)
	if err != nil {
		return host, true
	}
	for _, a := range addrs {
		if !IsPublicAddr(a) {
			return host + " (" + a.String() + ")", false
		}
	}
	return host, true
}
