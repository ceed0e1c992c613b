// Package testenv runs a complete Conexor (internal/app) on a loopback httptest server for
// end-to-end tests: a temporary SQLite file (or a fresh Postgres schema), the seeded demo
// data, and helpers that create servers and clients and call the OAuth endpoints over real
// HTTP.
//
// A typical test:
//
//	e := testenv.New(t, testenv.Options{})
//	tok := e.Token(e.ClientID, e.ClientSecret, "mcp:tools:read")
//	got := e.Introspect(e.ClientID, e.ClientSecret, tok)
//
// The issuer is the server's own URL (http://127.0.0.1:PORT), so tokens, metadata and
// resource URLs are exactly what a client of this server sees. Everything is released when
// the test ends. Helpers fail the test with t.Fatal and so must be called from the test's
// goroutine; for concurrent load use e.Client and e.URL directly.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/pgtest"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// AdminPassword is the seeded admin's password (the admin is app.DemoAdminEmail, an admin
// of the org acme).
const AdminPassword = "correct horse battery staple"

// PostgresDSNEnv names the variable holding the Postgres URL the Postgres variants of the
// tests run against, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PostgresDSNEnv = pgtest.DSNEnv

// Options select the database and the parts of the configuration tests vary. The zero value
// is a seeded App on a fresh SQLite file with ES256 keys and the real clock.
type Options struct {
	// Postgres runs on a fresh schema of CONEXOR_TEST_POSTGRES_DSN, dropped when the test
	// ends. The test is skipped, with a message naming the variable, when it is unset.
	Postgres bool
	// DatabaseURL uses an existing database (for example one the CLI wrote, or another
	// Env's Config.DatabaseURL) instead of a new one; it takes precedence over Postgres. Pass
	// the Secret that database was created with. Nothing is seeded if it already has data.
	DatabaseURL string
	// Secret is the system secret; empty means a fresh random one.
	Secret string
	// SigningAlg is ES256 (default), RS256 or HS256.
	SigningAlg string
	// Now is the App's clock (see Clock); nil means time.Now.
	Now func() time.Time
	// NoSeed skips the demo data: no org, server, user or client exists.
	NoSeed bool
	// Configure edits the configuration last, before the App is built.
	Configure func(*config.Config)
	// Log receives the App's logs; nil discards them. Do not log to t.Log: background work
	// may log after the test has ended.
	Log *slog.Logger
}

// Env is one running Conexor. Restart replaces App, Store and Provider; read them from the
// Env after a restart, not from copies taken before.
type Env struct {
	tb   testing.TB
	opts Options

	// URL is the server's base URL (http://127.0.0.1:PORT), without a trailing slash. It is
	// also the issuer unless Options.Configure changed Config.Issuer.
	URL string
	// Server is the httptest server; its URL never changes, also across Restart.
	Server *httptest.Server
	// Client is an HTTP client for Server that does not follow redirects.
	Client *http.Client
	// Config is the configuration the App runs with (secret and database URL resolved).
	Config config.Config

	// App is the running application; App.Handler() is what Server serves.
	App *app.App
	// Store is App's database: use it to arrange state or check what was written.
	Store *storage.Store
	// Provider is App's authorization server (keys, client creation, verification).
	Provider *provider.Provider

	// Seeded is what the first start created (nil with NoSeed or a reused database).
	Seeded *app.SeedResult
	// ClientID and ClientSecret are the seeded confidential client of acme/sales-api
	// (client_credentials; scopes mcp:tools:read, mcp:tools:execute, mcp:resources:read,
	// mcp:server:read). Empty when nothing was seeded.
	ClientID, ClientSecret string
	// PublicClientID is the seeded public client of acme/sales-api (authorization_code and
	// refresh_token, PKCE, redirect app.DemoRedirectURI).
	PublicClientID string

	handler atomic.Pointer[http.Handler]
}

