package mcp_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// TestGateCountsRequests: every MCP request to a known server is counted once, allowed or
// refused, under the client its valid token names ("" without one); requests to a path
// with no server are not counted.
func TestGateCountsRequests(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	start := time.Now()
	full := ccToken(t, e, e.ClientID, e.ClientSecret)
	readOnly := ccToken(t, e, e.ClientID, e.ClientSecret, provider.ScopeToolsRead)
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_tables","arguments":{}}}`

	for _, tc := range []struct {
		path, token, body string
		status            int
	}{
		{salesPath, full, toolsList, http.StatusOK},                    // allowed
		{salesPath, full, toolsList, http.StatusOK},                    // allowed
		{salesPath, readOnly, call, http.StatusForbidden},              // refused: scope, client known
		{salesPath, "", toolsList, http.StatusUnauthorized},            // refused: no token
		{salesPath, "not-a-token", toolsList, http.StatusUnauthorized}, // refused: no valid token
		{"/mcp/acme/no-such-server", full, toolsList, http.StatusNotFound},
	} {
		if r := rpc(t, e, tc.path, tc.token, tc.body); r.StatusCode != tc.status {
			t.Fatalf("%s with %q: %d, want %d: %s", tc.path, tc.token, r.StatusCode, tc.status, r.Body)
		}
	}
	ctx := context.Background()
	if err := e.App.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	counts, err := e.Store.Usage(ctx, []string{"acme/sales-api", "acme/no-such-server"}, start.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range counts {
		if c.Kind != storage.UsageTokens {
			got[c.ServerPath+" "+c.ClientID+" "+c.Kind] += c.Count
		}
	}
	want := map[string]int64{
		"acme/sales-api " + e.ClientID + " " + storage.UsageMCPAllowed: 2,
		"acme/sales-api " + e.ClientID + " " + storage.UsageMCPRefused: 1,
		"acme/sales-api  " + storage.UsageMCPRefused:                   2,
	}
	if len(got) != len(want) {
		t.Errorf("counters = %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%q = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}
