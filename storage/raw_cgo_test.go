//go:build cgo

package storage_test

import (
	"database/sql"

	_ "github.com/mattn/go-sqlite3" // the driver behind gorm.io/driver/sqlite with cgo
)

// openRawSQLite opens the SQLite file at path beside the store, for raw reads.
func openRawSQLite(path string) (*sql.DB, error) {
	return sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
}
