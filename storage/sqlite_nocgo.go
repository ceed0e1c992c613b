//go:build !cgo

package storage

import "gorm.io/gorm"

// sqliteDialector refuses: the embedded SQLite driver (go-sqlite3) is C, so a binary built
// with CGO_ENABLED=0 (the release builds for every desktop) has none. Such a binary still
// serves on Postgres and runs connect, the admin commands and version.
func sqliteDialector(string, string) (gorm.Dialector, error) {
	return nil, ErrNoSQLite
}

// isSQLiteUnavailable never matches: without the driver there are no SQLite errors.
func isSQLiteUnavailable(error) (unavailable, isSQLite bool) { return false, false }
