package mcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/internal/urls"
)

// admit runs the checks the MCP endpoint and the server API share: a canonical path, a
// known server, a bearer token in the Authorization header only, and that token valid for
// this server. info is nil only when the path itself was refused.
func (g *Gateway) admit(r *http.Request, prefix string) (*serverInfo, *principal, *refusal) {
	vars := mux.Vars(r)
	org, name := vars["org"], vars["server"]
	switch pathProblem(r, prefix, org, name) {
	case 0:
	case http.StatusNotFound:
		return nil, nil, noServer()
	default:
		return nil, nil, &refusal{status: http.StatusBadRequest, rpcCode: CodeInvalidRequest, outcome: "bad_path",
			desc: "The path must be exactly " + prefix + "{org}/{server}: no percent-encoding, ';' parameters, dot segments or extra slashes."}
	}
	ctx := r.Context()
	info, err := g.servers.lookup(ctx, org, name)
	if err != nil {
		return nil, nil, &refusal{status: http.StatusServiceUnavailable, rpcCode: CodeUnavailable, outcome: "unavailable",
			desc: "The gateway cannot look up this server right now; retry shortly.", detail: "server lookup: " + err.Error()}
	}
	if info.srv == nil {
		return info, nil, noServer()
	}
	token, err := bearerToken(r)
	switch {
	case errors.Is(err, ErrNoToken):
		return info, nil, &refusal{status: http.StatusUnauthorized, rpcCode: CodeUnauthorized, outcome: "no_token",
			desc: "An access token for " + info.resource + " is required: send it as Authorization: Bearer <token>."}
	case err != nil:
		return info, nil, &refusal{status: http.StatusUnauthorized, oauth: errInvalidRequest, rpcCode: CodeUnauthorized,
			outcome: "invalid_request", desc: headerProblem(err)}
	}
	p, rf := g.auth.authenticate(ctx, token, info.resource)
	if rf != nil {
		return info, nil, rf
	}
	return info, p, nil
}

// headerProblem says how to send the token. A 401 rather than RFC 6750's 400 for these:
// MCP clients react to 401 with resource_metadata by (re)starting authorization, the one
// thing that helps, where a 400 is a dead end.
func headerProblem(err error) string {
	switch {
	case errors.Is(err, ErrTokenInQuery):
		return "Access tokens are accepted only in the Authorization header, never in the URL query."
	case errors.Is(err, ErrMultipleHeaders):
		return "Send exactly one Authorization header."
	case errors.Is(err, ErrTokenTooLong):
		return "The bearer token is too long to be an access token of this server."
	default:
		return "The Authorization header must be exactly: Bearer <token>."
	}
}

func noServer() *refusal {
	return &refusal{status: http.StatusNotFound, rpcCode: CodeNotFound, outcome: "not_found",
		desc: "No MCP server is registered at this path."}
}

