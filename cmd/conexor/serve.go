package main

import (
	"fmt"
	"net"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/idlemem"
	"github.com/conexor/conexor/internal/urls"
)

// releaseInterval is how often serve checks whether a burst of requests has ended, so its
// heap is handed back within two intervals of the burst's last collection.
const releaseInterval = 3 * time.Second

func newServeCmd(g *globals) *cobra.Command {
	var pprofAddr string
	var noMigrate bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server and MCP gateway (migrates and seeds an empty database)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(cmd)
			if err != nil {
				return err
			}
			log := g.logger(cfg)
			ctx := cmd.Context()
			// Take the address before touching the database: a busy port must not cost a
			// first start its demo seed, whose banner (admin password, client secret) is
			// printed only once.
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (set another address with --addr or CONEXOR_ADDR)", cfg.Addr, err)
			}
			if g.loaded.IssuerDerived { // the port actually taken, for --addr HOST:0
				cfg.Issuer = config.IssuerForAddr(ln.Addr().String())
			}
			if g.loaded.File != "" {
				log.Info("read config file", "file", g.loaded.File)
			}
			a, err := app.New(ctx, cfg, log, app.Options{Out: g.out, NoMigrate: noMigrate})
			if err != nil {
				ln.Close()
				return err
			}
			defer a.Close()
			if pprofAddr != "" {
				go servePprof(ctx, pprofAddr, log)
			}
			log.Info("conexor listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "database", a.Store.Dialect(),
				"metadata", urls.Endpoint(cfg.Issuer, urls.ASMetadata))
			// Starting (migrations, seeding, the demo's dataset, templates) leaves about 18 MB
			// of garbage and idle heap that the runtime would keep for minutes: about a third
			// of an idle server's memory. Hand it back once, now.
			debug.FreeOSMemory()
			// And again each time a burst of requests ends: after a load the heap it grew
			// to would stay for minutes (internal/idlemem).
			go idlemem.ReleaseAfterBursts(ctx, releaseInterval)
			return a.Serve(ctx, ln)
		},
	}
	addSettingFlags(cmd.Flags(), "serve")
	cmd.Flags().StringVar(&pprofAddr, "pprof-addr", "", "serve Go profiling on this address, e.g. 127.0.0.1:6060 (off by default; env CONEXOR_PPROF_ADDR)")
	cmd.Flags().BoolVar(&noMigrate, "no-migrate", false, "do not create or update the database tables; fail at start unless `conexor migrate` ran (deployments that migrate before the rollout)")
	return cmd
}
