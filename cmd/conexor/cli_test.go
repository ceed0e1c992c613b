package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/storage"
)

// cliEnv isolates a test from CONEXOR_* variables of the machine and points the CLI at a new
// SQLite database with a fixed secret, through the environment, created by `conexor migrate`
// as an operator would (the admin commands do not create one). It returns the database URL
// and the secret.
func cliEnv(t *testing.T) (dbURL, secret string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "CONEXOR_") {
			t.Setenv(k, "") // restores the value when the test ends
			os.Unsetenv(k)
		}
	}
	dbURL = "sqlite://" + filepath.Join(t.TempDir(), "cli.db")
	secret = testenv.NewSecret()
	t.Setenv("CONEXOR_DATABASE_URL", dbURL)
	t.Setenv("CONEXOR_SECRET", secret)
	mustRun(t, "", "migrate")
	return dbURL, secret
}

// run executes the CLI with args as main does and returns what it printed.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(strings.NewReader(stdin), &out, &errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// mustRun is run for commands that must succeed.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, stdin, args...)
	if err != nil {
		t.Fatalf("conexor %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// openStore opens the database the CLI wrote, to check it.
func openStore(t *testing.T, dbURL string) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestServersCreateAndList(t *testing.T) {
	dbURL, _ := cliEnv(t)
	ctx := context.Background()

	out := mustRun(t, "", "servers", "create", "other/api", "--name", "Other API", "--description", "Things")
	if want := "created other/api: http://localhost:8080/mcp/other/api\n"; out != want {
		t.Errorf("servers create printed %q, want %q", out, want)
	}
	s := openStore(t, dbURL)
	org, err := s.OrgBySlug(ctx, "other")
	if err != nil {
		t.Fatalf("servers create did not create the org: %v", err)
	}
	srv, err := s.ServerByPath(ctx, "other", "api")
	if err != nil {
		t.Fatal(err)
	}
	if srv.OrgID != org.ID || srv.Name != "Other API" || srv.Description != "Things" || !srv.Enabled || srv.Upstream != "" {
		t.Errorf("server = %+v", srv)
	}

	// A second server in the same org reuses it.
	mustRun(t, "", "servers", "create", "other/crm", "--name", "CRM", "--upstream", "https://crm.example/mcp")
	if n, err := s.CountOrgs(ctx); err != nil || n != 1 {
		t.Errorf("orgs = %d, %v; want 1", n, err)
	}

	list := mustRun(t, "", "servers", "list")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SERVER") {
		t.Fatalf("servers list:\n%s", list)
	}
	for i, want := range [][]string{
		{"other/api", "Other API", "true", "(built-in demo)", "http://localhost:8080/mcp/other/api"},
		{"other/crm", "CRM", "true", "https://crm.example/mcp", "http://localhost:8080/mcp/other/crm"},
	} {
		if diff := cmp.Diff(want, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(lines[i+1]), -1)); diff != "" {
			t.Errorf("servers list row %d (-want +got):\n%s", i+1, diff)
		}
	}

	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"servers", "create", "other/api", "--name", "Again"}, "server other/api already exists"},
		{[]string{"servers", "create", "Other/API", "--name", "X"}, `"Other/API" must be ORG/SERVER`},
		{[]string{"servers", "create", "other", "--name", "X"}, "must be ORG/SERVER"},
		{[]string{"servers", "create", "other/x"}, "--name is required"},
		{[]string{"servers", "create", "other/x", "--name", "X", "--upstream", "ftp://x"}, "must be an http(s) URL"},
	} {
		_, _, err := run(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("conexor %s: err = %v, want it to contain %q", strings.Join(tc.args, " "), err, tc.wantErr)
		}
	}
}

