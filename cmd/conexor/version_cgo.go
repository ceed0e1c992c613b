//go:build cgo

package main

// sqliteSupport says, in `conexor version`, whether sqlite:// database URLs work.
const sqliteSupport = "embedded (cgo build)"
