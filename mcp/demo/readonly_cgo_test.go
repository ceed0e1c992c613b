//go:build cgo

package demo

import (
	"context"
	"database/sql/driver"
	"strings"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestQueryOnlyAlone removes the authorizer from one connection and shows
// that PRAGMA query_only alone still stops a write. The connection is then
// discarded so it never serves a tool call.
func TestQueryOnlyAlone(t *testing.T) {
	s := newServer(t, Options{})
	ctx := context.Background()
	conn, err := s.db.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var writeErr error
	_ = conn.Raw(func(dc any) error {
		c := dc.(*sqlite3.SQLiteConn)
		c.RegisterAuthorizer(nil)
		_, writeErr = c.Exec("DELETE FROM orders", nil)
		return driver.ErrBadConn // drop this connection from the pool
	})
	if writeErr == nil || !strings.Contains(writeErr.Error(), "readonly") {
		t.Errorf("DELETE without authorizer: error = %v, want attempt to write a readonly database", writeErr)
	}
	out, err := s.query(ctx, "SELECT COUNT(*) FROM orders", 1)
	if err != nil || out.Rows[0][0] != int64(60) {
		t.Errorf("orders after bypass attempt = %v (err %v), want 60", out.Rows, err)
	}
}
