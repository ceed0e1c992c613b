//go:build !cgo

package main

// sqliteSupport says, in `conexor version`, whether sqlite:// database URLs work.
const sqliteSupport = "none: built without cgo, so serve needs a postgres:// database URL"
