package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Row limits for run_query. The default keeps answers small enough for a
// model's context; the maximum bounds memory per call.
const (
	DefaultRowLimit = 100
	MaxRowLimit     = 1000
)

// ListTablesInput is the (empty) argument object of list_tables.
type ListTablesInput struct{}

// ListTablesOutput is the structured result of list_tables.
type ListTablesOutput struct {
	Tables []TableCount `json:"tables" jsonschema:"every table in the sales database"`
}

// TableCount is one table and its current number of rows.
type TableCount struct {
	Name string `json:"name" jsonschema:"table name, usable in run_query"`
	Rows int64  `json:"rows" jsonschema:"number of rows in the table"`
}

// DescribeTableInput names the table to describe.
type DescribeTableInput struct {
	Table string `json:"table" jsonschema:"table name as returned by list_tables, e.g. orders"`
}

// DescribeTableOutput is the structured result of describe_table.
type DescribeTableOutput struct {
	Name    string   `json:"name" jsonschema:"table name"`
	Columns []Column `json:"columns" jsonschema:"columns in definition order"`
}

// Column describes one table column as reported by describe_table.
type Column struct {
	Name       string `json:"name" jsonschema:"column name"`
	Type       string `json:"type" jsonschema:"declared SQLite type, e.g. INTEGER, TEXT or REAL"`
	NotNull    bool   `json:"not_null" jsonschema:"true if the column never holds NULL"`
	PrimaryKey bool   `json:"primary_key" jsonschema:"true if the column is (part of) the primary key"`
}

// RunQueryInput is the argument object of run_query.
type RunQueryInput struct {
	SQL   string `json:"sql" jsonschema:"exactly one read-only SQLite SELECT statement (WITH ... SELECT is fine); no INSERT/UPDATE/DELETE/PRAGMA/ATTACH"`
	Limit int    `json:"limit,omitempty" jsonschema:"maximum number of rows to return; default 100, at most 1000"`
}

// RunQueryOutput is the structured result of run_query. Rows holds JSON
// scalars (number, string or null) in Columns order.
type RunQueryOutput struct {
	Columns   []string `json:"columns" jsonschema:"result column names"`
	Rows      [][]any  `json:"rows" jsonschema:"result rows; each row lists values in column order"`
	RowCount  int      `json:"row_count" jsonschema:"number of rows returned"`
	Truncated bool     `json:"truncated" jsonschema:"true if rows were dropped because of the row limit or the 4 MiB result size cap"`
}

// addTools registers list_tables, describe_table and run_query on srv.
func (s *Server) addTools(srv *mcp.Server) error {
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(bool)}
	return errors.Join(
		addTool(srv, &mcp.Tool{
			Name:        "list_tables",
			Title:       "List tables",
			Description: "List the tables of the sales database (customers, products, orders, order_items) with their row counts. Start here.",
			Annotations: readOnly,
		}, s.listTables),
		addTool(srv, &mcp.Tool{
			Name:        "describe_table",
			Title:       "Describe table",
			Description: "Show the columns of one table: name, SQLite type, NOT NULL and primary key. Dates are TEXT in YYYY-MM-DD form; money is in US dollars.",
			Annotations: readOnly,
		}, s.describeTable),
		addTool(srv, &mcp.Tool{
			Name:  "run_query",
			Title: "Run read-only SQL",
			Description: fmt.Sprintf("Run one read-only SQLite SELECT against the sales database and return columns and rows. "+
				"At most %d rows (default %d) and about 4 MiB are returned; queries are cancelled after %s. Writes, PRAGMA, ATTACH and multiple statements are refused. "+
				"See the skill:// resources for worked examples.", MaxRowLimit, DefaultRowLimit, s.timeout),
			Annotations: readOnly,
		}, s.runQuery),
	)
}

