package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/conexor/conexor/accounts"
	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/storage"
)

// newUsersCmd is `conexor users create|set-password|list|remove`; a password only ever comes
// from standard input.
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
	cmd.AddCommand(create, newUsersSetPasswordCmd(g), newUsersListCmd(g), newUsersRemoveCmd(g))
	return cmd
}

// accountsOf is the accounts service on the command's database, recording as the operator.
func accountsOf(e *env) *accounts.Service {
	s := &accounts.Service{Store: e.store, Audit: e.audit, Log: e.log}
	if e.p != nil {
		s.Grants = e.p
	}
	return s
}

// newUsersSetPasswordCmd is `conexor users set-password`: the recovery of a lost password
// (the seeded admin's included). The password comes from standard input only.
func newUsersSetPasswordCmd(g *globals) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   "set-password --email EMAIL < password",
		Short: "Set a user's password (read from standard input, one line) and end their sessions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			if msg := accounts.CheckPassword(pw); msg != "" {
				return errors.New("the password is not acceptable: " + msg)
			}
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			u, err := accountsOf(e).SetPasswordByEmail(cmd.Context(), email, pw)
			if errors.Is(err, accounts.ErrNoUser) {
				return fmt.Errorf("no user %s", email)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s set; their sessions were ended\n", u.Email)
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "the user's email address (required)")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

// memberJSON is one member in `users list --json`.
type memberJSON struct {
	Email       string     `json:"email"`
	Role        string     `json:"role"`
	LastLogin   *time.Time `json:"last_login"`
	MemberSince time.Time  `json:"member_since"`
	PasswordSet bool       `json:"password_set"`
}

// newUsersListCmd is `conexor users list --org ORG`.
func newUsersListCmd(g *globals) *cobra.Command {
	var org string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --org ORG [--json]",
		Short: "List the members of an org with their role and last login",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			o, err := orgOf(cmd.Context(), e, org)
			if err != nil {
				return err
			}
			ms, err := e.store.MembersOfOrg(cmd.Context(), o.ID)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				list := make([]memberJSON, len(ms))
				for i, m := range ms {
					list[i] = memberJSON{Email: m.Email, Role: m.Role, LastLogin: m.LastLoginAt, MemberSince: m.MemberSince.UTC(), PasswordSet: m.PasswordSet}
					if m.LastLoginAt != nil {
						t := m.LastLoginAt.UTC()
						list[i].LastLogin = &t
					}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EMAIL\tROLE\tLAST LOGIN")
			for _, m := range ms {
				last := "never"
				if m.LastLoginAt != nil {
					last = m.LastLoginAt.UTC().Format("2006-01-02 15:04 UTC")
				}
				if !m.PasswordSet {
					last += " (no password set yet)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Email, m.Role, last)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org slug (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

// newUsersRemoveCmd is `conexor users remove --email EMAIL --org ORG`.
func newUsersRemoveCmd(g *globals) *cobra.Command {
	var email, org string
	cmd := &cobra.Command{
		Use:   "remove --email EMAIL --org ORG",
		Short: "Remove a member from an org: their sessions end and their grants on its servers are revoked",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			o, err := orgOf(ctx, e, org)
			if err != nil {
				return err
			}
			u, err := e.store.UserByEmail(ctx, email)
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no user %s", email)
			}
			if err != nil {
				return err
			}
			res, err := accountsOf(e).RemoveMember(ctx, o, u.ID)
			switch {
			case errors.Is(err, accounts.ErrLastAdmin):
				return fmt.Errorf("%s is the only admin of %s: make another member an admin first (nothing was changed)", u.Email, org)
			case errors.Is(err, accounts.ErrNotMember):
				return fmt.Errorf("%s is not a member of %s", u.Email, org)
			case err != nil:
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s from %s; %d sessions ended, %d grants revoked\n", u.Email, org, res.Sessions, res.Grants)
			if res.GrantsErr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the grants of %s could not be revoked: %v\n", u.Email, res.GrantsErr)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "the member's email address (required)")
	cmd.Flags().StringVar(&org, "org", "", "org slug (required)")
	_ = cmd.MarkFlagRequired("email")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

// orgOf finds the org with slug, or says there is none.
func orgOf(ctx context.Context, e *env, slug string) (*storage.Org, error) {
	o, err := e.store.OrgBySlug(ctx, slug)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no org %q", slug)
	}
	return o, err
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
