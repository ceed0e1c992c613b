package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Setting is one row of the settings table: every name a setting is known by and how its
// text is parsed. Load reads every source through this table and nothing else, so a setting
// added here is reachable from the file, the environment and (if it has one) a flag at once.
type Setting struct {
	// Key is the YAML key.
	Key string
	// Env is the environment variable ("" for settings that only fit in a file).
	Env string
	// Flag is the command-line flag without dashes ("" for none: secrets are never flags,
	// since ps shows every process's arguments).
	Flag string
	// Command is the one command whose flag this is ("" for every command).
	Command string
	// Usage is the flag's help text.
	Usage string
	// field binds the setting to its place in a Config.
	field func(*Config) value
}

// value is a setting's place in a Config, with its parser.
type value interface {
	// set parses text from the environment or a flag.
	set(text string) error
	// decode takes the value from its YAML node.
	decode(n *yaml.Node) error
	// String formats the value, for a flag's default in --help.
	String() string
}

// Settings returns the table, in the order the README lists the settings.
func Settings() []Setting { return settings }

// Default is the setting's default as text ("" when it is derived, as the issuer is).
func (s Setting) Default() string {
	if s.Key == keyIssuer {
		return ""
	}
	d := Defaults()
	return s.field(&d).String()
}

const keyIssuer = "issuer"

var settings = []Setting{
	{Key: keyIssuer, Env: "CONEXOR_ISSUER", Flag: "issuer",
		Usage: "public base URL, no trailing slash; default http://localhost:PORT with the port of --addr",
		field: func(c *Config) value { return (*text)(&c.Issuer) }},
	{Key: "addr", Env: "CONEXOR_ADDR", Flag: "addr", Command: "serve",
		Usage: "listen address",
		field: func(c *Config) value { return (*text)(&c.Addr) }},
	{Key: "database_url", Env: "CONEXOR_DATABASE_URL", Flag: "database-url",
		Usage: "sqlite://PATH, sqlite://:memory: or postgres://...",
		field: func(c *Config) value { return (*text)(&c.DatabaseURL) }},
	{Key: "secret", Env: "CONEXOR_SECRET",
		field: func(c *Config) value { return (*text)(&c.Secret) }},
	{Key: "admin_password", Env: "CONEXOR_ADMIN_PASSWORD",
		field: func(c *Config) value { return (*text)(&c.AdminPassword) }},
	{Key: "access_token_ttl", Env: "CONEXOR_ACCESS_TOKEN_TTL",
		field: func(c *Config) value { return (*duration)(&c.AccessTokenTTL) }},
	{Key: "refresh_token_ttl", Env: "CONEXOR_REFRESH_TOKEN_TTL",
		field: func(c *Config) value { return (*duration)(&c.RefreshTokenTTL) }},
	{Key: "authorize_code_ttl", Env: "CONEXOR_AUTHORIZE_CODE_TTL",
		field: func(c *Config) value { return (*duration)(&c.AuthorizeCodeTTL) }},
	{Key: "signing_alg", Env: "CONEXOR_SIGNING_ALG", Flag: "signing-alg", Command: "serve",
		Usage: "ES256, RS256 or HS256",
		field: func(c *Config) value { return (*text)(&c.SigningAlg) }},
	{Key: "key_publish_delay", Env: "CONEXOR_KEY_PUBLISH_DELAY",
		field: func(c *Config) value { return (*duration)(&c.KeyPublishDelay) }},
	{Key: "audit_retention", Env: "CONEXOR_AUDIT_RETENTION",
		field: func(c *Config) value { return (*duration)(&c.AuditRetention) }},
	{Key: "purge_interval", Env: "CONEXOR_PURGE_INTERVAL",
		field: func(c *Config) value { return (*duration)(&c.PurgeInterval) }},
	{Key: "expired_retention", Env: "CONEXOR_EXPIRED_RETENTION",
		field: func(c *Config) value { return (*duration)(&c.ExpiredRetention) }},
	{Key: "storage_timeout", Env: "CONEXOR_STORAGE_TIMEOUT",
		field: func(c *Config) value { return (*duration)(&c.StorageTimeout) }},
	{Key: "redis_url", Env: "CONEXOR_REDIS_URL",
		field: func(c *Config) value { return (*text)(&c.RedisURL) }},
	{Key: "allowed_origins", Env: "CONEXOR_ALLOWED_ORIGINS",
		field: func(c *Config) value { return (*list)(&c.AllowedOrigins) }},
	{Key: "log_level", Env: "CONEXOR_LOG_LEVEL", Flag: "log-level",
		Usage: "debug, info, warn or error",
		field: func(c *Config) value { return (*text)(&c.LogLevel) }},
	{Key: "log_format", Env: "CONEXOR_LOG_FORMAT", Flag: "log-format",
		Usage: "text or json",
		field: func(c *Config) value { return (*text)(&c.LogFormat) }},
	{Key: "scopes",
		field: func(c *Config) value { return fileOnly{&c.Scopes} }},
	{Key: "api_private_upstreams", Env: "CONEXOR_API_PRIVATE_UPSTREAMS",
		field: func(c *Config) value { return (*boolean)(&c.APIPrivateUpstreams) }},
	{Key: "trusted_proxies", Env: "CONEXOR_TRUSTED_PROXIES",
		field: func(c *Config) value { return (*list)(&c.TrustedProxies) }},
	{Key: "upstreams",
		field: func(c *Config) value { return fileOnly{&c.Upstreams} }},
	{Key: "cimd_allow_private", Env: "CONEXOR_CIMD_ALLOW_PRIVATE",
		field: func(c *Config) value { return (*boolean)(&c.CIMDAllowPrivate) }},
}

