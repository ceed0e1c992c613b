package mcp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// taskUpstream is an MCP server over Streamable HTTP that runs task-augmented tools/call
// (MCP 2025-11-25: tasks/get, tasks/result, tasks/list, tasks/cancel). The go-sdk does not
// implement tasks yet. Like any upstream behind the gateway it has no authorization
// context: every task is visible to every request, which is what the gate must make up
// for. It answers the task-creating tools/call on an SSE stream and the rest as JSON, so
// both of the relay's paths carry task traffic.
type taskUpstream struct {
	mu    sync.Mutex
	seq   int
	tasks map[string]*upstreamTask
	order []string
	seen  []string // "method taskId" of every request received
}

type upstreamTask struct {
	ID, Status, Tool, Text string
	CreatedAt              string
}

func (u *taskUpstream) task(t *upstreamTask) map[string]any {
	return map[string]any{"taskId": t.ID, "status": t.Status, "createdAt": t.CreatedAt, "lastUpdatedAt": t.CreatedAt,
		"ttl": 600000, "pollInterval": 100}
}

func (u *taskUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name      string          `json:"name"`
			TaskID    string          `json:"taskId"`
			Task      json.RawMessage `json:"task"`
			Arguments map[string]any  `json:"arguments"`
		} `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	if req.ID == nil { // a notification
		w.WriteHeader(http.StatusAccepted)
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seen = append(u.seen, req.Method+" "+req.Params.TaskID)
	var result any
	var rpcErr map[string]any
	notFound := map[string]any{"code": -32602, "message": "Failed to retrieve task: Task not found"}
	t := u.tasks[req.Params.TaskID]
	switch req.Method {
	case "initialize":
		result = map[string]any{"protocolVersion": "2025-11-25", "serverInfo": map[string]any{"name": "tasks", "version": "1"},
			"capabilities": map[string]any{"tools": map[string]any{},
				"tasks": map[string]any{"list": map[string]any{}, "cancel": map[string]any{},
					"requests": map[string]any{"tools": map[string]any{"call": map[string]any{}}}}}}
	case "tools/list":
		result = map[string]any{"tools": []any{map[string]any{"name": "slow_report", "inputSchema": map[string]any{"type": "object"},
			"execution": map[string]any{"taskSupport": "optional"}}}}
	case "tools/call":
		text := fmt.Sprintf("report on %v", req.Params.Arguments["topic"])
		if req.Params.Task == nil {
			result = map[string]any{"content": []any{map[string]any{"type": "text", "text": text}}}
			break
		}
		u.seq++
		t := &upstreamTask{ID: fmt.Sprintf("task-%d", u.seq), Status: "working", Tool: req.Params.Name, Text: text,
			CreatedAt: time.Now().UTC().Format(time.RFC3339)}
		u.tasks[t.ID] = t
		u.order = append(u.order, t.ID)
		result = map[string]any{"task": u.task(t)}
	case "tasks/get", "tasks/cancel":
		switch {
		case t == nil:
			rpcErr = notFound
		case req.Method == "tasks/cancel" && t.Status != "working":
			rpcErr = map[string]any{"code": -32602, "message": "Cannot cancel task: already in terminal status '" + t.Status + "'"}
		default:
			if req.Method == "tasks/cancel" {
				t.Status = "cancelled"
			} else {
				t.Status = "completed" // done by the first poll
			}
			result = u.task(t)
		}
	case "tasks/result":
		if t == nil {
			rpcErr = notFound
			break
		}
		t.Status = "completed"
		result = map[string]any{"content": []any{map[string]any{"type": "text", "text": t.Text}},
			"_meta": map[string]any{"io.modelcontextprotocol/related-task": map[string]any{"taskId": t.ID}}}
	case "tasks/list":
		var list []any
		for _, id := range u.order {
			list = append(list, u.task(u.tasks[id]))
		}
		result = map[string]any{"tasks": list, "nextCursor": "opaque-next"}
	default:
		rpcErr = map[string]any{"code": -32601, "message": "Method not found"}
	}
	msg := map[string]any{"jsonrpc": "2.0", "id": req.ID}
	if rpcErr != nil {
		msg["error"] = rpcErr
	} else {
		msg["result"] = result
	}
	body, _ := json.Marshal(msg)
	if req.Method == "tools/call" {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "event: message\ndata: %s\n\n", body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func (u *taskUpstream) received() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.seen)
}

// rpcAnswer is a JSON-RPC response read from a JSON body or an SSE stream.
type rpcAnswer struct {
	status int
	header http.Header
	Result map[string]any `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// call POSTs one request through the gate and reads the response with the request's id.
