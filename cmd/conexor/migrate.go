package main

import (
	"github.com/spf13/cobra"

	"github.com/conexor/conexor/internal/app"
)

// newMigrateCmd is `conexor migrate`: create or update the tables and nothing else (no demo
// data: the first `serve` seeds), for deployments that migrate once before rolling out
// replicas started with `serve --no-migrate`. Safe to run while replicas start: migrations
// take the same startup lock as serve.
func newMigrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the database tables (and nothing else), then exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(cmd)
			if err != nil {
				return err
			}
			res, err := app.Migrate(cmd.Context(), &cfg, g.logger(cfg))
			if err != nil {
				return err
			}
			if len(res.Created) == 0 {
				cmd.Printf("database migrated: %s, schema already up to date\n", res.Dialect)
				return nil
			}
			cmd.Printf("database migrated: %s, created or added %d:\n", res.Dialect, len(res.Created))
			for _, c := range res.Created {
				cmd.Println("  " + c)
			}
			return nil
		},
	}
}