// TestClientsLifecycle creates a client with the CLI on the database of a running App and
// uses it at that App's token endpoint, then rotates its secret and revokes it.
func TestClientsLifecycle(t *testing.T) {
	dbURL, secret := cliEnv(t)
	e := testenv.New(t, testenv.Options{DatabaseURL: dbURL, Secret: secret}) // seeds acme/sales-api
	tokenForm := url.Values{"grant_type": {"client_credentials"}}

	out := mustRun(t, "", "clients", "create", "--server", "acme/sales-api", "--name", "Nightly job",
		"--scopes", "mcp:tools:read", "--json")
	dec := json.NewDecoder(strings.NewReader(out))
	var created map[string]any
	if err := dec.Decode(&created); err != nil {
		t.Fatalf("clients create --json printed %q: %v", out, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("clients create --json printed more than one JSON object: %q", out)
	}
	id, _ := created["client_id"].(string)
	sec, _ := created["client_secret"].(string)
	if !strings.HasPrefix(id, "client_") || !regexp.MustCompile(`^secret_[A-Za-z0-9_-]{43,}$`).MatchString(sec) {
		t.Fatalf("client_id %q, client_secret %q", id, sec)
	}
	want := map[string]any{
		"client_id": id, "client_secret": sec, "name": "Nightly job", "server": "acme/sales-api",
		"resource": "http://localhost:8080/mcp/acme/sales-api", "scope": "mcp:tools:read",
		"grant_types": []any{"client_credentials"}, "public": false, "token_url": "http://localhost:8080/api/oauth/token",
	}
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("clients create --json (-want +got):\n%s", diff)
	}

	// The secret works at the running server (same database, same CONEXOR_SECRET).
	tok := e.Token(id, sec)
	claims := e.VerifyJWT(tok).Claims
	if claims["scope"] != "mcp:tools:read" || claims["aud"] != e.ResourceURL("acme", "sales-api") || claims["sub"] != id {
		t.Errorf("token claims = %v", claims)
	}

	// Listed.
	var listed []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, "", "clients", "list", "--server", "acme/sales-api", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range listed {
		if c["client_id"] == id {
			found = c["name"] == "Nightly job" && c["revoked"] == false && c["public"] == false
		}
		if _, leaked := c["client_secret"]; leaked {
			t.Errorf("clients list shows a secret")
		}
	}
	if !found {
		t.Errorf("clients list --json does not show %s as an active confidential client: %v", id, listed)
	}

	// The CLI is another process on the server's SQLite file, which cannot notify the
	// server: the server re-reads a client it has cached within its bound (a second).
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: still not after 20 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	tokenStatus := func(secret string, basic bool) int {
		return e.PostForm("/api/oauth/token", tokenForm, &testenv.Auth{ID: id, Secret: secret, Basic: basic}).StatusCode
	}

	// rotate-secret: the old secret stops working, the new one works.
	var rotated map[string]string
	if err := json.Unmarshal([]byte(mustRun(t, "", "clients", "rotate-secret", id, "--json")), &rotated); err != nil {
		t.Fatal(err)
	}
	if rotated["client_id"] != id || rotated["client_secret"] == sec || !strings.HasPrefix(rotated["client_secret"], "secret_") {
		t.Fatalf("rotate-secret printed %v", rotated)
	}
	eventually("the old secret refused after rotate-secret", func() bool { return tokenStatus(sec, false) == http.StatusUnauthorized })
	tok = e.Token(id, rotated["client_secret"])

	// revoke: the token endpoint refuses the client and its tokens are dead.
	if out := mustRun(t, "", "clients", "revoke", id); out != "revoked "+id+" and its tokens\n" {
		t.Errorf("clients revoke printed %q", out)
	}
	eventually("the revoked client refused", func() bool { return tokenStatus(rotated["client_secret"], true) != http.StatusOK })
	r := e.PostForm("/api/oauth/token", tokenForm, &testenv.Auth{ID: id, Secret: rotated["client_secret"], Basic: true})
	if r.StatusCode != http.StatusUnauthorized || r.JSON(t)["error"] != "invalid_client" {
		t.Errorf("revoked client at the token endpoint: %d %s, want 401 invalid_client", r.StatusCode, r.Body)
	}
	if got := e.Introspect(e.ClientID, e.ClientSecret, tok)["active"]; got != false {
		t.Errorf("token of a revoked client: active = %v, want false", got)
	}
	// Revoking it again changes nothing, says so and succeeds: the client is revoked either way.
	c, err := e.Store.ClientByID(context.Background(), id)
	if err != nil || c.RevokedAt == nil {
		t.Fatalf("client after revoke: %+v, %v", c, err)
	}
	wantAgain := id + " was already revoked on " + c.RevokedAt.UTC().Format("2006-01-02 15:04 MST") + "\n"
	if out := mustRun(t, "", "clients", "revoke", id); out != wantAgain {
		t.Errorf("clients revoke of a revoked client printed %q, want %q", out, wantAgain)
	}
	if again, err := e.Store.ClientByID(context.Background(), id); err != nil || !again.RevokedAt.Equal(*c.RevokedAt) {
		t.Errorf("revoking again changed the revocation time: %v -> %v (%v)", c.RevokedAt, again.RevokedAt, err)
	}
	if _, _, err := run(t, "", "clients", "revoke", "client_nope"); err == nil || err.Error() != "no client client_nope" {
		t.Errorf("revoke unknown client: %v", err)
	}
	if _, _, err := run(t, "", "clients", "rotate-secret", id); err == nil || !strings.Contains(err.Error(), "no active client") {
		t.Errorf("rotate-secret of a revoked client: %v", err)
	}
}

