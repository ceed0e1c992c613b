//go:build !cgo

package storage

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// Without cgo there is no SQLite driver, so no SQLite cases to classify.
var sqliteClassification []classification

// A build without cgo refuses a sqlite:// URL at Open with ErrNoSQLite, in a message that
// names the URL and says what to use instead.
func TestOpenSQLiteWithoutCgo(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "c.db")
	s, err := Open(context.Background(), url)
	if !errors.Is(err, ErrNoSQLite) {
		t.Fatalf("Open(%s) = %v, %v; want ErrNoSQLite", url, s, err)
	}
	for _, want := range []string{url, "postgres://", "cgo"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
