//go:build !cgo

package demo

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"modernc.org/sqlite"
)

// Without cgo the demo runs on modernc.org/sqlite, SQLite translated to Go, so
// that a CGO_ENABLED=0 build (every release binary) still serves the demo.
// The policy is the same as sqlite_cgo.go's: the same image, pragma, limits
// and authorize.

// sqliteAuth is SQLITE_AUTH, the result code of a statement the authorizer refused.
const sqliteAuth = 23

// SQLITE_LIMIT_* ids (sqlite3.h).
const (
	limitLength    = 0
	limitSQLLength = 1
	limitAttached  = 7
)

// builderConnector opens the scratch database the image is built in.
func builderConnector() driver.Connector { return memoryConnector{} }

// queryConnector opens the query pool's connections, each locked down over its
// own copy of image.
func queryConnector(image []byte) driver.Connector {
	return memoryConnector{image: image}
}

// memoryConnector opens private ":memory:" databases and, when image is set,
// locks each down (see lockDown).
type memoryConnector struct{ image []byte }

func (c memoryConnector) Connect(ctx context.Context) (driver.Conn, error) {
	base, err := sqlite.NewConnector(":memory:")
	if err != nil {
		return nil, err
	}
	dc, err := base.Connect(ctx)
	if err != nil || c.image == nil {
		return dc, err
	}
	if err := lockDown(ctx, dc, c.image); err != nil {
		dc.Close()
		return nil, err
	}
	return dc, nil
}

func (memoryConnector) Driver() driver.Driver { return &sqlite.Driver{} }

// serialize returns the bytes of the builder connection's main database.
func serialize(dc any) ([]byte, error) {
	c, ok := dc.(interface{ Serialize() ([]byte, error) })
	if !ok {
		return nil, fmt.Errorf("unexpected driver connection %T", dc)
	}
	return c.Serialize()
}

// lockDown turns a fresh connection into a read-only view of image. Order
// matters: the pragma must run before the authorizer, which forbids pragmas.
func lockDown(ctx context.Context, dc driver.Conn, image []byte) error {
	c, ok := dc.(interface {
		driver.ExecerContext
		sqlite.AuthorizerRegisterer
		Deserialize([]byte) error
	})
	if !ok {
		return fmt.Errorf("unexpected driver connection %T", dc)
	}
	if err := c.Deserialize(image); err != nil {
		return err
	}
	if _, err := c.ExecContext(ctx, "PRAGMA query_only = ON", nil); err != nil {
		return err
	}
	if err := setLimits(ctx, dc); err != nil {
		return err
	}
	return c.RegisterAuthorizer(func(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
		return sqlite.AuthorizerReturnCode(authorize(int(action), arg1, arg2, ""))
	})
}

// setLimits applies the limits of db.go to dc. modernc.org/sqlite sets limits
// only through a *sql.Conn (sqlite.Limit), so dc is lent to a one-connection
// sql.DB whose Close leaves it open.
func setLimits(ctx context.Context, dc driver.Conn) error {
	db := sql.OpenDB(lentConnector{dc})
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, l := range []struct{ id, value int }{
		{limitAttached, 0},
		{limitLength, maxValueBytes},
		{limitSQLLength, maxSQLBytes},
	} {
		if _, err := sqlite.Limit(conn, l.id, l.value); err != nil {
			return err
		}
	}
	return nil
}

// lentConnector hands out its one connection, wrapped so that closing it does
// not close the connection (which the caller still owns).
type lentConnector struct{ dc driver.Conn }

func (l lentConnector) Connect(context.Context) (driver.Conn, error) { return lent{l.dc}, nil }
func (lentConnector) Driver() driver.Driver                          { return &sqlite.Driver{} }

type lent struct{ driver.Conn }

func (lent) Close() error          { return nil }
func (l lent) Unwrap() driver.Conn { return l.Conn }

// isNotAuthorized reports an error of the authorizer's refusal (SQLITE_AUTH).
func isNotAuthorized(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqliteAuth
}
