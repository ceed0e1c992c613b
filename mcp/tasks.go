package mcp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/conexor/conexor/storage"
)

// Tasks (MCP 2025-11-25, basic/utilities/tasks): a task-augmented request (params.task)
// makes the upstream answer a CreateTaskResult with a taskId; the caller then polls
// tasks/get, fetches tasks/result, may tasks/cancel it, and lists its tasks with
// tasks/list. The specification requires a receiver with an authorization context to bind
// each task to it. The upstream behind the gateway has none (it never sees the caller's
// token), so the gate binds them: it records who created each task (TaskStore), lets only
// that caller (client_id and sub, the same across renewed tokens) reach it, and only while
// its token still allows the request that created it. A task of another caller answers
// exactly as one that does not exist, so task IDs cannot be probed.

// taskMethods are the methods that act on a task a task-augmented request created; they
// follow the scope of the request that created the task, and only its creator may use them.
var taskMethods = map[string]bool{
	"tasks/get":    true,
	"tasks/result": true,
	"tasks/list":   true,
	"tasks/cancel": true,
}

// TaskStore records the tasks upstreams create through the gateway (*storage.Store).
type TaskStore interface {
	// RecordTask stores t unless another caller holds a live record of the same task; it
	// reports whether it stored it.
	RecordTask(ctx context.Context, t *storage.GatewayTask) (bool, error)
	// GatewayTasks returns the records of serverID among taskIDs, expired ones included.
	GatewayTasks(ctx context.Context, serverID string, taskIDs []string) ([]storage.GatewayTask, error)
}

const (
	// maxTaskRecord bounds how long the gate keeps a task reachable: a task's ttl may be
	// null (unlimited) or huge, and every record is a row.
	maxTaskRecord = 24 * time.Hour
	// minTaskRecord: a ttl of 0 or a few milliseconds would make the task unreachable
	// before the caller could ask for its result.
	minTaskRecord = time.Minute
	// taskCacheTTL is how long a record read from the store is reused. Only records found
	// are cached: a record never changes hands while it is live (RecordTask), and expiry
	// and the token's scopes and revocation are checked on every request.
	taskCacheTTL = 30 * time.Second
	// maxCachedTasks bounds the cache; past it, stale entries go, then all of them.
	maxCachedTasks = 4096
)

// taskBook is the gateway's view of the task records: the store and a short positive cache.
type taskBook struct {
	store TaskStore
	now   func() time.Time
	log   *slog.Logger

	mu    sync.Mutex
	cache map[taskRef]cachedTask
}

type taskRef struct{ server, id string }

type cachedTask struct {
	rec   storage.GatewayTask
	until time.Time // when the entry must be read again
}

// newTaskBook returns nil when there is no store: tasks/* then stay refused as methods no
// scope grants, and no task is recorded.
func newTaskBook(store TaskStore, now func() time.Time, log *slog.Logger) *taskBook {
	if store == nil {
		return nil
	}
	return &taskBook{store: store, now: now, log: log, cache: map[taskRef]cachedTask{}}
}

// lookup returns the live records of server's tasks among ids, by task ID.
func (b *taskBook) lookup(ctx context.Context, server string, ids []string) (map[string]*storage.GatewayTask, error) {
	now := b.now()
	out := make(map[string]*storage.GatewayTask, len(ids))
	var miss []string
	seen := make(map[string]bool, len(ids))
	b.mu.Lock()
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		if c, ok := b.cache[taskRef{server, id}]; ok && now.Before(c.until) && now.Before(c.rec.ExpiresAt) {
			rec := c.rec
			out[id] = &rec
		} else {
			miss = append(miss, id)
		}
	}
	b.mu.Unlock()
	if len(miss) == 0 {
		return out, nil
	}
	rows, err := b.store.GatewayTasks(ctx, server, miss)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if rec := &rows[i]; now.Before(rec.ExpiresAt) {
			out[rec.TaskID] = rec
			b.remember(rec, now)
		}
	}
	return out, nil
}

