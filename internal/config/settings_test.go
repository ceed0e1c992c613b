package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/provider"
)

// sample is, per YAML key, a value that is not the default: as text (for the environment and
// flags), as YAML, and how to read it back.
var samples = map[string]struct {
	text, yaml string
	got        func(config.Config) any
	want       any
}{
	"issuer":                {"https://auth.example.com", "https://auth.example.com", func(c config.Config) any { return c.Issuer }, "https://auth.example.com"},
	"addr":                  {":9000", `":9000"`, func(c config.Config) any { return c.Addr }, ":9000"},
	"database_url":          {"postgres://db/x", "postgres://db/x", func(c config.Config) any { return c.DatabaseURL }, "postgres://db/x"},
	"secret":                {goodSecret, goodSecret, func(c config.Config) any { return c.Secret }, goodSecret},
	"admin_password":        {"pw pw pw pw", `"pw pw pw pw"`, func(c config.Config) any { return c.AdminPassword }, "pw pw pw pw"},
	"access_token_ttl":      {"15m", "15m", func(c config.Config) any { return c.AccessTokenTTL }, 15 * time.Minute},
	"refresh_token_ttl":     {"48h", "48h", func(c config.Config) any { return c.RefreshTokenTTL }, 48 * time.Hour},
	"authorize_code_ttl":    {"5m", "5m", func(c config.Config) any { return c.AuthorizeCodeTTL }, 5 * time.Minute},
	"signing_alg":           {"RS256", "RS256", func(c config.Config) any { return c.SigningAlg }, "RS256"},
	"key_publish_delay":     {"0s", "0s", func(c config.Config) any { return c.KeyPublishDelay }, time.Duration(0)},
	"audit_retention":       {"720h", "720h", func(c config.Config) any { return c.AuditRetention }, 720 * time.Hour},
	"purge_interval":        {"5s", "5s", func(c config.Config) any { return c.PurgeInterval }, 5 * time.Second},
	"expired_retention":     {"0s", "0s", func(c config.Config) any { return c.ExpiredRetention }, time.Duration(0)},
	"storage_timeout":       {"5s", "5s", func(c config.Config) any { return c.StorageTimeout }, 5 * time.Second},
	"redis_url":             {"redis://127.0.0.1:6379/1", "redis://127.0.0.1:6379/1", func(c config.Config) any { return c.RedisURL }, "redis://127.0.0.1:6379/1"},
	"allowed_origins":       {"https://a.example", "[https://a.example]", func(c config.Config) any { return c.AllowedOrigins }, []string{"https://a.example"}},
	"log_level":             {"debug", "debug", func(c config.Config) any { return c.LogLevel }, "debug"},
	"log_format":            {"json", "json", func(c config.Config) any { return c.LogFormat }, "json"},
	"api_private_upstreams": {"1", "true", func(c config.Config) any { return c.APIPrivateUpstreams }, true},
	"cimd_allow_private":    {"T", "true", func(c config.Config) any { return c.CIMDAllowPrivate }, true},
	"trusted_proxies":       {"10.0.0.0/8,192.0.2.1", "[10.0.0.0/8, 192.0.2.1]", func(c config.Config) any { return c.TrustedProxies }, []string{"10.0.0.0/8", "192.0.2.1"}},
	"scopes": {"", "\n  - name: crm:read\n    description: Read CRM\n", func(c config.Config) any { return c.Scopes },
		[]provider.Scope{{Name: "crm:read", Description: "Read CRM"}}},
	"upstreams": {"", "\n  acme/crm:\n    headers:\n      X-Api-Key: k\n", func(c config.Config) any { return c.Upstreams },
		map[string]config.Upstream{"acme/crm": {Headers: map[string]string{"X-Api-Key": "k"}}}},
}

// env is a fake environment for Load.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEverySettingIsReachable: each row of the table is read from the YAML file, from its
// environment variable and from its flag, where it has them.
func TestEverySettingIsReachable(t *testing.T) {
	dir := t.TempDir()
	for _, s := range config.Settings() {
		sample, ok := samples[s.Key]
		if !ok {
			t.Errorf("setting %s has no sample in this test", s.Key)
			continue
		}
		t.Run(s.Key, func(t *testing.T) {
			file := writeFile(t, filepath.Join(dir, s.Key+".yaml"), s.Key+": "+sample.yaml+"\n")
			cfg, loaded, err := config.Load(config.Sources{File: file})
			if err != nil {
				t.Fatalf("from the file: %v", err)
			}
			if diff := cmp.Diff(sample.want, sample.got(cfg)); diff != "" {
				t.Errorf("from the file (-want +got):\n%s", diff)
			}
			if loaded.File != file {
				t.Errorf("Loaded.File = %q, want %q", loaded.File, file)
			}
			if s.Env == "" {
				if s.Flag != "" {
					t.Errorf("%s has a flag but no environment variable", s.Key)
				}
				return
			}
			if want := "CONEXOR_" + strings.ToUpper(s.Key); s.Env != want {
				t.Errorf("env = %s, want %s", s.Env, want)
			}
			cfg, _, err = config.Load(config.Sources{LookupEnv: env(s.Env, sample.text)})
			if err != nil {
				t.Fatalf("from %s: %v", s.Env, err)
			}
			if diff := cmp.Diff(sample.want, sample.got(cfg)); diff != "" {
				t.Errorf("from %s (-want +got):\n%s", s.Env, diff)
			}
			if s.Flag == "" {
				return
			}
			if want := strings.ReplaceAll(s.Key, "_", "-"); s.Flag != want {
				t.Errorf("flag = %s, want %s (every flag reads CONEXOR_<FLAG>)", s.Flag, want)
			}
			cfg, _, err = config.Load(config.Sources{Flags: map[string]string{s.Flag: sample.text}})
			if err != nil {
				t.Fatalf("from --%s: %v", s.Flag, err)
			}
			if diff := cmp.Diff(sample.want, sample.got(cfg)); diff != "" {
				t.Errorf("from --%s (-want +got):\n%s", s.Flag, diff)
			}
		})
	}
	// Secrets are never flags: ps shows them.
	for _, s := range config.Settings() {
		if (s.Key == "secret" || s.Key == "admin_password") && s.Flag != "" {
			t.Errorf("%s has a flag", s.Key)
		}
	}
}

