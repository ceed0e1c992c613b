// Package app wires Conexor together: configuration, storage, the authorization server, the
// browser flow and the MCP gateway, behind one router. cmd/conexor only parses flags and
// calls it; end-to-end tests build the same App on a random port.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/limit"
	"github.com/conexor/conexor/internal/tick"
	"github.com/conexor/conexor/mcp"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// App is a running Conexor.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	Store    *storage.Store
	Provider *provider.Provider
	registry *prometheus.Registry
	handler  http.Handler
	stopBG   context.CancelFunc
	gateway  *mcp.Gateway
	// Audit records audit events and usage counters; its writer runs in the background.
	Audit     *audit.Recorder
	auditDone chan struct{} // closed once the recorder's last write is done
	// listenDone is closed once the change listener has let go of its connection.
	listenDone chan struct{}
	// sessionKey signs the browser session cookie (keys.sessionCookie).
	sessionKey []byte
	// Seeded is set when this start created the demo data.
	Seeded *SeedResult
	// limits counts failed logins, registrations and failed client authentications
	// (limits.go); closeLimits closes its Redis connection.
	limits      *limit.Limiter
	closeLimits func() error
}

// Options are the parts of an App that are not configuration.
type Options struct {
	// Out receives the first-start banner (login and curl); nil discards it.
	Out io.Writer
	// Now replaces the clock, for tests of expiry.
	Now func() time.Time
	// NoSeed skips creating the demo data on an empty database.
	NoSeed bool
	// NoMigrate leaves the schema alone (`serve --no-migrate`, for deployments that run
	// `conexor migrate` first); New fails with storage.ErrNotMigrated if it is not current.
	NoMigrate bool
}

// Open resolves the secret, validates cfg and opens and migrates the database. Admin
// commands use it; New builds the full server on top. Only create (serve, migrate) may
// generate a secret file for a SQLite database (config.EnsureSecret).
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger, create bool, opts ...storage.Option) (*storage.Store, error) {
	return openWith(ctx, cfg, log, create, (*storage.Store).Migrate, opts...)
}