func (b *taskBook) remember(rec *storage.GatewayTask, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.cache) >= maxCachedTasks {
		for k, c := range b.cache {
			if !now.Before(c.until) || !now.Before(c.rec.ExpiresAt) {
				delete(b.cache, k)
			}
		}
		if len(b.cache) >= maxCachedTasks {
			clear(b.cache)
		}
	}
	b.cache[taskRef{rec.ServerID, rec.TaskID}] = cachedTask{rec: *rec, until: now.Add(taskCacheTTL)}
}

// ownedBy reports whether rec is p's: the same client acting for the same subject. A
// renewed token of the same grant is the same caller; another client of the same user, or
// the same client for another user, is not.
func ownedBy(rec *storage.GatewayTask, p *principal) bool {
	return rec.ClientID == p.Claims.ClientID && rec.Subject == p.Claims.Subject
}

// creatingRequest is the request that created rec, as the policy judges it.
func creatingRequest(rec *storage.GatewayTask) Message {
	return Message{Kind: KindRequest, Method: rec.Method, Params: Params{Name: rec.Name, URI: rec.URI}}
}

// taskNotFound is the specification's answer for an unknown task ID (-32602): also for a
// task of another caller and an expired one, so nobody learns which task IDs exist. It is a
// JSON-RPC error in a 200, as the upstream itself would answer.
func taskNotFound() *refusal {
	return &refusal{status: http.StatusOK, rpcCode: CodeInvalidParams, outcome: "task_not_found",
		desc: "Failed to retrieve task: Task not found"}
}

// authorizeTask decides a tasks/* request of p: tasks/list needs any valid token for the
// server (its answer is filtered, see taskEdit); tasks/get, tasks/result and tasks/cancel
// need a live task of p's on this server, and a token that still allows the request that
// created it.
func (g *Gateway) authorizeTask(ctx context.Context, msg Message, info *serverInfo, p *principal) *refusal {
	if g.tasks == nil {
		return g.permits(p, msg)
	}
	if msg.Method == "tasks/list" {
		return nil
	}
	if msg.Params.TaskID == "" {
		return taskNotFound()
	}
	recs, err := g.tasks.lookup(ctx, info.srv.ID, []string{msg.Params.TaskID})
	if err != nil {
		return &refusal{status: http.StatusServiceUnavailable, rpcCode: CodeUnavailable, outcome: "unavailable",
			desc: "The gateway cannot look up this task right now; retry shortly.", detail: "task lookup: " + err.Error()}
	}
	rec := recs[msg.Params.TaskID]
	if rec == nil || !ownedBy(rec, p) {
		return taskNotFound()
	}
	return g.permits(p, creatingRequest(rec))
}

// taskEdit records the task a task-augmented request creates, and filters tasks/list
// answers to p's own tasks. Other requests get no edit: their answers stream through
// unread.
func (g *Gateway) taskEdit(msg Message, info *serverInfo, p *principal) resultEdit {
	switch {
	case g.tasks == nil || msg.Kind != KindRequest || info == nil || info.srv == nil:
		return nil
	case msg.Method == "tasks/list":
		return g.tasksListFilter(info, p)
	case msg.Params.Task && msg.Method == "tools/call":
		// tools/call is the one client request MCP lets create a task. A task made of
		// another (a list, say) is not recorded, so nobody can read its result past the
		// filter its direct answer would have had.
		return g.taskRecorder(msg, info, p)
	}
	return nil
}

// createTaskResult is the part of a CreateTaskResult the gate reads.
type createTaskResult struct {
	Task *struct {
		TaskID *string `json:"taskId"`
		// TTL is in milliseconds; null means unlimited.
		TTL *float64 `json:"ttl"`
	} `json:"task"`
}

