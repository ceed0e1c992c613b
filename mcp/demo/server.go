// Package demo is the built-in demo MCP server published as acme/sales-api.
//
// It exists so that a fresh Conexor install has something real to authorize:
// a small, embedded sales database (customers, products, orders, order_items)
// exposed through three read-only tools (list_tables, describe_table,
// run_query) and a few markdown "skills" (skill://sales-api/...) that show a
// model how to answer typical questions with them.
//
// The database is rebuilt in memory from embedded SQL on every [New], so
// nothing a client does can persist, and every query path is read-only by
// construction (see openDatabase and authorize).
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultQueryTimeout bounds each run_query call unless Options overrides it:
// long enough for any sensible query on a few hundred rows, short enough that
// a runaway recursive CTE cannot pin a connection.
const DefaultQueryTimeout = 2 * time.Second

// Options configures [New]. The zero value is ready to use.
type Options struct {
	// Logger receives query and refusal logs. Nil discards them.
	Logger *slog.Logger
	// QueryTimeout bounds each query, including waiting for a pooled
	// connection. Zero means DefaultQueryTimeout.
	QueryTimeout time.Duration
	// DisableLocalhostProtection is passed to the go-sdk HTTP handler. Leave
	// it false unless Conexor listens on loopback behind a proxy that forwards
	// a public Host header (the SDK would answer 403 to such requests).
	DisableLocalhostProtection bool
}

// Server is one instance of the demo MCP server and its private database.
// It is safe for concurrent use by any number of sessions.
type Server struct {
	mcp     *mcp.Server
	handler http.Handler
	db      *database
	log     *slog.Logger
	timeout time.Duration
}

// New builds the in-memory database and the MCP server around it. Call Close
// when done to release the database connections.
func New(opts Options) (*Server, error) {
	s := &Server{log: opts.Logger, timeout: opts.QueryTimeout}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.timeout <= 0 {
		s.timeout = DefaultQueryTimeout
	}
	db, err := openDatabase(context.Background())
	if err != nil {
		return nil, err
	}
	s.db = db

	s.mcp = mcp.NewServer(&mcp.Implementation{
		Name:    "acme-sales-api",
		Title:   "Acme Sales API (demo)",
		Version: "1.0.0",
	}, &mcp.ServerOptions{
		Logger: s.log,
		Instructions: "Read-only access to Acme's demo sales database (customers, products, orders, order_items; " +
			"dates 2025-01 to 2026-03). Call list_tables and describe_table to learn the schema, then run_query with " +
			"a single SELECT. Read the skill://sales-api/* resources for worked examples of revenue and customer questions.",
	})
	if err := errors.Join(s.addTools(s.mcp), addSkills(s.mcp)); err != nil {
		db.close()
		return nil, err
	}

	// Stateless: every POST carries a complete request and gets a temporary
	// session, so the handler keeps no per-client state. That suits a server
	// that never calls back into the client, scales to many concurrent
	// clients without a session table that grows until sessions time out,
	// and keeps working behind several Conexor replicas. The go-sdk client
	// still works: its initialize (or server/discover) is answered, its
	// optional GET stream gets 405, and tools/list and tools/call follow as
	// independent POSTs. JSONResponse answers with plain application/json
	// instead of a one-event SSE stream, which is cheaper and easier to debug.
	s.handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.mcp },
		&mcp.StreamableHTTPOptions{
			Stateless:                  true,
			JSONResponse:               true,
			Logger:                     s.log,
			DisableLocalhostProtection: opts.DisableLocalhostProtection,
		})
	return s, nil
}

// MCP returns the underlying server, for in-process transports (tests, or a
// gateway that bridges sessions itself).
func (s *Server) MCP() *mcp.Server { return s.mcp }

// Handler returns the Streamable HTTP endpoint for the server. It ignores the
// request path, so it can be mounted at /mcp/acme/sales-api behind Conexor's
// authorization check as is. It accepts POST only (GET and DELETE get 405).
func (s *Server) Handler() http.Handler { return s.handler }

// Close releases the database. Tool calls after Close fail with an error
// result rather than panicking.
func (s *Server) Close() error {
	if err := s.db.close(); err != nil {
		return fmt.Errorf("demo: close: %w", err)
	}
	return nil
}
