package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// wantCounts are the row counts of data/sales.sql.
var wantCounts = map[string]int64{"customers": 20, "products": 10, "orders": 60, "order_items": 134}

func TestTools(t *testing.T) {
	s := newServer(t, Options{})
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cs := tr.connect(t, s)
			info := cs.InitializeResult()
			if info.ServerInfo.Name != "acme-sales-api" || info.ProtocolVersion != tr.wantVersion {
				t.Errorf("server %q on protocol %q, want acme-sales-api on %q",
					info.ServerInfo.Name, info.ProtocolVersion, tr.wantVersion)
			}
			if info.Capabilities.Tools == nil || info.Capabilities.Resources == nil {
				t.Errorf("capabilities %+v lack tools or resources", info.Capabilities)
			}

			tools, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatalf("ListTools: %v", err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
				if tool.Annotations == nil || !tool.Annotations.ReadOnlyHint {
					t.Errorf("tool %s is not annotated read-only", tool.Name)
				}
			}
			slices.Sort(names)
			if diff := cmp.Diff([]string{"describe_table", "list_tables", "run_query"}, names); diff != "" {
				t.Errorf("tools (-want +got):\n%s", diff)
			}

			if diff := cmp.Diff(wantCounts, tableCounts(t, cs)); diff != "" {
				t.Errorf("list_tables counts (-want +got):\n%s", diff)
			}

			out := query(t, cs, "SELECT id, name, region FROM customers WHERE id IN (1, 10) ORDER BY id", 0)
			want := RunQueryOutput{
				Columns:  []string{"id", "name", "region"},
				Rows:     [][]any{{1.0, "Northwind Traders", "North America"}, {10.0, "Margie's Travel", "EMEA"}},
				RowCount: 2,
			}
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("run_query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunQueryValues(t *testing.T) {
	cs := connectInMemory(t, newServer(t, Options{}))

	out := query(t, cs, `SELECT o.id, o.order_date, o.status, SUM(oi.quantity * oi.unit_price) AS amount
		FROM orders o JOIN order_items oi ON oi.order_id = o.id
		WHERE o.id = 1001 GROUP BY o.id`, 0)
	want := [][]any{{1001.0, "2025-01-10", "completed", 7800.0}}
	if diff := cmp.Diff(want, out.Rows); diff != "" {
		t.Errorf("order 1001 (-want +got):\n%s", diff)
	}

	out = query(t, cs, "SELECT SUM(quantity * unit_price) FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE status = 'completed'", 0)
	if diff := cmp.Diff([][]any{{518250.0}}, out.Rows); diff != "" {
		t.Errorf("completed revenue (-want +got):\n%s", diff)
	}

	// The text content is a readable table carrying the same values.
	res := call(t, cs, "run_query", RunQueryInput{SQL: "SELECT sku, unit_price FROM products WHERE id = 1"})
	if got := text(res); !strings.Contains(got, "SA-CORE") || !strings.Contains(got, "4800") || !strings.Contains(got, "(1 row)") {
		t.Errorf("text content = %q, want a table with SA-CORE 4800 and a row count", got)
	}
}

func TestRunQueryLimit(t *testing.T) {
	cs := connectInMemory(t, newServer(t, Options{}))
	endless := "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n"
	for _, tc := range []struct {
		name      string
		sql       string
		limit     int
		wantRows  int
		truncated bool
	}{
		{"explicit", "SELECT * FROM orders ORDER BY id", 5, 5, true},
		{"default", endless, 0, DefaultRowLimit, true},
		{"clamped to max", endless, 5000, MaxRowLimit, true},
		{"under limit", "SELECT * FROM products", 50, 10, false},
		{"exact", "SELECT * FROM products", 10, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := query(t, cs, tc.sql, tc.limit)
			if len(out.Rows) != tc.wantRows || out.RowCount != tc.wantRows || out.Truncated != tc.truncated {
				t.Errorf("got %d rows (row_count %d, truncated %v), want %d rows, truncated %v",
					len(out.Rows), out.RowCount, out.Truncated, tc.wantRows, tc.truncated)
			}
		})
	}
	// Big values trip the byte cap long before the row limit.
	big := query(t, cs, "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 50) SELECT x, printf('%.*c', 900000, 'x') FROM n", 50)
	if !big.Truncated || big.RowCount < 4 || big.RowCount > 6 {
		t.Errorf("900 KB rows: got %d rows, truncated %v; want about 4 MiB worth (5 rows), truncated", big.RowCount, big.Truncated)
	}
	if msg := text(call(t, cs, "run_query", RunQueryInput{SQL: "SELECT 1", Limit: -1})); !strings.Contains(msg, "limit") {
		t.Errorf("negative limit: got %q, want an error about limit", msg)
	}
}