// taskRecorder returns the edit that records the task of a CreateTaskResult as p's. The
// answer itself is passed on unchanged. An upstream that ignored params.task answered the
// request's plain result: nothing to record.
func (g *Gateway) taskRecorder(msg Message, info *serverInfo, p *principal) resultEdit {
	// The closure holds what it needs of msg, not msg: that would put msg on the heap for
	// every request editFor sees.
	method, name, uri := msg.Method, msg.Params.Name, msg.Params.URI
	return func(ctx context.Context, result jsontext.Value) jsontext.Value {
		var created createTaskResult
		if err := jsonv2.Unmarshal(result, &created); err != nil || created.Task == nil || created.Task.TaskID == nil {
			return nil
		}
		now := g.tasks.now()
		rec := &storage.GatewayTask{ServerID: info.srv.ID, TaskID: *created.Task.TaskID,
			ClientID: p.Claims.ClientID, Subject: p.Claims.Subject, Method: method, Name: name,
			URI: uri, CreatedAt: now, ExpiresAt: now.Add(recordFor(created.Task.TTL))}
		// Recorded even when the client has gone: it may resume the stream and poll.
		ok, err := g.tasks.store.RecordTask(context.WithoutCancel(ctx), rec)
		attrs := []any{"server", info.path, "method", method, "client_id", p.Claims.ClientID, "sub", p.Claims.Subject}
		switch {
		case err != nil:
			// The caller holds a task ID the gate will answer "not found" for; the upstream
			// keeps running the task until its ttl.
			level := slog.LevelError
			if errors.Is(err, storage.ErrUnavailable) {
				level = slog.LevelWarn
			}
			g.log.Log(ctx, level, "task not recorded: its creator cannot reach it", append(attrs, "err", err)...)
		case !ok:
			g.log.WarnContext(ctx, "upstream answered a task ID another caller holds; not recorded for this caller", attrs...)
		default:
			g.tasks.remember(rec, now)
		}
		return nil
	}
}

// recordFor is how long to keep a task reachable for its ttl (milliseconds; nil for
// unlimited or absent).
func recordFor(ttl *float64) time.Duration {
	if ttl == nil || *ttl >= float64(maxTaskRecord/time.Millisecond) {
		return maxTaskRecord
	}
	return max(time.Duration(*ttl)*time.Millisecond, minTaskRecord)
}

// tasksListFilter returns the edit that keeps, of a tasks/list answer, only p's live tasks
// whose creating request p's token still allows: what tasks/get would let p reach. The
// cursor is kept, so a client pages through the upstream's list as before.
func (g *Gateway) tasksListFilter(info *serverInfo, p *principal) resultEdit {
	return func(ctx context.Context, result jsontext.Value) jsontext.Value {
		// Read with the list filters' reader: a second list in another case ("Tasks"), a
		// duplicate member or an entry with a duplicate taskId is never shown.
		var ids []string
		collect := listSpec{member: "tasks", key: "taskId", keep: func(id string) bool { ids = append(ids, id); return true }}
		if _, err := collect.apply(result); err != nil {
			// Not a list the gate can read: show nothing rather than another caller's tasks.
			g.log.WarnContext(ctx, "tasks/list answer unreadable; answered empty", "server", info.path, "err", err)
			return jsontext.Value(`{"tasks":[]}`)
		}
		var recs map[string]*storage.GatewayTask
		if len(ids) > 0 {
			var err error
			if recs, err = g.tasks.lookup(context.WithoutCancel(ctx), info.srv.ID, ids); err != nil {
				// The answer has started; no 503 can be sent now. Hide the page, not the error.
				g.log.WarnContext(ctx, "tasks/list not filtered: task lookup failed; answered empty", "server", info.path, "err", err)
				recs = nil
			}
		}
		mine := listSpec{member: "tasks", key: "taskId", keep: func(id string) bool {
			rec := recs[id]
			return rec != nil && ownedBy(rec, p) && g.permits(p, creatingRequest(rec)) == nil
		}}
		out, err := mine.apply(result)
		if err != nil {
			return jsontext.Value(`{"tasks":[]}`)
		}
		return out
	}
}
