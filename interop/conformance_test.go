package interop

import (
	"bytes"
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
	out, err := conformanceCmd(t, 2*time.Minute, append(args, "-o", t.TempDir())...)
	if err != nil || !passed.Match(out) || bytes.Contains(out, []byte("FAILURE")) {
		t.Errorf("conformance %s: %v\n%s", strings.Join(args, " "), err, out)
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
// gate): those that call no fixture of the suite's reference server. Every scenario runs
// against a server that has the fixtures in TestConformanceServerScenarios.
var conformanceServerScenarios = []string{
	"server-initialize", "logging-set-level", "ping", "tools-list", "resources-list",
	"server-sse-polling", "server-sse-multiple-streams", "dns-rebinding-protection",
}

// The suite's server scenarios against /mcp/acme/sales-api through the gate, with a
// client credentials token added by a loopback proxy (tokenProxy).
func TestConformanceServer(t *testing.T) {
	needConformance(t)
	s := startServer(t)
	front := tokenProxy(t, s, "acme/sales-api", advertisedScopes(t, s, "acme/sales-api"))
	for _, scenario := range conformanceServerScenarios {
		t.Run(scenario, func(t *testing.T) {
			runConformance(t, "server", "--url", front+"/mcp/acme/sales-api", "--scenario", scenario)
		})
	}
}