func TestClientsCreateRefusals(t *testing.T) {
	cliEnv(t)
	mustRun(t, "", "servers", "create", "acme/sales-api", "--name", "Sales")
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"clients", "create", "--server", "nope/x", "--name", "N", "--scopes", "mcp:tools:read"},
			"no server nope/x: create it with `conexor servers create nope/x --name NAME`"},
		{[]string{"clients", "create", "--server", "acme/sales-api", "--name", "N", "--scopes", "mcp:everything"},
			`unknown scope "mcp:everything"`},
		{[]string{"clients", "create", "--server", "acme/sales-api", "--name", "N", "--scopes", "mcp:tools:read", "--public", "--grant-types", "client_credentials"},
			"a public client cannot use client_credentials"},
		{[]string{"clients", "create", "--server", "acme/sales-api", "--name", "N", "--scopes", "mcp:tools:read", "--grant-types", "authorization_code"},
			"needs at least one redirect URI"},
		{[]string{"clients", "create", "--server", "acme", "--name", "N", "--scopes", "mcp:tools:read"}, "--server:"},
		{[]string{"clients", "create", "--name", "N", "--scopes", "mcp:tools:read"}, `required flag(s) "server" not set`},
		{[]string{"clients", "create", "--server", "acme/sales-api", "--name", " ", "--scopes", "mcp:tools:read"}, "--name must not be empty"},
		{[]string{"clients", "create", "--server", "acme/sales-api", "--name", "N", "--scopes", ""}, "--scopes must name at least one scope"},
		{[]string{"clients", "create", "--server", "acme/sales-api", "--name", "N", "--scopes", " , "}, "--scopes must name at least one scope"},
	} {
		out, _, err := run(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("conexor %s: err = %v, want it to contain %q", strings.Join(tc.args, " "), err, tc.wantErr)
		}
		if strings.Contains(out, "secret_") {
			t.Errorf("a failed clients create printed a secret: %q", out)
		}
	}
}

// TestClientsRedirectURIImpliesCode: a redirect URI without --grant-types makes a client of
// the code and refresh grants, confidential or public; without one a confidential client is
// a client_credentials client.
func TestClientsRedirectURIImpliesCode(t *testing.T) {
	cliEnv(t)
	mustRun(t, "", "servers", "create", "acme/sales-api", "--name", "Sales")
	base := []string{"clients", "create", "--server", "acme/sales-api", "--name", "N", "--scopes", "mcp:tools:read", "--json"}
	for i, tc := range []struct {
		extra      []string
		wantGrants []any
		wantSecret bool
	}{
		{[]string{"--redirect-uri", "https://app.example/cb"}, []any{"authorization_code", "refresh_token"}, true},
		{[]string{"--redirect-uri", "http://127.0.0.1:3000/cb", "--public"}, []any{"authorization_code", "refresh_token"}, false},
		{nil, []any{"client_credentials"}, true},
	} {
		var c map[string]any
		// Each a name of its own: a server's clients have distinct names.
		args := append(append(slices.Clone(base), tc.extra...), "--name", fmt.Sprintf("N%d", i))
		if err := json.Unmarshal([]byte(mustRun(t, "", args...)), &c); err != nil {
			t.Fatal(err)
		}
		_, hasSecret := c["client_secret"]
		if !cmp.Equal(c["grant_types"], tc.wantGrants) || hasSecret != tc.wantSecret {
			t.Errorf("clients create %v: grant_types %v, secret %t; want %v, %t", tc.extra, c["grant_types"], hasSecret, tc.wantGrants, tc.wantSecret)
		}
	}
	// Redirect URIs on a client without the code grant could never be used: refused, at
	// create and at update alike.
	const unusable = "redirect URIs are used only by the authorization_code grant"
	if _, _, err := run(t, "", append(base, "--redirect-uri", "https://app.example/cb", "--grant-types", "client_credentials")...); err == nil || !strings.Contains(err.Error(), unusable) {
		t.Errorf("a client_credentials client with a redirect URI: err = %v, want %q", err, unusable)
	}
	var cc map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, "", base...)), &cc); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "", "clients", "update", cc["client_id"].(string), "--redirect-uri", "https://app.example/cb"); err == nil || !strings.Contains(err.Error(), unusable) {
		t.Errorf("adding a redirect URI to a client_credentials client: err = %v, want %q", err, unusable)
	}
}

