//go:build !cgo

package main

// sqliteSupport says, in `conexor version`, which SQLite driver backs sqlite:// URLs.
const sqliteSupport = "embedded, pure Go (modernc.org/sqlite; built without cgo)"
