package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
)

// TestMCPOriginCheck: the MCP endpoint and the server API refuse a browser origin that is
// not allowed with 403 (issue 12, item 11; the MCP transport's DNS-rebinding rule): a
// JSON-RPC error on /mcp, the API's JSON error on /api/servers. The issuer's origin,
// loopback origins and the configured ones pass to the gate (401 without a token), as does
// a request without Origin. The CORS preflight still answers for any origin.
func TestMCPOriginCheck(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{Configure: func(c *config.Config) {
		c.AllowedOrigins = []string{"https://app.example"}
	}})
	send := func(method, path, origin string) (int, []byte) {
		t.Helper()
		req := e.NewRequest(method, path, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		r := e.Do(req)
		return r.StatusCode, r.Body
	}
	const mcpPath, apiPath = "/mcp/acme/sales-api", "/api/servers/acme/sales-api"
	for _, origin := range []string{"https://evil.example", "http://sales-api.attacker.test:8080", "null", "https://app.example.evil.test"} {
		status, body := send(http.MethodPost, mcpPath, origin)
		var rpc struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if status != http.StatusForbidden || json.Unmarshal(body, &rpc) != nil || rpc.JSONRPC != "2.0" ||
			string(rpc.ID) != "null" || rpc.Error.Code == 0 || !strings.Contains(rpc.Error.Message, "allowed_origins") {
			t.Errorf("POST %s from %s: %d %s, want 403 with a JSON-RPC error naming allowed_origins", mcpPath, origin, status, body)
		}
		if status, body := send(http.MethodGet, apiPath, origin); status != http.StatusForbidden || !strings.Contains(string(body), `"forbidden"`) {
			t.Errorf("GET %s from %s: %d %s, want 403 forbidden", apiPath, origin, status, body)
		}
	}
	for _, origin := range []string{"", e.URL, "http://localhost:6274", "http://127.0.0.1:5173", "http://[::1]:3000", "https://app.example", "HTTPS://APP.EXAMPLE:443"} {
		if status, body := send(http.MethodPost, mcpPath, origin); status != http.StatusUnauthorized {
			t.Errorf("POST %s from %q: %d %s, want the gate's 401", mcpPath, origin, status, body)
		}
	}
	// The preflight is answered for any origin (the actual request is what is refused).
	req := e.NewRequest(http.MethodOptions, mcpPath, nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	if r := e.Do(req); r.StatusCode != http.StatusNoContent {
		t.Errorf("preflight from another origin: %d, want 204", r.StatusCode)
	}
	// The RFC 9728 metadata stays public.
	req = e.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resource"+mcpPath, nil)
	req.Header.Set("Origin", "https://evil.example")
	if r := e.Do(req); r.StatusCode != http.StatusOK {
		t.Errorf("metadata from another origin: %d, want 200", r.StatusCode)
	}
}

// TestPagePostOrigin: the browser flow's POSTs refuse a form a browser says came from
// another site, with a 403 page, even with a valid CSRF token and session (the second line
// behind the token); the same form from the issuer's origin, or without those headers,
// works.
func TestPagePostOrigin(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, testenv.Options{})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the login page")
	}
	form := url.Values{"csrf_token": {string(m[1])}, "email": {app.DemoAdminEmail}, "password": {testenv.AdminPassword}}
	post := func(path string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, hdr := range []map[string]string{
		{"Origin": "https://evil.example"},
		{"Origin": "null", "Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site", "Origin": e.URL},
		{"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
	} {
		for _, path := range []string{"/login", "/logout", "/oauth/consent", "/account/password"} {
			status, body := post(path, hdr)
			if status != http.StatusForbidden || !strings.Contains(body, "<html") || !strings.Contains(body, "another site") {
				t.Errorf("POST %s with %v: %d, want the 403 page:\n%.300s", path, hdr, status, body)
			}
		}
	}
	// From the issuer's own page: the login goes through (303 to where it returns).
	// (Chromium sends Origin: null with it: the pages' Referrer-Policy is no-referrer.)
	if status, body := post("/login", map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}); status != http.StatusSeeOther {
		t.Fatalf("same-origin login: %d, want 303:\n%.300s", status, body)
	}
	// Without Origin or Sec-Fetch-Site (not a browser, or an old one) the CSRF check
	// decides: with the logged-in session's token, logout works.
	resp, err = c.Get(e.URL + "/account")
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if m = csrfInput.FindSubmatch(page); m == nil {
		t.Fatalf("no CSRF token on /account (%d)", resp.StatusCode)
	}
	form = url.Values{"csrf_token": {string(m[1])}}
	if status, body := post("/logout", nil); status >= 400 {
		t.Fatalf("logout without Origin: %d, want it done:\n%.300s", status, body)
	}
}
