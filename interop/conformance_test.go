package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The official MCP conformance suite (@modelcontextprotocol/conformance, pinned with the
// Node 22 it needs in interop/conformance/package-lock.json).
var (
	conformanceNode = filepath.Join("conformance", "node_modules", ".bin", "node")
	conformanceCLI  = filepath.Join("conformance", "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
)

// Client scenarios that apply to conexor connect; README.md lists the others with the
// reason.
var conformanceClientScenarios = []string{
	"initialize", "tools_call", "elicitation-sep1034-client-defaults", "sse-retry",
	"auth/metadata-default", "auth/metadata-var1", "auth/metadata-var2", "auth/metadata-var3",
	"auth/basic-cimd",
	"auth/scope-from-www-authenticate", "auth/scope-from-scopes-supported", "auth/scope-omitted-when-undefined",
	"auth/scope-step-up", "auth/scope-retry-limit",
	"auth/token-endpoint-auth-basic", "auth/token-endpoint-auth-post", "auth/token-endpoint-auth-none",
	"auth/pre-registration", "auth/resource-mismatch",
	"auth/offline-access-scope", "auth/offline-access-not-supported",
	"auth/client-credentials-basic",
}

// passed is the suite's summary when every check passed.
var passed = regexp.MustCompile(`Passed: (\d+)/(\d+), 0 failed`)

// needConformance fails in CI and skips elsewhere when the suite is not installed.
func needConformance(t *testing.T) {
	t.Helper()
	_, nodeErr := os.Stat(conformanceNode)
	_, cliErr := os.Stat(conformanceCLI)
	if nodeErr != nil || cliErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the conformance suite is required in CI (%v, %v): run npm ci --prefix interop/conformance", nodeErr, cliErr)
		}
		t.Skip("skipped: needs npm ci --prefix interop/conformance")
	}
}

// runConformance runs the suite's CLI and fails the test unless every check passed.
func runConformance(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	abs, _ := filepath.Abs(conformanceNode)
	cmd := exec.CommandContext(ctx, abs, append([]string{conformanceCLI}, append(args, "-o", t.TempDir())...)...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(abs)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil || !passed.MatchString(out.String()) || strings.Contains(out.String(), "FAILURE") {
		t.Errorf("conformance %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

// The suite's client scenarios, each with its own mock MCP and authorization servers, with
// conexor connect as the client (interop/conformance/driver runs connect.Run and plays
// the MCP client on its stdio).
func TestConformanceClient(t *testing.T) {
	needConformance(t)
	driver := filepath.Join(t.TempDir(), "driver")
	build := exec.Command("go", "build", "-o", driver, "./interop/conformance/driver")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./interop/conformance/driver: %v\n%s", err, out)
	}
	for _, scenario := range conformanceClientScenarios {
		t.Run(strings.ReplaceAll(scenario, "/", "_"), func(t *testing.T) {
			runConformance(t, "client", "--command", driver, "--scenario", scenario, "--timeout", "30000")
		})
	}
}

// Server scenarios that apply to /mcp/acme/sales-api (the built-in demo server behind the
// gate); README.md lists the others with the reason.
var conformanceServerScenarios = []string{
	"server-initialize", "logging-set-level", "ping", "tools-list", "resources-list",
	"server-sse-polling", "server-sse-multiple-streams",
}

// The suite's server scenarios against /mcp/acme/sales-api through the gate, with a
// client credentials token. The suite has no option to send a token, so a loopback proxy
// adds it; everything else reaches the gate unchanged.
func TestConformanceServer(t *testing.T) {
	needConformance(t)
	s := startServer(t)
	id, secret := s.createClient("--server", "acme/sales-api", "--name", "conformance", "--scopes", strings.Join(advertised, " "))
	endpoint := s.MCPURL("acme/sales-api")
	resp, err := http.PostForm(s.URL+"/api/oauth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "resource": {endpoint},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("client credentials token: %d %v", resp.StatusCode, err)
	}
	target, _ := url.Parse(s.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	base := proxy.Director
	proxy.Director = func(r *http.Request) {
		base(r)
		r.Host = target.Host
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	}
	proxy.FlushInterval = -1 // event streams pass at once
	front := httptest.NewServer(proxy)
	defer front.Close()
	for _, scenario := range conformanceServerScenarios {
		t.Run(scenario, func(t *testing.T) {
			runConformance(t, "server", "--url", front.URL+"/mcp/acme/sales-api", "--scenario", scenario)
		})
	}
}
