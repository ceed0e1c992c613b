//go:build !cgo

package storage_test

import (
	"database/sql"

	_ "modernc.org/sqlite" // the driver behind gorm.io/driver/sqlite without cgo
)

// openRawSQLite opens the SQLite file at path beside the store, for raw reads.
func openRawSQLite(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
}