// TestClientsUpdate changes a client's name, scopes and redirect URIs with the CLI; the
// result is stored and checked by the rules of create; revoked and unknown clients are
// refused.
func TestClientsUpdate(t *testing.T) {
	dbURL, _ := cliEnv(t)
	ctx := context.Background()
	mustRun(t, "", "servers", "create", "acme/sales-api", "--name", "Sales")
	var c map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, "", "clients", "create", "--server", "acme/sales-api", "--name", "Web app",
		"--scopes", "mcp:tools:read", "--redirect-uri", "https://app.example/cb", "--json")), &c); err != nil {
		t.Fatal(err)
	}
	id := c["client_id"].(string)

	out := mustRun(t, "", "clients", "update", id, "--name", "Web app v2", "--scopes", "mcp:tools:read,mcp:tools:execute",
		"--redirect-uri", "https://app.example/cb2", "--redirect-uri", "http://127.0.0.1/cb")
	want := "updated " + id + "\nname:          Web app v2\nscopes:        mcp:tools:read mcp:tools:execute\n" +
		"grant types:   authorization_code refresh_token\nredirect URIs: https://app.example/cb2 http://127.0.0.1/cb\n"
	if out != want {
		t.Errorf("clients update printed %q, want %q", out, want)
	}
	stored, err := openStore(t, dbURL).ClientByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Name != "Web app v2" || stored.Scopes != "mcp:tools:read mcp:tools:execute" ||
		!cmp.Equal(stored.RedirectURIs(), []string{"https://app.example/cb2", "http://127.0.0.1/cb"}) {
		t.Errorf("stored client = %+v, redirect URIs %v", stored, stored.RedirectURIs())
	}

	// Only the flags given on the command line change: variables exported for other
	// commands (CONEXOR_SCOPES is connect's) are not read by update.
	t.Setenv("CONEXOR_SCOPES", "mcp:tools:read")
	t.Setenv("CONEXOR_REDIRECT_URI", "http://127.0.0.1/other")
	t.Setenv("CONEXOR_NAME", "From the environment")
	var updated map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, "", "clients", "update", id, "--name", "Web app v3", "--json")), &updated); err != nil {
		t.Fatal(err)
	}
	if updated["name"] != "Web app v3" || updated["scope"] != "mcp:tools:read mcp:tools:execute" || len(updated["redirect_uris"].([]any)) != 2 {
		t.Errorf("clients update --name --json = %v", updated)
	}

	mustRun(t, "", "clients", "create", "--server", "acme/sales-api", "--name", "CLI script", "--scopes", "mcp:tools:read")
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"clients", "update", id}, "nothing to change"},
		{[]string{"clients", "update", id, "--scopes", "mcp:everything"}, `unknown scope "mcp:everything"`},
		{[]string{"clients", "update", id, "--redirect-uri", "http://app.example/cb"}, "http://app.example/cb:"},
		{[]string{"clients", "update", id, "--name", " "}, "--name must not be empty"},
		{[]string{"clients", "update", id, "--scopes", ","}, "--scopes must name at least one scope"},
		{[]string{"clients", "update", "client_nope", "--name", "X"}, "no client client_nope"},
		{[]string{"clients", "update", id, "--name", "CLI SCRIPT"}, `invalid client: another client of this server is named "CLI SCRIPT": choose another name`},
		{[]string{"clients", "create", "--server", "acme/sales-api", "--name", "web APP v3", "--scopes", "mcp:tools:read"},
			`invalid client: another client of this server is named "web APP v3": choose another name`},
	} {
		if _, _, err := run(t, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("conexor %s: err = %v, want it to contain %q", strings.Join(tc.args, " "), err, tc.wantErr)
		}
	}
	mustRun(t, "", "clients", "revoke", id)
	// A revoked client's name is free again.
	mustRun(t, "", "clients", "create", "--server", "acme/sales-api", "--name", "Web app v3", "--scopes", "mcp:tools:read")
	if _, _, err := run(t, "", "clients", "update", id, "--name", "X"); err == nil || !strings.Contains(err.Error(), "was revoked on") || !strings.Contains(err.Error(), "cannot be changed") {
		t.Errorf("update of a revoked client: %v", err)
	}
	if again, _ := openStore(t, dbURL).ClientByID(ctx, id); again.Name != "Web app v3" {
		t.Errorf("a refused update changed the client: %+v", again)
	}
}

