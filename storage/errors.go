package storage

import (
	"errors"

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
