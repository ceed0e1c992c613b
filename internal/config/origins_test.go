package config_test

import (
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/config"
)

// TestAllowedOriginsValidated: allowed_origins takes exact origins (or "*"); a URL with a
// path, a trailing slash or no host is reported, since it would never match what a
// browser sends.
func TestAllowedOriginsValidated(t *testing.T) {
	c := config.Defaults()
	c.Secret = strings.Repeat("s", 32)
	c.AllowedOrigins = []string{"https://app.example", "http://localhost:6274", "*",
		"tauri://localhost", "vscode-webview://1a2b3c", "app://x"}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid origins refused: %v", err)
	}
	for _, bad := range []string{"https://app.example/", "https://app.example/mcp", "app.example", "tauri://localhost/", "tauri:localhost"} {
		c.AllowedOrigins = []string{bad}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "allowed_origins") {
			t.Errorf("allowed_origins %q: %v, want an allowed_origins error", bad, err)
		}
	}
}