func TestUsersCreate(t *testing.T) {
	dbURL, _ := cliEnv(t)
	ctx := context.Background()
	mustRun(t, "", "servers", "create", "beta/api", "--name", "Beta")

	out := mustRun(t, "a long enough password\n", "users", "create", "--email", "Bob@Example.com", "--org", "beta", "--role", "admin", "--password-stdin")
	if out != "created user bob@example.com (admin of beta)\n" {
		t.Errorf("users create printed %q", out)
	}
	s := openStore(t, dbURL)
	u, err := s.UserByEmail(ctx, "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := password.Verify(u.PasswordHash, "a long enough password"); !ok || err != nil {
		t.Errorf("stored hash does not verify the password from stdin: %v %v", ok, err)
	}
	if strings.Contains(u.PasswordHash, "a long enough password") {
		t.Error("password stored in clear")
	}
	org, _ := s.OrgBySlug(ctx, "beta")
	if m, err := s.Membership(ctx, org.ID, u.ID); err != nil || m.Role != storage.RoleAdmin {
		t.Errorf("membership = %+v, %v; want admin", m, err)
	}

	for _, tc := range []struct {
		stdin   string
		args    []string
		wantErr string
	}{
		{"a long enough password\n", []string{"users", "create", "--email", "c@example.com", "--org", "beta"}, "--password-stdin"},
		{"short\n", []string{"users", "create", "--email", "c@example.com", "--org", "beta", "--password-stdin"}, "at least 10 characters"},
		{"a long enough password\n", []string{"users", "create", "--email", "c@example.com", "--org", "nope", "--password-stdin"}, `no org "nope"`},
		{"a long enough password\n", []string{"users", "create", "--email", "bob@example.com", "--org", "beta", "--password-stdin"}, "already exists and is a member of beta"},
		{"a long enough password\n", []string{"users", "create", "--email", "c@example.com", "--org", "beta", "--role", "owner", "--password-stdin"}, "--role must be admin or member"},
		{"a long enough password\n", []string{"users", "create", "--email", "not-an-email", "--org", "beta", "--password-stdin"}, "is not an email address"},
	} {
		_, _, err := run(t, tc.stdin, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("conexor %s: err = %v, want it to contain %q", strings.Join(tc.args, " "), err, tc.wantErr)
		}
	}
	if _, err := s.UserByEmail(ctx, "c@example.com"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a refused users create left a user behind: %v", err)
	}

	// An existing user is added to another org (as the command's help says), keeping their
	// password; the password given is not applied.
	mustRun(t, "", "servers", "create", "gamma/api", "--name", "Gamma")
	out = mustRun(t, "another long password\n", "users", "create", "--email", "BOB@example.com", "--org", "gamma", "--password-stdin")
	if out != "added existing user bob@example.com to gamma as member (their password is unchanged)\n" {
		t.Errorf("users create of an existing user printed %q", out)
	}
	gamma, _ := s.OrgBySlug(ctx, "gamma")
	if m, err := s.Membership(ctx, gamma.ID, u.ID); err != nil || m.Role != storage.RoleMember {
		t.Errorf("membership of gamma = %+v, %v; want member", m, err)
	}
	if m, err := s.Membership(ctx, org.ID, u.ID); err != nil || m.Role != storage.RoleAdmin {
		t.Errorf("membership of beta after joining gamma = %+v, %v; want admin still", m, err)
	}
	again, _ := s.UserByEmail(ctx, "bob@example.com")
	if ok, _ := password.Verify(again.PasswordHash, "a long enough password"); !ok {
		t.Error("adding an existing user to an org changed their password")
	}
}

