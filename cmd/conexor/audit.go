package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

// auditPollInterval is how often `audit tail --follow` asks for new events.
var auditPollInterval = time.Second

// auditLine is one event as `audit tail --json` prints it: one object per line, with these
// field names, stable for scripts.
type auditLine struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	OrgID      string    `json:"org_id"`
	Server     string    `json:"server"`
	ActorKind  string    `json:"actor_kind"`
	ActorID    string    `json:"actor_id"`
	ActorName  string    `json:"actor_name"`
	Action     string    `json:"action"`
	Target     string    `json:"target"`
	TargetName string    `json:"target_name"`
	Result     string    `json:"result"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Detail     string    `json:"detail"`
}

// newAuditCmd is `conexor audit tail`: the audit log on the server's machine, as the
// activity page shows it to an org's admins, for every org.
func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read the audit log"}
	var (
		org, server, action string
		since               time.Duration
		n                   int
		asJSON, follow      bool
	)
	tail := &cobra.Command{
		Use:   "tail [--org ORG] [--server ORG/SERVER] [--action A] [--since 1h] [-n 50] [--json] [--follow]",
		Short: "Print the latest audit events, oldest first; --follow keeps printing new ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f storage.AuditFilter
			if server != "" {
				if _, _, err := urls.SplitServerPath(server); err != nil {
					return fmt.Errorf("--server: %w", err)
				}
				f.ServerPath = server
			}
			if action != "" && !slices.Contains(audit.Actions, action) {
				return fmt.Errorf("--action %q is not an audit action (one of: %s)", action, strings.Join(audit.Actions, ", "))
			}
			f.Action = action
			if n < 1 || n > 1000 {
				return fmt.Errorf("-n must be 1 to 1000, not %d", n)
			}
			if since < 0 {
				return fmt.Errorf("--since must be a positive duration such as 1h or 30m")
			}
			if since > 0 {
				f.Since = time.Now().Add(-since)
			}
			e, err := g.open(cmd, false)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			if org != "" {
				o, err := e.store.OrgBySlug(ctx, org)
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no org %q", org)
				}
				if err != nil {
					return err
				}
				f.OrgID = o.ID
			}
			f.Limit = n
			events, err := e.store.AuditEvents(ctx, f)
			if err != nil {
				return err
			}
			slices.Reverse(events) // newest first from the store; oldest first on the terminal
			out := cmd.OutOrStdout()
			var last int64
			for _, ev := range events {
				if err := printAuditEvent(out, ev, asJSON); err != nil {
					return err
				}
				last = max(last, ev.ID)
			}
			if !follow {
				return nil
			}
			if last == 0 {
				// Nothing matched yet: follow from the newest event of all, whatever it is.
				newest, err := e.store.AuditEvents(ctx, storage.AuditFilter{Limit: 1})
				if err != nil {
					return err
				}
				if len(newest) > 0 {
					last = newest[0].ID
				}
			}
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return followAudit(ctx, e.store, f, last, out, asJSON)
		},
	}
	fs := tail.Flags()
	fs.StringVar(&org, "org", "", "only the events of this org (slug)")
	fs.StringVar(&server, "server", "", "only the events of this server (ORG/SERVER)")
	fs.StringVar(&action, "action", "", "only this action (e.g. client.revoked, login.failed)")
	fs.DurationVar(&since, "since", 0, "only events of the last duration (e.g. 1h, 30m); default: no limit")
	fs.IntVarP(&n, "lines", "n", 50, "how many of the latest events to print")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	fs.BoolVar(&follow, "follow", false, "keep printing new events until interrupted")
	commandLineOnly(fs, "org", "server", "action", "since", "lines", "json", "follow")
	cmd.AddCommand(tail)
	return cmd
}

// followAudit prints the events f selects that come after the event with ID after, polling
// until ctx ends (an interrupt), which is a normal end.
//
// IDs are handed out when an insert starts, not when it commits: on Postgres, a batch of
// another replica (or a slower transaction) can commit below an ID already printed. Each
// poll therefore reads again from followLookback IDs behind the newest printed (never below
// where following began) and skips what it printed before.
func followAudit(ctx context.Context, store *storage.Store, f storage.AuditFilter, after int64, out io.Writer, asJSON bool) error {
	f.Since = time.Time{} // what is new is new, whenever --since began
	f.Limit = 1000
	floor := after // printed by the tail before following, or older than what it asked for
	printed := map[int64]bool{}
	t := time.NewTicker(auditPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		f.AfterID = max(after-followLookback, floor)
		for {
			if f.AfterID <= 0 {
				f.AfterID = -1 // oldest first from the start (0 would mean newest first)
			}
			events, err := store.AuditEvents(ctx, f)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			for _, ev := range events {
				f.AfterID = ev.ID
				if printed[ev.ID] {
					continue
				}
				if err := printAuditEvent(out, ev, asJSON); err != nil {
					return err
				}
				printed[ev.ID] = true
				after = max(after, ev.ID)
			}
			if len(events) < f.Limit {
				break
			}
		}
		for id := range printed {
			if id <= after-followLookback {
				delete(printed, id)
			}
		}
	}
}

// followLookback is how many IDs behind the newest printed event a poll reads again.
const followLookback = 1000

func printAuditEvent(out io.Writer, e storage.AuditEvent, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(auditLine{
			ID: e.ID, Time: e.At.UTC(), OrgID: e.OrgID, Server: e.ServerPath,
			ActorKind: e.ActorKind, ActorID: e.ActorID, ActorName: e.ActorName,
			Action: e.Action, Target: e.Target, TargetName: e.TargetName, Result: e.Result,
			IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail,
		})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	actor := e.ActorKind
	if who := firstOf(e.ActorName, e.ActorID); who != "" {
		actor += ":" + who
	}
	target := firstOf(e.Target, "-")
	if e.TargetName != "" && e.TargetName != e.Target {
		target += " (" + e.TargetName + ")"
	}
	if e.ServerPath != "" {
		target += " on " + e.ServerPath
	}
	_, err := fmt.Fprintf(out, "%s  %s  %s  %s  %s  %s\n", e.At.UTC().Format(time.RFC3339), oneLine(actor), e.Action,
		oneLine(target), e.Result, firstOf(e.IP, "-"))
	return err
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// oneLine keeps a recorded value (a client's chosen name) from breaking the one-event-a-line
// output or writing control sequences to the terminal.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
