// Package config is Conexor's typed configuration: defaults, an optional YAML file, then
// CONEXOR_* environment variables and command-line flags, all read through one settings
// table (settings.go), and checked by one Validate pass that reports every problem at once.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/internal/netguard"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
)

// Config is everything `conexor serve` can be told. Where each field is read from (YAML key,
// environment variable, flag) is in the settings table, settings.go.
type Config struct {
	// Issuer is the public base URL: no path, no trailing slash. Tokens carry it as iss.
	Issuer string
	// Addr is the listen address.
	Addr string
	// DatabaseURL is sqlite://PATH, sqlite://:memory: or postgres://...
	DatabaseURL string
	// Secret is the system secret (>= 32 bytes) every key is derived from.
	Secret string
	// AdminPassword is the demo admin's password on first start; generated if empty.
	AdminPassword string

	AccessTokenTTL   time.Duration
	RefreshTokenTTL  time.Duration
	AuthorizeCodeTTL time.Duration
	// KeyPublishDelay is how long a rotated signing key is published in the JWKS before
	// tokens are signed with it, so verifiers that cache the JWKS have seen it.
	KeyPublishDelay time.Duration
	// SigningAlg is ES256 (default), RS256 or HS256.
	SigningAlg string
	// AuditRetention is how long audit events and hourly usage counters are kept.
	AuditRetention time.Duration
	// PurgeInterval is how often expired rows are deleted (0: never, for deployments
	// where another job purges). One replica purges at a time.
	PurgeInterval time.Duration
	// ExpiredRetention is how long expired codes, tokens and sessions are kept after they
	// expire, so that a late replay of a used code or refresh token is still recognised as
	// a replay (and its family revoked) rather than refused as unknown. 0 deletes them at
	// the first purge after they expire.
	ExpiredRetention time.Duration
	// StorageTimeout bounds every database call a request makes: past it the request
	// answers 503 with Retry-After instead of waiting on a database that does not answer.
	StorageTimeout time.Duration

	// RedisURL, when set, holds the limits shared by every replica (login, registration and
	// client-authentication throttles) in Redis instead of the database.
	RedisURL string

	// AllowedOrigins are the browser origins, besides the issuer's own and loopback ones,
	// whose requests reach /mcp/... (the MCP transport's DNS-rebinding check).
	AllowedOrigins []string

	// Scopes adds scopes to the five built-in ones.
	Scopes []provider.Scope

	// Upstreams configures proxied servers by "org/server": headers sent upstream (API
	// keys). They are never shown back through any API.
	Upstreams map[string]Upstream

	// TrustedProxies are the reverse proxies (CIDR prefixes or addresses) whose
	// X-Forwarded-For is believed, so per-address limits see clients, not the proxy.
	TrustedProxies []string

	// APIPrivateUpstreams lets the server API (PATCH /api/servers, a token with
	// mcp:server:manage) point servers at loopback and private addresses. Link-local
	// addresses (cloud metadata) stay refused for everyone (internal/netguard).
	APIPrivateUpstreams bool

	// CIMDAllowPrivate lets client metadata documents be fetched from loopback and private
	// addresses. For tests only.
	CIMDAllowPrivate bool

	// LogLevel is debug, info, warn or error; LogFormat text or json.
	LogLevel  string
	LogFormat string
}

// Upstream is the configuration of one proxied MCP server.
type Upstream struct {
	Headers map[string]string `yaml:"headers"`
}

// Defaults returns the configuration with every default filled in.
func Defaults() Config {
	return Config{
		Issuer:           "http://localhost:8080",
		Addr:             ":8080",
		DatabaseURL:      "sqlite://conexor.db",
		AccessTokenTTL:   time.Hour,
		RefreshTokenTTL:  30 * 24 * time.Hour,
		AuthorizeCodeTTL: 10 * time.Minute,
		SigningAlg:       provider.AlgES256,
		KeyPublishDelay:  2 * time.Minute,
		AuditRetention:   90 * 24 * time.Hour,
		PurgeInterval:    10 * time.Minute,
		ExpiredRetention: 24 * time.Hour,
		StorageTimeout:   3 * time.Second,
		LogLevel:         "info",
		LogFormat:        "text",
	}
}

// IsSQLite reports whether the database is the embedded SQLite.
func (c *Config) IsSQLite() bool { return strings.HasPrefix(c.DatabaseURL, "sqlite://") }

