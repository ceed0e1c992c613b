package main

import (
	"context"
	"strings"
	"testing"
)

// TestServersCreateRefusesUserInfo: an upstream with credentials in it is refused when it is
// entered, saying why and what to do instead, rather than accepted and then refused by the
// gate with a 502 on every call.
func TestServersCreateRefusesUserInfo(t *testing.T) {
	dbURL, _ := cliEnv(t)
	mustRun(t, "", "migrate")
	_, _, err := run(t, "", "servers", "create", "acme/crm", "--name", "CRM", "--upstream", "http://user:pw@crm.internal/mcp")
	if err == nil || !strings.Contains(err.Error(), "must not contain user info (user:password@): credentials in a URL leak into logs; "+
		"put API keys in the server's upstream headers in the configuration file") {
		t.Fatalf("servers create with user info: %v", err)
	}
	if servers, err := openStore(t, dbURL).ListServers(context.Background()); err != nil || len(servers) != 0 {
		t.Errorf("servers after the refusal: %v, %v", servers, err)
	}
}

// TestServersUpdate changes each field through the CLI, back to the demo with --upstream "",
// and refuses what the one validation refuses, with the server left as it was.
func TestServersUpdate(t *testing.T) {
	dbURL, _ := cliEnv(t)
	ctx := context.Background()
	mustRun(t, "", "servers", "create", "acme/crm", "--name", "CRM")
	s := openStore(t, dbURL)

	// An upstream a token holder set through the API becomes the operator's when the
	// operator sets it: the proxy may then dial internal addresses for it.
	srv, err := s.ServerByPath(ctx, "acme", "crm")
	if err != nil {
		t.Fatal(err)
	}
	srv.Upstream, srv.UpstreamByAPI = "https://crm.example.com/mcp", true
	if err := s.UpdateServer(ctx, srv); err != nil {
		t.Fatal(err)
	}

	out := mustRun(t, "", "servers", "update", "acme/crm", "--name", " CRM v2 ", "--description", "Contacts",
		"--upstream", "http://10.0.0.5:8080/mcp", "--enabled=false")
	if want := "updated acme/crm: name, description, enabled, upstream\n"; out != want {
		t.Errorf("servers update printed %q, want %q", out, want)
	}
	srv, err = s.ServerByPath(ctx, "acme", "crm")
	if err != nil {
		t.Fatal(err)
	}
	if srv.Name != "CRM v2" || srv.Description != "Contacts" || srv.Upstream != "http://10.0.0.5:8080/mcp" || srv.Enabled || srv.UpstreamByAPI {
		t.Errorf("after update: %+v", srv)
	}

	// Variables named like the update's flags are not read: only the command line changes a server.
	t.Setenv("CONEXOR_ENABLED", "false")
	t.Setenv("CONEXOR_NAME", "From the environment")
	t.Setenv("CONEXOR_UPSTREAM", "https://elsewhere.example/mcp")
	mustRun(t, "", "servers", "update", "acme/crm", "--upstream", "", "--enabled=true")
	if srv, err = s.ServerByPath(ctx, "acme", "crm"); err != nil || srv.Upstream != "" || !srv.Enabled || srv.Name != "CRM v2" {
		t.Errorf("back to the demo: %+v, %v", srv, err)
	}

	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"acme/crm", "--upstream", "http://user:pw@crm.internal/mcp"}, "credentials in a URL leak into logs"},
		{[]string{"acme/crm", "--upstream", "http://169.254.169.254/latest"}, "link-local, multicast or unspecified"},
		{[]string{"acme/crm", "--name", "  "}, "name must be 1-200 characters"},
		{[]string{"acme/crm"}, "nothing to change: pass --name, --description, --upstream, --enabled or --identity-header"},
		{[]string{"acme/nope", "--name", "X"}, "no server acme/nope: create it with `conexor servers create acme/nope --name NAME`"},
		{[]string{"Acme/crm", "--name", "X"}, `"Acme/crm" must be ORG/SERVER`},
	} {
		_, _, err := run(t, "", append([]string{"servers", "update"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("conexor servers update %s: err = %v, want it to contain %q", strings.Join(tc.args, " "), err, tc.wantErr)
		}
	}
	if after, err := s.ServerByPath(ctx, "acme", "crm"); err != nil || after.Name != srv.Name || after.Upstream != srv.Upstream ||
		!after.UpdatedAt.Equal(srv.UpdatedAt) {
		t.Errorf("a refused update changed the server: %+v, %v", after, err)
	}
}
