package mcp

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/pgtest"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// taskClock is a settable clock for the task records' expiry.
type taskClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *taskClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *taskClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// taskGate is a gateway with only what authorizeTask and taskEdit use, on a real store.
type taskGate struct {
	g     *Gateway
	store *storage.Store
	info  *serverInfo
	clock *taskClock
}

func newTaskGate(t *testing.T, databaseURL string) *taskGate {
	t.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	org, err := s.EnsureOrg(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	srv := &storage.Server{OrgID: org.ID, OrgSlug: org.Slug, Slug: "jobs", Name: "Jobs", Enabled: true}
	if err := s.CreateServer(ctx, srv); err != nil {
		t.Fatal(err)
	}
	scopes, err := provider.NewScopes(nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &taskClock{t: time.Now().UTC().Truncate(time.Second)}
	log := slog.New(slog.DiscardHandler)
	g := &Gateway{log: log, policy: NewPolicy(scopes), tasks: newTaskBook(s, clock.Now, log)}
	return &taskGate{g: g, store: s, clock: clock, info: &serverInfo{srv: srv, path: "acme/jobs"}}
}

func caller(client, sub string, scopes ...string) *principal {
	return &principal{Claims: &provider.Claims{ClientID: client, Subject: sub}, Scopes: scopes}
}

func taskCall(tool string) Message {
	return Message{Kind: KindRequest, Method: "tools/call", ID: jsontext.Value(`1`), Params: Params{Name: tool, Task: true}}
}

func taskReq(method, taskID string) Message {
	return Message{Kind: KindRequest, Method: method, ID: jsontext.Value(`2`), Params: Params{TaskID: taskID}}
}

// create runs the edit of a task-augmented tools/call of p on the upstream's answer, as
// the relay would, and fails if the edit changed the answer.
func (tg *taskGate) create(t *testing.T, p *principal, tool, answer string) {
	t.Helper()
	edit := tg.g.taskEdit(taskCall(tool), tg.info, p)
	if edit == nil {
		t.Fatal("taskEdit of a task-augmented tools/call = nil: the task would not be recorded")
	}
	if got := edit(context.Background(), jsontext.Value(answer)); got != nil {
		t.Errorf("the CreateTaskResult was changed to %s", got)
	}
}

func (tg *taskGate) record(t *testing.T, taskID string) *storage.GatewayTask {
	t.Helper()
	rows, err := tg.store.GatewayTasks(context.Background(), tg.info.srv.ID, []string{taskID})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		return nil
	}
	return &rows[0]
}

var (
	readExec = []string{provider.ScopeToolsRead, provider.ScopeToolsExecute}
	readOnly = []string{provider.ScopeToolsRead}
)

// wantNotFound fails unless rf is the specification's unknown-task error.
func wantNotFound(t *testing.T, what string, rf *refusal) {
	t.Helper()
	if rf == nil || rf.status != http.StatusOK || rf.rpcCode != CodeInvalidParams || rf.desc != "Failed to retrieve task: Task not found" {
		t.Errorf("%s: got %+v, want -32602 Failed to retrieve task: Task not found", what, rf)
	}
}

func runTaskGateTests(t *testing.T, url func(t *testing.T) string) {
	t.Run("Binding", func(t *testing.T) { testTaskBinding(t, newTaskGate(t, url(t))) })
	t.Run("Expiry", func(t *testing.T) { testTaskExpiry(t, newTaskGate(t, url(t))) })
	t.Run("ListFilter", func(t *testing.T) { testTaskListFilter(t, newTaskGate(t, url(t))) })
	t.Run("StoreDown", func(t *testing.T) { testTaskStoreDown(t, newTaskGate(t, url(t))) })
}

func TestTasksSQLite(t *testing.T) {
	runTaskGateTests(t, func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "t.db") })
}

func TestTasksPostgres(t *testing.T) {
	runTaskGateTests(t, func(t *testing.T) string { return pgtest.Schema(t) })
}

