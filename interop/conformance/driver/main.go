// Command driver is the client under test for the official MCP conformance suite
// (@modelcontextprotocol/conformance): `conformance client --command driver` runs it with
// the scenario's server URL as its last argument, MCP_CONFORMANCE_SCENARIO and, for some
// scenarios, MCP_CONFORMANCE_CONTEXT (client credentials).
//
// The client under test is conexor connect: the driver runs connect.Run, the code behind
// `conexor connect URL`, on in-memory pipes, and plays the MCP client on the other end the
// way Claude Desktop does over the process's stdio: initialize, list the tools, call them.
// Only the person is replaced: the browser is an HTTP client that follows the scenario's
// authorization server redirects (it approves at once) to connect's loopback callback.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/conexor/conexor/connect"
)

// cimdURL is the client ID metadata document URL the suite's basic-cimd scenario expects.
const cimdURL = "https://conformance-test.local/client-metadata.json"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: driver SERVER_URL (run by the MCP conformance suite)")
		os.Exit(2)
	}
	if err := run(os.Args[len(os.Args)-1], os.Getenv("MCP_CONFORMANCE_SCENARIO")); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
}

func run(serverURL, scenario string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	var cc struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if raw := os.Getenv("MCP_CONFORMANCE_CONTEXT"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &cc); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
	}
	stateDir, err := os.MkdirTemp("", "conformance-connect-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	opts := connect.Options{
		URL: serverURL, ClientID: cc.ClientID, ClientSecret: cc.ClientSecret,
		ClientMetadataURL: cimdURL,
		StateDir:          stateDir,
		Log:               slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Stderr:            os.Stderr,
		OpenBrowser:       approve,
		AuthTimeout:       10 * time.Second,
	}
	// A pre-registered confidential client in the browser flow; the client credentials
	// scenarios keep the client credentials grant.
	opts.AuthorizationCode = scenario == "auth/pre-registration"

	clientR, connectW := io.Pipe()
	connectR, clientW := io.Pipe()
	opts.In, opts.Out = connectR, connectW
	done := make(chan error, 1)
	go func() {
		done <- connect.Run(ctx, opts)
		connectW.Close()
	}()
	client := mcp.NewClient(&mcp.Implementation{Name: "conexor-connect-conformance", Version: "1.0.0"}, &mcp.ClientOptions{
		ElicitationHandler: acceptDefaults,
	})
	cs, err := client.Connect(ctx, &mcp.IOTransport{Reader: clientR, Writer: clientW}, nil)
	if err != nil {
		clientW.Close()
		return fmt.Errorf("initialize through conexor connect: %w (connect: %v)", err, waitFor(done))
	}
	err = exercise(ctx, cs, scenario)
	cs.Close()
	clientW.Close()
	return errors.Join(err, waitFor(done))
}

// exercise does what the scenario's server waits for: list the tools and call each one the
// scenario knows, with the arguments it expects.
func exercise(ctx context.Context, cs *mcp.ClientSession, scenario string) error {
	if scenario == "initialize" {
		return nil
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	for _, tool := range tools.Tools {
		args := map[string]any{}
		if tool.Name == "add_numbers" {
			args = map[string]any{"a": 5, "b": 3}
		}
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool.Name, Arguments: args})
		if err != nil {
			return fmt.Errorf("tools/call %s: %w", tool.Name, err)
		}
		if res.IsError {
			return fmt.Errorf("tools/call %s: tool error %+v", tool.Name, res.Content)
		}
	}
	return nil
}

// acceptDefaults answers an elicitation by accepting every field's default, as a person
// who only presses OK would.
func acceptDefaults(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
	content := map[string]any{}
	var schema struct {
		Properties map[string]struct {
			Default any `json:"default"`
		} `json:"properties"`
	}
	if raw, err := json.Marshal(req.Params.RequestedSchema); err == nil {
		_ = json.Unmarshal(raw, &schema)
	}
	for name, p := range schema.Properties {
		if p.Default != nil {
			content[name] = p.Default
		}
	}
	return &mcp.ElicitResult{Action: "accept", Content: content}, nil
}

// approve is the person's browser: it follows the authorization URL's redirects, which the
// scenario's authorization server sends straight to connect's loopback callback.
func approve(ctx context.Context, authURL string) error {
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
		if err != nil {
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "driver: browser:", err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !strings.Contains(resp.Request.URL.Path, "/callback") {
			fmt.Fprintln(os.Stderr, "driver: browser ended at", resp.Request.URL, resp.Status)
		}
	}()
	return nil
}

func waitFor(done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		return errors.New("conexor connect did not stop after its standard input closed")
	}
}
