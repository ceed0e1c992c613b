package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"gorm.io/gorm/clause"
)

// ErrTaskUnstorable: a task's fields hold a NUL byte or invalid UTF-8, which Postgres
// cannot store. The gateway then cannot bind the task to its creator; nobody reaches it.
var ErrTaskUnstorable = errors.New("storage: task fields must be valid UTF-8 without NUL bytes")

// taskKey is GatewayTask.TaskKey for a task ID.
func taskKey(taskID string) string {
	sum := sha256.Sum256([]byte(taskID))
	return hex.EncodeToString(sum[:])
}

// RecordTask stores the task t.TaskID of server t.ServerID as created by t's caller, and
// reports whether it did. An existing row of the same task is replaced only when it has
// expired or names the same caller (the upstream answered one caller's task twice):
// an upstream that hands one caller's task ID to another never makes the first lose it, nor
// the second gain it. One INSERT ... ON CONFLICT, so two replicas recording the same task
// at once cannot both win.
func (s *Store) RecordTask(ctx context.Context, t *GatewayTask) (bool, error) {
	if !keyable(t.ServerID, t.TaskID, t.ClientID, t.Subject, t.Method, t.Name, t.URI) {
		return false, ErrTaskUnstorable
	}
	t.TaskKey = taskKey(t.TaskID)
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	res := s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "server_id"}, {Name: "task_key"}},
		DoUpdates: clause.AssignmentColumns([]string{"task_id", "client_id", "subject", "method", "name", "uri", "created_at", "expires_at"}),
		Where: clause.Where{Exprs: []clause.Expression{clause.Expr{
			SQL:  "gateway_tasks.expires_at <= ? OR (gateway_tasks.client_id = excluded.client_id AND gateway_tasks.subject = excluded.subject)",
			Vars: []any{s.now().UTC()},
		}}},
	}).Create(t)
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected > 0, nil
}

// GatewayTasks returns the recorded tasks of server serverID among taskIDs, expired ones
// included (the caller judges expiry by its own clock), in no particular order. IDs no row
// could hold are simply not found.
func (s *Store) GatewayTasks(ctx context.Context, serverID string, taskIDs []string) ([]GatewayTask, error) {
	if !keyable(serverID) {
		return nil, nil
	}
	keys := make([]string, 0, len(taskIDs))
	for _, id := range taskIDs {
		if keyable(id) {
			keys = append(keys, taskKey(id))
		}
	}
	var out []GatewayTask
	// A tasks/list page is small, but bound the statement's parameters all the same.
	const chunk = 500
	for len(keys) > 0 {
		n := min(len(keys), chunk)
		var rows []GatewayTask
		if err := s.conn(ctx).Where("server_id = ? AND task_key IN ?", serverID, keys[:n]).Find(&rows).Error; err != nil {
			return nil, err
		}
		out = append(out, rows...)
		keys = keys[n:]
	}
	return out, nil
}

// PurgeTasks deletes the task records that expired before before, and counts them.
func (s *Store) PurgeTasks(ctx context.Context, before time.Time) (int64, error) {
	return s.deleteInBatches(ctx, "gateway_tasks", "expires_at < ?", before.UTC())
}
