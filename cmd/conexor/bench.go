package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/conexor/conexor/bench"
	"github.com/conexor/conexor/internal/urls"
)

func newBenchCmd(_ *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Load-test a running server"}
	var o bench.TokenOptions
	var target string
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
			fmt.Fprintln(cmd.OutOrStdout(), res.String())
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
	_ = token.MarkFlagRequired("client-id")
	_ = token.MarkFlagRequired("client-secret")
	cmd.AddCommand(token)
	return cmd
}
