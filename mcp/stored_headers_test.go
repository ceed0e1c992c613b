package mcp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/provider"
)

// TestStoredUpstreamHeaders: headers an admin stores with a server (the dashboard, through
// provider.UpdateServer) reach a real upstream within the server cache's refresh time, the
// config file's value winning on a name clash; the server API never shows them.
func TestStoredUpstreamHeaders(t *testing.T) {
	rec := &seen{}
	upstream := httptest.NewServer(rec.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`))
	})))
	t.Cleanup(upstream.Close)
	e, token := proxiedEnv(t, upstream.URL+"/mcp") // config: X-Api-Key: upstream-secret
	last := func() *http.Request {
		t.Helper()
		if r := rpc(t, e, "/mcp/acme/proxied", token, toolsList); r.StatusCode != http.StatusOK {
			t.Fatalf("tools/list through the proxy: %d %s", r.StatusCode, r.Body)
		}
		all := rec.all()
		return all[len(all)-1]
	}
	if got := last(); got.Header.Get("X-Tenant") != "" || got.Header.Get("X-Api-Key") != "upstream-secret" {
		t.Fatalf("before any stored header: X-Tenant %q, X-Api-Key %q", got.Header.Get("X-Tenant"), got.Header.Get("X-Api-Key"))
	}

	_, err := e.Provider.UpdateServer(context.Background(), "acme", "proxied", provider.ServerChange{
		Headers: map[string]string{"x-tenant": "tenant-42", "X-Api-Key": "dashboard-key"},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second) // the server cache trusts a row for 1 s
	for {
		got := last()
		if got.Header.Get("X-Tenant") == "tenant-42" {
			if v := got.Header.Values("X-Api-Key"); len(v) != 1 || v[0] != "upstream-secret" {
				t.Fatalf("X-Api-Key upstream = %q, want the config file's value alone", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stored header never reached the upstream; it saw %v", got.Header)
		}
		time.Sleep(100 * time.Millisecond)
	}

	id, secret := e.CreateServerClient("acme/proxied", provider.ScopeServerRead)
	req := e.NewRequest(http.MethodGet, "/api/servers/acme/proxied", nil)
	req.Header.Set("Authorization", "Bearer "+e.Token(id, secret))
	r := e.Do(req)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/servers/acme/proxied: %d %s", r.StatusCode, r.Body)
	}
	for _, value := range []string{"tenant-42", "dashboard-key", "upstream-secret"} {
		if strings.Contains(string(r.Body), value) {
			t.Errorf("GET /api/servers shows the header value %q: %s", value, r.Body)
		}
	}

	// An empty map removes them.
	if _, err := e.Provider.UpdateServer(context.Background(), "acme", "proxied", provider.ServerChange{Headers: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(3 * time.Second)
	for last().Header.Get("X-Tenant") != "" {
		if time.Now().After(deadline) {
			t.Fatal("removed stored headers are still sent upstream")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStoredUpstreamHeadersUnreadable: stored headers that no longer open (the system
// secret changed, the row was altered) make the upstream unusable: the gateway answers 502
// rather than calling the upstream without its credentials.
func TestStoredUpstreamHeadersUnreadable(t *testing.T) {
	rec := &seen{}
	upstream := httptest.NewServer(rec.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`))
	})))
	t.Cleanup(upstream.Close)
	e, token := proxiedEnv(t, upstream.URL+"/mcp")
	srv := e.ServerByPath("acme/proxied")
	srv.UpstreamHeaders = []byte("not sealed by this secret, not sealed at all")
	if err := e.Store.UpdateServer(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	r := rpc(t, e, "/mcp/acme/proxied", token, toolsList)
	if r.StatusCode != http.StatusBadGateway || !strings.Contains(string(r.Body), "misconfigured") {
		t.Fatalf("tools/list with unreadable stored headers: %d %s, want 502", r.StatusCode, r.Body)
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("the upstream was called %d times without its stored headers", n)
	}
}
