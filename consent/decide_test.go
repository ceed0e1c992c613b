package consent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/limit"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

func TestScopesCovered(t *testing.T) {
	for _, tc := range []struct {
		remembered string
		requested  []string
		want       bool
	}{
		{"mcp:tools:read mcp:tools:execute", []string{"mcp:tools:read"}, true},
		{"mcp:tools:read mcp:tools:execute", []string{"mcp:tools:execute", "mcp:tools:read"}, true},
		{"mcp:tools:read", []string{"mcp:tools:read", "mcp:tools:execute"}, false},
		{"", []string{"mcp:tools:read"}, false},
		{"mcp:tools:read", nil, false},
		{"mcp:tools", []string{"mcp:tools:read"}, false}, // no prefix matching
	} {
		if got := scopesCovered(tc.remembered, tc.requested); got != tc.want {
			t.Errorf("scopesCovered(%q, %v) = %v, want %v", tc.remembered, tc.requested, got, tc.want)
		}
	}
}

func TestWithheldScopes(t *testing.T) {
	req := []string{provider.ScopeToolsRead, provider.ScopeServerManage, provider.ScopeServerRead}
	for _, tt := range []struct {
		role              string
		allowed, withheld []string
	}{
		{storage.RoleAdmin, req, nil},
		{storage.RoleMember, []string{provider.ScopeToolsRead, provider.ScopeServerRead}, []string{provider.ScopeServerManage}},
		{"", []string{provider.ScopeToolsRead, provider.ScopeServerRead}, []string{provider.ScopeServerManage}},
	} {
		allowed, withheld := withheldScopes(tt.role, req)
		if !slices.Equal(allowed, tt.allowed) || !slices.Equal(withheld, tt.withheld) {
			t.Errorf("role %q: allowed %v withheld %v, want %v and %v", tt.role, allowed, withheld, tt.allowed, tt.withheld)
		}
	}
}