func TestDescribeTable(t *testing.T) {
	cs := connectInMemory(t, newServer(t, Options{}))

	res := call(t, cs, "describe_table", DescribeTableInput{Table: "orders"})
	if res.IsError {
		t.Fatalf("describe_table(orders): %s", text(res))
	}
	var out DescribeTableOutput
	decode(t, res, &out)
	want := DescribeTableOutput{Name: "orders", Columns: []Column{
		{Name: "id", Type: "INTEGER", PrimaryKey: true},
		{Name: "customer_id", Type: "INTEGER", NotNull: true},
		{Name: "order_date", Type: "TEXT", NotNull: true},
		{Name: "status", Type: "TEXT", NotNull: true},
		{Name: "sales_rep", Type: "TEXT", NotNull: true},
	}}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("describe_table(orders) (-want +got):\n%s", diff)
	}

	res = call(t, cs, "describe_table", DescribeTableInput{Table: "invoices"})
	if !res.IsError {
		t.Fatalf("describe_table(invoices) succeeded: %s", text(res))
	}
	for _, want := range []string{"invoices", "customers", "order_items", "orders", "products"} {
		if !strings.Contains(text(res), want) {
			t.Errorf("error %q does not mention %q", text(res), want)
		}
	}
}

// TestConcurrentHTTP runs 64 independent clients at once over HTTP; each
// lists tools and runs a query, and every one must get the right answer.
// Run it with -race.
func TestConcurrentHTTP(t *testing.T) {
	s := newServer(t, Options{})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	const clients = 64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() { errs <- oneClient(ts.URL) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// oneClient is a whole client lifetime: connect, tools/list, tools/call.
func oneClient(url string) error {
	ctx := context.Background()
	cs, err := newClient().Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return err
	}
	if len(tools.Tools) != 3 {
		return fmt.Errorf("got %d tools, want 3", len(tools.Tools))
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{
		Name:      "run_query",
		Arguments: RunQueryInput{SQL: "SELECT COUNT(*) FROM orders WHERE status = 'completed'"},
	})
	if err != nil {
		return err
	}
	if res.IsError || !strings.Contains(text(res), "51") {
		return fmt.Errorf("run_query: got %q, want 51 completed orders", text(res))
	}
	return nil
}

func TestCloseThenCall(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := connectInMemory(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if msg := refused(t, cs, "SELECT 1"); !strings.Contains(msg, "closed") {
		t.Errorf("after Close: got %q, want an error mentioning closed", msg)
	}
}

// TestToolSchemas checks the advertised schemas and that the SDK validates
// arguments against them before a handler runs.
func TestToolSchemas(t *testing.T) {
	cs := connectInMemory(t, newServer(t, Options{}))
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	type schema struct {
		Type       string                        `json:"type"`
		Required   []string                      `json:"required"`
		Properties map[string]struct{ Type any } `json:"properties"`
	}
	got := map[string][2]schema{}
	for _, tool := range tools.Tools {
		var in, out schema
		for _, p := range []struct {
			src any
			dst *schema
		}{{tool.InputSchema, &in}, {tool.OutputSchema, &out}} {
			data, _ := json.Marshal(p.src)
			if err := json.Unmarshal(data, p.dst); err != nil {
				t.Fatalf("%s schema %s: %v", tool.Name, data, err)
			}
		}
		got[tool.Name] = [2]schema{in, out}
	}
	rq := got["run_query"]
	if rq[0].Type != "object" || !slices.Equal(rq[0].Required, []string{"sql"}) ||
		rq[0].Properties["sql"].Type != "string" || rq[0].Properties["limit"].Type != "integer" {
		t.Errorf("run_query input schema = %+v, want object with required string sql and integer limit", rq[0])
	}
	if _, ok := rq[1].Properties["rows"]; !ok {
		t.Errorf("run_query output schema = %+v, want a rows property", rq[1])
	}
	if dt := got["describe_table"][0]; !slices.Equal(dt.Required, []string{"table"}) {
		t.Errorf("describe_table input schema = %+v, want required table", dt)
	}

	for _, args := range []any{map[string]any{}, map[string]any{"sql": "SELECT 1", "limit": "ten"}} {
		if res := call(t, cs, "run_query", args); !res.IsError || !strings.Contains(text(res), "validating") {
			t.Errorf("run_query(%v) = %q, want a validation error", args, text(res))
		}
	}
}

// TestLocalhostProtection checks the go-sdk DNS-rebinding guard is on by
// default and that Options.DisableLocalhostProtection turns it off.
func TestLocalhostProtection(t *testing.T) {
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
	for _, tc := range []struct {
		disable bool
		want    int
	}{{false, http.StatusForbidden}, {true, http.StatusOK}} {
		ts := httptest.NewServer(newServer(t, Options{DisableLocalhostProtection: tc.disable}).Handler())
		req, err := http.NewRequest(http.MethodPost, ts.URL, strings.NewReader(initialize))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "conexor.example.com"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ts.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("disable=%v: status %d (%s), want %d", tc.disable, resp.StatusCode, body, tc.want)
		}
		if tc.want == http.StatusOK && !strings.Contains(string(body), `"acme-sales-api"`) {
			t.Errorf("disable=%v: body %s lacks the server name", tc.disable, body)
		}
	}
}
