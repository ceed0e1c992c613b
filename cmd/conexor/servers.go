package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

// newServersCmd is `conexor servers create|list`.
func newServersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "servers", Short: "Manage MCP servers"}
	var name, upstream, description string
	create := &cobra.Command{
		Use:   "create ORG/SERVER --name NAME [--upstream URL]",
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
			if upstream != "" {
				if u, err := url.Parse(upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return fmt.Errorf("--upstream %q must be an http(s) URL of a Streamable HTTP MCP endpoint", upstream)
				}
			}
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			srv := &storage.Server{Slug: slug, Name: name, Description: description, Upstream: upstream, Enabled: true}
			err = e.store.InTx(ctx, func(ctx context.Context) error {
				org, err := e.store.EnsureOrg(ctx, orgSlug, orgSlug)
				if err != nil {
					return err
				}
				srv.OrgID, srv.OrgSlug = org.ID, org.Slug
				return e.store.CreateServer(ctx, srv)
			})
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
	cmd.AddCommand(create, list)
	return cmd
}
