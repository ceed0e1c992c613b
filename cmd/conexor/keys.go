package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newKeysCmd is `conexor keys rotate`.
func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage token signing keys"}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Create a new signing key; old keys stay published until their tokens expire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer e.Close()
			kid, err := e.p.RotateSigningKey(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new signing key %s (%s): published now, signing new tokens after %s; old keys stay published until their tokens expire\n",
				kid, e.cfg.SigningAlg, e.cfg.KeyPublishDelay)
			return nil
		},
	}
	cmd.AddCommand(rotate)
	return cmd
}
