package app

import (
	"context"
	"log/slog"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/storage"
)

// MigrateResult is what `conexor migrate` did.
type MigrateResult struct {
	// Dialect is "sqlite" or "postgres".
	Dialect string
	// Created lists the tables and columns that were missing ("table x", "column x.y").
	Created []string
}

// Migrate resolves the secret and validates cfg as serve does (a first migrate may create
// the secret file of a SQLite database, like a first serve), then creates or updates the
// tables under the startup lock. It seeds nothing: the first serve does.
func Migrate(ctx context.Context, cfg *config.Config, log *slog.Logger) (*MigrateResult, error) {
	res := &MigrateResult{}
	store, err := openWith(ctx, cfg, log, true, func(s *storage.Store, ctx context.Context) error {
		var err error
		res.Created, err = s.MigrateChanges(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	res.Dialect = store.Dialect()
	return res, nil
}
