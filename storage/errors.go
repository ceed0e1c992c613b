package storage

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// ErrNotFound is fosite.ErrNotFound, so fosite and Conexor code test for the same value.
var ErrNotFound = fosite.ErrNotFound

// ErrUnavailable wraps a failure of the database itself (closed, unreachable, a failed
// query) where a caller must not conclude that a row is missing: fosite turns every error of
// a client lookup into invalid_client, and the endpoints use this to answer 503 instead.
var ErrUnavailable = errors.New("storage: database unavailable")

// ErrConflict means a unique key (an org slug, a server path, an email) already exists.
var ErrConflict = errors.New("storage: already exists")

func notFound(err error) error {
	if isNotFound(err) {
		return ErrNotFound
	}
	return err
}

func conflict(err error) error {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return ErrConflict
	}
	return err
}

// keyable reports whether every value can be a lookup key. Postgres refuses text with a NUL
// byte or invalid UTF-8 (SQLSTATE 22021) with an error that would otherwise surface as "the
// database is unavailable"; no stored key can contain either, so such input is simply not
// found.
func keyable(values ...string) bool {
	for _, v := range values {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return false
		}
	}
	return true
}
