package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestPolicyAllows(t *testing.T) {
	for addr, want := range map[string][2]bool{ // {Public, Internal}
		"8.8.8.8": {true, true}, "2606:4700::1111": {true, true},
		"127.0.0.1": {false, true}, "::1": {false, true}, "10.1.2.3": {false, true}, "192.168.0.10": {false, true},
		"fd12::1": {false, true}, "100.64.0.1": {false, true}, "::ffff:127.0.0.1": {false, true},
		// Never, for anyone: cloud metadata, link-local, multicast, unspecified, also inside IPv6.
		"169.254.169.254": {false, false}, "fd00:ec2::254": {false, false}, "fe80::1": {false, false},
		"224.0.0.1": {false, false}, "ff02::1": {false, false}, "0.0.0.0": {false, false}, "::": {false, false},
		"::ffff:169.254.169.254": {false, false}, "64:ff9b::a9fe:a9fe": {false, false},
		"2002:a9fe:a9fe::1": {false, false}, "::a9fe:a9fe": {false, false}, "::ffff:0:a9fe:a9fe": {false, false},
	} {
		ip := netip.MustParseAddr(addr)
		if got := [2]bool{Public.Allows(ip), Internal.Allows(ip)}; got != want {
			t.Errorf("%s: Public, Internal allow %v, want %v", addr, got, want)
		}
	}
}

// TestControlRefusesAtDial: the policy acts on the address a name resolved to, when it is
// dialed: "localhost" passes no check made on the name.
func TestControlRefusesAtDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	d := &net.Dialer{Control: Public.Control}
	if _, err := d.DialContext(ctx, "tcp4", net.JoinHostPort("localhost", port)); !errors.Is(err, ErrRefusedAddress) {
		t.Errorf("Public dial of localhost: %v, want ErrRefusedAddress", err)
	}
	d.Control = Internal.Control
	c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatalf("Internal dial of localhost: %v", err)
	}
	c.Close()
	if err := Internal.Control("tcp", "169.254.169.254:80", nil); !errors.Is(err, ErrRefusedAddress) {
		t.Errorf("Internal control of the metadata address: %v, want ErrRefusedAddress", err)
	}
}
