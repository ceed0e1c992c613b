package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/conexor/conexor/internal/config"
)

// globals are the flags every command shares.
type globals struct {
	configPath  string
	in          io.Reader
	out, errOut io.Writer
	// loaded says where the last loaded configuration came from.
	loaded config.Loaded
}

func newRootCmd(in io.Reader, out, errOut io.Writer) *cobra.Command {
	g := &globals{in: in, out: out, errOut: errOut}
	root := &cobra.Command{
		Use:   "conexor",
		Short: "OAuth 2.0 authorization server and gateway for hosted MCP servers",
		Long: `Conexor is an OAuth 2.0 authorization server and gateway for hosted MCP servers.

Every command reads its settings from defaults, then a YAML file, then CONEXOR_*
environment variables, then flags. The file is --config or CONEXOR_CONFIG, else
conexor.yaml beside the SQLite database if one is there, so serve and the admin
commands run against the same database see the same scopes.`,
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
	pf.StringVar(&g.configPath, "config", "", "YAML config file (env "+config.EnvConfigFile+"; default: "+config.DefaultFileName+" beside the SQLite database, if it exists)")
	addSettingFlags(pf, "")

	root.AddCommand(
		newServeCmd(g),
		newMigrateCmd(g),
		newServersCmd(g),
		newClientsCmd(g),
		newUsersCmd(g),
		newKeysCmd(g),
		newAuditCmd(g),
		newHealthCmd(g),
		newBenchCmd(g),
		newConnectCmd(g),
		newVersionCmd(g),
	)
	return root
}

// addSettingFlags adds the flags of the settings table that belong to command ("" for the
// flags every command has). Their values are read back by loadConfig, through the table.
func addSettingFlags(fs *pflag.FlagSet, command string) {
	for _, s := range config.Settings() {
		if s.Flag != "" && s.Command == command {
			fs.String(s.Flag, s.Default(), s.Usage+" (env "+s.Env+")")
		}
	}
}

// isSetting reports whether flag is read through the settings table (which reads its
// environment variable itself) or is --config (whose variable config.Load reads).
func isSetting(flag string) bool {
	if flag == "config" {
		return true
	}
	for _, s := range config.Settings() {
		if s.Flag == flag {
			return true
		}
	}
	return false
}

// annotationNoEnv marks a flag that only the command line sets (see commandLineOnly).
const annotationNoEnv = "conexor/no-env"

// commandLineOnly exempts a command's flags from CONEXOR_<FLAG>: the update commands change
// exactly the fields named on their command line, so a CONEXOR_SCOPES exported for
// `conexor connect` must not quietly rewrite a client's scopes.
func commandLineOnly(fs *pflag.FlagSet, names ...string) {
	for _, n := range names {
		_ = fs.SetAnnotation(n, annotationNoEnv, []string{"true"})
	}
}

// bindEnv gives every other flag (a command's own options, such as connect's --client-id)
// that was not set on the command line the value of CONEXOR_<FLAG> (dashes as underscores).
func bindEnv(cmd *cobra.Command) error {
	var errs []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || isSetting(f.Name) || f.Annotations[annotationNoEnv] != nil {
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

// loadConfig reads the settings through config.Load: defaults, the file, the environment
// and the settings' flags set on cmd's command line.
func (g *globals) loadConfig(cmd *cobra.Command) (config.Config, error) {
	flags := map[string]string{}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if isSetting(f.Name) {
			flags[f.Name] = f.Value.String()
		}
	})
	cfg, loaded, err := config.Load(config.Sources{File: g.configPath, LookupEnv: os.LookupEnv, Flags: flags})
	g.loaded = loaded
	return cfg, err
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
