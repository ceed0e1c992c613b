//go:build cgo

package storage

import (
	"errors"
	"time"

	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
)

// sqliteDriverName is go-sqlite3's database/sql driver.
const sqliteDriverName = "sqlite3"

// sqliteDialector opens the embedded SQLite file at path through go-sqlite3, which needs cgo;
// sqlite_nocgo.go is the build without it.
func sqliteDialector(path, synchronous string, busy time.Duration) gorm.Dialector {
	return sqlite.Open(sqliteDSN(path, synchronous, busy))
}

// sqliteDSN turns a path into a go-sqlite3 DSN. WAL lets readers run beside the one writer,
// the busy timeout makes writers queue instead of failing with "database is locked", and
// _txlock=immediate takes the write lock at BEGIN so a read-then-write transaction can never
// deadlock on lock upgrade (the classic cause of SQLITE_BUSY under load).
func sqliteDSN(path, synchronous string, busy time.Duration) string {
	params := "_journal_mode=WAL&_busy_timeout=" + busyMillis(busy) + "&_txlock=immediate&_foreign_keys=on&_synchronous=" + synchronous
	if path == ":memory:" {
		return "file::memory:?" + params
	}
	return "file:" + path + "?" + params
}

// isSQLiteUnavailable reports the SQLite failures that pass: busy or locked past the busy
// timeout, a read-only database, a file that cannot be opened (see unavailable).
func isSQLiteUnavailable(err error) (unavailable, isSQLite bool) {
	var sqliteErr sqlite3.Error
	if !errors.As(err, &sqliteErr) {
		return false, false
	}
	switch sqliteErr.Code {
	case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrReadonly, sqlite3.ErrCantOpen:
		return true, true
	}
	return false, true
}

// isSQLiteReadOnly reports SQLITE_READONLY: the write probe of readonly.go failed because
// the database cannot be written, not because it is busy.
func isSQLiteReadOnly(err error) bool {
	var sqliteErr sqlite3.Error
	return errors.As(err, &sqliteErr) && sqliteErr.Code == sqlite3.ErrReadonly
}

// isSQLiteBusy reports SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock.
func isSQLiteBusy(err error) bool {
	var sqliteErr sqlite3.Error
	return errors.As(err, &sqliteErr) && (sqliteErr.Code == sqlite3.ErrBusy || sqliteErr.Code == sqlite3.ErrLocked)
}
