package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/provider"
)

const goodSecret = "0123456789abcdef0123456789abcdef0123456789"

func TestDefaultsAreValid(t *testing.T) {
	cfg := config.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Defaults().Validate() = %v", err)
	}
	want := config.Config{
		Issuer: "http://localhost:8080", Addr: ":8080", DatabaseURL: "sqlite://conexor.db",
		AccessTokenTTL: time.Hour, RefreshTokenTTL: 30 * 24 * time.Hour, AuthorizeCodeTTL: 10 * time.Minute,
		SigningAlg: "ES256", KeyPublishDelay: 2 * time.Minute, AuditRetention: 90 * 24 * time.Hour, StorageTimeout: 3 * time.Second,
		PurgeInterval: 10 * time.Minute, ExpiredRetention: 24 * time.Hour,
		LogLevel: "info", LogFormat: "text",
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("Defaults (-want +got):\n%s", diff)
	}
}

// TestValidate checks that one pass reports every problem, each with an actionable message.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*config.Config)
		want   []string // substrings, one per expected problem, in order
	}{
		{"valid https issuer and Postgres with secret", func(c *config.Config) {
			c.Issuer = "https://auth.example.com"
			c.DatabaseURL = "postgres://u:p@db/conexor"
			c.Secret = goodSecret
		}, nil},
		{"loopback http issuers", func(c *config.Config) { c.Issuer = "http://127.0.0.1:9000" }, nil},
		{"several problems at once", func(c *config.Config) {
			c.Issuer = "http://auth.example.com/"
			c.Addr = ""
			c.Secret = "short"
			c.AccessTokenTTL = time.Second
			c.SigningAlg = "none"
			c.LogLevel = "loud"
			c.LogFormat = "xml"
		}, []string{
			"must not end with a slash",
			"uses http on a non-loopback host",
			"addr must not be empty",
			"secret must be at least 32 bytes (got 5)",
			"access_token_ttl 1s must be between 1m and 24h",
			`signing_alg "none" must be ES256, RS256 or HS256`,
			`log_level "loud"`,
			`log_format "xml"`,
		}},
		{"Postgres without a secret", func(c *config.Config) { c.DatabaseURL = "postgresql://db/conexor" }, []string{
			"a secret is required with Postgres",
		}},
		{"unknown database, password redacted", func(c *config.Config) { c.DatabaseURL = "mysql://root:hunter2@db/x" }, []string{
			`database_url must start with sqlite:// or postgres:// (got "mysql://root:xxxxx@db/x")`,
		}},
		{"sqlite without a path", func(c *config.Config) { c.DatabaseURL = "sqlite://" }, []string{"needs a path"}},
		{"relative issuer", func(c *config.Config) { c.Issuer = "localhost:8080" }, []string{"must be an absolute http(s) URL"}},
		{"issuer with query", func(c *config.Config) { c.Issuer = "https://a.example?x=1" }, []string{"must have no path, query or fragment"}},
		{"token lifetimes", func(c *config.Config) {
			c.RefreshTokenTTL = time.Minute
			c.AuthorizeCodeTTL = time.Hour
		}, []string{
			"refresh_token_ttl 1m0s must be at least access_token_ttl 1h0m0s",
			"authorize_code_ttl 1h0m0s must be more than 0 and at most 10m",
		}},
		{"bad extra scopes", func(c *config.Config) {
			c.Scopes = []provider.Scope{
				{Name: "mcp:server:read", Description: "again"},
				{Name: "has space", Description: "x"},
				{Name: "crm:read"},
				{Name: "mcp:prompts:read", Methods: []string{"prompts/list"}}, // overridable, once
				{Name: "mcp:prompts:read", Methods: []string{"prompts/get"}},
				{Name: "crm:tools", Description: "x", Tools: []string{"search_*", "[a-", " "}, Resources: []string{"crm://", ""}},
				{Name: "crm:both", Description: "x", Methods: []string{"tools/call", "resources/subscribe"}, Tools: []string{"a"}, Resources: []string{"b"}},
			}
		}, []string{
			`scopes: scope "mcp:server:read": built in and fixed (only mcp:tools:read, mcp:tools:execute, mcp:resources:read and mcp:prompts:read may be redefined)`,
			`scopes: scope "has space": name must be`,
			`scopes: scope "crm:read": needs a description`,
			`scopes: scope "mcp:prompts:read": already defined`,
			`scopes: scope "crm:tools": tools: "[a-" is not a valid glob (path.Match syntax`,
			`scopes: scope "crm:tools": tools: an empty tool name or glob matches nothing`,
			`scopes: scope "crm:tools": resources: an empty URI prefix would grant every resource`,
			`scopes: scope "crm:both": methods grants tools/call for every tool, so tools restricts nothing`,
			`scopes: scope "crm:both": methods grants resources/subscribe of every resource, so resources restricts nothing`,
		}},
		{"upstreams", func(c *config.Config) {
			c.Upstreams = map[string]config.Upstream{"acme": {Headers: map[string]string{"Bad Header": "x"}}}
		}, []string{`key "acme" must be ORG/SERVER`, `"Bad Header" is not a valid header name`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Defaults()
			tc.modify(&cfg)
			err := cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Validate() = %v, want a *config.Error", err)
			}
			if len(ce.Problems) != len(tc.want) {
				t.Fatalf("%d problems, want %d:\n%s", len(ce.Problems), len(tc.want), err)
			}
			for i, want := range tc.want {
				if !strings.Contains(ce.Problems[i], want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ce.Problems[i], want)
				}
			}
			if !strings.HasPrefix(err.Error(), "invalid configuration:\n  - ") || strings.Count(err.Error(), "\n  - ") != len(tc.want) {
				t.Errorf("Error() does not list one problem per line:\n%s", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("the error shows a database password")
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conexor.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	write(`
issuer: https://auth.example.com
access_token_ttl: 15m
signing_alg: RS256
scopes:
  - name: crm:read
    description: Read CRM records
    methods: [tools/call, resources/read]
  - name: crm:write
    description: Change CRM records
  - name: crm:search
    description: Search CRM records
    tools: [search_*, get_*]
    resources: ["crm://contacts/"]
  - name: mcp:prompts:read
    methods: [prompts/list, prompts/get]
upstreams:
  acme/crm:
    headers:
      X-Api-Key: k
`)
	cfg := config.Defaults()
	cfg.Addr = ":9999" // not in the file: kept
	if err := config.LoadFile(&cfg, path); err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if cfg.Issuer != "https://auth.example.com" || cfg.AccessTokenTTL != 15*time.Minute || cfg.SigningAlg != "RS256" || cfg.Addr != ":9999" || cfg.DatabaseURL != "sqlite://conexor.db" {
		t.Errorf("merged config = %+v", cfg)
	}
	wantScopes := []provider.Scope{
		{Name: "crm:read", Description: "Read CRM records", Methods: []string{"tools/call", "resources/read"}},
		{Name: "crm:write", Description: "Change CRM records"},
		{Name: "crm:search", Description: "Search CRM records", Tools: []string{"search_*", "get_*"}, Resources: []string{"crm://contacts/"}},
		{Name: "mcp:prompts:read", Methods: []string{"prompts/list", "prompts/get"}},
	}
	if diff := cmp.Diff(wantScopes, cfg.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]config.Upstream{"acme/crm": {Headers: map[string]string{"X-Api-Key": "k"}}}, cfg.Upstreams); diff != "" {
		t.Errorf("upstreams (-want +got):\n%s", diff)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// The built-in six plus the file's, in order; the redefined built-in keeps its place and
	// its description, and grants only what the file says.
	reg, err := provider.NewScopes(cfg.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mcp:tools:read", "mcp:tools:execute", "mcp:resources:read", "mcp:prompts:read", "mcp:server:read", "mcp:server:manage", "crm:read", "crm:write", "crm:search"}
	if diff := cmp.Diff(want, reg.Names()); diff != "" {
		t.Errorf("scope registry (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"mcp:tools:execute", "crm:read"}, reg.ScopesForMethod("tools/call")); diff != "" {
		t.Errorf("ScopesForMethod(tools/call) (-want +got):\n%s", diff)
	}
	if got := reg.ScopesForMethod("completion/complete"); len(got) != 0 {
		t.Errorf("ScopesForMethod(completion/complete) = %v, want none: the file took it out of mcp:prompts:read", got)
	}
	if sc, _ := reg.Get("mcp:prompts:read"); sc.Description != "Use prompts and argument completions" {
		t.Errorf("redefined mcp:prompts:read lost its description: %+v", sc)
	}

	// A typo in a key is an error, not silently ignored.
	write("isuer: https://auth.example.com\n")
	cfg = config.Defaults()
	if err := config.LoadFile(&cfg, path); err == nil || !strings.Contains(err.Error(), "isuer") {
		t.Errorf("unknown key: err = %v, want it named", err)
	}
	// An empty file changes nothing.
	write("")
	cfg = config.Defaults()
	if err := config.LoadFile(&cfg, path); err != nil || !cmp.Equal(cfg, config.Defaults()) {
		t.Errorf("empty file: err = %v, cfg changed = %v", err, !cmp.Equal(cfg, config.Defaults()))
	}
	// A missing file is an error that says so.
	if err := config.LoadFile(&cfg, filepath.Join(dir, "nope.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestEnsureSecret(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.DatabaseURL = "sqlite://" + filepath.Join(dir, "data", "conexor.db")

	msg, err := config.EnsureSecret(&cfg, true)
	if err != nil {
		t.Fatalf("EnsureSecret: %v", err)
	}
	file := filepath.Join(dir, "data", "conexor.secret")
	if got := config.SecretFile(cfg.SQLitePath()); got != file {
		t.Errorf("SecretFile = %q, want %q", got, file)
	}
	if !strings.Contains(msg, file) || !strings.Contains(msg, "CONEXOR_SECRET") {
		t.Errorf("log message %q should name the file and CONEXOR_SECRET", msg)
	}
	if len(cfg.Secret) < 32 {
		t.Errorf("generated secret has %d bytes", len(cfg.Secret))
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("secret file mode = %o, want 600", perm)
	}
	b, _ := os.ReadFile(file)
	if strings.TrimSpace(string(b)) != cfg.Secret {
		t.Errorf("the file does not hold the secret in use")
	}

	// A second start reuses it and says nothing.
	again := config.Defaults()
	again.DatabaseURL = cfg.DatabaseURL
	msg, err = config.EnsureSecret(&again, true)
	if err != nil || msg != "" || again.Secret != cfg.Secret {
		t.Errorf("second EnsureSecret: secret reused = %v, msg %q, err %v", again.Secret == cfg.Secret, msg, err)
	}

	// An explicit secret wins and no file is touched.
	explicit := config.Defaults()
	explicit.DatabaseURL = "sqlite://" + filepath.Join(dir, "other.db")
	explicit.Secret = goodSecret
	if msg, err := config.EnsureSecret(&explicit, true); err != nil || msg != "" || explicit.Secret != goodSecret {
		t.Errorf("explicit secret: %q %q %v", explicit.Secret, msg, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.secret")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a secret file was written although a secret was set: %v", err)
	}

	// Postgres: nothing is generated, and Validate insists on a secret.
	pg := config.Defaults()
	pg.DatabaseURL = "postgres://db/conexor"
	if msg, err := config.EnsureSecret(&pg, true); err != nil || msg != "" || pg.Secret != "" {
		t.Errorf("Postgres: EnsureSecret generated %q (%q, %v)", pg.Secret, msg, err)
	}
	if err := pg.Validate(); err == nil || !strings.Contains(err.Error(), "CONEXOR_SECRET") {
		t.Errorf("Postgres without secret: Validate() = %v", err)
	}

	// In memory: a throwaway secret, no file.
	mem := config.Defaults()
	mem.DatabaseURL = "sqlite://:memory:"
	if msg, err := config.EnsureSecret(&mem, true); err != nil || len(mem.Secret) < 32 || !strings.Contains(msg, "temporary") {
		t.Errorf(":memory: %d-byte secret, %q, %v", len(mem.Secret), msg, err)
	}

	// A truncated secret file is refused, not padded.
	if err := os.WriteFile(filepath.Join(dir, "short.secret"), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := config.Defaults()
	short.DatabaseURL = "sqlite://" + filepath.Join(dir, "short.db")
	if _, err := config.EnsureSecret(&short, true); err == nil || !strings.Contains(err.Error(), "fewer than 32 bytes") {
		t.Errorf("short secret file: %v", err)
	}
}

// TestPurgeSettingsValidated: the purge settings are checked like the others.
func TestPurgeSettingsValidated(t *testing.T) {
	for _, tc := range []struct {
		interval, retention time.Duration
		ok                  bool
	}{
		{10 * time.Minute, 24 * time.Hour, true},
		{0, 0, true}, // never purge; keep nothing past expiry
		{5 * time.Second, 0, true},
		{500 * time.Millisecond, time.Hour, false},
		{25 * time.Hour, time.Hour, false},
		{time.Minute, -time.Second, false},
		{time.Minute, 31 * 24 * time.Hour, false},
	} {
		c := config.Defaults()
		c.PurgeInterval, c.ExpiredRetention = tc.interval, tc.retention
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("purge_interval %s, expired_retention %s: Validate = %v, want ok %v", tc.interval, tc.retention, err, tc.ok)
		}
	}
}