// testTaskBinding: a task is its creator's (client and subject, across renewed tokens),
// reachable while the token allows the call that created it; everyone else gets the
// unknown-task error, the same as for a task that does not exist.
func testTaskBinding(t *testing.T, tg *taskGate) {
	ctx, g, info := context.Background(), tg.g, tg.info
	alice := caller("app-a", "usr_alice", readExec...)
	tg.create(t, alice, "slow_report", `{"task":{"taskId":"t-1","status":"working","createdAt":"2025-11-25T10:30:00Z","ttl":600000,"pollInterval":500}}`)
	rec := tg.record(t, "t-1")
	if rec == nil {
		t.Fatal("the CreateTaskResult's task was not recorded")
	}
	want := storage.GatewayTask{ServerID: info.srv.ID, TaskKey: rec.TaskKey, TaskID: "t-1", ClientID: "app-a", Subject: "usr_alice",
		Method: "tools/call", Name: "slow_report", CreatedAt: tg.clock.Now(), ExpiresAt: tg.clock.Now().Add(10 * time.Minute)}
	if diff := cmp.Diff(want, *rec, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}

	for _, m := range []string{"tasks/get", "tasks/result", "tasks/cancel"} {
		if rf := g.authorize(ctx, taskReq(m, "t-1"), info, alice); rf != nil {
			t.Errorf("%s of alice's task by alice: %+v", m, rf)
		}
		// A renewed token: another principal, the same client and subject.
		if rf := g.authorize(ctx, taskReq(m, "t-1"), info, caller("app-a", "usr_alice", readExec...)); rf != nil {
			t.Errorf("%s by alice's renewed token: %+v", m, rf)
		}
		wantNotFound(t, m+" by another client of the same user", g.authorize(ctx, taskReq(m, "t-1"), info, caller("app-b", "usr_alice", readExec...)))
		wantNotFound(t, m+" by the same client for another user", g.authorize(ctx, taskReq(m, "t-1"), info, caller("app-a", "usr_bob", readExec...)))
		wantNotFound(t, m+" of a task that does not exist", g.authorize(ctx, taskReq(m, "t-nope"), info, alice))
		wantNotFound(t, m+" without a taskId", g.authorize(ctx, taskReq(m, ""), info, alice))
		// Alice's token without the scope of tools/call: the scope to step up to.
		rf := g.authorize(ctx, taskReq(m, "t-1"), info, caller("app-a", "usr_alice", readOnly...))
		if rf == nil || rf.status != http.StatusForbidden || rf.oauth != errInsufficientScope || rf.scope != provider.ScopeToolsExecute {
			t.Errorf("%s by alice without %s: %+v, want 403 insufficient_scope", m, provider.ScopeToolsExecute, rf)
		}
	}
	// The same task ID on another server is not alice's task.
	other := &serverInfo{srv: &storage.Server{ID: "srv-other"}, path: "acme/other"}
	wantNotFound(t, "tasks/get on another server", g.authorize(ctx, taskReq("tasks/get", "t-1"), other, alice))
	// tasks/list: any token for the server; the answer is filtered.
	if rf := g.authorize(ctx, taskReq("tasks/list", ""), info, caller("app-z", "usr_z")); rf != nil {
		t.Errorf("tasks/list with a token without scopes: %+v", rf)
	}

	// Another caller gets an ID the upstream already gave alice: not recorded as theirs.
	bob := caller("app-b", "usr_bob", readExec...)
	tg.create(t, bob, "other_tool", `{"task":{"taskId":"t-1","status":"working"}}`)
	if rec := tg.record(t, "t-1"); rec == nil || rec.ClientID != "app-a" {
		t.Errorf("after bob's answer with alice's task ID, the record is %+v", rec)
	}
	wantNotFound(t, "tasks/get by bob of the ID given to both", g.authorize(ctx, taskReq("tasks/get", "t-1"), info, bob))

	// No edit where nothing is created: a plain call, a list, a task method; and an upstream
	// that ignored params.task answers the plain result, which records nothing.
	for _, m := range []Message{
		{Kind: KindRequest, Method: "tools/call", Params: Params{Name: "slow_report"}},
		{Kind: KindRequest, Method: "tools/list"},
		// Only tools/call creates a task a caller may later read: the result of a list
		// made a task would escape the list's filter.
		{Kind: KindRequest, Method: "tools/list", Params: Params{Task: true}},
		{Kind: KindRequest, Method: "resources/read", Params: Params{URI: "crm://a", Task: true}},
		taskReq("tasks/get", "t-1"),
		{Kind: KindNotification, Method: "notifications/progress", Params: Params{Task: true}},
	} {
		if g.taskEdit(m, info, alice) != nil {
			t.Errorf("taskEdit(%s) is not nil", m.Method)
		}
	}
	tg.create(t, alice, "slow_report", `{"content":[{"type":"text","text":"done"}],"task":"not an object"}`)
	tg.create(t, alice, "slow_report", `{"task":{"taskId":42}}`)
	if n, _ := tg.store.PurgeTasks(ctx, tg.clock.Now().Add(48*time.Hour)); n != 1 {
		t.Errorf("%d task records, want only t-1: a result without a string taskId was recorded", n)
	}
}

