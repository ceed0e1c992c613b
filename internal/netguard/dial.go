package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Policy is what an outbound connection may reach. It is applied by Control, on the
// address about to be dialed.
type Policy int

const (
	// Public admits public unicast addresses only (IsPublicAddr): for every destination a
	// remote party names (a client metadata document, an upstream set through the API).
	Public Policy = iota
	// Internal also admits loopback and private addresses, for destinations an operator
	// named. Link-local (where cloud metadata services answer), multicast and unspecified
	// addresses stay refused: no one has a reason to proxy to them.
	Internal
)

// ErrRefusedAddress is the error (wrapped in the dial's *net.OpError) of a connection the
// policy refused.
var ErrRefusedAddress = errors.New("address refused by the network policy")

// awsMetadataV6 is the IPv6 address of the EC2 instance metadata service (a unique-local
// address, so not link-local).
var awsMetadataV6 = netip.MustParseAddr("fd00:ec2::254")

// Allows reports whether the policy lets a connection reach ip.
func (p Policy) Allows(ip netip.Addr) bool {
	if p == Public {
		return IsPublicAddr(ip)
	}
	return !neverDialed(ip)
}

// Control is a net.Dialer Control hook: it sees the resolved address of every connection
// attempt, so a name that resolves elsewhere the second time (DNS rebinding) is caught.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrRefusedAddress, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !p.Allows(ip) {
		return fmt.Errorf("%w: %s is %s", ErrRefusedAddress, host, p.refused())
	}
	return nil
}

func (p Policy) refused() string {
	if p == Public {
		return "not a public address"
	}
	return "link-local, multicast or unspecified"
}

// neverDialed reports whether ip is an address no connection of Conexor's goes to, also
// when an IPv4 address hides inside IPv6.
func neverDialed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip == awsMetadataV6 {
		return true
	}
	if v4, ok := embeddedIPv4(ip); ok {
		return neverDialed(v4)
	}
	return false
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries for a translator or an
// old stack to reach: NAT64, 6to4, IPv4-compatible and SIIT IPv4-translated forms.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip), ipv4Compatible.Contains(ip) && ip != netip.IPv6Loopback(), siit.Contains(ip):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

var (
	ipv4Compatible = netip.MustParsePrefix("::/96")
	siit           = netip.MustParsePrefix("::ffff:0:0:0/96")
)
