package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// MaxUpstreamLength bounds an upstream URL (the column is 2000 characters).
const MaxUpstreamLength = 2000

// ErrInvalidUpstream is wrapped by every ParseUpstream error; the rest of the message says
// what is wrong and how to fix it.
var ErrInvalidUpstream = errors.New("invalid upstream URL")

// ParseUpstream is the one rule for an MCP server's upstream URL, applied where it is entered
// (CLI, server API, dashboard) and again by the gateway on the stored value: an absolute
// http(s) URL naming a host, without user info or fragment, at most MaxUpstreamLength
// bytes, without control characters, and not a literal address no connection goes to
// (link-local, multicast, unspecified: Internal refuses them at dial time for everyone).
// Whether the host may be private is decided per server at dial time (Policy).
func ParseUpstream(raw string) (*url.URL, error) {
	bad := func(why string) (*url.URL, error) { return nil, fmt.Errorf("%w: %s", ErrInvalidUpstream, why) }
	if len(raw) > MaxUpstreamLength {
		return bad(fmt.Sprintf("it is longer than %d characters", MaxUpstreamLength))
	}
	if strings.ContainsFunc(raw, unicode.IsControl) {
		return bad("it contains control characters")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return bad("it is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("it must be an http(s) URL of a Streamable HTTP MCP endpoint")
	case u.Opaque != "" || u.Hostname() == "":
		return bad("it must name a host (http(s)://HOST/...)")
	case u.User != nil:
		return bad("it must not contain user info (user:password@): credentials in a URL leak into logs; " +
			"put API keys in the server's upstream headers in the configuration file (upstreams: ORG/SERVER: headers:) instead")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("it must not have a fragment (#...), which is never sent")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("its port must be 1-65535")
		}
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !Internal.Allows(ip) {
		return bad(ip.String() + " is a link-local, multicast or unspecified address, which the gateway never connects to")
	}
	return u, nil
}

// SameOrigin reports whether moving an upstream from old to next keeps it at the same
// scheme, host and port ("" for next, the built-in demo, sends nothing anywhere). Front ends
// that let a token holder move an upstream (the server API, the dashboard) refuse moving
// one that receives the operator's configured headers to another origin.
func SameOrigin(old, next string) bool {
	if next == "" {
		return true
	}
	a, errA := ParseUpstream(old)
	b, errB := ParseUpstream(next)
	if old == "" || errA != nil || errB != nil {
		return false
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}