// testTaskExpiry: a record lasts the task's ttl (at least a minute, at most a day; a day
// when ttl is null or absent), then the task is unknown, cache or not.
func testTaskExpiry(t *testing.T, tg *taskGate) {
	ctx, g, info := context.Background(), tg.g, tg.info
	alice := caller("app-a", "usr_alice", readExec...)
	for id, ttl := range map[string]string{"short": `5`, "hour": `3600000`, "null": `null`, "absent": ``, "huge": `1e300`, "negative": `-1`} {
		task := `{"taskId":"` + id + `","status":"working"`
		if ttl != "" {
			task += `,"ttl":` + ttl
		}
		tg.create(t, alice, "slow_report", `{"task":`+task+`}}`)
	}
	wantLife := map[string]time.Duration{"short": time.Minute, "negative": time.Minute, "hour": time.Hour,
		"null": 24 * time.Hour, "absent": 24 * time.Hour, "huge": 24 * time.Hour}
	for id, life := range wantLife {
		rec := tg.record(t, id)
		if rec == nil || !rec.ExpiresAt.Equal(tg.clock.Now().Add(life)) {
			t.Errorf("task %s: record %+v, want expiry in %s", id, rec, life)
		}
	}
	if rf := g.authorize(ctx, taskReq("tasks/get", "short"), info, alice); rf != nil {
		t.Fatalf("tasks/get of a fresh task: %+v", rf)
	}
	tg.clock.Advance(time.Minute)
	wantNotFound(t, "tasks/get after the ttl (cached)", g.authorize(ctx, taskReq("tasks/get", "short"), info, alice))
	if rf := g.authorize(ctx, taskReq("tasks/get", "hour"), info, alice); rf != nil {
		t.Errorf("tasks/get of the hour-long task after a minute: %+v", rf)
	}
	tg.clock.Advance(time.Hour)
	wantNotFound(t, "tasks/get after the ttl (from the store)", g.authorize(ctx, taskReq("tasks/get", "hour"), info, alice))
}

// testTaskListFilter: a tasks/list answer keeps only the caller's live tasks that its
// token may use, with the cursor and _meta; one holding only those is passed unchanged.
func testTaskListFilter(t *testing.T, tg *taskGate) {
	ctx, g, info := context.Background(), tg.g, tg.info
	alice, bob := caller("app-a", "usr_alice", readExec...), caller("app-b", "usr_bob", readExec...)
	tg.create(t, alice, "a1", `{"task":{"taskId":"a-1","status":"working"}}`)
	tg.create(t, alice, "a2", `{"task":{"taskId":"a-2","status":"working","ttl":1000}}`)
	tg.create(t, bob, "b1", `{"task":{"taskId":"b-1","status":"working"}}`)
	tg.clock.Advance(2 * time.Minute) // a-2 expires
	answer := `{"tasks":[{"taskId":"a-1","status":"working"},{"taskId":"b-1","status":"completed"},` +
		`{"taskId":"a-2","status":"working"},{"taskId":"never-recorded","status":"working"},{"status":"no id"},7],` +
		`"nextCursor":"page-2","_meta":{"k":"v"}}`
	list := func(p *principal, answer string) string {
		t.Helper()
		edit := g.taskEdit(Message{Kind: KindRequest, Method: "tasks/list"}, info, p)
		if edit == nil {
			t.Fatal("taskEdit(tasks/list) = nil: the list would reach the caller unfiltered")
		}
		got := edit(ctx, jsontext.Value(answer))
		if got == nil {
			return answer
		}
		return string(got)
	}
	type listed struct {
		Tasks      []map[string]any `json:"tasks"`
		NextCursor string           `json:"nextCursor"`
		Meta       map[string]any   `json:"_meta"`
	}
	decode := func(s string) listed {
		t.Helper()
		var l listed
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("filtered list %s: %v", s, err)
		}
		return l
	}
	for _, tc := range []struct {
		name string
		p    *principal
		want []string
	}{
		{"alice", alice, []string{"a-1"}},
		{"alice renewed", caller("app-a", "usr_alice", readExec...), []string{"a-1"}},
		{"bob", bob, []string{"b-1"}},
		{"alice without tools/call", caller("app-a", "usr_alice", readOnly...), nil},
		{"a stranger", caller("app-z", "usr_z", readExec...), nil},
	} {
		l := decode(list(tc.p, answer))
		var ids []string
		for _, task := range l.Tasks {
			ids = append(ids, task["taskId"].(string))
		}
		if diff := cmp.Diff(tc.want, ids); diff != "" {
			t.Errorf("%s's list (-want +got):\n%s", tc.name, diff)
		}
		if l.NextCursor != "page-2" || l.Meta["k"] != "v" {
			t.Errorf("%s's list lost nextCursor or _meta: %+v", tc.name, l)
		}
		if l.Tasks == nil {
			t.Errorf("%s's list has no tasks array", tc.name)
		}
	}
	own := `{"tasks":[{"taskId":"a-1","status":"working"}],"nextCursor":"x"}`
	if got := g.taskEdit(Message{Kind: KindRequest, Method: "tasks/list"}, info, alice)(ctx, jsontext.Value(own)); got != nil {
		t.Errorf("a list of alice's own tasks was rewritten to %s", got)
	}
	if got := list(alice, `{"tasks":{"taskId":"b-1"}}`); got != `{"tasks":[]}` {
		t.Errorf("an unreadable list became %s, want an empty one", got)
	}
	// A second list in another case, or an entry with its taskId twice, is never shown: a
	// case-insensitive or last-wins client would read bob's task there.
	for answer, want := range map[string]string{
		`{"tasks":[{"taskId":"a-1"}],"Tasks":[{"taskId":"b-1"}]}`:      `{"tasks":[{"taskId":"a-1"}]}`,
		`{"tasks":[{"taskId":"a-1","taskId":"b-1"},{"taskId":"a-1"}]}`: `{"tasks":[{"taskId":"a-1"}]}`,
		`{"tasks":[{"taskId":"a-1","TaskId":"b-1"}]}`:                  `{"tasks":[]}`,
		`{"tasks":[{"taskId":"a-1"}],"tasks":[{"taskId":"b-1"}]}`:      `{"tasks":[]}`,
	} {
		if got := list(alice, answer); got != want {
			t.Errorf("%s became %s, want %s", answer, got, want)
		}
	}
}

