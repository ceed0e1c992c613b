//go:build cgo

package storage

import (
	"testing"

	"github.com/mattn/go-sqlite3"
)

// sqliteClassification are go-sqlite3's cases of TestUnavailableClassification.
func sqliteClassification(*testing.T) []classification {
	return []classification{
		{"sqlite busy", sqlite3.Error{Code: sqlite3.ErrBusy}, true},
		{"sqlite locked", sqlite3.Error{Code: sqlite3.ErrLocked}, true},
		{"sqlite read-only", sqlite3.Error{Code: sqlite3.ErrReadonly}, true},
		{"sqlite cannot open", sqlite3.Error{Code: sqlite3.ErrCantOpen}, true},
		{"sqlite constraint", sqlite3.Error{Code: sqlite3.ErrConstraint}, false},
	}
}
