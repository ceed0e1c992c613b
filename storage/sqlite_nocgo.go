//go:build !cgo

package storage

import (
	"errors"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	msqlite "modernc.org/sqlite" // registers the database/sql driver "sqlite"
)

// Without cgo, the embedded SQLite is modernc.org/sqlite (SQLite translated to Go) behind
// the same GORM dialect, so a CGO_ENABLED=0 build (every release binary) runs whole. The
// pragmas are sqlite_cgo.go's, in modernc's DSN syntax.

// sqliteDriverName is modernc.org/sqlite's database/sql driver.
const sqliteDriverName = "sqlite"

// sqliteDialector opens the embedded SQLite file at path through modernc.org/sqlite.
func sqliteDialector(path, synchronous string, busy time.Duration) gorm.Dialector {
	return pureGoDialector{sqlite.Dialector{DriverName: "sqlite", DSN: sqliteDSN(path, synchronous, busy)}}
}

// sqliteDSN is sqlite_cgo.go's DSN for modernc.org/sqlite: WAL, a busy timeout, the write lock
// taken at BEGIN, foreign keys on, and the chosen synchronous level.
func sqliteDSN(path, synchronous string, busy time.Duration) string {
	params := "_pragma=journal_mode(WAL)&_pragma=busy_timeout(" + busyMillis(busy) + ")&_txlock=immediate" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(" + synchronous + ")"
	if path == ":memory:" {
		return "file::memory:?" + params
	}
	return "file:" + path + "?" + params
}

// pureGoDialector is GORM's SQLite dialect with an error translation that reads
// modernc.org/sqlite's errors: GORM's own reads go-sqlite3's exported fields, and would
// leave a duplicate key untranslated (and ErrConflict unreported).
type pureGoDialector struct{ sqlite.Dialector }

// SQLite's extended result codes (sqlite3.h) that GORM translates.
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
	sqliteConstraintForeignKey = 787
)

func (d pureGoDialector) Translate(err error) error {
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqliteConstraintPrimaryKey, sqliteConstraintUnique:
			return gorm.ErrDuplicatedKey
		case sqliteConstraintForeignKey:
			return gorm.ErrForeignKeyViolated
		}
	}
	return err
}

// SQLite's primary result codes that mean "unavailable" (see unavailable).
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteReadonly = 8
	sqliteCantOpen = 14
)

// isSQLiteUnavailable reports the SQLite failures that pass: busy or locked past the busy
// timeout, a read-only database, a file that cannot be opened (see unavailable).
func isSQLiteUnavailable(err error) (unavailable, isSQLite bool) {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return false, false
	}
	switch se.Code() & 0xff {
	case sqliteBusy, sqliteLocked, sqliteReadonly, sqliteCantOpen:
		return true, true
	}
	return false, true
}

// isSQLiteReadOnly reports SQLITE_READONLY: the write probe of readonly.go failed because
// the database cannot be written, not because it is busy.
func isSQLiteReadOnly(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqliteReadonly
}

// isSQLiteBusy reports SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock.
func isSQLiteBusy(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqliteBusy || se.Code()&0xff == sqliteLocked)
}