// testTaskStoreDown: a lookup the store cannot answer is a 503, never "not found" (the
// caller would give up a task that exists); a list then shows nothing.
func testTaskStoreDown(t *testing.T, tg *taskGate) {
	ctx, g, info := context.Background(), tg.g, tg.info
	alice := caller("app-a", "usr_alice", readExec...)
	tg.create(t, alice, "slow_report", `{"task":{"taskId":"t-1","status":"working"}}`)
	tg.store.Close()
	rf := g.authorize(ctx, taskReq("tasks/get", "t-other"), info, alice)
	if rf == nil || rf.status != http.StatusServiceUnavailable || rf.rpcCode != CodeUnavailable {
		t.Errorf("tasks/get with the store down: %+v, want 503", rf)
	}
	// What this replica recorded itself is cached: it still answers.
	if rf := g.authorize(ctx, taskReq("tasks/get", "t-1"), info, alice); rf != nil {
		t.Errorf("tasks/get of a cached task with the store down: %+v", rf)
	}
	edit := g.taskEdit(Message{Kind: KindRequest, Method: "tasks/list"}, info, alice)
	if got := string(edit(ctx, jsontext.Value(`{"tasks":[{"taskId":"t-1"},{"taskId":"t-other"}]}`))); got != `{"tasks":[]}` {
		t.Errorf("tasks/list with the store down: %s, want no tasks", got)
	}
}

// TestTasksWithoutStore: with no TaskStore the tasks/* methods stay refused as methods no
// scope grants, and nothing is recorded.
func TestTasksWithoutStore(t *testing.T) {
	scopes, _ := provider.NewScopes(nil)
	g := &Gateway{log: slog.New(slog.DiscardHandler), policy: NewPolicy(scopes)}
	info := &serverInfo{srv: &storage.Server{ID: "s"}, path: "acme/jobs"}
	alice := caller("app-a", "usr_alice", readExec...)
	if rf := g.authorize(context.Background(), taskReq("tasks/get", "t-1"), info, alice); rf == nil || rf.rpcCode != CodeMethodNotFound {
		t.Errorf("tasks/get without a task store: %+v, want method not found", rf)
	}
	if g.taskEdit(taskCall("x"), info, alice) != nil {
		t.Error("taskEdit without a task store is not nil")
	}
}