// openWith is Open with schema in place of Migrate: CheckSchema for `serve --no-migrate`.
func openWith(ctx context.Context, cfg *config.Config, log *slog.Logger, create bool, schema func(*storage.Store, context.Context) error, opts ...storage.Option) (*storage.Store, error) {
	msg, err := config.EnsureSecret(cfg, create)
	if err != nil {
		return nil, err
	}
	if msg != "" {
		log.Warn(msg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Every database call without a deadline of its own gets storage_timeout (storage/deadline.go).
	opts = append([]storage.Option{storage.WithTimeout(cfg.StorageTimeout)}, opts...)
	store, err := storage.Open(ctx, cfg.DatabaseURL, opts...)
	if err != nil {
		return nil, err
	}
	if err := schema(store, ctx); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// NewProvider builds the authorization server for cfg on store.
// rec records its audit events; nil records none.
func NewProvider(ctx context.Context, cfg config.Config, store *storage.Store, log *slog.Logger, reg prometheus.Registerer, now func() time.Time, rec *audit.Recorder) (*provider.Provider, error) {
	return newProvider(ctx, cfg, deriveKeys(cfg.Secret).provider, store, log, reg, now, rec, nil)
}

func newProvider(ctx context.Context, cfg config.Config, keys provider.Keys, store *storage.Store, log *slog.Logger, reg prometheus.Registerer, now func() time.Time, rec *audit.Recorder, limits provider.Limiter) (*provider.Provider, error) {
	scopes, err := provider.NewScopes(cfg.Scopes)
	if err != nil {
		return nil, err
	}
	return provider.New(ctx, provider.Config{
		Issuer:                cfg.Issuer,
		Keys:                  keys,
		AccessTokenLifespan:   cfg.AccessTokenTTL,
		RefreshTokenLifespan:  cfg.RefreshTokenTTL,
		AuthorizeCodeLifespan: cfg.AuthorizeCodeTTL,
		SigningAlg:            cfg.SigningAlg,
		KeyPublishDelay:       cfg.KeyPublishDelay,
		Scopes:                scopes,
		Now:                   now,
		CIMDAllowPrivate:      cfg.CIMDAllowPrivate,
		Audit:                 rec,
		Limits:                limits,
	}, store, log, provider.NewMetrics(reg))
}

// New opens everything, seeds an empty database and builds the router.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	schema := (*storage.Store).Migrate
	if opts.NoMigrate {
		schema = (*storage.Store).CheckSchema
	}
	store, err := openWith(ctx, &cfg, log, true, schema, storage.WithClock(opts.Now)) // one clock for tokens, sessions and revocations
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	keys := deriveKeys(cfg.Secret)
	rec := audit.New(store, log, reg, opts.Now)
	limits, closeLimits, err := newLimits(ctx, cfg, store, log, opts.Now)
	if err != nil {
		store.Close()
		return nil, err
	}
	a := &App{cfg: cfg, log: log, Store: store, registry: reg, sessionKey: keys.sessionCookie,
		Audit: rec, limits: limits, closeLimits: closeLimits}
	// Replicas started together take turns: the first creates the signing key and the demo
	// data, the others find them (storage.WithStartupLock).
	err = store.WithStartupLock(ctx, func(ctx context.Context) error {
		var err error
		a.Provider, err = newProvider(ctx, cfg, keys.provider, store, log, reg, opts.Now, rec, limits)
		if err != nil || opts.NoSeed {
			return err
		}
		a.Seeded, err = Seed(ctx, store, a.Provider, cfg)
		if err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
		return nil
	})
	if err != nil {
		closeLimits()
		store.Close()
		return nil, err
	}
	p := a.Provider
	if a.Seeded != nil {
		a.Seeded.Print(opts.Out, cfg.Issuer)
	}
	a.gateway, err = mcp.New(mcp.Options{Issuer: cfg.Issuer, Verifier: p, Servers: store, Tokens: store, Editor: p,
		Tasks:  store,
		Scopes: p.Scopes(), UpstreamHeaders: upstreamHeaders(cfg.Upstreams),
		StoredUpstreamHeaders: p.UpstreamHeaders, SessionKey: keys.sessionBinding, Asserter: p,
		Now: opts.Now, Logger: log, Registerer: reg, APIPrivateUpstreams: cfg.APIPrivateUpstreams, Audit: rec})
	if err != nil {
		closeLimits()
		store.Close()
		return nil, err
	}
	// Introspection answers access tokens from the gate's verified-claims cache and
	// revocation set (built just now, after the provider), as the gate does.
	p.IntrospectFrom(a.gateway)
	a.handler = a.routes()
	bg, cancel := context.WithCancel(context.Background())
	a.stopBG = cancel
	go p.Keys().Run(bg, 30*time.Second)
	a.listenForChanges(bg)
	if cfg.PurgeInterval > 0 {
		go tick.Every(bg, cfg.PurgeInterval, a.purge)
	}
	a.auditDone = make(chan struct{})
	go func() { a.Audit.Run(bg); close(a.auditDone) }()
	return a, nil
}

// upstreamHeaders converts the configured headers of proxied servers for the gateway.
func upstreamHeaders(ups map[string]config.Upstream) map[string]http.Header {
	out := make(map[string]http.Header, len(ups))
	for path, up := range ups {
		h := make(http.Header, len(up.Headers))
		for k, v := range up.Headers {
			h.Set(k, v)
		}
		out[path] = h
	}
	return out
}

// Handler is the whole HTTP surface.
func (a *App) Handler() http.Handler { return a.handler }

// Serve answers on ln until ctx ends, then shuts down gracefully: in-flight requests get up
// to 20 seconds to finish.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops background work and closes the database.
func (a *App) Close() error {
	a.stopBG()
	<-a.auditDone  // its final write needs the database
	<-a.listenDone // it holds a connection of the pool
	return errors.Join(a.gateway.Close(), a.closeLimits(), a.Store.Close())
}
