package mcp_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/mcp/demo"
)

// TestGoSDKClientEndToEnd is the reason the tokens exist: a client-credentials token from
// the seeded demo client, then the official go-sdk MCP client over real HTTP through the
// gate - handshake, tools/list, a tool call that returns real rows, and a skill read as a
// resource - with both handshakes the SDK speaks (2026 server/discover and initialize).
func TestGoSDKClientEndToEnd(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	token := ccToken(t, e, e.ClientID, e.ClientSecret, "mcp:tools:read", "mcp:tools:execute", "mcp:resources:read")
	for _, version := range []string{"", legacyProtocol} {
		name := version
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			cs := connect(t, e, e.URL+salesPath, token, version)
			ctx := context.Background()
			if got := cs.InitializeResult().ServerInfo.Name; got != "acme-sales-api" {
				t.Errorf("server name = %q, want acme-sales-api", got)
			}

			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatalf("tools/list: %v", err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
			}
			if diff := cmp.Diff([]string{"describe_table", "list_tables", "run_query"}, names); diff != "" {
				t.Errorf("tools (-want +got):\n%s", diff)
			}

			res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "run_query", Arguments: demo.RunQueryInput{
				SQL: "SELECT id, name, region FROM customers WHERE id IN (1, 10) ORDER BY id"}})
			if err != nil {
				t.Fatalf("tools/call: %v", err)
			}
			if res.IsError {
				t.Fatalf("run_query: tool error %+v", res.Content)
			}
			var out demo.RunQueryOutput
			b, _ := json.Marshal(res.StructuredContent)
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			want := demo.RunQueryOutput{
				Columns:  []string{"id", "name", "region"},
				Rows:     [][]any{{1.0, "Northwind Traders", "North America"}, {10.0, "Margie's Travel", "EMEA"}},
				RowCount: 2,
			}
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("run_query (-want +got):\n%s", diff)
			}

			rr, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "skill://sales-api/monthly-revenue"})
			if err != nil {
				t.Fatalf("resources/read: %v", err)
			}
			if len(rr.Contents) != 1 || rr.Contents[0].MIMEType != "text/markdown" ||
				!strings.Contains(strings.ToLower(rr.Contents[0].Text), "revenue") {
				t.Errorf("skill = %+v, want one markdown document about revenue", rr.Contents)
			}
		})
	}

	// Every allowed request above was counted.
	m := e.Get("/metrics")
	for _, line := range []string{
		`conexor_mcp_requests_total{method="tools/list",outcome="ok",server="acme/sales-api"} 2`,
		`conexor_mcp_requests_total{method="tools/call",outcome="ok",server="acme/sales-api"} 2`,
		`conexor_mcp_requests_total{method="resources/read",outcome="ok",server="acme/sales-api"} 2`,
		`conexor_mcp_requests_total{method="initialize",outcome="ok",server="acme/sales-api"} 1`,
	} {
		if !strings.Contains(string(m.Body), line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}
