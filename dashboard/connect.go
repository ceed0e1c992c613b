package dashboard

import (
	"fmt"

	"github.com/conexor/conexor/templates"
)

// connectSteps are the README's instructions ("Connecting MCP clients") for every MCP
// client it documents, filled in with this server's MCP URL and token endpoint. name is
// the entry's name in the clients' config files.
func connectSteps(mcpURL, tokenURL, name string) []templates.ConnectStep {
	return []templates.ConnectStep{
		{ID: "claude", Title: "claude.ai and Claude Desktop connectors",
			Intro: "Settings → Connectors → Add custom connector, and paste the URL (Claude must reach it over https from the internet). Claude registers itself; to use a client created here instead, enter its client ID and secret under Advanced settings (an application client with the redirect URIs https://claude.ai/api/mcp/auth_callback and https://claude.com/api/mcp/auth_callback).",
			Code:  mcpURL},
		{ID: "claude-desktop", Title: "Claude Desktop (claude_desktop_config.json)",
			Intro: "Claude Desktop's config file starts local servers only: conexor connect is one, and relays to this server. Create a script-or-service client below and put its ID and secret in env.",
			Code: fmt.Sprintf(`{
  "mcpServers": {
    %q: {
      "command": "conexor",
      "args": ["connect", %q],
      "env": { "CONEXOR_CLIENT_ID": "client_...", "CONEXOR_CLIENT_SECRET": "secret_..." }
    }
  }
}`, name, mcpURL),
			Outro: "Without a secret, conexor connect opens the browser for the consent page instead."},
		{ID: "claude-code", Title: "Claude Code",
			Code:  fmt.Sprintf("claude mcp add --transport http %s %s", name, mcpURL),
			Outro: "Then run /mcp in Claude Code to sign in."},
		{ID: "cursor", Title: "Cursor (~/.cursor/mcp.json)",
			Code: fmt.Sprintf(`{"mcpServers": {%q: {"url": %q}}}`, name, mcpURL)},
		{ID: "vscode", Title: "VS Code (.vscode/mcp.json)",
			Code: fmt.Sprintf(`{"servers": {%q: {"type": "http", "url": %q}}}`, name, mcpURL)},
		{ID: "mcp-remote", Title: "mcp-remote",
			Code: "npx mcp-remote " + mcpURL},
		{ID: "n8n", Title: "n8n",
			Intro: "Add an MCP Client Tool node, transport HTTP Streamable, with this endpoint. Authenticate with the MCP OAuth2 credential (it registers itself), or with an OAuth2 credential of grant type Client Credentials, a client created here, and this Access Token URL:",
			Code:  mcpURL + "\n" + tokenURL},
		{ID: "curl", Title: "curl (client credentials)",
			Intro: "Any script: get a token with a script-or-service client, then send it as a Bearer token.",
			Code:  curlToken(tokenURL, "client_...", "secret_...", "mcp:tools:read mcp:tools:execute")},
	}
}

// curlToken is the product page's client-credentials request.
func curlToken(tokenURL, id, secret, scope string) string {
	return fmt.Sprintf(`curl -X POST %s -d "grant_type=client_credentials" -d "client_id=%s" -d "client_secret=%s" -d "scope=%s"`,
		tokenURL, id, secret, scope)
}