// TestAdminCommandsNeedADatabase: only serve and migrate create a database. Every other
// command pointed at a SQLite file that does not exist says where it looked and how to point
// at the right one, and leaves no file behind (no empty database, no new secret).
func TestAdminCommandsNeedADatabase(t *testing.T) {
	cliEnv(t)
	os.Unsetenv("CONEXOR_SECRET") // else no secret file would be written anyway
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("CONEXOR_DATABASE_URL", "sqlite://conexor.db") // relative, as the default is
	want := "no database at " + filepath.Join(dir, "conexor.db") + " (only serve and migrate create one): run this command in the server's directory, " +
		"or point at its database with --database-url sqlite://PATH or CONEXOR_DATABASE_URL"
	for _, args := range [][]string{
		{"servers", "list"},
		{"servers", "create", "acme/x", "--name", "X"},
		{"clients", "create", "--server", "acme/x", "--name", "N", "--scopes", "mcp:tools:read"},
		{"clients", "update", "client_x", "--name", "N"},
		{"clients", "list", "--server", "acme/x"},
		{"clients", "revoke", "client_x"},
		{"clients", "rotate-secret", "client_x"},
		{"users", "create", "--email", "a@example.com", "--org", "acme", "--password-stdin"},
		{"keys", "rotate"},
	} {
		if _, _, err := run(t, "a long enough password\n", args...); err == nil || err.Error() != want {
			t.Errorf("conexor %s: err = %v, want %q", strings.Join(args, " "), err, want)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("admin commands left files in %s: %v (%v)", dir, entries, err)
	}
	// migrate creates it; then the same command works.
	mustRun(t, "", "migrate")
	if out := mustRun(t, "", "servers", "list"); !strings.HasPrefix(out, "SERVER") {
		t.Errorf("servers list after migrate printed %q", out)
	}

	// A database whose secret is not beside it (it was created with CONEXOR_SECRET): an
	// admin command without the variable refuses, and writes no secret file of its own.
	other := t.TempDir()
	t.Chdir(other)
	t.Setenv("CONEXOR_SECRET", testenv.NewSecret())
	mustRun(t, "", "migrate")
	os.Unsetenv("CONEXOR_SECRET")
	wantSecret := "no CONEXOR_SECRET set and no secret file at " + filepath.Join(other, "conexor.secret")
	if _, _, err := run(t, "", "clients", "list", "--server", "acme/x"); err == nil || !strings.HasPrefix(err.Error(), wantSecret) {
		t.Errorf("an admin command without the secret: err = %v, want it to start with %q", err, wantSecret)
	}
	if _, err := os.Stat(filepath.Join(other, "conexor.secret")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an admin command wrote a secret file: %v", err)
	}
}

// TestServeBusyAddress: when the listen address is taken, serve fails before it touches the
// database, so the first start's one-time banner (admin password, client secret) is not
// spent on a server that never ran.
func TestServeBusyAddress(t *testing.T) {
	cliEnv(t)
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "new.db")
	t.Setenv("CONEXOR_DATABASE_URL", dbURL)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stdout, _, err := run(t, "", "serve", "--addr", ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) || !strings.Contains(err.Error(), "--addr") {
		t.Fatalf("serve on a busy address: %v", err)
	}
	if strings.Contains(stdout, "client_secret") {
		t.Errorf("serve on a busy address printed the first-start banner:\n%s", stdout)
	}
	if _, err := os.Stat(strings.TrimPrefix(dbURL, "sqlite://")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("serve on a busy address created the database: %v", err)
	}
}