// settingByKey finds a row of the table by its YAML key.
func settingByKey(key string) (Setting, bool) {
	for _, s := range settings {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// scalar decodes a YAML scalar through set, so the file and the environment accept the same
// text.
func scalar(n *yaml.Node, set func(string) error) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a single value, not a %s", kindName(n.Kind))
	}
	return set(n.Value)
}

type text string

func (t *text) set(s string) error        { *t = text(s); return nil }
func (t *text) decode(n *yaml.Node) error { return scalar(n, t.set) }
func (t *text) String() string            { return string(*t) }

type duration time.Duration

func (d *duration) set(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("want a duration such as 90s, 15m or 1h30m")
	}
	*d = duration(v)
	return nil
}

func (d *duration) decode(n *yaml.Node) error { return scalar(n, d.set) }
func (d *duration) String() string            { return time.Duration(*d).String() }

type boolean bool

// set accepts what strconv.ParseBool accepts (true, false, 1, 0, t, f in any case).
func (b *boolean) set(s string) error {
	v, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	*b = boolean(v)
	return nil
}

func (b *boolean) decode(n *yaml.Node) error { return scalar(n, b.set) }
func (b *boolean) String() string            { return strconv.FormatBool(bool(*b)) }

// list is comma-separated in the environment and a YAML sequence in the file.
type list []string

func (l *list) set(s string) error {
	var out []string
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			return fmt.Errorf("want a comma-separated list with no empty entries")
		}
		out = append(out, e)
	}
	*l = out
	return nil
}

func (l *list) decode(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return l.set(n.Value)
	}
	var out []string
	if n.Kind != yaml.SequenceNode || n.Decode(&out) != nil {
		return fmt.Errorf("want a list of values")
	}
	*l = out
	return nil
}

func (l *list) String() string { return strings.Join(*l, ",") }

// fileOnly is a structured setting (scopes, upstreams): only the YAML file can hold it.
type fileOnly struct{ dst any }

func (f fileOnly) set(string) error { return fmt.Errorf("can only be set in the config file") }

// decode is strict: a misspelt field inside a scope or upstream is an error, as a misspelt
// key is.
func (f fileOnly) decode(n *yaml.Node) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	return dec.Decode(f.dst)
}

func (f fileOnly) String() string { return "" }

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	default:
		return "structure"
	}
}
