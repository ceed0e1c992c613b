package provider_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

func ptr[T any](v T) *T { return &v }

// TestServerValidation is the one rule for a server's fields, as the CLI, the server API and
// the dashboard apply it: want "" means valid, else a part of the one problem reported.
func TestServerValidation(t *testing.T) {
	long := "https://mcp.example.com/" + strings.Repeat("a", 2000)
	for _, tc := range []struct {
		name   string
		change provider.ServerChange
		want   string
	}{
		{"nothing", provider.ServerChange{}, ""},
		{"https upstream", provider.ServerChange{Upstream: ptr("https://mcp.example.com/v1/mcp?key=1")}, ""},
		{"internal upstream", provider.ServerChange{Upstream: ptr("http://10.0.0.5:8080/mcp")}, ""},
		{"loopback v6 upstream", provider.ServerChange{Upstream: ptr("http://[::1]:9/mcp")}, ""},
		{"demo", provider.ServerChange{Upstream: ptr("")}, ""},
		{"user and password", provider.ServerChange{Upstream: ptr("http://user:pw@host/")},
			"must not contain user info (user:password@): credentials in a URL leak into logs; put API keys in the server's upstream headers"},
		{"user only", provider.ServerChange{Upstream: ptr("https://token@mcp.example.com/")}, "must not contain user info"},
		{"ftp", provider.ServerChange{Upstream: ptr("ftp://mcp.example.com/")}, "must be an http(s) URL"},
		{"relative", provider.ServerChange{Upstream: ptr("/mcp")}, "must be an http(s) URL"},
		{"no host", provider.ServerChange{Upstream: ptr("http:///mcp")}, "must name a host"},
		{"port only", provider.ServerChange{Upstream: ptr("http://:8080/mcp")}, "must name a host"},
		{"opaque", provider.ServerChange{Upstream: ptr("http:mcp.example.com")}, "must name a host"},
		{"fragment", provider.ServerChange{Upstream: ptr("https://mcp.example.com/mcp#x")}, "must not have a fragment"},
		{"empty fragment", provider.ServerChange{Upstream: ptr("https://mcp.example.com/mcp#")}, "must not have a fragment"},
		{"port 0", provider.ServerChange{Upstream: ptr("http://mcp.example.com:0/")}, "port must be 1-65535"},
		{"port too big", provider.ServerChange{Upstream: ptr("http://mcp.example.com:65536/")}, "port must be 1-65535"},
		{"too long", provider.ServerChange{Upstream: ptr(long)}, "longer than 2000 characters"},
		{"control character", provider.ServerChange{Upstream: ptr("https://mcp.example.com/\x7f")}, "control characters"},
		{"newline", provider.ServerChange{Upstream: ptr("https://mcp.example.com/\nX-Injected: 1")}, "control characters"},
		{"cloud metadata", provider.ServerChange{Upstream: ptr("http://169.254.169.254/latest")}, "link-local, multicast or unspecified"},
		{"aws metadata v6", provider.ServerChange{Upstream: ptr("http://[fd00:ec2::254]/")}, "link-local, multicast or unspecified"},
		{"link-local v6 with zone", provider.ServerChange{Upstream: ptr("http://[fe80::1%25eth0]/")}, "link-local, multicast or unspecified"},
		{"unspecified", provider.ServerChange{Upstream: ptr("http://0.0.0.0:8080/")}, "link-local, multicast or unspecified"},
		{"multicast", provider.ServerChange{Upstream: ptr("http://224.0.0.1/")}, "link-local, multicast or unspecified"},
		{"name", provider.ServerChange{Name: ptr("  Sales API  ")}, ""},
		{"name of 200 runes", provider.ServerChange{Name: ptr(strings.Repeat("é", 200))}, ""},
		{"blank name", provider.ServerChange{Name: ptr("   ")}, "name must be 1-200 characters"},
		{"long name", provider.ServerChange{Name: ptr(strings.Repeat("n", 201))}, "name must be 1-200 characters"},
		{"name with newline", provider.ServerChange{Name: ptr("a\nb")}, "name must be 1-200 characters without control characters"},
		{"name not UTF-8", provider.ServerChange{Name: ptr("a\xffb")}, "name must be"},
		{"description with newlines and tabs", provider.ServerChange{Description: ptr("line\n\tmore\r\n")}, ""},
		{"description with NUL", provider.ServerChange{Description: ptr("a\x00b")}, "description must be at most 2000 characters"},
		{"long description", provider.ServerChange{Description: ptr(strings.Repeat("d", 2001))}, "description must be at most 2000 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := tc.change.Validate()
			if tc.want == "" {
				if problems != nil {
					t.Fatalf("refused: %v", problems)
				}
				return
			}
			if len(problems) != 1 || !strings.Contains(problems[0].Message, tc.want) || !errors.Is(problems, provider.ErrInvalidServer) {
				t.Fatalf("problems %q, want one containing %q", problems, tc.want)
			}
			field := map[bool]string{true: "upstream"}[tc.change.Upstream != nil]
			if tc.change.Name != nil {
				field = "name"
			} else if tc.change.Description != nil {
				field = "description"
			}
			if got := problems.ByField(); len(got) != 1 || len(got[field]) != 1 || got[field][0] != problems.Error() {
				t.Fatalf("ByField = %q, want the one problem under %q", got, field)
			}
		})
	}
	c := provider.ServerChange{Name: ptr("  Sales  ")}
	if c.Validate(); *c.Name != "Sales" {
		t.Errorf("name not trimmed: %q", *c.Name)
	}
}