// serveMCP is the MCP endpoint: the gate, then the demo server or the upstream.
func (g *Gateway) serveMCP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodDelete:
	case http.MethodOptions:
		preflight(w, "GET, POST, DELETE, OPTIONS")
		return
	default:
		w.Header().Set("Allow", "GET, POST, DELETE, OPTIONS")
		g.refuseMCP(w, r, nil, nil, "http:other", nil, &refusal{status: http.StatusMethodNotAllowed,
			rpcCode: CodeInvalidRequest, outcome: "method_not_allowed",
			desc: "The MCP endpoint accepts POST (messages), GET (event stream) and DELETE (end of session)."})
		return
	}
	method := "http:" + r.Method
	info, p, rf := g.admit(r, urls.MCPPrefix)
	if rf != nil {
		g.refuseMCP(w, r, info, nil, method, nil, rf)
		return
	}

	var (
		msg  Message
		body []byte
	)
	if r.Method == http.MethodPost {
		if body, msg, rf = readMessage(w, r, g.maxBody); rf != nil {
			if msg.Method != "" {
				method = methodLabel(msg)
			}
			g.refuseMCP(w, r, info, p, method, msg.ID, rf)
			return
		}
		method = methodLabel(msg)
	}
	if !info.srv.Enabled {
		g.refuseMCP(w, r, info, p, method, msg.ID, &refusal{status: http.StatusForbidden, rpcCode: CodeServerDisabled,
			outcome: "disabled", desc: "The MCP server " + info.path + " is disabled by its administrator."})
		return
	}
	if r.Method != http.MethodPost {
		dropRoutingHeaders(r.Header)
	}
	if r.Method == http.MethodGet {
		// An event stream: end it when the token expires or is revoked, not hours later.
		token, _ := bearerToken(r)
		ctx, stop := g.auth.watch(r.Context(), token, p)
		defer stop()
		r = r.WithContext(ctx)
	}
	if r.Method == http.MethodPost {
		if rf := g.authorize(r.Context(), msg, info, p); rf != nil {
			g.refuseMCP(w, r, info, p, method, msg.ID, rf)
			return
		}
		if rf := g.checkParamHeaders(r, info, msg); rf != nil {
			g.refuseMCP(w, r, info, p, method, msg.ID, rf)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	g.audit.CountMCP(info.path, p.Claims.ClientID, true)
	g.metrics.Requests.WithLabelValues(info.path, method, g.forward(w, r, info, p, msg, g.editFor(r, msg, info, p))).Inc()
}

// readMessage reads a POST body (capped) and the one JSON-RPC message in it. On refusal
// the message holds whatever of the method and id could be read.
func readMessage(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, Message, *refusal) {
	body, err := httpx.ReadBody(w, r, limit)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, Message{}, &refusal{status: http.StatusRequestEntityTooLarge, rpcCode: CodeInvalidRequest,
				outcome: "too_large", desc: fmt.Sprintf("Invalid Request: the body is larger than the %d bytes the gateway accepts.", limit)}
		}
		return nil, Message{}, &refusal{status: http.StatusBadRequest, rpcCode: CodeParseError,
			outcome: "bad_message", desc: "Parse error: the body could not be read.", detail: err.Error()}
	}
	msg, rpcErr := ParseMessage(body)
	if rpcErr != nil {
		return nil, msg, &refusal{status: http.StatusBadRequest, rpcCode: rpcErr.Code, outcome: "bad_message", desc: rpcErr.Message}
	}
	if rf := checkRoutingHeaders(r, msg); rf != nil {
		return nil, msg, rf
	}
	return body, msg, nil
}

// forward hands an admitted request to the server's backend and returns the outcome label.
// msg is the request's message (zero for GET and DELETE); edit, if not nil, is applied to
// the backend's response to it.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, info *serverInfo, p *principal, msg Message, edit resultEdit) string {
	id := []byte(msg.ID)
	switch {
	case info.upstreamErr != nil:
		g.log.WarnContext(r.Context(), "server has an unusable upstream", "server", info.path, "err", info.upstreamErr)
		writeRPCError(w, http.StatusBadGateway, id, CodeUnavailable, "The upstream MCP server of "+info.path+" is misconfigured.")
		return "upstream_error"
	case info.upstream != nil:
		if g.proxy.serve(w, r, info, p, msg, edit) {
			return "upstream_error"
		}
		return "ok"
	case r.Method != http.MethodPost:
		// The demo is stateless: no sessions to end, no server-initiated stream to open.
		w.Header().Set("Allow", "POST")
		writeRPCError(w, http.StatusMethodNotAllowed, nil, CodeInvalidRequest,
			"The MCP server "+info.path+" is stateless: it has no sessions and no server-initiated event stream, so only POST is accepted.")
		return "method_not_allowed"
	default:
		// The demo is in-process and needs no credentials; drop them all the same.
		r.Header.Del("Authorization")
		r.Header.Del("Cookie")
		dw := &demoWriter{ResponseWriter: w, id: id, ed: g.proxy.demoEditor(r.Context(), msg, edit)}
		g.demo.ServeHTTP(dw, r)
		if !dw.finish() {
			return "backend_error"
		}
		return "ok"
	}
}

