package demo

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"runtime"
	"strings"
)

//go:embed data/sales.sql
var salesSQL string

// Limits applied to every query connection. They bound what a single
// statement can allocate: no value may exceed maxValueBytes (so
// randomblob(1e9) fails fast instead of eating a gigabyte), no statement text
// may exceed maxSQLBytes, and zero attached databases means ATTACH is refused
// by SQLite itself regardless of any other layer.
const (
	maxValueBytes = 1 << 20
	maxSQLBytes   = 64 << 10
)

// SQLite's own authorizer codes (sqlite3.h), shared by both drivers (see
// sqlite_cgo.go and sqlite_purego.go) so that the one policy in authorize
// applies whichever is compiled in.
const (
	sqliteOK        = 0
	sqliteDeny      = 1
	sqliteRead      = 20
	sqliteSelect    = 21
	sqliteFunction  = 31
	sqliteRecursive = 33
)

// deniedFunction reports SQL functions refused even inside an otherwise
// valid SELECT. load_extension is also disabled in C by default; readfile,
// writefile and edit come from the sqlite3 shell and are not compiled into
// go-sqlite3. They are listed so that a future build with extra extensions
// still cannot reach the filesystem or native code.
func deniedFunction(name string) bool {
	switch strings.ToLower(name) {
	case "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer":
		return true
	}
	return false
}

// database is the sales data set, served read-only.
//
// Design: the embedded SQL is executed once on a private builder connection
// and the resulting database is serialized to bytes. Every connection of the
// query pool is a fresh ":memory:" database that deserializes its own copy of
// those bytes in the connect hook. Connections therefore share nothing: there
// is no shared-cache locking (SQLITE_LOCKED), no temp file to clean up, and
// the pool can run as many queries in parallel as it has connections. The
// image is about 24 KB, so a copy per connection is cheap.
type database struct {
	db     *sql.DB
	tables []tableInfo // immutable schema catalogue, captured at build time
}

// tableInfo describes one table for describe_table.
type tableInfo struct {
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
}

// openDatabase builds the data set and returns the read-only query pool.
func openDatabase(ctx context.Context) (*database, error) {
	image, tables, err := buildImage(ctx)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(queryConnector(image))
	n := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n) // keep copies warm; deserializing is cheap but not free
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("demo: open query pool: %w", err)
	}
	return &database{db: db, tables: tables}, nil
}

// buildImage loads the embedded SQL into a scratch database and returns its
// serialized bytes plus the schema catalogue. Everything happens on one
// database/sql Conn because a ":memory:" database lives and dies with its
// connection.
func buildImage(ctx context.Context) ([]byte, []tableInfo, error) {
	db := sql.OpenDB(builderConnector())
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, salesSQL); err != nil {
		return nil, nil, fmt.Errorf("demo: load dataset: %w", err)
	}
	tables, err := readSchema(ctx, conn)
	if err != nil {
		return nil, nil, err
	}
	var image []byte
	err = conn.Raw(func(dc any) error {
		image, err = serialize(dc)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("demo: serialize dataset: %w", err)
	}
	return image, tables, nil
}

// readSchema lists user tables and their columns in definition order.
func readSchema(ctx context.Context, conn *sql.Conn) ([]tableInfo, error) {
	rows, err := conn.QueryContext(ctx,
		`SELECT m.name, p.name, p.type, p."notnull", p.pk
		   FROM sqlite_schema AS m, pragma_table_info(m.name) AS p
		  WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
		  ORDER BY m.name, p.cid`)
	if err != nil {
		return nil, fmt.Errorf("demo: read schema: %w", err)
	}
	defer rows.Close()
	var tables []tableInfo
	for rows.Next() {
		var table string
		var col Column
		var pk int // position in the primary key, 0 if not part of it
		if err := rows.Scan(&table, &col.Name, &col.Type, &col.NotNull, &pk); err != nil {
			return nil, err
		}
		col.PrimaryKey = pk > 0
		if len(tables) == 0 || tables[len(tables)-1].Name != table {
			tables = append(tables, tableInfo{Name: table})
		}
		last := &tables[len(tables)-1]
		last.Columns = append(last.Columns, col)
	}
	return tables, rows.Err()
}

// authorize is the SQLite authorizer for query connections. It is an allow
// list: reading tables, running SELECTs (including recursive CTEs) and calling
// functions other than those in deniedFunction. Everything else (INSERT, UPDATE,
// DELETE, CREATE, DROP, ALTER, PRAGMA, ATTACH, transactions, ...) is denied at
// prepare time.
func authorize(action int, _, arg2, _ string) int {
	switch action {
	case sqliteSelect, sqliteRead, sqliteRecursive:
		return sqliteOK
	case sqliteFunction:
		// For SQLITE_FUNCTION, arg2 is the function name (arg1 is unused).
		if deniedFunction(arg2) {
			return sqliteDeny
		}
		return sqliteOK
	}
	return sqliteDeny
}

// table returns the catalogue entry for name (case-insensitive, like SQLite).
func (d *database) table(name string) (tableInfo, bool) {
	for _, t := range d.tables {
		if strings.EqualFold(t.Name, name) {
			return t, true
		}
	}
	return tableInfo{}, false
}

// tableNames lists the tables, for error messages.
func (d *database) tableNames() []string {
	names := make([]string, len(d.tables))
	for i, t := range d.tables {
		names[i] = t.Name
	}
	return names
}

// close releases every pooled connection (and with it every data copy).
func (d *database) close() error {
	return d.db.Close()
}