// New builds an App as opts says, serves it on 127.0.0.1 and stops everything, database
// included, when tb ends.
func New(tb testing.TB, opts Options) *Env {
	tb.Helper()
	e := &Env{tb: tb, opts: opts}
	cfg := config.Defaults()
	cfg.KeyPublishDelay = 0 // tests of rotation want the new key at once unless they say otherwise
	switch {
	case opts.DatabaseURL != "":
		cfg.DatabaseURL = opts.DatabaseURL
	case opts.Postgres:
		cfg.DatabaseURL = PostgresSchema(tb)
	default:
		cfg.DatabaseURL = "sqlite://" + filepath.Join(tb.TempDir(), "conexor.db")
	}
	cfg.Secret = opts.Secret
	if cfg.Secret == "" {
		cfg.Secret = NewSecret()
	}
	if opts.SigningAlg != "" {
		cfg.SigningAlg = opts.SigningAlg
	}
	cfg.AdminPassword = AdminPassword

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: listen: %v", err)
	}
	e.URL = "http://" + ln.Addr().String()
	cfg.Addr = ln.Addr().String()
	cfg.Issuer = e.URL
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	e.Config = cfg

	a, err := app.New(context.Background(), cfg, opts.Log, app.Options{Now: opts.Now, NoSeed: opts.NoSeed})
	if err != nil {
		ln.Close()
		tb.Fatalf("testenv: app.New: %v", err)
	}
	e.use(a)
	// Cleanups run last-registered first: server, then App (whichever is current), then the
	// database schema registered above.
	tb.Cleanup(func() {
		if err := e.App.Close(); err != nil {
			tb.Errorf("testenv: close app: %v", err)
		}
	})
	if s := a.Seeded; s != nil {
		e.Seeded = s
		e.ClientID, e.ClientSecret, e.PublicClientID = s.ScriptClientID, s.ScriptClientSecret, s.AppClientID
	}

	e.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*e.handler.Load()).ServeHTTP(w, r)
	}))
	e.Server.Listener.Close()
	e.Server.Listener = ln
	e.Server.Start()
	tb.Cleanup(e.Server.Close)
	e.Client = e.Server.Client()
	e.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	e.Client.Timeout = 30 * time.Second
	return e
}

func (e *Env) use(a *app.App) {
	e.App, e.Store, e.Provider = a, a.Store, a.Provider
	h := a.Handler()
	e.handler.Store(&h)
}

// Restart closes the App and builds a new one on the same database, secret, clock and URL,
// as a process restart would. Requests in flight during the switch may fail.
func (e *Env) Restart() {
	e.tb.Helper()
	if err := e.App.Close(); err != nil {
		e.tb.Fatalf("testenv: restart: close: %v", err)
	}
	a, err := app.New(context.Background(), e.Config, e.opts.Log, app.Options{Now: e.opts.Now, NoSeed: e.opts.NoSeed})
	if err != nil {
		e.tb.Fatalf("testenv: restart: app.New: %v", err)
	}
	e.use(a)
}

// ResourceURL is the canonical URL of an MCP server of this Env: the aud of its tokens.
func (e *Env) ResourceURL(org, server string) string {
	return urls.Resource(e.Config.Issuer, org, server)
}

// TokenURL is the token endpoint.
func (e *Env) TokenURL() string { return urls.Endpoint(e.URL, urls.Token) }

// NewSecret returns a random system secret of 64 characters.
func NewSecret() string {
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// PostgresSchema creates an empty schema in the database of CONEXOR_TEST_POSTGRES_DSN and
// returns a DSN pointing at it (pgtest.Schema): skipped without the variable, a failure in CI.
func PostgresSchema(tb testing.TB) string { return pgtest.Schema(tb) }

// Clock is a settable clock for Options.Now, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t (time.Now() if t is zero).
func NewClock(t time.Time) *Clock {
	if t.IsZero() {
		t = time.Now()
	}
	return &Clock{t: t}
}

// Now returns the clock's time; it does not move by itself.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
