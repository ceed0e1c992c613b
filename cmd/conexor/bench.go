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
	f := token.Flags()
	f.StringVar(&target, "url", "http://localhost:8080", "server base URL")
	f.StringVar(&o.ClientID, "client-id", "", "client ID (required)")
	f.StringVar(&o.ClientSecret, "client-secret", "", "client secret (required; env CONEXOR_CLIENT_SECRET)")
	f.StringVar(&o.Scope, "scope", "", "scope to request (default: all of the client's)")
	f.IntVar(&o.Concurrency, "concurrency", 64, "concurrent clients")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to run")
	f.BoolVar(&o.BasicAuth, "basic", false, "authenticate with HTTP Basic instead of the form")
	f.BoolVar(&withFloors, "floor", false, "then drive, with the same load, the floor of a token endpoint (parse, HMAC secret check, ES256 signature; "+
		"without and with one SQLite insert per token) and report the server's throughput as a fraction of it")
	_ = token.MarkFlagRequired("client-id")
	_ = token.MarkFlagRequired("client-secret")
	cmd.AddCommand(token, newBenchIntrospectCmd())
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
	f := introspect.Flags()
	f.StringVar(&target, "url", "http://localhost:8080", "server base URL")
	f.StringVar(&o.ClientID, "client-id", "", "client ID (required; a confidential client: it obtains the tokens and introspects them)")
	f.StringVar(&o.ClientSecret, "client-secret", "", "client secret (required; env CONEXOR_CLIENT_SECRET)")
	f.StringVar(&o.Scope, "scope", "", "scope of the tokens (default: all of the client's)")
	f.IntVar(&o.Tokens, "tokens", bench.DefaultIntrospectTokens, "access tokens to obtain and introspect round robin")
	f.IntVar(&o.Concurrency, "concurrency", 64, "concurrent clients")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to run")
	f.BoolVar(&o.BasicAuth, "basic", false, "authenticate with HTTP Basic instead of the form")
	_ = introspect.MarkFlagRequired("client-id")
	_ = introspect.MarkFlagRequired("client-secret")
	return introspect
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