func call(t *testing.T, e *testenv.Env, path, token, method string, params map[string]any) rpcAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
	r := rpc(t, e, path, token, string(body))
	out := rpcAnswer{status: r.StatusCode, header: r.Header}
	payload := r.Body
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		payload = nil
		sc := bufio.NewScanner(bytes.NewReader(r.Body))
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(data, `"id":7`) {
				payload = []byte(data)
			}
		}
	}
	if err := json.Unmarshal(payload, &out); err != nil || (out.Result == nil && out.Error == nil) {
		t.Fatalf("%s: status %d, no JSON-RPC response in %q", method, r.StatusCode, r.Body)
	}
	return out
}

func taskIDs(a rpcAnswer) []string {
	var ids []string
	list, _ := a.Result["tasks"].([]any)
	for _, task := range list {
		ids = append(ids, task.(map[string]any)["taskId"].(string))
	}
	return ids
}

// TestTasksThroughGate: a task created through the gate is its creator's. A's
// task-augmented tools/call (mcp:tools:execute) creates a task upstream; A polls it,
// fetches its result and lists it, also with a renewed token; B, another client with the
// same scopes, gets the specification's "not found" for it, and a tasks/list without it,
// and none of B's requests for it reaches the upstream; A's token without
// mcp:tools:execute gets insufficient_scope; once A's token is revoked it gets nothing.
func TestTasksThroughGate(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testTasksThroughGate(t, testenv.Options{}) })
	t.Run("Postgres", func(t *testing.T) { testTasksThroughGate(t, testenv.Options{Postgres: true}) })
}

