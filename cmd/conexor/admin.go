package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// env is what an admin command works with.
type env struct {
	cfg   config.Config
	log   *slog.Logger
	store *storage.Store
	p     *provider.Provider
}

func (g *globals) open(cmd *cobra.Command, withProvider bool) (*env, error) {
	cfg, err := g.loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	log := g.logger(cfg)
	// An admin command pointed at a SQLite file that does not exist would otherwise quietly
	// create an empty database (and a new secret) there and report on that one.
	var created string
	if path := cfg.SQLitePath(); path != "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			created = path
		}
	}
	store, err := app.Open(cmd.Context(), &cfg, log)
	if err != nil {
		return nil, err
	}
	if created != "" {
		log.Warn("created a new, empty database: if you meant an existing one, pass its --database-url (or set CONEXOR_DATABASE_URL) and run this command from the server's working directory",
			"database", cfg.DatabaseURL)
	}
	e := &env{cfg: cfg, log: log, store: store}
	if withProvider {
		e.p, err = app.NewProvider(cmd.Context(), cfg, store, log, prometheus.NewRegistry(), nil)
		if err != nil {
			store.Close()
			return nil, err
		}
	}
	return e, nil
}

func (e *env) Close() { e.store.Close() }

// server finds the server at ORG/SERVER, or says how to create it.
func (e *env) server(ctx context.Context, path string) (*storage.Server, error) {
	org, slug, err := urls.SplitServerPath(path)
	if err != nil {
		return nil, err
	}
	srv, err := e.store.ServerByPath(ctx, org, slug)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no server %s: create it with `conexor servers create %s --name NAME`", path, path)
	}
	return srv, err
}