// TestEveryFieldHasASetting: a Config field that no row of the table reaches could be set by
// no one; a file with every sample must change every field.
func TestEveryFieldHasASetting(t *testing.T) {
	var b strings.Builder
	for _, s := range config.Settings() {
		b.WriteString(s.Key + ": " + samples[s.Key].yaml + "\n")
	}
	cfg, _, err := config.Load(config.Sources{File: writeFile(t, filepath.Join(t.TempDir(), "all.yaml"), b.String())})
	if err != nil {
		t.Fatal(err)
	}
	got, def := reflect.ValueOf(cfg), reflect.ValueOf(config.Defaults())
	for i := range got.NumField() {
		if reflect.DeepEqual(got.Field(i).Interface(), def.Field(i).Interface()) {
			t.Errorf("Config.%s is not reached by any setting", got.Type().Field(i).Name)
		}
	}
}

// TestLoadPrecedence: defaults, then the file, then the environment, then flags. An empty
// environment variable counts as unset.
func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), "log_level: warn\nlog_format: json\naccess_token_ttl: 20m\nsigning_alg: RS256\n")
	cfg, _, err := config.Load(config.Sources{
		File:      file,
		LookupEnv: env("CONEXOR_LOG_LEVEL", "error", "CONEXOR_LOG_FORMAT", "text", "CONEXOR_SIGNING_ALG", ""),
		Flags:     map[string]string{"log-format": "json"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.LogLevel, cfg.LogFormat, cfg.AccessTokenTTL, cfg.SigningAlg, cfg.RefreshTokenTTL}
	want := []any{"error", "json", 20 * time.Minute, "RS256", 30 * 24 * time.Hour}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log_level (env over file), log_format (flag over env), access_token_ttl (file), signing_alg (empty env), refresh_token_ttl (default) (-want +got):\n%s", diff)
	}
	def, _, err := config.Load(config.Sources{})
	if err != nil || !cmp.Equal(def, config.Defaults()) {
		t.Errorf("no sources: %v, %+v; want the defaults", err, def)
	}
}

// TestLoadBadValues: every unparseable value is reported at once, naming the variable,
// flag or file line it came from, with what Validate finds in the rest.
func TestLoadBadValues(t *testing.T) {
	_, _, err := config.Load(config.Sources{
		LookupEnv: env("CONEXOR_API_PRIVATE_UPSTREAMS", "yes please", "CONEXOR_REFRESH_TOKEN_TTL", "30 days", "CONEXOR_TRUSTED_PROXIES", ","),
	})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *config.Error", err)
	}
	want := []string{
		`CONEXOR_REFRESH_TOKEN_TTL="30 days": want a duration such as 90s, 15m or 1h30m`,
		`CONEXOR_API_PRIVATE_UPSTREAMS="yes please": want true or false`,
		`CONEXOR_TRUSTED_PROXIES=",": want a comma-separated list with no empty entries`,
	}
	if diff := cmp.Diff(want, ce.Problems); diff != "" {
		t.Errorf("environment problems (-want +got):\n%s", diff)
	}

	// The values that did parse are judged in the same pass.
	if _, _, err := config.Load(config.Sources{Flags: map[string]string{"issuer": "x"}, LookupEnv: env("CONEXOR_CIMD_ALLOW_PRIVATE", "on")}); err == nil ||
		err.Error() != "invalid configuration:\n  - "+`CONEXOR_CIMD_ALLOW_PRIVATE="on": want true or false`+
			"\n  - "+`issuer "x" must be an absolute http(s) URL such as http://localhost:8080` {
		t.Errorf("bad bool next to a bad issuer: %v", err)
	}

	file := writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), "api_private_upstreams: yes please\naccess_token_ttl: [1h]\nisuer: x\nscopes:\n  - name: a:b\n    descripton: typo\nlog_level: info\nlog_level: debug\n")
	_, _, err = config.Load(config.Sources{File: file, LookupEnv: env("CONEXOR_KEY_PUBLISH_DELAY", "soon")})
	if !errors.As(err, &ce) {
		t.Fatalf("file: err = %v, want a *config.Error", err)
	}
	want = []string{
		`line 1: api_private_upstreams "yes please": want true or false`,
		`line 2: access_token_ttl: want a single value, not a list`,
		`line 3: unknown setting "isuer"`,
		`line 5: scopes: yaml: unmarshal errors:` + "\n  line 2: field descripton not found in type provider.Scope",
		`line 8: log_level is set twice`,
	}
	for i := range want {
		want[i] = "config file " + file + ": " + want[i]
	}
	// With the environment's problems, then Validate's on what did parse.
	want = append(want, `CONEXOR_KEY_PUBLISH_DELAY="soon": want a duration such as 90s, 15m or 1h30m`,
		`scopes: scope "a:b": needs a description (it is shown on the consent page)`)
	if diff := cmp.Diff(want, ce.Problems); diff != "" {
		t.Errorf("file problems (-want +got):\n%s", diff)
	}
}

