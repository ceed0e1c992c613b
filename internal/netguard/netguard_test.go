package netguard

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func TestIsPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:2800:21f:cb07:6820:80da:af6b:8b2c": true, "8.8.8.8": true,
		"127.0.0.1": false, "127.5.5.5": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd12::1": false,
		"0.0.0.0": false, "::": false, "224.0.0.1": false, "ff02::1": false, "100.64.0.1": false,
		"255.255.255.255": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "::ffff:8.8.8.8": true,
		"64:ff9b::a00:1": false, "64:ff9b::808:808": true, "2002:c0a8:101::1": false, "198.18.0.1": false,
		// IPv4-compatible (deprecated) and SIIT IPv4-translated addresses embed an IPv4
		// address that some stacks and translators route to: never public.
		"::7f00:1": false, "::a00:1": false, "::ffff:0:7f00:1": false, "::ffff:0:a9fe:a9fe": false,
	} {
		if got := IsPublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("IsPublicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestPublicUpstream(t *testing.T) {
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "public.example":
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
		case "mixed.example":
			return []netip.Addr{netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("10.0.0.7")}, nil
		}
		return nil, errors.New("no such host")
	}
	for _, tc := range []struct {
		url, what string
		public    bool
	}{
		{"https://public.example/mcp", "public.example", true},
		{"https://mixed.example/mcp", "mixed.example (10.0.0.7)", false},
		{"http://127.0.0.1:9000/mcp", "127.0.0.1", false},
		{"http://[::ffff:192.168.1.1]/mcp", "::ffff:192.168.1.1", false},
		{"https://8.8.8.8/mcp", "8.8.8.8", true},
		{"https://unknown.example/mcp", "unknown.example", true}, // the dialer's policy decides later
		{"not a url", "not a url", true},                         // ParseUpstream refuses it at entry
	} {
		if what, public := PublicUpstream(context.Background(), tc.url, resolve); what != tc.what || public != tc.public {
			t.Errorf("PublicUpstream(%q) = %q, %v; want %q, %v", tc.url, what, public, tc.what, tc.public)
		}
	}
}
