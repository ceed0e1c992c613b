package demo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// maxResultBytes caps the approximate size of one result: 1000 rows of
// near-1 MiB strings would otherwise make a single call return a gigabyte.
// Rows past the cap are dropped and the result is marked truncated.
const maxResultBytes = 4 << 20

// query runs q on the read-only pool and returns at most limit rows. The
// whole call, including waiting for a free connection and reading rows, is
// bounded by the server's query timeout; both drivers call sqlite3_interrupt
// when the context ends, so a runaway statement really stops.
func (s *Server) query(ctx context.Context, q string, limit int) (RunQueryOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	out, err := s.queryRows(ctx, q, limit)
	if err != nil {
		return RunQueryOutput{}, s.explain(ctx, err)
	}
	s.log.DebugContext(ctx, "demo: query", "rows", out.RowCount, "truncated", out.Truncated, "elapsed", time.Since(start))
	return out, nil
}

func (s *Server) queryRows(ctx context.Context, q string, limit int) (RunQueryOutput, error) {
	rows, err := s.db.db.QueryContext(ctx, q)
	if err != nil {
		return RunQueryOutput{}, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return RunQueryOutput{}, err
	}
	out := RunQueryOutput{Columns: cols, Rows: [][]any{}}
	size := 0
	for rows.Next() {
		if len(out.Rows) == limit || size > maxResultBytes {
			out.Truncated = true
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return RunQueryOutput{}, err
		}
		for i, v := range vals {
			vals[i] = jsonValue(v)
			if str, ok := vals[i].(string); ok {
				size += len(str)
			}
			size += 8
		}
		out.Rows = append(out.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return RunQueryOutput{}, err
	}
	out.RowCount = len(out.Rows)
	return out, nil
}

// explain turns driver errors into messages a model can act on.
func (s *Server) explain(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("query timed out after %s and was cancelled; add a LIMIT or a narrower WHERE clause", s.timeout)
	}
	if isNotAuthorized(err) {
		return fmt.Errorf("query refused: only reading tables with SELECT is allowed (%v)", err)
	}
	return fmt.Errorf("query failed: %v", err)
}

// jsonValue maps SQLite values onto JSON scalars: BLOBs become text when they
// are valid UTF-8 and hex literals otherwise, and infinities (SELECT 1e999),
// which JSON cannot encode, become strings.
func jsonValue(v any) any {
	switch v := v.(type) {
	case []byte:
		if utf8.Valid(v) {
			return string(v)
		}
		return fmt.Sprintf("x'%X'", v)
	case float64:
		if math.IsInf(v, 0) {
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return v
}

// maxCellWidth bounds one cell of the text rendering; structured output keeps
// the full value.
const maxCellWidth = 60

// formatTable renders out as an aligned plain-text table for models and
// humans that read the text content rather than the structured output.
func formatTable(out RunQueryOutput) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(out.Columns, "\t"))
	for _, row := range out.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = cell(v)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	fmt.Fprintf(&b, "(%d row%s", out.RowCount, plural(out.RowCount))
	if out.Truncated {
		b.WriteString("; truncated at the row limit or the 4 MiB cap: add a LIMIT or a narrower WHERE")
	}
	b.WriteString(")\n")
	return b.String()
}

// flattenCell keeps each cell on one line of the text table.
var flattenCell = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")

func cell(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = "NULL"
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		s = fmt.Sprint(v)
	}
	s = flattenCell.Replace(s)
	if utf8.RuneCountInString(s) > maxCellWidth {
		s = string([]rune(s)[:maxCellWidth-1]) + "…"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
