package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/conexor/conexor/internal/config"
)

// globals are the flags every command shares.
type globals struct {
	configPath  string
	databaseURL string
	issuer      string
	logLevel    string
	logFormat   string
	in          io.Reader
	out, errOut io.Writer
}

func newRootCmd(in io.Reader, out, errOut io.Writer) *cobra.Command {
	g := &globals{in: in, out: out, errOut: errOut}
	def := config.Defaults()
	root := &cobra.Command{
		Use:           "conexor",
		Short:         "OAuth 2.0 authorization server and gateway for hosted MCP servers",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return bindEnv(cmd)
		},
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "", "YAML config file (env CONEXOR_CONFIG)")
	pf.StringVar(&g.databaseURL, "database-url", def.DatabaseURL, "sqlite://PATH, sqlite://:memory: or postgres://... (env CONEXOR_DATABASE_URL)")
	pf.StringVar(&g.issuer, "issuer", def.Issuer, "public base URL, no trailing slash (env CONEXOR_ISSUER)")
	pf.StringVar(&g.logLevel, "log-level", def.LogLevel, "debug, info, warn or error (env CONEXOR_LOG_LEVEL)")
	pf.StringVar(&g.logFormat, "log-format", def.LogFormat, "text or json (env CONEXOR_LOG_FORMAT)")

	root.AddCommand(
		newServeCmd(g),
		newMigrateCmd(g),
		newServersCmd(g),
		newClientsCmd(g),
		newUsersCmd(g),
		newKeysCmd(g),
		newHealthCmd(g),
		newBenchCmd(g),
		newConnectCmd(g),
	)
	return root
}

// bindEnv gives every flag that was not set on the command line the value of
// CONEXOR_<FLAG> (dashes as underscores), so `CONEXOR_DATABASE_URL=... conexor serve` works.
func bindEnv(cmd *cobra.Command) error {
	var errs []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := "CONEXOR_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if err := cmd.Flags().Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q: %v", name, v, err))
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("environment: %s", strings.Join(errs, "; "))
	}
	return nil
}

// loadConfig layers defaults, the config file, environment-only settings and flags.
func (g *globals) loadConfig(cmd *cobra.Command) (config.Config, error) {
	cfg := config.Defaults()
	if g.configPath != "" {
		if err := config.LoadFile(&cfg, g.configPath); err != nil {
			return cfg, err
		}
	}
	// Secrets come from the environment or the file, never from flags (ps shows flags).
	envStr := map[string]*string{
		"CONEXOR_SECRET":         &cfg.Secret,
		"CONEXOR_ADMIN_PASSWORD": &cfg.AdminPassword,
		"CONEXOR_SIGNING_ALG":    &cfg.SigningAlg,
	}
	for k, p := range envStr {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			*p = v
		}
	}
	envDur := map[string]*time.Duration{
		"CONEXOR_ACCESS_TOKEN_TTL":   &cfg.AccessTokenTTL,
		"CONEXOR_REFRESH_TOKEN_TTL":  &cfg.RefreshTokenTTL,
		"CONEXOR_AUTHORIZE_CODE_TTL": &cfg.AuthorizeCodeTTL,
		"CONEXOR_KEY_PUBLISH_DELAY":  &cfg.KeyPublishDelay,
	}
	for k, p := range envDur {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return cfg, fmt.Errorf("%s=%q: %v", k, v, err)
			}
			*p = d
		}
	}
	if v := os.Getenv("CONEXOR_TRUSTED_PROXIES"); v != "" {
		cfg.TrustedProxies = strings.Split(v, ",")
	}
	if v := os.Getenv("CONEXOR_API_PRIVATE_UPSTREAMS"); v == "true" || v == "1" {
		cfg.APIPrivateUpstreams = true
	}
	if v := os.Getenv("CONEXOR_CIMD_ALLOW_PRIVATE"); v == "true" || v == "1" {
		cfg.CIMDAllowPrivate = true
	}
	flags := cmd.Flags()
	set := func(name string, dst *string, v string) {
		if flags.Changed(name) {
			*dst = v
		}
	}
	set("database-url", &cfg.DatabaseURL, g.databaseURL)
	set("issuer", &cfg.Issuer, g.issuer)
	set("log-level", &cfg.LogLevel, g.logLevel)
	set("log-format", &cfg.LogFormat, g.logFormat)
	return cfg, nil
}

func (g *globals) logger(cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(g.errOut, opts))
	}
	return slog.New(slog.NewTextHandler(g.errOut, opts))
}
