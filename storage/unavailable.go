package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// unavailable classifies err: a failure of the database itself, after which the same request
// may well succeed a moment later, comes back wrapped in ErrUnavailable (the cause kept, for
// the log); anything else, nil included, comes back unchanged. It is the one place that
// knows the drivers' errors:
//
//   - the store was closed (shutdown), or the connection broke (driver.ErrBadConn,
//     sql.ErrConnDone, a network error, a failed connect);
//   - the call ran out of time (context.DeadlineExceeded): the store's timeout or the
//     caller's deadline passed while the database said nothing (deadline.go);
//   - SQLite: busy or locked past the busy timeout, read-only, cannot open the file;
//   - Postgres: SQLSTATE class 08 (connection exception), 53 (insufficient resources), 57P
//     (operator intervention: shutdown, admin_shutdown, cannot_connect_now), 57014
//     (query_canceled: statement_timeout fired, a database too slow to answer is a 503, not
//     a 500) and 25006 (read-only transaction: a replica, or default_transaction_read_only).
func (s *Store) unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !s.isUnavailable(err) {
		return err
	}
	s.lastFailure.Store(time.Now().UnixNano())
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (s *Store) isUnavailable(err error) bool {
	if s.closed.Load() {
		// database/sql's "database is closed" is not an exported value; the store knows.
		return true
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// A pooled connection the server closed without a word (Postgres stopped in immediate
	// mode, a proxy that closed it while idle): its next query reads end-of-file, which is no
	// net.Error. pgconn.SafeToRetry marks a failure before the query was sent.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) {
		return true
	}
	if unavailable, isSQLite := isSQLiteUnavailable(err); isSQLite {
		return unavailable
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		c := pgErr.Code
		return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "53") || strings.HasPrefix(c, "57P") || c == "57014" || c == "25006"
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// classifyErrors makes every statement's error go through unavailable, so that each Store
// method reports a database failure as ErrUnavailable without saying so itself.
// Transactions (BeginTX, Commit) and Ping, which run no GORM statement, call it directly.
func (s *Store) classifyErrors() {
	classify := func(db *gorm.DB) {
		if db.Error != nil {
			db.Error = s.unavailable(db.Error)
		}
	}
	cb := s.db.Callback()
	_ = cb.Create().After("*").Register("conexor:unavailable", classify)
	_ = cb.Query().After("*").Register("conexor:unavailable", classify)
	_ = cb.Update().After("*").Register("conexor:unavailable", classify)
	_ = cb.Delete().After("*").Register("conexor:unavailable", classify)
	_ = cb.Row().After("*").Register("conexor:unavailable", classify)
	_ = cb.Raw().After("*").Register("conexor:unavailable", classify)
}
