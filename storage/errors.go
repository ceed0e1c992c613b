package storage

import (
	"errors"

	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// ErrNotFound is fosite.ErrNotFound, so fosite and Conexor code test for the same value.
var ErrNotFound = fosite.ErrNotFound

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
