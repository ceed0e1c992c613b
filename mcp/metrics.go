package mcp

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what the gateway decides about MCP requests.
type Metrics struct {
	// Requests is conexor_mcp_requests_total{server,method,outcome}. server is "org/server"
	// for servers that exist and "unknown" otherwise; method is an MCP method from a fixed
	// list, "other", "response" (a client's answer to a server request), or "http:GET",
	// "http:POST", "http:DELETE" for requests refused before their body was read; outcome
	// is "ok" or the reason for the refusal. Every label is bounded whatever clients send.
	Requests *prometheus.CounterVec
}

// NewMetrics registers the gateway's metrics with reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "conexor_mcp_requests_total",
		Help: "MCP requests by server, JSON-RPC method and outcome (ok, or why the gateway refused).",
	}, []string{"server", "method", "outcome"})}
	if reg != nil {
		reg.MustRegister(m.Requests)
	}
	return m
}

// knownMethods are the method label values; everything else counts as "other".
var knownMethods = map[string]bool{
	"initialize": true, "server/discover": true, "ping": true,
	"tools/list": true, "tools/call": true,
	"resources/list": true, "resources/read": true, "resources/templates/list": true,
	"resources/subscribe": true, "resources/unsubscribe": true,
	"prompts/list": true, "prompts/get": true, "completion/complete": true,
	"logging/setLevel": true, "subscriptions/listen": true,
	"notifications/initialized": true, "notifications/cancelled": true, "notifications/progress": true,
	"notifications/roots/list_changed": true, "notifications/message": true,
	"notifications/elicitation/complete": true,

	// Tasks (MCP 2025-11-25).
	"tasks/get": true, "tasks/result": true, "tasks/list": true, "tasks/cancel": true, "notifications/tasks/status": true,
}

func methodLabel(m Message) string {
	switch {
	case m.Kind == KindResponse:
		return "response"
	case knownMethods[m.Method]:
		return m.Method
	default:
		return "other"
	}
}
