package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/storage"
)

// newUsersCmd is `conexor users create`; the password only ever comes from standard input.
func newUsersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users"}
	var email, org, role string
	var fromStdin bool
	create := &cobra.Command{
		Use:   "create --email EMAIL --org ORG [--role admin|member] --password-stdin",
		Short: "Create a user (or add an existing one to an org)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !fromStdin {
				return errors.New("pass the password on standard input with --password-stdin (never as an argument)")
			}
			if role != storage.RoleAdmin && role != storage.RoleMember {
				return fmt.Errorf("--role must be admin or member, not %q", role)
			}
			if !strings.Contains(email, "@") || len(email) > 320 {
				return fmt.Errorf("--email %q is not an email address", email)
			}
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			hash, err := password.Hash(pw)
			if err != nil {
				return err
			}
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			return e.store.InTx(ctx, func(ctx context.Context) error {
				o, err := e.store.OrgBySlug(ctx, org)
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no org %q (create a server in it first: conexor servers create %s/NAME --name ...)", org, org)
				}
				if err != nil {
					return err
				}
				// An existing user (of another org) is added to this one; their password
				// stays as it is.
				if u, err := e.store.UserByEmail(ctx, email); err == nil {
					if _, err := e.store.Membership(ctx, o.ID, u.ID); err == nil {
						return fmt.Errorf("a user %s already exists and is a member of %s", u.Email, org)
					} else if !errors.Is(err, storage.ErrNotFound) {
						return err
					}
					if err := e.store.AddMember(ctx, o.ID, u.ID, role); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "added existing user %s to %s as %s (their password is unchanged)\n", u.Email, org, role)
					return nil
				} else if !errors.Is(err, storage.ErrNotFound) {
					return err
				}
				u, err := e.store.CreateUser(ctx, email, hash)
				if errors.Is(err, storage.ErrConflict) {
					return fmt.Errorf("a user %s already exists", email)
				}
				if err != nil {
					return err
				}
				if err := e.store.AddMember(ctx, o.ID, u.ID, role); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created user %s (%s of %s)\n", u.Email, role, org)
				return nil
			})
		},
	}
	create.Flags().StringVar(&email, "email", "", "email address (required)")
	create.Flags().StringVar(&org, "org", "", "org slug (required)")
	create.Flags().StringVar(&role, "role", storage.RoleMember, "admin or member")
	create.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input")
	_ = create.MarkFlagRequired("email")
	_ = create.MarkFlagRequired("org")
	cmd.AddCommand(create)
	return cmd
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < password.MinLength {
		return "", fmt.Errorf("the password must be at least %d characters", password.MinLength)
	}
	return pw, nil
}
