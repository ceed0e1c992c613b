package storage

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AuditEvent is one persisted audit event: who did what to what, from where, with which
// result. The audit package builds and writes them; the activity page and `conexor audit
// tail` read them.
type AuditEvent struct {
	ID int64     `gorm:"primaryKey;autoIncrement"`
	At time.Time `gorm:"index;not null"`
	// OrgID is the org the event belongs to; empty for events of no one org (a login, a
	// registration refused before any server was named, a key rotation).
	OrgID string `gorm:"index:idx_audit_org_id,priority:1;size:40;not null;default:''"`
	// ServerPath is "org/server" when the event concerns one server.
	ServerPath string `gorm:"size:130;not null;default:''"`
	// ActorKind is user, client, operator (the CLI), system or anonymous; ActorID the user
	// or client ID; ActorName an email or a client name, as it was at the time.
	ActorKind string `gorm:"size:16;not null"`
	ActorID   string `gorm:"index;size:2100;not null;default:''"`
	ActorName string `gorm:"size:320;not null;default:''"`
	Action    string `gorm:"index;size:48;not null"`
	// Target is the ID of what the action was done to (a client, a user, a server, a
	// refresh-token family); TargetName its readable name.
	Target     string `gorm:"size:2100;not null;default:''"`
	TargetName string `gorm:"size:320;not null;default:''"`
	IP         string `gorm:"size:64;not null;default:''"`
	UserAgent  string `gorm:"size:512;not null;default:''"`
	// Result is ok, refused or failed.
	Result string `gorm:"size:16;not null"`
	Detail string `gorm:"size:1000;not null;default:''"`
}

// UsageCount is one hourly counter: how many of Kind happened in Hour for a client of the
// server at ServerPath. Counters are added to, never rewritten, so replicas can each add
// their own share.
type UsageCount struct {
	Hour       time.Time `gorm:"primaryKey;autoIncrement:false"`
	ServerPath string    `gorm:"primaryKey;size:130"`
	ClientID   string    `gorm:"primaryKey;size:2100"`
	Kind       string    `gorm:"primaryKey;size:16"`
	Count      int64     `gorm:"not null"`
}

// TableName keeps the table's name short and plain.
func (UsageCount) TableName() string { return "usage_counters" }

// Kinds of usage counters.
const (
	UsageTokens     = "tokens"      // access tokens issued
	UsageMCPAllowed = "mcp_allowed" // MCP requests let through the gate
	UsageMCPRefused = "mcp_refused" // MCP requests refused at the gate
)

// InsertAuditEvents writes events in one statement; their IDs are set on return.
func (s *Store) InsertAuditEvents(ctx context.Context, events []AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		e := &events[i]
		e.At = e.At.UTC()
		for _, f := range []*string{&e.OrgID, &e.ServerPath, &e.ActorKind, &e.ActorID, &e.ActorName,
			&e.Action, &e.Target, &e.TargetName, &e.IP, &e.UserAgent, &e.Result, &e.Detail} {
			*f = textOnly(*f)
		}
	}
	return s.conn(ctx).CreateInBatches(events, 200).Error
}

// AddUsage adds each count to its hourly counter, creating the counter when it is the
// hour's first, in one transaction. Increments are relative (count = count + n), so
// concurrent writers, in this process or in other replicas, never lose one another's.
func (s *Store) AddUsage(ctx context.Context, counts []UsageCount) error {
	if len(counts) == 0 {
		return nil
	}
	for i := range counts {
		counts[i].Hour = counts[i].Hour.UTC().Truncate(time.Hour)
		counts[i].ServerPath = textOnly(counts[i].ServerPath)
		counts[i].ClientID = textOnly(counts[i].ClientID)
	}
	return s.conn(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "hour"}, {Name: "server_path"}, {Name: "client_id"}, {Name: "kind"}},
			DoUpdates: clause.Set{{Column: clause.Column{Name: "count"}, Value: gorm.Expr("usage_counters.count + excluded.count")}},
		}).CreateInBatches(counts, 200).Error
	})
}

// Usage returns the hourly counters of the servers at serverPaths from since on, ordered
// by hour.
func (s *Store) Usage(ctx context.Context, serverPaths []string, since time.Time) ([]UsageCount, error) {
	if len(serverPaths) == 0 || !keyable(serverPaths...) {
		return nil, nil
	}
	var out []UsageCount
	err := s.conn(ctx).Where("server_path IN ? AND hour >= ?", serverPaths, since.UTC().Truncate(time.Hour)).
		Order("hour, server_path, client_id, kind").Find(&out).Error
	return out, err
}

// AuditFilter selects audit events. Zero fields select everything.
type AuditFilter struct {
	// OrgID selects the org's events, and the org-less events (logins, logouts) of the
	// org's current members since they joined it.
	OrgID string
	// ServerPath, Action and Result match exactly; Actor matches the actor's ID exactly or
	// the start of the actor's name (case-insensitive).
	ServerPath string
	Action     string
	Result     string
	Actor      string
	// Since (inclusive) and Until (exclusive) bound the time.
	Since, Until time.Time
	// BeforeID pages backwards: only events older than this one. AfterID pages forwards
	// (audit tail --follow): only newer ones, oldest first.
	BeforeID, AfterID int64
	// Limit caps the rows; 0 means 100, and at most 1000 are returned.
	Limit int
}

// AuditEvents returns the events f selects, newest first (oldest first with AfterID).
func (s *Store) AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	if !keyable(f.OrgID, f.ServerPath, f.Action, f.Result, f.Actor) {
		return nil, nil
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	q := s.conn(ctx).Model(&AuditEvent{})
	if f.OrgID != "" {
		// A member's org-less events count only from when they joined: adding someone's email
		// to an org must not show its admins that person's earlier logins and addresses.
		q = q.Where("org_id = ? OR (org_id = '' AND actor_kind = 'user' AND EXISTS (?))", f.OrgID,
			s.conn(ctx).Model(&Membership{}).Select("1").
				Where("memberships.org_id = ? AND memberships.user_id = audit_events.actor_id AND memberships.created_at <= audit_events.at", f.OrgID))
	}
	if f.ServerPath != "" {
		q = q.Where("server_path = ?", f.ServerPath)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Result != "" {
		q = q.Where("result = ?", f.Result)
	}
	if f.Actor != "" {
		// LOWER on both sides is case-insensitive for ASCII on SQLite (its LOWER knows no
		// other letters) and for all of Unicode on Postgres; the name as typed matches on both.
		q = q.Where("actor_id = ? OR LOWER(actor_name) LIKE ? ESCAPE '\\' OR actor_name LIKE ? ESCAPE '\\'",
			f.Actor, likePrefix(strings.ToLower(f.Actor)), likePrefix(f.Actor))
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", f.Until.UTC())
	}
	order := "id DESC"
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	if f.AfterID > 0 {
		q = q.Where("id > ?", f.AfterID)
		order = "id"
	}
	var out []AuditEvent
	err := q.Order(order).Limit(limit).Find(&out).Error
	return out, err
}

// PurgeAudit deletes audit events and usage counters from before the cutoff (the
// audit_retention setting) and returns how many rows went.
func (s *Store) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, p := range []purgeTarget{{"audit_events", "at < ?"}, {"usage_counters", "hour < ?"}} {
		n, err := s.deleteInBatches(ctx, p.table, p.where, before.UTC())
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// likePrefix is a LIKE pattern matching strings that start with p.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// textOnly makes a value recorded as seen (a user agent, a refused client's name) storable:
// Postgres refuses text with NUL bytes or invalid UTF-8.
func textOnly(s string) string {
	if keyable(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
