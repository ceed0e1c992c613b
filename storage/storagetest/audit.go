package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/conexor/conexor/storage"
)

// testUsageCounters: 64 writers adding to the same hourly counters at once lose no
// increment (count = count + n, not read-modify-write), on either database, and the
// hour is the counter's key whatever the minutes of the time given.
func testUsageCounters(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	hour := e.Clock.Now().UTC().Truncate(time.Hour)
	const writers, rounds = 64, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				errs <- s.AddUsage(ctx, []storage.UsageCount{
					{Hour: hour.Add(time.Duration(w+r) * time.Second), ServerPath: "acme/files", ClientID: "c1", Kind: storage.UsageTokens, Count: 1},
					{Hour: hour, ServerPath: "acme/files", ClientID: fmt.Sprintf("c%d", w%2), Kind: storage.UsageMCPAllowed, Count: 2},
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, "AddUsage", err)
	}
	got, err := s.Usage(ctx, []string{"acme/files"}, hour)
	noErr(t, "Usage", err)
	want := map[string]int64{
		"c0/" + storage.UsageMCPAllowed: writers / 2 * rounds * 2,
		"c1/" + storage.UsageMCPAllowed: writers / 2 * rounds * 2,
		"c1/" + storage.UsageTokens:     writers * rounds,
	}
	if len(got) != len(want) {
		t.Fatalf("Usage = %d counters %+v, want %d", len(got), got, len(want))
	}
	for _, c := range got {
		if !c.Hour.Equal(hour) {
			t.Errorf("counter hour = %v, want %v", c.Hour, hour)
		}
		if k := c.ClientID + "/" + c.Kind; c.Count != want[k] {
			t.Errorf("counter %s = %d, want %d", k, c.Count, want[k])
		}
	}
	other, err := s.Usage(ctx, []string{"acme/other"}, hour)
	noErr(t, "Usage(other)", err)
	if len(other) != 0 {
		t.Errorf("another server's usage = %+v, want none", other)
	}
}

