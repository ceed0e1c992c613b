package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

// TestTypeScriptTasks runs the official TypeScript SDK on both sides of the gate with MCP
// 2025-11-25 tasks: tasks-upstream.mjs (the SDK's task-running server, no authorization
// context of its own) behind conexor serve, and tasks-flow.mjs (the SDK's task client) as
// two callers. The gate alone keeps one caller's tasks from the other.
func TestTypeScriptTasks(t *testing.T) {
	node, err := exec.LookPath("node")
	_, modErr := os.Stat("node_modules/@modelcontextprotocol/sdk/package.json")
	if err != nil || modErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node (%v) and interop/node_modules (%v) are required in CI: run npm ci --prefix interop", err, modErr)
		}
		t.Skip("skipped: needs node and interop/node_modules (npm ci --prefix interop)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	up := exec.CommandContext(ctx, node, "tasks-upstream.mjs")
	up.Cancel = func() error { return up.Process.Signal(syscall.SIGTERM) }
	var upErr bytes.Buffer
	up.Stderr = &upErr
	stdout, err := up.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Process.Signal(syscall.SIGTERM); _ = up.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	upstream := strings.TrimSpace(line)
	if err != nil || !strings.HasPrefix(upstream, "http://127.0.0.1:") {
		t.Fatalf("tasks-upstream.mjs printed %q (%v)\n%s", line, err, upErr.String())
	}

	s := startServer(t)
	s.cli("servers", "create", "acme/jobs", "--name", "Jobs", "--upstream", upstream)
	token := func(id, secret string, scopes ...string) string {
		t.Helper()
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.URL + "/api/oauth/token", Scopes: scopes}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("client credentials token for %s: %v", id, err)
		}
		return tok.AccessToken
	}
	scopes := "mcp:tools:read mcp:tools:execute"
	idA, secretA := s.createClient("--server", "acme/jobs", "--name", "tasks A", "--scopes", scopes)
	idB, secretB := s.createClient("--server", "acme/jobs", "--name", "tasks B", "--scopes", scopes)

	cmd := exec.CommandContext(ctx, node, "tasks-flow.mjs")
	cmd.Env = append(os.Environ(), "MCP_URL="+s.MCPURL("acme/jobs"),
		"TOKEN_A="+token(idA, secretA), "TOKEN_B="+token(idB, secretB), "TOKEN_A_READ="+token(idA, secretA, "mcp:tools:read"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("node tasks-flow.mjs: %v\nstdout:\n%s\nstderr:\n%s\nupstream:\n%s", err, out.String(), errOut.String(), upErr.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var summary map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil || summary["ok"] != true {
		t.Fatalf("tasks-flow.mjs summary %q (%v)\nstderr:\n%s", out.String(), err, errOut.String())
	}
	t.Logf("TypeScript SDK tasks through the gate: %s", lines[len(lines)-1])
}
