package storage

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// classification is one case of TestUnavailableClassification: err is unavailable or not.
type classification struct {
	name string
	err  error
	want bool
}

// The driver errors that mean "the database cannot serve this now" become ErrUnavailable,
// with the cause kept; everything else (a missing row, a constraint, bad input) is unchanged.
func TestUnavailableClassification(t *testing.T) {
	s := &Store{}
	for _, tt := range append(sqliteClassification(t), []classification{
		{"postgres connection failure (08006)", &pgconn.PgError{Code: "08006"}, true},
		{"postgres too many connections (53300)", &pgconn.PgError{Code: "53300"}, true},
		{"postgres admin shutdown (57P01)", &pgconn.PgError{Code: "57P01"}, true},
		{"postgres cannot connect now (57P03)", &pgconn.PgError{Code: "57P03"}, true},
		{"postgres read-only transaction (25006)", &pgconn.PgError{Code: "25006"}, true},
		{"postgres query canceled (57014)", &pgconn.PgError{Code: "57014"}, true},
		{"postgres unique violation (23505)", &pgconn.PgError{Code: "23505"}, false},
		{"postgres invalid text (22021)", &pgconn.PgError{Code: "22021"}, false},
		{"connect error", &pgconn.ConnectError{}, true},
		{"network error", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"bad connection", fmt.Errorf("query: %w", driver.ErrBadConn), true},
		{"connection done", sql.ErrConnDone, true},
		{"connection closed by the server", fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true},
		{"end of file", fmt.Errorf("read: %w", io.EOF), true},
		{"record not found", gorm.ErrRecordNotFound, false},
		{"not found", ErrNotFound, false},
		{"other", errors.New("something else"), false},
	}...) {
		t.Run(tt.name, func(t *testing.T) {
			got := s.unavailable(tt.err)
			if errors.Is(got, ErrUnavailable) != tt.want {
				t.Fatalf("unavailable(%v) = %v, want ErrUnavailable: %v", tt.err, got, tt.want)
			}
			if !errors.Is(got, tt.err) && got != tt.err {
				t.Fatalf("unavailable(%v) lost the cause: %v", tt.err, got)
			}
		})
	}
	if s.unavailable(nil) != nil {
		t.Fatal("unavailable(nil) != nil")
	}
	s.closed.Store(true)
	if err := s.unavailable(errors.New("sql: database is closed")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("after Close: %v, want ErrUnavailable", err)
	}
}