func TestGrantedScopes(t *testing.T) {
	req := []string{"a", "b", "c"}
	for _, tc := range []struct {
		ticked  []string
		want    []string
		wantErr error
	}{
		{[]string{"c", "a"}, []string{"a", "c"}, nil}, // request order kept
		{[]string{"a", "a"}, []string{"a"}, nil},
		{[]string{"a", "b", "c"}, []string{"a", "b", "c"}, nil},
		{nil, nil, errNoScope},
		{[]string{"a", "d"}, nil, errForeignScope},
		{[]string{""}, nil, errForeignScope},
	} {
		got, err := grantedScopes(req, tc.ticked)
		if !errors.Is(err, tc.wantErr) || !cmp.Equal(got, tc.want) {
			t.Errorf("grantedScopes(%v) = %v, %v; want %v, %v", tc.ticked, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestSafeReturnTo(t *testing.T) {
	for raw, want := range map[string]string{
		"/oauth/consent?client_id=x&scope=a,b": "/oauth/consent?client_id=x&scope=a,b",
		"/":                                    "/",
		"":                                     "",
		"//evil.example":                       "",
		"///evil.example":                      "",
		"/\\evil.example":                      "",
		"\\\\evil.example":                     "",
		"https://evil.example/":                "",
		"javascript:alert(1)":                  "",
		"evil.example/path":                    "",
		"/a\r\nSet-Cookie: x=y":                "",
		"/a\x00":                               "",
		" /leading-space":                      "",
		"/%2F%2Fevil.example":                  "/%2F%2Fevil.example", // a path on this server, not a host
		"/ok#frag":                             "/ok#frag",
	} {
		if got := safeReturnTo(raw); got != want {
			t.Errorf("safeReturnTo(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestRedirectHost(t *testing.T) {
	for uri, want := range map[string]string{
		"http://localhost:3000/callback":                     "localhost:3000",
		"https://app.example.com/cb?x=1":                     "app.example.com",
		"cursor://anysphere.cursor-retrieval/oauth/callback": "anysphere.cursor-retrieval",
		"com.example.app:/oauth2redirect":                    "the app that opens com.example.app:// links",
	} {
		if got := redirectHost(uri); got != want {
			t.Errorf("redirectHost(%q) = %q, want %q", uri, got, want)
		}
	}
}

func TestCSRFValid(t *testing.T) {
	for _, tc := range []struct {
		session, posted string
		want            bool
	}{
		{"tok", "tok", true},
		{"tok", "tok2", false},
		{"tok", "", false},
		{"", "", false},
		{"", "tok", false},
	} {
		if got := csrfValid(tc.session, tc.posted); got != tc.want {
			t.Errorf("csrfValid(%q, %q) = %v", tc.session, tc.posted, got)
		}
	}
}

func TestThrottle(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := newThrottle(limit.New(limit.Options{Now: func() time.Time { return now }}))
	ctx := context.Background()
	for i := range accountRule.Burst {
		if d, _ := th.begin(ctx, "a@x", "ip1"); d != 0 {
			t.Fatalf("before failure %d: wait %v", i+1, d)
		}
	}
	if d, _ := th.begin(ctx, "a@x", "ip2"); d <= 0 || d > accountRule.Every {
		t.Errorf("account after %d failures: wait %v, want (0, %v]", accountRule.Burst, d, accountRule.Every)
	}
	if d, _ := th.begin(ctx, "b@x", "ip1"); d != 0 {
		t.Errorf("other account, same IP: wait %v", d)
	}
	now = now.Add(accountRule.Every)
	if d, _ := th.begin(ctx, "a@x", "ip1"); d != 0 {
		t.Errorf("after %v: wait %v", accountRule.Every, d)
	}
}

// TestThrottleBegin: an attempt is charged when it starts, so attempts in flight count;
// one that succeeds gets its token back.
func TestThrottleBegin(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := newThrottle(limit.New(limit.Options{Now: func() time.Time { return now }}))
	ctx := context.Background()
	var inFlight []func()
	for i := range accountRule.Burst {
		wait, ok := th.begin(ctx, "a@x", "ip1")
		if wait != 0 {
			t.Fatalf("attempt %d in flight: wait %v", i+1, wait)
		}
		inFlight = append(inFlight, ok)
	}
	if wait, _ := th.begin(ctx, "a@x", "ip1"); wait <= 0 {
		t.Fatalf("attempt %d while %d are in flight: not throttled", accountRule.Burst+1, accountRule.Burst)
	}
	now = now.Add(time.Second) // the password checks take a while
	for _, ok := range inFlight {
		ok() // all succeeded: nothing is owed
	}
	for i := range accountRule.Burst {
		wait, _ := th.begin(ctx, "a@x", "ip1")
		if wait != 0 {
			t.Fatalf("after successes, attempt %d: wait %v", i+1, wait)
		}
	}
	if wait, _ := th.begin(ctx, "a@x", "ip2"); wait <= 0 || wait > accountRule.Every {
		t.Errorf("account after %d failures: wait %v, want (0, %v]", accountRule.Burst, wait, accountRule.Every)
	}
}

// TestThrottleIPRefusalRefundsAccount: an attempt the address's budget refuses costs the
// account nothing.
func TestThrottleIPRefusalRefundsAccount(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := newThrottle(limit.New(limit.Options{Now: func() time.Time { return now }}))
	ctx := context.Background()
	for i := range ipRule.Burst {
		if d, _ := th.begin(ctx, fmt.Sprintf("u%d@x", i), "ip1"); d != 0 {
			t.Fatalf("spray attempt %d: wait %v", i+1, d)
		}
	}
	for range accountRule.Burst + 1 {
		if d, _ := th.begin(ctx, "victim@x", "ip1"); d <= 0 {
			t.Fatal("the address's 21st attempt passed")
		}
	}
	if d, _ := th.begin(ctx, "victim@x", "ip2"); d != 0 {
		t.Fatalf("the victim's account was charged by refused attempts: wait %v", d)
	}
}