// addTool is mcp.AddTool with the input and output schemas inferred once and
// frozen as raw JSON. tools/list then copies bytes instead of re-marshalling
// a schema tree per call, which was a fifth of its CPU with 64 parallel
// clients. The SDK still resolves the schemas and validates against them.
func addTool[In, Out any](srv *mcp.Server, t *mcp.Tool, h mcp.ToolHandlerFor[In, Out]) error {
	in, err := jsonschema.For[In](nil)
	if err != nil {
		return fmt.Errorf("demo: %s input schema: %w", t.Name, err)
	}
	out, err := jsonschema.For[Out](nil)
	if err != nil {
		return fmt.Errorf("demo: %s output schema: %w", t.Name, err)
	}
	rawIn, err := json.Marshal(in)
	if err != nil {
		return err
	}
	rawOut, err := json.Marshal(out)
	if err != nil {
		return err
	}
	// json.RawMessage, not []byte: the field is an any, and a plain []byte
	// would be encoded as a base64 string.
	t.InputSchema, t.OutputSchema = json.RawMessage(rawIn), json.RawMessage(rawOut)
	mcp.AddTool(srv, t, h)
	return nil
}

func (s *Server) listTables(ctx context.Context, _ *mcp.CallToolRequest, _ ListTablesInput) (*mcp.CallToolResult, ListTablesOutput, error) {
	// One statement with a COUNT(*) per table: the counts are live, not cached.
	parts := make([]string, len(s.db.tables))
	for i, t := range s.db.tables {
		parts[i] = fmt.Sprintf("SELECT %s, COUNT(*) FROM %s", quoteLiteral(t.Name), quoteIdent(t.Name))
	}
	res, err := s.query(ctx, strings.Join(parts, " UNION ALL "), len(parts))
	if err != nil {
		return nil, ListTablesOutput{}, err
	}
	out := ListTablesOutput{Tables: make([]TableCount, 0, len(res.Rows))}
	var text strings.Builder
	for _, row := range res.Rows {
		tc := TableCount{Name: fmt.Sprint(row[0])}
		tc.Rows, _ = row[1].(int64)
		out.Tables = append(out.Tables, tc)
		fmt.Fprintf(&text, "%s: %d rows\n", tc.Name, tc.Rows)
	}
	return textResult(text.String()), out, nil
}

func (s *Server) describeTable(_ context.Context, _ *mcp.CallToolRequest, in DescribeTableInput) (*mcp.CallToolResult, DescribeTableOutput, error) {
	t, ok := s.db.table(strings.TrimSpace(in.Table))
	if !ok {
		return nil, DescribeTableOutput{}, fmt.Errorf("unknown table %q; the tables are: %s",
			in.Table, strings.Join(s.db.tableNames(), ", "))
	}
	var text strings.Builder
	fmt.Fprintf(&text, "Table %s\n", t.Name)
	for _, c := range t.Columns {
		fmt.Fprintf(&text, "- %s %s", c.Name, c.Type)
		if c.PrimaryKey {
			text.WriteString(" PRIMARY KEY")
		}
		if c.NotNull {
			text.WriteString(" NOT NULL")
		}
		text.WriteByte('\n')
	}
	return textResult(text.String()), DescribeTableOutput{Name: t.Name, Columns: t.Columns}, nil
}

func (s *Server) runQuery(ctx context.Context, _ *mcp.CallToolRequest, in RunQueryInput) (*mcp.CallToolResult, RunQueryOutput, error) {
	limit := in.Limit
	switch {
	case limit < 0:
		return nil, RunQueryOutput{}, fmt.Errorf("limit must be between 1 and %d", MaxRowLimit)
	case limit == 0:
		limit = DefaultRowLimit
	case limit > MaxRowLimit:
		limit = MaxRowLimit
	}
	if err := checkQuery(in.SQL); err != nil {
		s.log.InfoContext(ctx, "demo: query refused", "reason", err)
		return nil, RunQueryOutput{}, fmt.Errorf("query refused: %w", err)
	}
	out, err := s.query(ctx, in.SQL, limit)
	if err != nil {
		s.log.InfoContext(ctx, "demo: query failed", "err", err)
		return nil, RunQueryOutput{}, err
	}
	return textResult(formatTable(out)), out, nil
}

// textResult wraps a human-readable rendering. Setting Content keeps the SDK
// from replacing it with the raw JSON of the structured output.
func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

// quoteIdent and quoteLiteral quote SQLite identifiers and strings. They are
// only applied to table names from the built-in catalogue.
func quoteIdent(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
