package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/conexor/conexor/internal/netguard"
)

// EnvConfigFile names the YAML file when --config is not given.
const EnvConfigFile = "CONEXOR_CONFIG"

// DefaultFileName is the config file read from beside the SQLite database when neither
// --config nor CONEXOR_CONFIG names one, so `serve` and the admin commands run in the same
// directory see the same scopes and upstreams.
const DefaultFileName = "conexor.yaml"

// Sources are where Load reads settings besides the defaults.
type Sources struct {
	// File is the YAML file given by --config ("" if none).
	File string
	// LookupEnv reads the environment (os.LookupEnv; nil reads nothing).
	LookupEnv func(string) (string, bool)
	// Flags are the settings' flags set on the command line, by flag name.
	Flags map[string]string
}

// Loaded says where a loaded configuration came from.
type Loaded struct {
	// File is the YAML file that was read ("" if none).
	File string
	// IssuerDerived is set when no source named the issuer and it was derived from Addr;
	// `serve` derives it again from the address it actually listens on (port 0).
	IssuerDerived bool
}

// Load builds the configuration: defaults, then the YAML file, then the environment, then
// flags, each read through the settings table. An empty environment variable counts as
// unset. Every value that cannot be parsed is reported at once, each naming where it came
// from, followed by what Validate finds in the others; without such values, Validate is the
// caller's (after the secret is resolved).
func Load(src Sources) (Config, Loaded, error) {
	cfg := Defaults()
	env := func(name string) (string, bool) {
		if src.LookupEnv == nil || name == "" {
			return "", false
		}
		v, ok := src.LookupEnv(name)
		return v, ok && v != ""
	}
	var loaded Loaded
	var problems []string
	explicit := map[string]bool{}

	file, err := configFile(src, env)
	if err != nil {
		return cfg, loaded, err
	}
	if file != "" {
		keys, err := loadFile(&cfg, file)
		var fileProblems *Error
		switch {
		case errors.As(err, &fileProblems): // listed with the others
			problems = append(problems, fileProblems.Problems...)
		case err != nil:
			return cfg, loaded, err
		}
		loaded.File = file
		for _, k := range keys {
			explicit[k] = true
		}
	}
	for _, s := range settings {
		if v, ok := env(s.Env); ok {
			if err := s.field(&cfg).set(v); err != nil {
				problems = append(problems, fmt.Sprintf("%s=%q: %v", s.Env, v, err))
			}
			explicit[s.Key] = true
		}
	}
	for _, s := range settings {
		if v, ok := src.Flags[s.Flag]; ok && s.Flag != "" {
			if err := s.field(&cfg).set(v); err != nil {
				problems = append(problems, fmt.Sprintf("--%s=%q: %v", s.Flag, v, err))
			}
			explicit[s.Key] = true
		}
	}
	if !explicit[keyIssuer] {
		cfg.Issuer = IssuerForAddr(cfg.Addr)
		loaded.IssuerDerived = true
	}
	if len(problems) > 0 {
		// Judge the values that did parse too, so one start lists every problem.
		var ve *Error
		if errors.As(cfg.Validate(), &ve) {
			problems = append(problems, ve.Problems...)
		}
		return cfg, loaded, &Error{Problems: problems}
	}
	return cfg, loaded, nil
}

// configFile is --config, else CONEXOR_CONFIG, else DefaultFileName beside the SQLite
// database if it exists there. The database is the one the environment or a flag names (the
// file cannot name the directory it is looked up in).
func configFile(src Sources, env func(string) (string, bool)) (string, error) {
	if src.File != "" {
		return src.File, nil
	}
	if v, ok := env(EnvConfigFile); ok {
		return v, nil
	}
	db := Defaults()
	if v, ok := env("CONEXOR_DATABASE_URL"); ok {
		db.DatabaseURL = v
	}
	if v, ok := src.Flags["database-url"]; ok {
		db.DatabaseURL = v
	}
	path := db.SQLitePath()
	if path == "" {
		return "", nil
	}
	candidate := filepath.Join(filepath.Dir(path), DefaultFileName)
	switch _, err := os.Stat(candidate); {
	case err == nil:
		return candidate, nil
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	default:
		return "", fmt.Errorf("config file: %w", err)
	}
}

// loadFile merges a YAML file over cfg through the settings table and returns the keys the
// file set. Unknown keys are errors: a typo in a security setting must not be silently
// ignored.
func loadFile(cfg *Config, path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(doc.Content) == 0 { // an empty file is fine
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s: want a mapping of settings (key: value)", path)
	}
	var problems, keys []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		s, ok := settingByKey(k.Value)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("line %d: unknown setting %q", k.Line, k.Value))
			continue
		case seen[k.Value]:
			problems = append(problems, fmt.Sprintf("line %d: %s is set twice", k.Line, k.Value))
			continue
		}
		seen[k.Value] = true
		keys = append(keys, k.Value)
		if err := s.field(cfg).decode(v); err != nil {
			if v.Kind == yaml.ScalarNode {
				problems = append(problems, fmt.Sprintf("line %d: %s %q: %v", v.Line, k.Value, v.Value, err))
			} else {
				problems = append(problems, fmt.Sprintf("line %d: %s: %v", v.Line, k.Value, err))
			}
		}
	}
	if len(problems) > 0 {
		for i, p := range problems {
			problems[i] = "config file " + path + ": " + p
		}
		return nil, &Error{Problems: problems}
	}
	return keys, nil
}

// IssuerForAddr is the issuer of a server listening on addr when none is configured: http on
// localhost at addr's port. A loopback host is kept as written; any other host (":8091",
// "0.0.0.0:8091", "[::]:8091", a LAN address) becomes localhost, since an http issuer must be
// loopback and a public one must be configured as https.
func IssuerForAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return Defaults().Issuer
	}
	if !netguard.IsLoopbackHost(host) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
