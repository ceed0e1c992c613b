package provider_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// TestClientProblemsByField: each problem of a client spec is filed under the form field it
// is about, and the error text stays the one line the CLI prints.
func TestClientProblemsByField(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	srv := e.ServerByPath("acme/sales-api").ID
	ctx := context.Background()
	for name, tc := range map[string]struct {
		spec provider.ClientSpec
		want map[string][]string
	}{
		"long name": {provider.ClientSpec{Name: strings.Repeat("n", 201), Scopes: []string{provider.ScopeToolsRead}},
			map[string][]string{"name": {"name is longer than 200 characters"}}},
		"no scope": {provider.ClientSpec{Name: "x"},
			map[string][]string{"scope": {"choose at least one scope"}}},
		"unknown scope": {provider.ClientSpec{Name: "x", Scopes: []string{"crm:read"}},
			map[string][]string{"scope": {`unknown scope "crm:read" (known: ` + strings.Join(e.Provider.Scopes().Names(), ", ") + ")"}}},
		"bad grant": {provider.ClientSpec{Name: "x", Scopes: []string{provider.ScopeToolsRead}, GrantTypes: []string{"password"}},
			map[string][]string{"grant_type": {`unsupported grant type "password" (use client_credentials, authorization_code, refresh_token)`}}},
		"public client credentials": {provider.ClientSpec{Name: "x", Scopes: []string{provider.ScopeToolsRead}, Public: true, GrantTypes: []string{"client_credentials"}},
			map[string][]string{"public": {"a public client cannot use client_credentials (it has no secret)"}}},
		"code without redirect and a bad one": {provider.ClientSpec{Name: "x", Scopes: []string{provider.ScopeToolsRead}, GrantTypes: []string{"authorization_code"}},
			map[string][]string{"redirect_uri": {"the authorization_code grant needs at least one redirect URI"}}},
	} {
		tc.spec.ServerID = srv
		_, _, err := e.Provider.CreateClient(ctx, tc.spec)
		var se *provider.SpecError
		if !errors.As(err, &se) || !errors.Is(err, provider.ErrInvalidClientSpec) {
			t.Errorf("%s: err = %v, want a *SpecError", name, err)
			continue
		}
		if diff := cmp.Diff(tc.want, se.ByField()); diff != "" {
			t.Errorf("%s: ByField (-want +got):\n%s", name, diff)
		}
		if want := "invalid client: " + strings.Join(se.Problems, "; "); err.Error() != want {
			t.Errorf("%s: Error() = %q, want %q", name, err.Error(), want)
		}
	}
}

// TestDuplicateClientName: a server's active clients have distinct names, compared
// case-insensitively, on creation and on rename; a revoked client's name is free again, and
// another server may use the same name.
func TestDuplicateClientName(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testDuplicateClientName)
}

func testDuplicateClientName(t *testing.T, opts testenv.Options) {
	e := testenv.New(t, opts)
	ctx := context.Background()
	p := e.Provider
	sales := e.ServerByPath("acme/sales-api").ID
	spec := func(server, name string) provider.ClientSpec {
		return provider.ClientSpec{ServerID: server, Name: name, Scopes: []string{provider.ScopeToolsRead}}
	}
	wantDup := func(what string, err error, name string) {
		t.Helper()
		var se *provider.SpecError
		if !errors.As(err, &se) {
			t.Fatalf("%s: err = %v, want a *SpecError", what, err)
		}
		want := map[string][]string{"name": {`another client of this server is named "` + name + `": choose another name`}}
		if diff := cmp.Diff(want, se.ByField()); diff != "" {
			t.Fatalf("%s: ByField (-want +got):\n%s", what, diff)
		}
	}

	first, _, err := p.CreateClient(ctx, spec(sales, "CI Runner"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.CreateClient(ctx, spec(sales, "  ci runner "))
	wantDup("create, other case and spaces", err, "ci runner")

	other, _, err := p.CreateClient(ctx, spec(sales, "Reporting"))
	if err != nil {
		t.Fatal(err)
	}
	rename := "CI RUNNER"
	_, err = p.UpdateClient(ctx, other.ID, provider.ClientUpdate{Name: &rename})
	wantDup("rename onto another client's name", err, rename)

	// A client keeps its own name through an update, whatever the case.
	self := "ci runner"
	if _, err := p.UpdateClient(ctx, first.ID, provider.ClientUpdate{Name: &self}); err != nil {
		t.Fatalf("renaming a client to its own name in another case: %v", err)
	}

	// The same name on another server is fine.
	if _, _, err := p.CreateClient(ctx, spec(e.CreateServer("acme/other").ID, "CI Runner")); err != nil {
		t.Fatalf("same name on another server: %v", err)
	}

	// Revoking frees the name.
	if err := p.RevokeClient(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.CreateClient(ctx, spec(sales, "CI Runner")); err != nil {
		t.Fatalf("name of a revoked client: %v", err)
	}
}
