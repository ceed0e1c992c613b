package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// newServersCmd is `conexor servers create|update|list`.
func newServersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "servers", Short: "Manage MCP servers"}
	var name, upstream, description, identityHeader string
	create := &cobra.Command{
		Use:   "create ORG/SERVER --name NAME [--upstream URL] [--identity-header NAME]",
		Short: "Create an MCP server (and its org if missing)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			orgSlug, slug, err := urls.SplitServerPath(args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(name) == "" {
				return errors.New("--name is required")
			}
			e, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer e.Close()
			srv, err := e.p.CreateServer(cmd.Context(), provider.ServerSpec{
				Org: orgSlug, Slug: slug, Name: name, Description: description, Upstream: upstream, IdentityHeader: identityHeader})
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("server %s already exists", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s: %s\n", srv.Path(), urls.Resource(e.cfg.Issuer, orgSlug, slug))
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "display name (required)")
	create.Flags().StringVar(&upstream, "upstream", "", "proxy MCP traffic to this Streamable HTTP endpoint")
	create.Flags().StringVar(&description, "description", "", "description shown to users")
	create.Flags().StringVar(&identityHeader, "identity-header", "", identityHeaderUsage)

	var enabled bool
	update := &cobra.Command{
		Use:   "update ORG/SERVER [--name NAME] [--description TEXT] [--upstream URL] [--enabled=true|false] [--identity-header NAME]",
		Short: "Change an MCP server; --upstream \"\" switches it back to the built-in demo",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var change provider.ServerChange
			flags := cmd.Flags()
			if flags.Changed("name") {
				change.Name = &name
			}
			if flags.Changed("description") {
				change.Description = &description
			}
			if flags.Changed("upstream") {
				change.Upstream = &upstream
			}
			if flags.Changed("enabled") {
				change.Enabled = &enabled
			}
			if flags.Changed("identity-header") {
				change.IdentityHeader = &identityHeader
			}
			fields := change.Fields()
			if len(fields) == 0 {
				return errors.New("nothing to change: pass --name, --description, --upstream, --enabled or --identity-header")
			}
			e, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer e.Close()
			srv, err := e.server(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if srv, err = e.p.UpdateServer(cmd.Context(), srv.OrgSlug, srv.Slug, change); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "updated %s: %s\n", srv.Path(), strings.Join(fields, ", "))
			return nil
		},
	}
	update.Flags().StringVar(&name, "name", "", "new display name")
	update.Flags().StringVar(&description, "description", "", "new description")
	update.Flags().StringVar(&upstream, "upstream", "", `proxy to this Streamable HTTP endpoint ("" for the built-in demo)`)
	update.Flags().BoolVar(&enabled, "enabled", true, "whether the server answers MCP requests (--enabled=false refuses them)")
	update.Flags().StringVar(&identityHeader, "identity-header", "", identityHeaderUsage+` ("" stops sending it)`)
	commandLineOnly(update.Flags(), "name", "description", "upstream", "enabled", "identity-header")

	list := &cobra.Command{
		Use:   "list",
		Short: "List MCP servers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			servers, err := e.store.ListServers(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVER\tNAME\tENABLED\tUPSTREAM\tURL")
			for _, s := range servers {
				up := s.Upstream
				if up == "" {
					up = "(built-in demo)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\n", s.Path(), s.Name, s.Enabled, up, urls.Resource(e.cfg.Issuer, s.OrgSlug, s.Slug))
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(create, update, list)
	return cmd
}

// identityHeaderUsage describes --identity-header of servers create and update.
const identityHeaderUsage = "send the upstream a signed identity assertion (a JWT naming the caller) in this header, e.g. X-Conexor-Identity"