func testTasksThroughGate(t *testing.T, opts testenv.Options) {
	up := &taskUpstream{tasks: map[string]*upstreamTask{}}
	ts := httptest.NewServer(up)
	t.Cleanup(ts.Close)
	e := testenv.New(t, opts)
	srv := e.CreateServer("acme/jobs")
	srv.Upstream = ts.URL + "/mcp"
	if err := e.Store.UpdateServer(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	const path = "/mcp/acme/jobs"
	idA, secretA := e.CreateServerClient("acme/jobs", provider.ScopeToolsRead, provider.ScopeToolsExecute)
	idB, secretB := e.CreateServerClient("acme/jobs", provider.ScopeToolsRead, provider.ScopeToolsExecute)
	tokA, tokB := e.Token(idA, secretA), e.Token(idB, secretB)

	create := func(token, topic string) string {
		t.Helper()
		a := call(t, e, path, token, "tools/call", map[string]any{"name": "slow_report", "arguments": map[string]any{"topic": topic},
			"task": map[string]any{"ttl": 600000}})
		task, _ := a.Result["task"].(map[string]any)
		id, _ := task["taskId"].(string)
		if a.Error != nil || id == "" || task["status"] != "working" {
			t.Fatalf("task-augmented tools/call: %+v, want a CreateTaskResult", a)
		}
		return id
	}
	wantNotFound := func(what string, a rpcAnswer) {
		t.Helper()
		if a.status != http.StatusOK || a.Error == nil || a.Error.Code != -32602 || a.Error.Message != "Failed to retrieve task: Task not found" {
			t.Errorf("%s: status %d %+v, want -32602 Failed to retrieve task: Task not found", what, a.status, a.Error)
		}
	}

	taskA := create(tokA, "sales")
	if a := call(t, e, path, tokA, "tasks/get", map[string]any{"taskId": taskA}); a.Error != nil || a.Result["taskId"] != taskA {
		t.Fatalf("A's tasks/get of its task: %d %+v", a.status, a)
	}
	a := call(t, e, path, tokA, "tasks/result", map[string]any{"taskId": taskA})
	if content, _ := a.Result["content"].([]any); a.Error != nil || len(content) != 1 || content[0].(map[string]any)["text"] != "report on sales" {
		t.Errorf("A's tasks/result: %d %+v", a.status, a)
	}
	renewed := e.Token(idA, secretA)
	if a := call(t, e, path, renewed, "tasks/get", map[string]any{"taskId": taskA}); a.Error != nil || a.Result["status"] != "completed" {
		t.Errorf("tasks/get with A's renewed token: %d %+v", a.status, a)
	}

	taskB := create(tokB, "costs")
	before := len(up.received())
	for _, m := range []string{"tasks/get", "tasks/result", "tasks/cancel"} {
		wantNotFound("B's "+m+" of A's task", call(t, e, path, tokB, m, map[string]any{"taskId": taskA}))
		wantNotFound("A's "+m+" of an unknown task", call(t, e, path, tokA, m, map[string]any{"taskId": "task-999"}))
	}
	if got := up.received()[before:]; len(got) != 0 {
		t.Errorf("refused task requests reached the upstream: %v", got)
	}
	if m := e.Get("/metrics"); !strings.Contains(string(m.Body),
		`conexor_mcp_requests_total{method="tasks/get",outcome="task_not_found",server="acme/jobs"} 2`) {
		t.Error("the refused tasks/get were not counted as task_not_found under their method")
	}
	// The upstream lists every task; each caller sees only its own, with the cursor.
	for _, c := range []struct {
		who, token string
		want       []string
	}{{"A", tokA, []string{taskA}}, {"B", tokB, []string{taskB}}} {
		a := call(t, e, path, c.token, "tasks/list", map[string]any{})
		if got := taskIDs(a); a.Error != nil || !slices.Equal(got, c.want) || a.Result["nextCursor"] != "opaque-next" {
			t.Errorf("%s's tasks/list: %v (cursor %v), want %v and the upstream's cursor", c.who, got, a.Result["nextCursor"], c.want)
		}
	}
	if a := call(t, e, path, tokB, "tasks/cancel", map[string]any{"taskId": taskB}); a.Error != nil || a.Result["status"] != "cancelled" {
		t.Errorf("B's tasks/cancel of its own task: %d %+v", a.status, a)
	}

	// A's token without the scope that created the task: told which scope to step up to.
	readOnly := e.Token(idA, secretA, provider.ScopeToolsRead)
	for _, m := range []string{"tasks/get", "tasks/result"} {
		a := call(t, e, path, readOnly, m, map[string]any{"taskId": taskA})
		if a.status != http.StatusForbidden || !strings.Contains(a.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) ||
			!strings.Contains(a.header.Get("WWW-Authenticate"), `scope="`+provider.ScopeToolsExecute+`"`) {
			t.Errorf("%s with A's read-only token: status %d, WWW-Authenticate %q, want 403 insufficient_scope for %s",
				m, a.status, a.header.Get("WWW-Authenticate"), provider.ScopeToolsExecute)
		}
	}
	if got := taskIDs(call(t, e, path, readOnly, "tasks/list", map[string]any{})); len(got) != 0 {
		t.Errorf("tasks/list with A's read-only token shows %v: tasks it cannot use", got)
	}

	if r := e.Revoke(idA, secretA, tokA); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
	}
	r := rpc(t, e, path, tokA, `{"jsonrpc":"2.0","id":8,"method":"tasks/get","params":{"taskId":"`+taskA+`"}}`)
	if r.StatusCode != http.StatusUnauthorized || decodeRPCError(t, r).Error.Code != -32001 {
		t.Errorf("tasks/get with A's revoked token: status %d %s, want 401", r.StatusCode, r.Body)
	}
}
