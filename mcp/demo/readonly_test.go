package demo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRefusedQueries sends write and escape attempts through run_query over
// every transport. Each must be a tool error naming the reason, and the data
// must be unchanged afterwards.
func TestRefusedQueries(t *testing.T) {
	s := newServer(t, Options{})
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cs := tr.connect(t, s)
			for _, tc := range []struct{ sql, want string }{
				{"DELETE FROM orders", "only read-only SELECT"},
				{"INSERT INTO customers (id, name, region, country, segment, created_at) VALUES (99, 'x', 'x', 'x', 'x', 'x')", "only read-only SELECT"},
				{"UPDATE products SET unit_price = 0", "only read-only SELECT"},
				{"DROP TABLE order_items", "only read-only SELECT"},
				{"ATTACH DATABASE '/tmp/demo-attack.db' AS evil", "only read-only SELECT"},
				{"PRAGMA writable_schema = ON", "only read-only SELECT"},
				{"VACUUM INTO '/tmp/demo-copy.db'", "only read-only SELECT"},
				{"SELECT 1; DROP TABLE customers", "single statement"},
				{"SELECT 1;\n/* c */ DELETE FROM orders -- x", "single statement"},
				{"   ", "empty"},
				{"SELECT load_extension('/tmp/evil.so')", "not authorized"},
				{"SELECT writefile('/tmp/demo-x', 'data')", "writefile"},
				{"SELECT readfile('/etc/passwd')", "readfile"},
				{"WITH x AS (SELECT 1) DELETE FROM orders", "not authorized"},
				{"WITH x AS (SELECT 1) INSERT INTO products SELECT * FROM products", "not authorized"},
				{"SELECT * FROM pragma_table_info('orders')", "not authorized"},
				{"SELECT randomblob(2000000)", "too big"},
				{"SELEC * FROM orders", "only read-only SELECT"},
				{"SELECT * FROM invoices", "no such table"},
			} {
				if got := refused(t, cs, tc.sql); !strings.Contains(got, tc.want) {
					t.Errorf("run_query(%q) error = %q, want it to contain %q", tc.sql, got, tc.want)
				}
			}
			if diff := cmp.Diff(wantCounts, tableCounts(t, cs)); diff != "" {
				t.Errorf("data changed (-want +got):\n%s", diff)
			}
			out := query(t, cs, "SELECT MIN(unit_price), COUNT(*) FROM products", 0)
			if diff := cmp.Diff([][]any{{180.0, 10.0}}, out.Rows); diff != "" {
				t.Errorf("products changed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAuthorizerAlone bypasses the statement guard and proves that the
// SQLite authorizer on its own refuses writes, DDL, pragmas, ATTACH and
// transactions.
func TestAuthorizerAlone(t *testing.T) {
	s := newServer(t, Options{})
	ctx := context.Background()
	for _, q := range []string{
		"DELETE FROM orders",
		"INSERT INTO products (sku, name, category, unit_price) VALUES ('x', 'x', 'x', 1)",
		"CREATE TABLE t (x)",
		"CREATE TEMP TABLE t (x)",
		"DROP TABLE customers",
		"PRAGMA writable_schema = ON",
		"PRAGMA query_only = OFF",
		"ATTACH DATABASE ':memory:' AS other",
		"BEGIN",
		"SELECT load_extension('x')",
	} {
		if _, err := s.query(ctx, q, 10); err == nil || !strings.Contains(err.Error(), "not authorized") {
			t.Errorf("query(%q) error = %v, want not authorized", q, err)
		}
	}
	if _, err := s.query(ctx, "SELECT COUNT(*) FROM orders", 1); err != nil {
		t.Errorf("plain SELECT refused: %v", err)
	}
}

// TestQueryTimeout runs a query that never yields a row (an unbounded
// recursive CTE under an aggregate): the timeout must cancel it and report
// a tool error promptly.
func TestQueryTimeout(t *testing.T) {
	if got := newServer(t, Options{}).timeout; got != 2*time.Second {
		t.Errorf("default timeout = %s, want 2s", got)
	}
	const timeout = 300 * time.Millisecond
	s := newServer(t, Options{QueryTimeout: timeout})
	cs := connectHTTP(t, s, "")
	start := time.Now()
	msg := refused(t, cs, "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n")
	elapsed := time.Since(start)
	if !strings.Contains(msg, "timed out after 300ms") {
		t.Errorf("error = %q, want a timeout message", msg)
	}
	if elapsed < timeout || elapsed > 10*timeout {
		t.Errorf("query returned after %s, want about %s", elapsed, timeout)
	}
	// The interrupted connection is healthy again.
	if out := query(t, cs, "SELECT COUNT(*) FROM customers", 0); out.Rows[0][0] != 20.0 {
		t.Errorf("after timeout: got %v, want 20 customers", out.Rows)
	}
}

func TestCheckQuery(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want error
	}{
		{"SELECT 1", nil},
		{"select 1;", nil},
		{"  -- note\n/* block */ WITH a AS (SELECT 1) SELECT * FROM a ;; -- trailing\n", nil},
		{"SELECT ';' AS semi, \"a;b\" FROM [x;y] WHERE `c;d` = 'it''s; fine'", nil},
		{"SELECT 1 /* ; DROP TABLE x */", nil},
		{"SELECT 1 - 2 -- ; DROP TABLE x", nil},
		{"SELECT 1; SELECT 2", errMultiStatement},
		{"SELECT 1; -- ok\nDROP TABLE x", errMultiStatement},
		{"SELECT 'a'';'; DELETE FROM t", errMultiStatement},
		{"SELECTX 1", errNotSelect},
		{"EXPLAIN SELECT 1", errNotSelect},
		{"VALUES (1)", errNotSelect},
		{"/* only a comment */", errEmptyQuery},
		{"", errEmptyQuery},
		{strings.Repeat(" ", maxSQLBytes+1), errQueryTooLong},
	} {
		if got := checkQuery(tc.sql); got != tc.want {
			t.Errorf("checkQuery(%q) = %v, want %v", tc.sql, got, tc.want)
		}
	}
}
