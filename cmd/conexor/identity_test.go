package main

import (
	"context"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/testenv"
)

// TestServersIdentityHeader turns identity assertions on at creation, changes the header,
// turns them off with --identity-header "", and refuses names the gateway or a proxy owns,
// leaving the server as it was.
func TestServersIdentityHeader(t *testing.T) { testServersIdentityHeader(t, false) }

// TestServersIdentityHeaderPostgres is TestServersIdentityHeader on Postgres.
func TestServersIdentityHeaderPostgres(t *testing.T) { testServersIdentityHeader(t, true) }

func testServersIdentityHeader(t *testing.T, postgres bool) {
	pgURL := ""
	if postgres {
		pgURL = testenv.PostgresSchema(t) // before cliEnv, which clears every CONEXOR_ variable
	}
	dbURL, _ := cliEnv(t)
	if postgres {
		dbURL = pgURL
		t.Setenv("CONEXOR_DATABASE_URL", dbURL)
		mustRun(t, "", "migrate")
	}
	ctx := context.Background()
	s := openStore(t, dbURL)
	identity := func(path string) string {
		t.Helper()
		org, name, _ := strings.Cut(path, "/")
		srv, err := s.ServerByPath(ctx, org, name)
		if err != nil {
			t.Fatalf("ServerByPath(%s): %v", path, err)
		}
		return srv.IdentityHeader
	}

	mustRun(t, "", "servers", "create", "acme/crm", "--name", "CRM", "--upstream", "http://10.0.0.5:8080/mcp",
		"--identity-header", " x-conexor-identity ")
	if got := identity("acme/crm"); got != "X-Conexor-Identity" {
		t.Fatalf("after create: identity header %q, want X-Conexor-Identity (trimmed, canonical)", got)
	}
	mustRun(t, "", "servers", "create", "acme/plain", "--name", "Plain")
	if got := identity("acme/plain"); got != "" {
		t.Fatalf("a server created without --identity-header sends %q, want none", got)
	}

	if out := mustRun(t, "", "servers", "update", "acme/crm", "--identity-header", "X-Caller"); out != "updated acme/crm: identity_header\n" {
		t.Errorf("servers update printed %q", out)
	}
	if got := identity("acme/crm"); got != "X-Caller" {
		t.Fatalf("after update: %q, want X-Caller", got)
	}

	for _, tc := range []struct {
		header, wantErr string
	}{
		{"Authorization", "the identity cannot be sent in Authorization"},
		{"mcp-session-id", "the identity cannot be sent in Mcp-Session-Id"},
		{"Content-Type", "the identity cannot be sent in Content-Type"},
		{"Host", "the identity cannot be sent in Host"},
		{"User-Agent", "the identity cannot be sent in User-Agent"},
		{"X-Forwarded-User", "the identity cannot be sent in X-Forwarded-User"},
		{"X Caller", `"X Caller" is not a valid header name`},
		{"X-Caller:", `"X-Caller:" is not a valid header name`},
		{strings.Repeat("x", 101), "is not a valid header name: at most 100"},
	} {
		_, _, err := run(t, "", "servers", "update", "acme/crm", "--identity-header", tc.header)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("--identity-header %q: err = %v, want it to contain %q", tc.header, err, tc.wantErr)
		}
		if got := identity("acme/crm"); got != "X-Caller" {
			t.Fatalf("a refused --identity-header %q changed the server: %q", tc.header, got)
		}
	}
	_, _, err := run(t, "", "servers", "create", "acme/bad", "--name", "Bad", "--identity-header", "Cookie")
	if err == nil || !strings.Contains(err.Error(), "the identity cannot be sent in Cookie") {
		t.Errorf("create with --identity-header Cookie: %v", err)
	}
	if _, err := s.ServerByPath(ctx, "acme", "bad"); err == nil {
		t.Error("a server was created with a refused identity header")
	}

	mustRun(t, "", "servers", "update", "acme/crm", "--identity-header", "")
	if got := identity("acme/crm"); got != "" {
		t.Fatalf(`after --identity-header "": %q, want off`, got)
	}
}
