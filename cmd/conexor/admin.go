package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/conexor/conexor/audit"
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
	// audit records what the command changes, as the operator; Close writes it.
	audit *audit.Recorder
}

// open loads the configuration and opens the existing database for an admin command. Only
// serve and migrate create a database: an admin command run in the wrong directory must not
// quietly make an empty one (and a new secret beside it) and report on that.
func (g *globals) open(cmd *cobra.Command, withProvider bool) (*env, error) {
	cfg, err := g.loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	if err := requireDatabase(cfg); err != nil {
		return nil, err
	}
	log := g.logger(cfg)
	store, err := app.Open(cmd.Context(), &cfg, log, false)
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, log: log, store: store, audit: audit.New(store, log, nil, nil)}
	// Whatever the command changes, the command line did it.
	cmd.SetContext(audit.WithActor(cmd.Context(), audit.Operator()))
	if withProvider {
		e.p, err = app.NewProvider(cmd.Context(), cfg, store, log, prometheus.NewRegistry(), nil, e.audit)
		if err != nil {
			store.Close()
			return nil, err
		}
	}
	return e, nil
}

// requireDatabase refuses a SQLite file that does not exist, saying where it looked.
func requireDatabase(cfg config.Config) error {
	path := cfg.SQLitePath()
	if path == "" {
		return nil
	}
	_, err := os.Stat(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return fmt.Errorf("no database at %s (only serve and migrate create one): run this command in the server's directory, "+
		"or point at its database with --database-url sqlite://PATH or CONEXOR_DATABASE_URL", path)
}

// Close writes the command's audit events, then closes the database.
func (e *env) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.audit.Flush(ctx); err != nil {
		e.log.Warn("audit events of this command were not written", "err", err)
	}
	e.store.Close()
}

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