// SQLitePath is the file of a sqlite:// URL ("" for :memory: or Postgres).
func (c *Config) SQLitePath() string {
	if !c.IsSQLite() {
		return ""
	}
	p, _, _ := strings.Cut(strings.TrimPrefix(c.DatabaseURL, "sqlite://"), "?")
	if p == ":memory:" {
		return ""
	}
	return p
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("issuer %q must be an absolute http(s) URL such as http://localhost:8080", c.Issuer)
	} else {
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
			add("issuer %q must have no path, query or fragment (clients derive the metadata URL from it)", c.Issuer)
		}
		if strings.HasSuffix(c.Issuer, "/") {
			add("issuer %q must not end with a slash (it must be byte-identical everywhere it appears)", c.Issuer)
		}
		if u.Scheme == "http" && !netguard.IsLoopbackHost(u.Hostname()) {
			add("issuer %q uses http on a non-loopback host; use https (RFC 9700)", c.Issuer)
		}
	}
	if c.Addr == "" {
		add("addr must not be empty (e.g. :8080)")
	}
	switch {
	case c.IsSQLite():
		if strings.TrimPrefix(c.DatabaseURL, "sqlite://") == "" {
			add("database_url %q needs a path: sqlite://conexor.db", c.DatabaseURL)
		}
	case strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		if c.Secret == "" {
			add("a secret is required with Postgres: set CONEXOR_SECRET to at least 32 random bytes (e.g. openssl rand -base64 48); every replica must share it")
		}
	default:
		add("database_url must start with sqlite:// or postgres:// (got %q)", redact(c.DatabaseURL))
	}
	if c.Secret != "" && len(c.Secret) < 32 {
		add("secret must be at least 32 bytes (got %d); generate one with: openssl rand -base64 48", len(c.Secret))
	}
	if c.AccessTokenTTL < time.Minute || c.AccessTokenTTL > provider.MaxAccessTokenLifespan {
		add("access_token_ttl %s must be between 1m and 24h", c.AccessTokenTTL)
	}
	if c.RefreshTokenTTL < c.AccessTokenTTL {
		add("refresh_token_ttl %s must be at least access_token_ttl %s", c.RefreshTokenTTL, c.AccessTokenTTL)
	}
	if c.AuthorizeCodeTTL <= 0 || c.AuthorizeCodeTTL > 10*time.Minute {
		add("authorize_code_ttl %s must be more than 0 and at most 10m (RFC 6749 4.1.2)", c.AuthorizeCodeTTL)
	}
	if c.KeyPublishDelay < 0 || c.KeyPublishDelay > time.Hour {
		add("key_publish_delay %s must be between 0 and 1h", c.KeyPublishDelay)
	}
	if c.AuditRetention < 24*time.Hour {
		add("audit_retention %s must be at least 24h (the activity chart shows 7 days; 168h or more keeps it whole)", c.AuditRetention)
	}
	if c.PurgeInterval != 0 && (c.PurgeInterval < time.Second || c.PurgeInterval > 24*time.Hour) {
		add("purge_interval %s must be 0 (never purge) or between 1s and 24h", c.PurgeInterval)
	}
	if c.ExpiredRetention < 0 || c.ExpiredRetention > 30*24*time.Hour {
		add("expired_retention %s must be between 0 and 720h (30 days)", c.ExpiredRetention)
	}
	if c.StorageTimeout < 100*time.Millisecond || c.StorageTimeout > time.Minute {
		add("storage_timeout %s must be between 100ms and 1m", c.StorageTimeout)
	}
	switch c.SigningAlg {
	case provider.AlgES256, provider.AlgRS256, provider.AlgHS256:
	default:
		add("signing_alg %q must be ES256, RS256 or HS256", c.SigningAlg)
	}
	if _, err := provider.NewScopes(c.Scopes); err != nil {
		var each provider.ScopeProblems
		if !errors.As(err, &each) {
			each = provider.ScopeProblems{err.Error()}
		}
		for _, problem := range each {
			add("scopes: %s", problem)
		}
	}
	for path, up := range c.Upstreams {
		if _, _, err := urls.SplitServerPath(path); err != nil {
			add("upstreams: key %v", err)
		}
		for h := range up.Headers {
			if strings.TrimSpace(h) == "" || strings.ContainsAny(h, " :\r\n") {
				add("upstreams %s: %q is not a valid header name", path, h)
			}
		}
	}
	for _, o := range c.AllowedOrigins {
		if _, err := httpx.ParseOrigin(o); err != nil && o != "*" {
			add("allowed_origins: %v", err)
		}
	}
	if _, err := httpx.ParsePrefixes(c.TrustedProxies); err != nil {
		add("trusted_proxies: %v", err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level %q must be debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		add("log_format %q must be text or json", c.LogFormat)
	}
	if len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}

// Error lists every configuration problem.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