// authorize applies the scope policy to one message.
func (g *Gateway) authorize(ctx context.Context, msg Message, info *serverInfo, p *principal) *refusal {
	if msg.Kind == KindRequest && taskMethods[msg.Method] {
		return g.authorizeTask(ctx, msg, info, p)
	}
	return g.permits(p, msg)
}

// permits reports whether p's scopes allow msg (nil), or why not. A tools/call or resource
// read is decided by its tool or URI too, since a scope may grant those for some only.
func (g *Gateway) permits(p *principal, msg Message) *refusal {
	ok, wouldGrant := g.policy.Check(msg, p.Scopes)
	template := ok && msg.Method == "completion/complete" && msg.Params.RefType == "ref/resource"
	if template {
		ok, wouldGrant = g.policy.CheckTemplate(msg.Params.RefURI, p.Scopes)
	}
	if ok {
		return nil
	}
	what := msg.Method
	if target, targeted := targetOf(msg); targeted {
		what += " of " + strconv.Quote(httpx.Truncate(target, 200))
	}
	if template {
		what += " of the resource template " + strconv.Quote(httpx.Truncate(msg.Params.RefURI, 200))
	}
	if wouldGrant == "" {
		// No scope would help, so no insufficient_scope: a client would step up in vain. An
		// HTTP error without a challenge is a dead end for clients (the TypeScript SDK makes
		// it a transport error); a JSON-RPC "method not found" in a 200 is what a server
		// without the method answers, and clients handle it. Nothing reaches the backend.
		// A tool or URI that no scope grants gets the same answer: to this token, and to
		// every other, the server has no such tool.
		return &refusal{status: http.StatusOK, rpcCode: CodeMethodNotFound, outcome: "method_denied",
			desc: "Method not found: no scope on this server grants " + what}
	}
	return &refusal{status: http.StatusForbidden, oauth: errInsufficientScope, scope: wouldGrant, rpcCode: CodeForbidden,
		outcome: "insufficient_scope", desc: "The access token lacks the scope " + wouldGrant + ", which " + what + " needs."}
}

// refuseMCP answers a refused MCP request and records why.
func (g *Gateway) refuseMCP(w http.ResponseWriter, r *http.Request, info *serverInfo, p *principal, method string, id []byte, rf *refusal) {
	server, metadataURL := "unknown", ""
	if info != nil && info.srv != nil {
		server, metadataURL = info.path, info.metadataURL
		// Counted per known server only: a path that names none has no chart to be on.
		clientID := ""
		if p != nil {
			clientID = p.Claims.ClientID
		}
		g.audit.CountMCP(info.path, clientID, false)
	}
	g.metrics.Requests.WithLabelValues(server, method, rf.outcome).Inc()
	g.logRefusal(r.Context(), "mcp request refused", server, method, p, rf)
	writeMCPRefusal(w, rf, metadataURL, id)
}

func (g *Gateway) logRefusal(ctx context.Context, msg, server, method string, p *principal, rf *refusal) {
	attrs := []slog.Attr{
		slog.String("server", server), slog.String("method", method), slog.Int("status", rf.status),
		slog.String("outcome", rf.outcome), slog.String("reason", rf.desc),
	}
	if rf.detail != "" {
		attrs = append(attrs, slog.String("detail", rf.detail))
	}
	if p != nil {
		attrs = append(attrs, slog.String("client_id", p.Claims.ClientID), slog.String("sub", p.Claims.Subject))
	}
	level := slog.LevelInfo
	if rf.status >= 500 {
		level = slog.LevelWarn
	}
	g.log.LogAttrs(ctx, level, msg, attrs...)
}

// serveNoServer answers every other path under /mcp/ (extra or empty segments, more than
// one trailing slash): there is no MCP server there.
func (g *Gateway) serveNoServer(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		preflight(w, "GET, POST, DELETE, OPTIONS")
		return
	}
	g.refuseMCP(w, r, nil, nil, "http:other", nil, noServer())
}

// preflight answers OPTIONS. CORS headers, if any, come from Options.CORS around it.
func preflight(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	w.WriteHeader(http.StatusNoContent)
}