func TestCreateServer(t *testing.T) {
	e := testenv.New(t, testenv.Options{NoSeed: true})
	ctx := context.Background()
	srv, err := e.Provider.CreateServer(ctx, provider.ServerSpec{Org: "beta", Slug: "crm", Name: " CRM ", Upstream: "http://127.0.0.1:9/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	got := e.ServerByPath("beta/crm")
	if got.ID != srv.ID || got.Name != "CRM" || !got.Enabled || got.Upstream != "http://127.0.0.1:9/mcp" || got.UpstreamByAPI {
		t.Errorf("stored %+v", got)
	}
	if _, err := e.Store.OrgBySlug(ctx, "beta"); err != nil {
		t.Errorf("the org was not created: %v", err)
	}
	if _, err := e.Provider.CreateServer(ctx, provider.ServerSpec{Org: "beta", Slug: "crm", Name: "Again"}); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("a second beta/crm: %v, want storage.ErrConflict", err)
	}
	for _, tc := range []struct {
		spec  provider.ServerSpec
		field string
	}{
		{provider.ServerSpec{Org: "Beta", Slug: "api", Name: "X"}, "slug"},
		{provider.ServerSpec{Org: "beta", Slug: "", Name: "X"}, "slug"},
		{provider.ServerSpec{Org: "beta", Slug: "api", Name: "X", Upstream: "http://user:pw@host/"}, "upstream"},
		{provider.ServerSpec{Org: "beta", Slug: "api", Name: ""}, "name"},
	} {
		_, err := e.Provider.CreateServer(ctx, tc.spec)
		var problems provider.ServerProblems
		if !errors.Is(err, provider.ErrInvalidServer) || !errors.As(err, &problems) {
			t.Errorf("CreateServer(%+v): %v, want ServerProblems", tc.spec, err)
			continue
		}
		if got := problems.ByField(); len(got) != 1 || len(got[tc.field]) != 1 {
			t.Errorf("CreateServer(%+v): ByField = %q, want one problem under %q", tc.spec, got, tc.field)
		}
	}
	if _, err := e.Store.ServerByPath(ctx, "beta", "api"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a refused server was stored: %v", err)
	}
}

// TestUpdateServer: a change is validated, applied in one transaction after its Check, and
// records who named the upstream (the proxy dials it on public addresses only when that
// was a token holder).
func TestUpdateServer(t *testing.T) {
	e := testenv.New(t, testenv.Options{NoSeed: true})
	ctx := context.Background()
	e.CreateServer("acme/crm")
	update := func(c provider.ServerChange) *storage.Server {
		t.Helper()
		srv, err := e.Provider.UpdateServer(ctx, "acme", "crm", c)
		if err != nil {
			t.Fatal(err)
		}
		if stored := e.ServerByPath("acme/crm"); stored.UpstreamByAPI != srv.UpstreamByAPI || stored.Upstream != srv.Upstream {
			t.Fatalf("returned %+v, stored %+v", srv, stored)
		}
		return srv
	}
	if srv := update(provider.ServerChange{Upstream: ptr("https://mcp.example.com/mcp"), ByAPI: true}); !srv.UpstreamByAPI {
		t.Error("an upstream set through the API is not marked as such")
	}
	if srv := update(provider.ServerChange{Name: ptr("CRM"), Enabled: ptr(false)}); !srv.UpstreamByAPI || srv.Name != "CRM" || srv.Enabled {
		t.Errorf("an operator's change of other fields: %+v (the upstream is still the API's)", srv)
	}
	if srv := update(provider.ServerChange{Upstream: ptr("http://10.0.0.5/mcp")}); srv.UpstreamByAPI {
		t.Error("an upstream an operator set is marked as the API's")
	}
	if srv := update(provider.ServerChange{Upstream: ptr(""), ByAPI: true}); srv.UpstreamByAPI || srv.Upstream != "" {
		t.Errorf("back to the demo through the API: %+v", srv)
	}

	errNo := errors.New("no")
	_, err := e.Provider.UpdateServer(ctx, "acme", "crm", provider.ServerChange{Name: ptr("Other"),
		Check: func(cur *storage.Server) error {
			if cur.Name != "CRM" {
				t.Errorf("Check saw %q", cur.Name)
			}
			return errNo
		}})
	if !errors.Is(err, errNo) || e.ServerByPath("acme/crm").Name != "CRM" {
		t.Errorf("a failed Check: %v, name %q", err, e.ServerByPath("acme/crm").Name)
	}
	if _, err := e.Provider.UpdateServer(ctx, "acme", "crm", provider.ServerChange{Upstream: ptr("http://u:p@h/")}); !errors.Is(err, provider.ErrInvalidServer) {
		t.Errorf("user info: %v, want ErrInvalidServer", err)
	}
	if _, err := e.Provider.UpdateServer(ctx, "acme", "nope", provider.ServerChange{Name: ptr("X")}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown server: %v, want storage.ErrNotFound", err)
	}
}

// TestTokenHolderServers: a server a token holder creates is marked as theirs and gets its
// headers in the same step (invalid headers create nothing), and a token holder cannot move
// an upstream that receives stored headers to another origin without replacing them.
func TestTokenHolderServers(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	ctx := context.Background()
	p := e.Provider

	if _, err := p.CreateServer(ctx, provider.ServerSpec{Org: "acme", Slug: "bad", Name: "Bad", Upstream: "https://mcp.example.com/mcp",
		Headers: map[string]string{"Host": "x"}, ByAPI: true}); !errors.Is(err, provider.ErrInvalidServer) {
		t.Fatalf("invalid headers: err = %v, want ErrInvalidServer", err)
	}
	if _, err := e.Store.ServerByPath(ctx, "acme", "bad"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a server with invalid headers was created: %v", err)
	}

	_, err := p.CreateServer(ctx, provider.ServerSpec{Org: "acme", Slug: "crm", Name: "CRM", Upstream: "https://mcp.example.com/mcp",
		Headers: map[string]string{"X-Api-Key": "k"}, ByAPI: true})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.Store.ServerByPath(ctx, "acme", "crm")
	if err != nil || !stored.UpstreamByAPI || !slices.Equal(p.UpstreamHeaderNames(stored), []string{"X-Api-Key"}) {
		t.Fatalf("created by a token holder: %+v, %v; headers %v", stored, err, p.UpstreamHeaderNames(stored))
	}

	elsewhere := "https://attacker.example/mcp"
	_, err = p.UpdateServer(ctx, "acme", "crm", provider.ServerChange{Upstream: &elsewhere, ByAPI: true})
	var sp provider.ServerProblems
	if !errors.As(err, &sp) || len(sp.ByField()["upstream"]) != 1 {
		t.Fatalf("moving an upstream with stored headers: err = %v, want an upstream problem", err)
	}
	same := "https://mcp.example.com/other"
	if _, err := p.UpdateServer(ctx, "acme", "crm", provider.ServerChange{Upstream: &same, ByAPI: true}); err != nil {
		t.Errorf("a move within the origin: %v", err)
	}
	if _, err := p.UpdateServer(ctx, "acme", "crm", provider.ServerChange{Upstream: &elsewhere, ByAPI: true, Headers: map[string]string{}}); err != nil {
		t.Errorf("a move that removes the headers: %v", err)
	}
	if s, _ := e.Store.ServerByPath(ctx, "acme", "crm"); s.Upstream != elsewhere || len(s.UpstreamHeaders) != 0 {
		t.Errorf("after the move: upstream %q, %d bytes of headers", s.Upstream, len(s.UpstreamHeaders))
	}
}