func TestKeysRotate(t *testing.T) {
	dbURL, secret := cliEnv(t)
	ctx := context.Background()
	e := testenv.New(t, testenv.Options{DatabaseURL: dbURL, Secret: secret})
	oldKID := e.Provider.Keys().CurrentKID()

	out := mustRun(t, "", "keys", "rotate")
	m := regexp.MustCompile(`^new signing key (\S+) \(ES256\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate printed %q", out)
	}
	newKID := m[1]
	keys, err := e.Store.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]bool{} // kid -> retired
	for _, k := range keys {
		state[k.KID] = k.RetiredAt != nil
	}
	if diff := cmp.Diff(map[string]bool{oldKID: true, newKID: false}, state); diff != "" {
		t.Errorf("signing keys after keys rotate (-want +got):\n%s", diff)
	}

	// The running server picks the new key up on its next reload.
	if err := e.Provider.Keys().Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.VerifyJWT(e.Token(e.ClientID, e.ClientSecret)).Header.KeyID; got != newKID {
		t.Errorf("token after keys rotate signed with %q, want %q", got, newKID)
	}
	if set := e.JWKS(); len(set.Key(oldKID)) != 1 || len(set.Key(newKID)) != 1 {
		t.Errorf("JWKS after rotation lacks the old or the new key")
	}

	// With the wrong secret the CLI refuses rather than adding a key nobody can use.
	t.Setenv("CONEXOR_SECRET", testenv.NewSecret())
	if _, _, err := run(t, "", "keys", "rotate"); err == nil || !strings.Contains(err.Error(), "CONEXOR_SECRET") {
		t.Errorf("keys rotate with another secret: %v, want an error naming CONEXOR_SECRET", err)
	}
}

// TestEnvironmentBinding: every flag reads CONEXOR_<FLAG> when absent; a flag beats the
// environment; bad values are reported.
func TestEnvironmentBinding(t *testing.T) {
	envURL, _ := cliEnv(t)
	flagURL := "sqlite://" + filepath.Join(t.TempDir(), "flag.db")
	t.Setenv("CONEXOR_ISSUER", "https://auth.example.com")

	out := mustRun(t, "", "servers", "create", "env/api", "--name", "From env")
	if out != "created env/api: https://auth.example.com/mcp/env/api\n" {
		t.Errorf("CONEXOR_ISSUER not honoured: %q", out)
	}
	mustRun(t, "", "--database-url", flagURL, "migrate")
	mustRun(t, "", "--database-url", flagURL, "servers", "create", "flag/api", "--name", "From flag")

	ctx := context.Background()
	envStore, flagStore := openStore(t, envURL), openStore(t, flagURL)
	if _, err := envStore.ServerByPath(ctx, "env", "api"); err != nil {
		t.Errorf("CONEXOR_DATABASE_URL was not used without a flag: %v", err)
	}
	if _, err := envStore.ServerByPath(ctx, "flag", "api"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("--database-url did not override CONEXOR_DATABASE_URL: %v", err)
	}
	if _, err := flagStore.ServerByPath(ctx, "flag", "api"); err != nil {
		t.Errorf("--database-url not used: %v", err)
	}

	t.Setenv("CONEXOR_LOG_LEVEL", "loud")
	t.Setenv("CONEXOR_ACCESS_TOKEN_TTL", "2s")
	_, _, err := run(t, "", "servers", "list")
	var msg string
	if err != nil {
		msg = err.Error()
	}
	for _, want := range []string{`log_level "loud"`, "access_token_ttl 2s"} {
		if !strings.Contains(msg, want) {
			t.Errorf("bad environment: err = %v, want it to report %q", err, want)
		}
	}
}

// TestConfigFileScopes: a scope added in the config file can be given to clients. The
// admin commands read the file serve reads: conexor.yaml beside the database without any
// flag, or the one --config or CONEXOR_CONFIG names. Without it, the error says where
// scopes come from.
func TestConfigFileScopes(t *testing.T) {
	dbURL, _ := cliEnv(t)
	yaml := "scopes:\n  - name: crm:read\n    description: Read CRM records\n    methods: [tools/call]\n"
	mustRun(t, "", "servers", "create", "acme/crm", "--name", "CRM")
	args := []string{"clients", "create", "--server", "acme/crm", "--name", "N", "--scopes", "crm:read mcp:tools:read", "--json"}
	_, _, err := run(t, "", args...)
	if err == nil || !strings.Contains(err.Error(), `unknown scope "crm:read"`) || !strings.Contains(err.Error(), "no config file was read: pass it with --config or CONEXOR_CONFIG") {
		t.Fatalf("without the config file: err = %v, want unknown scope and a hint at --config", err)
	}
	n := 0
	created := func(args ...string) {
		t.Helper()
		n++ // the last --name wins: each client a name of its own
		args = append(args, "--name", fmt.Sprintf("N%d", n))
		var c map[string]any
		if err := json.Unmarshal([]byte(mustRun(t, "", args...)), &c); err != nil {
			t.Fatal(err)
		}
		if c["scope"] != "crm:read mcp:tools:read" {
			t.Errorf("scope = %v", c["scope"])
		}
	}

	// conexor.yaml beside the database: read with no flag.
	beside := filepath.Join(filepath.Dir(strings.TrimPrefix(dbURL, "sqlite://")), "conexor.yaml")
	if err := os.WriteFile(beside, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	created(args...)

	// A file named by CONEXOR_CONFIG or --config is read instead.
	other := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(beside, []byte("log_level: info\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "", args...); err == nil || !strings.Contains(err.Error(), "read "+beside+", which does not define them") {
		t.Fatalf("with a config file without the scope: err = %v, want it to name the file read", err)
	}
	created(append([]string{"--config", other}, args...)...)
	t.Setenv("CONEXOR_CONFIG", other)
	created(args...)
}

// TestAddrDerivesIssuer: with no issuer configured, the URLs printed use the port of the
// listen address, for serve and for the admin commands that share its settings.
func TestAddrDerivesIssuer(t *testing.T) {
	cliEnv(t)
	t.Setenv("CONEXOR_ADDR", ":8091")
	if out := mustRun(t, "", "servers", "create", "acme/a", "--name", "A"); out != "created acme/a: http://localhost:8091/mcp/acme/a\n" {
		t.Errorf("with CONEXOR_ADDR=:8091: %q", out)
	}
	t.Setenv("CONEXOR_ISSUER", "https://auth.example.com")
	if out := mustRun(t, "", "servers", "create", "acme/b", "--name", "B"); out != "created acme/b: https://auth.example.com/mcp/acme/b\n" {
		t.Errorf("an explicit issuer is kept: %q", out)
	}
}

func TestMigrate(t *testing.T) {
	dbURL, _ := cliEnv(t)
	// cliEnv migrated already: nothing is missing.
	if out := mustRun(t, "", "migrate"); out != "database migrated: sqlite, schema already up to date\n" {
		t.Errorf("migrate printed %q", out)
	}
	// Idempotent.
	mustRun(t, "", "migrate")
	if n, err := openStore(t, dbURL).CountOrgs(context.Background()); err != nil || n != 0 {
		t.Errorf("after migrate: %d orgs, %v; want an empty, migrated database", n, err)
	}
}

// TestServe runs the real `serve` on 127.0.0.1:0: it seeds, prints a banner with working
// client credentials, answers the token endpoint and shuts down cleanly when its context ends
// (as on SIGTERM).
func TestServe(t *testing.T) {
	cliEnv(t)
	t.Setenv("CONEXOR_ADMIN_PASSWORD", "correct horse battery staple")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	root := newRootCmd(strings.NewReader(""), &out, &errOut)
	root.SetArgs([]string{"serve", "--addr", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	addrRE := regexp.MustCompile(`msg="conexor listening" addr=(\S+)`)
	var addr string
	deadline := time.Now().Add(15 * time.Second)
	for addr == "" {
		if m := addrRE.FindStringSubmatch(errOut.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\nstderr: %s", err, errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start listening\nstderr: %s", errOut.String())
		}
	}

	if !strings.Contains(errOut.String(), " issuer=http://"+addr+" ") {
		t.Errorf("the issuer is not derived from the address listened on (%s):\n%s", addr, errOut.String())
	}
	banner := out.String()
	id := regexp.MustCompile(`client_id:\s+(client_\S+)`).FindStringSubmatch(banner)
	sec := regexp.MustCompile(`client_secret:\s+(secret_\S+)`).FindStringSubmatch(banner)
	if id == nil || sec == nil || !strings.Contains(banner, "with password (the password in CONEXOR_ADMIN_PASSWORD)") {
		t.Fatalf("banner:\n%s", banner)
	}
	resp, err := http.PostForm("http://"+addr+"/api/oauth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id[1]}, "client_secret": {sec[1]},
		"scope": {"mcp:tools:read mcp:tools:execute"},
	})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tok map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok["scope"] != "mcp:tools:read mcp:tools:execute" || tok["token_type"] != "Bearer" {
		t.Fatalf("token from the banner's client: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(errOut.String(), sec[1]) || strings.Contains(errOut.String(), tok["access_token"].(string)) {
		t.Error("the log contains the client secret or the access token")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after its context ended, want nil", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if !strings.Contains(errOut.String(), "shutting down") {
		t.Errorf("no shutdown log line:\n%s", errOut.String())
	}
}

// syncBuffer is a bytes.Buffer safe to write from the server while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
