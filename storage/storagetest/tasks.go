package storagetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/conexor/conexor/storage"
)

// testGatewayTasks pins the task records of the MCP gateway (RecordTask, GatewayTasks,
// PurgeTasks): a round trip of every field; a task ID another caller holds is not taken
// over until it expires, while its own caller may record it again; the same ID on two
// servers is two tasks; IDs of any length and hostile IDs; a concurrent race for one ID
// has exactly one winner; the purge deletes exactly the rows expired before its cutoff.
func testGatewayTasks(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	now := e.Clock.Now().UTC().Truncate(time.Microsecond)
	get := func(server string, ids ...string) []storage.GatewayTask {
		t.Helper()
		rows, err := s.GatewayTasks(ctx, server, ids)
		noErr(t, "GatewayTasks", err)
		return rows
	}
	record := func(task storage.GatewayTask) bool {
		t.Helper()
		ok, err := s.RecordTask(ctx, &task)
		noErr(t, "RecordTask("+task.TaskID+")", err)
		return ok
	}
	alice := storage.GatewayTask{ServerID: e.Server.ID, TaskID: "task-1", ClientID: "client-a", Subject: "usr_alice",
		Method: "tools/call", Name: "slow_report", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if !record(alice) {
		t.Fatal("RecordTask of a new task = false")
	}
	want := alice
	want.TaskKey = get(e.Server.ID, "task-1")[0].TaskKey
	if diff := cmp.Diff([]storage.GatewayTask{want}, get(e.Server.ID, "task-1", "no-such-task"),
		cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if len(want.TaskKey) != 64 || strings.Contains(want.TaskKey, "task-1") {
		t.Errorf("TaskKey %q is not a hex SHA-256", want.TaskKey)
	}

	// Another caller (another client; the same client for another user) cannot take it.
	for _, thief := range []storage.GatewayTask{
		{ClientID: "client-b", Subject: "usr_alice"},
		{ClientID: "client-a", Subject: "usr_bob"},
	} {
		thief.ServerID, thief.TaskID, thief.Method, thief.Name = e.Server.ID, "task-1", "tools/call", "other_tool"
		thief.ExpiresAt = now.Add(2 * time.Hour)
		if record(thief) {
			t.Errorf("RecordTask by %s/%s of alice's live task = true", thief.ClientID, thief.Subject)
		}
	}
	if got := get(e.Server.ID, "task-1"); len(got) != 1 || got[0].ClientID != "client-a" || got[0].Subject != "usr_alice" || got[0].Name != "slow_report" {
		t.Fatalf("after the refused takeovers: %+v, want alice's row unchanged", got)
	}
	// Its own caller may record it again (an upstream answering one request twice).
	again := alice
	again.Name, again.ExpiresAt = "slow_report_v2", now.Add(3*time.Hour)
	if !record(again) {
		t.Error("RecordTask by the same caller = false")
	}
	if got := get(e.Server.ID, "task-1"); len(got) != 1 || got[0].Name != "slow_report_v2" || !got[0].ExpiresAt.Equal(now.Add(3*time.Hour)) {
		t.Errorf("after the same caller's update: %+v", got)
	}

	// The same ID on another server is another task.
	other := &storage.Server{OrgID: e.Org.ID, OrgSlug: e.Org.Slug, Slug: "other", Name: "Other", Enabled: true}
	noErr(t, "CreateServer", s.CreateServer(ctx, other))
	bob := storage.GatewayTask{ServerID: other.ID, TaskID: "task-1", ClientID: "client-b", Subject: "usr_bob",
		Method: "resources/read", URI: "file:///a", ExpiresAt: now.Add(time.Hour)}
	if !record(bob) {
		t.Error("RecordTask of the same task ID on another server = false")
	}
	if got := get(other.ID, "task-1"); len(got) != 1 || got[0].ClientID != "client-b" || got[0].URI != "file:///a" {
		t.Errorf("other server's task-1: %+v", got)
	}
	if got := get(e.Server.ID, "task-1"); len(got) != 1 || got[0].ClientID != "client-a" {
		t.Errorf("first server's task-1 after the other server's: %+v", got)
	}

	// Once expired, the ID is free: a new caller's task replaces the stale row.
	stale := storage.GatewayTask{ServerID: e.Server.ID, TaskID: "task-2", ClientID: "client-a", Subject: "usr_alice",
		Method: "tools/call", Name: "x", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	record(stale)
	fresh := storage.GatewayTask{ServerID: e.Server.ID, TaskID: "task-2", ClientID: "client-b", Subject: "usr_bob",
		Method: "tools/call", Name: "y", ExpiresAt: now.Add(time.Hour)}
	if !record(fresh) {
		t.Error("RecordTask over an expired row of another caller = false")
	}
	if got := get(e.Server.ID, "task-2"); len(got) != 1 || got[0].ClientID != "client-b" || got[0].Name != "y" {
		t.Errorf("task-2 after replacing the expired row: %+v", got)
	}

	// Task IDs are the upstream's: any length, any text; those no row can hold are refused
	// when recorded and not found when looked up, never a database error.
	long := strings.Repeat("L", 10000)
	if !record(storage.GatewayTask{ServerID: e.Server.ID, TaskID: long, ClientID: "c", Subject: "s", Method: "tools/call", ExpiresAt: now.Add(time.Hour)}) {
		t.Error("RecordTask of a 10000-byte task ID = false")
	}
	if got := get(e.Server.ID, long); len(got) != 1 || got[0].TaskID != long {
		t.Errorf("10000-byte task ID not found back (%d rows)", len(got))
	}
	for _, bad := range []string{"nul\x00byte", "bad\xffutf8"} {
		_, err := s.RecordTask(ctx, &storage.GatewayTask{ServerID: e.Server.ID, TaskID: bad, ClientID: "c", Subject: "s",
			Method: "tools/call", ExpiresAt: now.Add(time.Hour)})
		wantErr(t, fmt.Sprintf("RecordTask(%q)", bad), err, storage.ErrTaskUnstorable)
		if got := get(e.Server.ID, bad, "task-1"); len(got) != 1 {
			t.Errorf("GatewayTasks with %q among the IDs: %d rows, want task-1 alone", bad, len(got))
		}
	}
	if got := get("srv\x00", "task-1"); len(got) != 0 {
		t.Errorf("GatewayTasks of a hostile server ID: %+v", got)
	}

	// A page of many IDs (past the statement's chunk) finds every recorded one.
	ids := make([]string, 0, 1200)
	for i := range 1200 {
		ids = append(ids, fmt.Sprintf("bulk-%d", i))
	}
	for _, i := range []int{0, 499, 500, 1199} {
		record(storage.GatewayTask{ServerID: e.Server.ID, TaskID: ids[i], ClientID: "c", Subject: "s", Method: "tools/call", ExpiresAt: now.Add(time.Hour)})
	}
	var found []string
	for _, r := range get(e.Server.ID, ids...) {
		found = append(found, r.TaskID)
	}
	if diff := cmp.Diff([]string{"bulk-0", "bulk-1199", "bulk-499", "bulk-500"}, found, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("bulk lookup (-want +got):\n%s", diff)
	}

	// Two callers racing for one new ID: exactly one records it, and the row is the winner's.
	const racers = 8
	var wins atomic.Int64
	var winner atomic.Value
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			client := fmt.Sprintf("racer-%d", i)
			ok, err := s.RecordTask(ctx, &storage.GatewayTask{ServerID: e.Server.ID, TaskID: "contested", ClientID: client,
				Subject: client, Method: "tools/call", ExpiresAt: now.Add(time.Hour)})
			if err != nil && !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("racer %d: %v", i, err)
			}
			if ok {
				wins.Add(1)
				winner.Store(client)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d racers recorded the contested task, want exactly 1", wins.Load())
	}
	if got := get(e.Server.ID, "contested"); len(got) != 1 || got[0].ClientID != winner.Load() {
		t.Errorf("contested row %+v, want the winner %v", got, winner.Load())
	}

	// The purge: rows expired before the cutoff go, the rest stay.
	n, err := s.PurgeTasks(ctx, now)
	noErr(t, "PurgeTasks", err)
	if n != 0 {
		t.Errorf("PurgeTasks(now) = %d, want 0 (the one expired row was replaced)", n)
	}
	record(storage.GatewayTask{ServerID: e.Server.ID, TaskID: "old", ClientID: "c", Subject: "s", Method: "tools/call", ExpiresAt: now.Add(-time.Second)})
	record(storage.GatewayTask{ServerID: e.Server.ID, TaskID: "at-cutoff", ClientID: "c", Subject: "s", Method: "tools/call", ExpiresAt: now})
	n, err = s.PurgeTasks(ctx, now)
	noErr(t, "PurgeTasks", err)
	if n != 1 {
		t.Errorf("PurgeTasks(now) = %d, want 1", n)
	}
	if got := get(e.Server.ID, "old", "at-cutoff", "task-1"); len(got) != 2 {
		t.Errorf("after the purge: %d of old, at-cutoff, task-1 left, want at-cutoff and task-1", len(got))
	}
}