func TestIssuerForAddr(t *testing.T) {
	for addr, want := range map[string]string{
		":8091":          "http://localhost:8091",
		"127.0.0.1:8091": "http://127.0.0.1:8091",
		"localhost:9000": "http://localhost:9000",
		"[::1]:8091":     "http://[::1]:8091",
		"0.0.0.0:8091":   "http://localhost:8091",
		"[::]:8091":      "http://localhost:8091",
		"192.0.2.7:8091": "http://localhost:8091",
		"nonsense":       "http://localhost:8080",
	} {
		if got := config.IssuerForAddr(addr); got != want {
			t.Errorf("IssuerForAddr(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestLoadDerivesIssuer: with no issuer from any source, the issuer follows addr, wherever
// addr came from; an issuer that is set is kept, even when it equals the default.
func TestLoadDerivesIssuer(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name        string
		src         config.Sources
		want        string
		wantDerived bool
	}{
		{"defaults", config.Sources{}, "http://localhost:8080", true},
		{"flag addr", config.Sources{Flags: map[string]string{"addr": ":8091"}}, "http://localhost:8091", true},
		{"env addr", config.Sources{LookupEnv: env("CONEXOR_ADDR", "127.0.0.1:8092")}, "http://127.0.0.1:8092", true},
		{"file addr", config.Sources{File: writeFile(t, filepath.Join(dir, "a.yaml"), `addr: "[::]:8093"`)}, "http://localhost:8093", true},
		{"explicit issuer", config.Sources{Flags: map[string]string{"addr": ":8091", "issuer": "http://localhost:8080"}}, "http://localhost:8080", false},
		{"issuer in file", config.Sources{File: writeFile(t, filepath.Join(dir, "b.yaml"), "issuer: https://a.example\naddr: :1\n")}, "https://a.example", false},
	} {
		cfg, loaded, err := config.Load(tc.src)
		if err != nil || cfg.Issuer != tc.want || loaded.IssuerDerived != tc.wantDerived {
			t.Errorf("%s: issuer %q derived %t (%v), want %q %t", tc.name, cfg.Issuer, loaded.IssuerDerived, err, tc.want, tc.wantDerived)
		}
	}
}

// TestLoadFindsConfigFile: --config, else CONEXOR_CONFIG, else conexor.yaml beside the
// SQLite database the environment or a flag names, if it exists.
func TestLoadFindsConfigFile(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "data.db")
	beside := writeFile(t, filepath.Join(dir, "conexor.yaml"), "log_level: debug\n")
	named := writeFile(t, filepath.Join(t.TempDir(), "named.yaml"), "log_level: warn\n")
	for _, tc := range []struct {
		name      string
		src       config.Sources
		wantFile  string
		wantLevel string
	}{
		{"beside the database (env)", config.Sources{LookupEnv: env("CONEXOR_DATABASE_URL", db)}, beside, "debug"},
		{"beside the database (flag)", config.Sources{Flags: map[string]string{"database-url": db}}, beside, "debug"},
		{"CONEXOR_CONFIG", config.Sources{LookupEnv: env("CONEXOR_DATABASE_URL", db, "CONEXOR_CONFIG", named)}, named, "warn"},
		{"--config", config.Sources{File: named, LookupEnv: env("CONEXOR_DATABASE_URL", db, "CONEXOR_CONFIG", beside)}, named, "warn"},
		{"none beside the default database", config.Sources{}, "", "info"},
		{"Postgres", config.Sources{LookupEnv: env("CONEXOR_DATABASE_URL", "postgres://db/x")}, "", "info"},
	} {
		cfg, loaded, err := config.Load(tc.src)
		if err != nil || loaded.File != tc.wantFile || cfg.LogLevel != tc.wantLevel {
			t.Errorf("%s: file %q, log_level %q (%v); want %q, %q", tc.name, loaded.File, cfg.LogLevel, err, tc.wantFile, tc.wantLevel)
		}
	}
	if _, _, err := config.Load(config.Sources{File: filepath.Join(dir, "missing.yaml")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a named file that does not exist: %v, want fs.ErrNotExist", err)
	}
}
