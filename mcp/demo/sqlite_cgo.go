//go:build cgo

package demo

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"
)

// connector opens go-sqlite3 connections without sql.Register, which would
// be process-global state (and panics when registered twice).
type connector struct{ drv *sqlite3.SQLiteDriver }

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(":memory:") }
func (c connector) Driver() driver.Driver                        { return c.drv }

// builderConnector opens the scratch database the image is built in.
func builderConnector() driver.Connector { return connector{&sqlite3.SQLiteDriver{}} }

// queryConnector opens the query pool's connections, each locked down over its
// own copy of image.
func queryConnector(image []byte) driver.Connector {
	return connector{&sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error { return lockDown(c, image) },
	}}
}

// serialize returns the bytes of the builder connection's main database.
func serialize(dc any) ([]byte, error) {
	c, ok := dc.(*sqlite3.SQLiteConn)
	if !ok {
		return nil, fmt.Errorf("unexpected driver connection %T", dc)
	}
	return c.Serialize("main")
}

// lockDown turns a fresh connection into a read-only view of image. Order
// matters: the pragma must run before the authorizer, which forbids pragmas.
func lockDown(c *sqlite3.SQLiteConn, image []byte) error {
	if err := c.Deserialize(image, "main"); err != nil {
		return err
	}
	if _, err := c.Exec("PRAGMA query_only = ON", nil); err != nil {
		return err
	}
	c.SetLimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
	c.SetLimit(sqlite3.SQLITE_LIMIT_LENGTH, maxValueBytes)
	c.SetLimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, maxSQLBytes)
	c.RegisterAuthorizer(authorize)
	return nil
}

// isNotAuthorized reports an error of the authorizer's refusal (SQLITE_AUTH).
func isNotAuthorized(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrAuth
}
