package storage

import (
	"database/sql"
	"time"
)

// OpenSQLiteDB opens the SQLite file at path with database/sql, through the driver and with
// the pragmas the Store uses (WAL, synchronous NORMAL, busy timeout, immediate
// transactions). It is for measurements that compare the Store with the least a token
// endpoint must do against the same database (bench/floor), not for Conexor's own data.
func OpenSQLiteDB(path string) (*sql.DB, error) {
	return sql.Open(sqliteDriverName, sqliteDSN(path, "NORMAL", 3*time.Second))
}
