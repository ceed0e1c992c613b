package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/conexor/conexor/bench"
	"github.com/conexor/conexor/bench/floor"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

func newBenchCmd(_ *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Load-test a running server"}
	var (
		o          bench.TokenOptions
		target     string
		withFloors bool
	)
	token := &cobra.Command{
		Use:   "token --client-id ID --client-secret SECRET",
		Short: "Drive the token endpoint (client credentials) with N concurrent clients for T seconds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.TokenURL = urls.Endpoint(target, urls.Token)
			res, err := bench.RunToken(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, res.String())
			if withFloors {
				return runFloors(cmd.Context(), out, o, res)
			}
			return nil
		},
	}
	loadFlags(token, &target, &o.ClientID, &o.ClientSecret, &o.Scope, &o.Concurrency, &o.BasicAuth,
		"client ID (required)", "scope to request (default: all of the client's)")
	f := token.Flags()
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to run")
	f.BoolVar(&withFloors, "floor", false, "then drive, with the same load, the floor of a token endpoint (parse, HMAC secret check, ES256 signature; "+
		"without and with one SQLite insert per token) and report the server's throughput as a fraction of it")
	cmd.AddCommand(token, newBenchIntrospectCmd(), newBenchSoakCmd())
	return cmd
}

// newBenchIntrospectCmd is `conexor bench introspect`: the client's own tokens, introspected
// round robin by that client.
func newBenchIntrospectCmd() *cobra.Command {
	var (
		o      bench.IntrospectOptions
		target string
	)
	introspect := &cobra.Command{
		Use:   "introspect --client-id ID --client-secret SECRET",
		Short: "Obtain N access tokens (client credentials), then introspect them round robin with C concurrent clients for T seconds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.TokenURL = urls.Endpoint(target, urls.Token)
			o.IntrospectURL = urls.Endpoint(target, urls.Introspect)
			res, err := bench.RunIntrospect(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.String())
			return nil
		},
	}
	loadFlags(introspect, &target, &o.ClientID, &o.ClientSecret, &o.Scope, &o.Concurrency, &o.BasicAuth,
		"client ID (required; a confidential client: it obtains the tokens and introspects them)",
		"scope of the tokens (default: all of the client's)")
	f := introspect.Flags()
	f.IntVar(&o.Tokens, "tokens", bench.DefaultIntrospectTokens, "access tokens to obtain and introspect round robin")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to run")
	return introspect
}

// newBenchSoakCmd is `conexor bench soak`: the token load of `bench token`, minute after
// minute, with the database size and the server's RSS after each minute, printed as a
// Markdown table as it goes (issue 15: purges under load, storage and memory that stay flat).
func newBenchSoakCmd() *cobra.Command {
	var (
		o      bench.SoakOptions
		target string
	)
	soak := &cobra.Command{
		Use:   "soak --client-id ID --client-secret SECRET",
		Short: "Drive the token endpoint (client credentials) with N concurrent clients for M windows, sampling database size and RSS after each",
		Long: `Drive the token endpoint (client credentials) with N concurrent clients for M windows of
a minute (--window), back to back over the same keep-alive connections. After each window it
prints a Markdown table row: tokens/s, p99 and max latency and errors of that window, the
database size (--database-url: a SQLite file with its -wal and -shm, or the tables of the
Postgres schema its search_path names) and the server's RSS (--pid, Linux), then a summary.
It exits non-zero if any request failed or a sample could not be taken.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.TokenURL = urls.Endpoint(target, urls.Token)
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, bench.SoakHeader)
			o.Progress = func(m bench.SoakMinute) { fmt.Fprintln(out, m.Row()) }
			ms, err := bench.RunSoak(cmd.Context(), o)
			if len(ms) > 0 {
				fmt.Fprintln(out, bench.SoakSummary(ms))
			}
			if err != nil {
				return err
			}
			errs, samples := 0, 0
			for _, m := range ms {
				errs += m.Load.Errors
				if m.SampleError != "" {
					samples++
				}
			}
			if errs > 0 || samples > 0 {
				return fmt.Errorf("soak: %d failed requests, %d windows with a failed sample", errs, samples)
			}
			return nil
		},
	}
	loadFlags(soak, &target, &o.ClientID, &o.ClientSecret, &o.Scope, &o.Concurrency, &o.BasicAuth,
		"client ID (required)", "scope to request (default: all of the client's)")
	f := soak.Flags()
	f.IntVar(&o.Minutes, "minutes", 30, "how many windows to run")
	f.DurationVar(&o.Window, "window", time.Minute, "length of one window (one table row)")
	f.IntVar(&o.PID, "pid", 0, "the server's process ID, whose VmRSS is sampled after each window (Linux; default: not sampled)")
	// Shadows the global --database-url: here it names the database to measure, and
	// nothing is measured unless it is given.
	f.StringVar(&o.DatabaseURL, "database-url", "", "the server's database, whose size is sampled after each window: sqlite://PATH or postgres://... (default: not sampled)")
	return soak
}

// runFloors drives the two floors (bench/floor) in this process with o's load, right after
// the server's run, and prints the server's throughput as a fraction of each: the ratio is
// measured in one run, never compared across days.
func runFloors(ctx context.Context, out io.Writer, o bench.TokenOptions, server bench.Result) error {
	dir, err := os.MkdirTemp("", "conexor-floor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := storage.OpenSQLiteDB(filepath.Join(dir, "floor.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	for _, fl := range []struct {
		name string
		db   *sql.DB
	}{{"floor (parse, HMAC, ES256)", nil}, {"floor + one SQLite insert per token", db}} {
		res, err := runFloor(ctx, o, fl.db)
		if err != nil {
			return fmt.Errorf("%s: %w", fl.name, err)
		}
		fmt.Fprintf(out, "%s:\n%s", fl.name, res.String())
		if res.RPS > 0 {
			fmt.Fprintf(out, "server / floor: %.0f%% of the throughput, p99 %s against %s\n\n",
				100*server.RPS/res.RPS, server.P99.Round(100*time.Microsecond), res.P99.Round(100*time.Microsecond))
		}
	}
	return nil
}

func runFloor(ctx context.Context, o bench.TokenOptions, db *sql.DB) (bench.Result, error) {
	f, err := floor.New(o.ClientID, o.ClientSecret, db)
	if err != nil {
		return bench.Result{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return bench.Result{}, err
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	o.TokenURL = "http://" + ln.Addr().String() + "/token"
	res, err := bench.RunToken(ctx, o)
	if err == nil && res.Errors > 0 {
		err = errors.New("the floor answered errors: " + res.FirstError)
	}
	return res, err
}

// loadFlags adds the flags every load command shares: where the server is, the client that
// drives it, and how many clients at once.
func loadFlags(cmd *cobra.Command, target, clientID, secret, scope *string, conc *int, basic *bool, idUsage, scopeUsage string) {
	f := cmd.Flags()
	f.StringVar(target, "url", "http://localhost:8080", "server base URL")
	f.StringVar(clientID, "client-id", "", idUsage)
	f.StringVar(secret, "client-secret", "", "client secret (required; env CONEXOR_CLIENT_SECRET)")
	f.StringVar(scope, "scope", "", scopeUsage)
	f.IntVar(conc, "concurrency", 64, "concurrent clients")
	f.BoolVar(basic, "basic", false, "authenticate with HTTP Basic instead of the form")
	_ = cmd.MarkFlagRequired("client-id")
	_ = cmd.MarkFlagRequired("client-secret")
}