// testAuditEvents: events come back newest first, filters select exactly, an org's page
// includes its members' logins but not others', paging by ID neither repeats nor skips,
// hostile text is stored, and the purge keeps what is inside the retention.
func testAuditEvents(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	member, err := s.CreateUser(ctx, "member@example.com", "hash")
	noErr(t, "CreateUser", err)
	e.Clock.Advance(-4 * time.Hour) // the member joined before the events below
	noErr(t, "AddMember", s.AddMember(ctx, e.Org.ID, member.ID, storage.RoleMember))
	e.Clock.Advance(4 * time.Hour)
	now := e.Clock.Now().UTC()
	events := []storage.AuditEvent{
		{At: now.Add(-3 * time.Hour), ActorKind: "user", ActorID: member.ID, ActorName: "member@example.com", Action: "login", Result: "ok"},
		{At: now.Add(-2 * time.Hour), ActorKind: "user", ActorID: "usr_outsider", ActorName: "out@example.com", Action: "login", Result: "ok"},
		{At: now.Add(-time.Hour), OrgID: e.Org.ID, ServerPath: "acme/files", ActorKind: "user", ActorID: member.ID,
			ActorName: "member@example.com", Action: "client.created", Target: "cl1", Result: "refused", UserAgent: "bad\x00agent\xff"},
		{At: now, OrgID: e.Org.ID, ServerPath: "acme/other", ActorKind: "operator", Action: "server.created", Result: "ok"},
		{At: now, OrgID: "org_else", ActorKind: "operator", ActorName: "Émile Zola", Action: "server.created", Result: "ok"},
	}
	noErr(t, "InsertAuditEvents", s.InsertAuditEvents(ctx, events))

	ids := func(evs []storage.AuditEvent) []int64 {
		out := make([]int64, len(evs))
		for i, ev := range evs {
			out[i] = ev.ID
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    storage.AuditFilter
		want []int64
	}{
		{"all", storage.AuditFilter{}, []int64{events[4].ID, events[3].ID, events[2].ID, events[1].ID, events[0].ID}},
		{"org with its members' logins", storage.AuditFilter{OrgID: e.Org.ID}, []int64{events[3].ID, events[2].ID, events[0].ID}},
		{"server", storage.AuditFilter{OrgID: e.Org.ID, ServerPath: "acme/files"}, []int64{events[2].ID}},
		{"action", storage.AuditFilter{Action: "login"}, []int64{events[1].ID, events[0].ID}},
		{"result", storage.AuditFilter{Result: "refused"}, []int64{events[2].ID}},
		{"actor by name prefix", storage.AuditFilter{Actor: "MEMBER@"}, []int64{events[2].ID, events[0].ID}},
		{"actor by id", storage.AuditFilter{Actor: member.ID}, []int64{events[2].ID, events[0].ID}},
		{"actor LIKE wildcards are literal", storage.AuditFilter{Actor: "%"}, []int64{}},
		{"actor name with capitals beyond ASCII, as typed", storage.AuditFilter{Actor: "Émile"}, []int64{events[4].ID}},
		{"time range", storage.AuditFilter{Since: now.Add(-150 * time.Minute), Until: now}, []int64{events[2].ID, events[1].ID}},
		{"page back", storage.AuditFilter{BeforeID: events[2].ID, Limit: 1}, []int64{events[1].ID}},
		{"page forward", storage.AuditFilter{AfterID: events[2].ID}, []int64{events[3].ID, events[4].ID}},
		{"hostile filter", storage.AuditFilter{OrgID: "x\x00"}, []int64{}},
	} {
		got, err := s.AuditEvents(ctx, tc.f)
		noErr(t, "AuditEvents("+tc.name+")", err)
		if fmt.Sprint(ids(got)) != fmt.Sprint(tc.want) {
			t.Errorf("%s: ids = %v, want %v", tc.name, ids(got), tc.want)
		}
	}
	got, err := s.AuditEvents(ctx, storage.AuditFilter{Result: "refused"})
	noErr(t, "AuditEvents", err)
	if len(got) != 1 || got[0].UserAgent != "badagent\uFFFD" || got[0].Target != "cl1" {
		t.Errorf("stored event = %+v, want the user agent cleaned and the target kept", got)
	}

	noErr(t, "AddUsage", s.AddUsage(ctx, []storage.UsageCount{
		{Hour: now.Add(-48 * time.Hour), ServerPath: "acme/files", ClientID: "c", Kind: storage.UsageTokens, Count: 1},
		{Hour: now, ServerPath: "acme/files", ClientID: "c", Kind: storage.UsageTokens, Count: 1},
	}))
	n, err := s.PurgeAudit(ctx, now.Add(-90*time.Minute))
	noErr(t, "PurgeAudit", err)
	if n != 3 { // two logins and the old counter
		t.Errorf("PurgeAudit removed %d rows, want 3", n)
	}
	left, err := s.AuditEvents(ctx, storage.AuditFilter{})
	noErr(t, "AuditEvents", err)
	if len(left) != 3 {
		t.Errorf("after purge %d events, want 3", len(left))
	}
	usage, err := s.Usage(ctx, []string{"acme/files"}, now.Add(-72*time.Hour))
	noErr(t, "Usage", err)
	if len(usage) != 1 {
		t.Errorf("after purge %d counters, want 1", len(usage))
	}
}

// testAuditMembersSinceJoining: an org's activity shows a member's org-less events (logins)
// only from when they joined: adding someone's email to an org does not reveal their
// earlier logins and addresses to its admins.
func testAuditMembersSinceJoining(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	u, err := s.CreateUser(ctx, "later@example.com", "hash")
	noErr(t, "CreateUser", err)
	before := storage.AuditEvent{At: e.Clock.Now().Add(-time.Hour), ActorKind: "user", ActorID: u.ID, Action: "login", Result: "ok", IP: "198.51.100.1"}
	noErr(t, "InsertAuditEvents", s.InsertAuditEvents(ctx, []storage.AuditEvent{before}))
	e.Clock.Advance(time.Second)
	noErr(t, "AddMember", s.AddMember(ctx, e.Org.ID, u.ID, storage.RoleMember))
	e.Clock.Advance(time.Second)
	after := []storage.AuditEvent{{At: e.Clock.Now(), ActorKind: "user", ActorID: u.ID, Action: "login", Result: "ok"}}
	noErr(t, "InsertAuditEvents", s.InsertAuditEvents(ctx, after))
	got, err := s.AuditEvents(ctx, storage.AuditFilter{OrgID: e.Org.ID})
	noErr(t, "AuditEvents", err)
	if len(got) != 1 || got[0].ID != after[0].ID {
		t.Errorf("org events = %+v, want only the login after joining (id %d)", got, after[0].ID)
	}
}
