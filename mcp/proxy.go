package mcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/conexor/conexor/internal/netguard"
	"github.com/conexor/conexor/storage"
)

// Upstream timeouts. An upstream that is down answers 502 within dial time, never hangs;
// one that accepts the request must start its response within ResponseHeaderTimeout (an
// SSE response starts at once and may then stream for as long as the client stays).
const (
	DefaultUpstreamDialTimeout           = 5 * time.Second
	DefaultUpstreamResponseHeaderTimeout = 60 * time.Second
)

// forwardedRequestHeaders are the only client headers an upstream sees: what the MCP
// Streamable HTTP transport defines, and nothing that identifies or authenticates the
// client. Authorization and Cookie in particular never leave Conexor: the client's token
// is for Conexor, and passing it on is the token passthrough the MCP specification forbids.
var forwardedRequestHeaders = []string{
	"Accept",
	"Content-Type",
	"Last-Event-Id", // canonical form of Last-Event-ID
	"Mcp-Session-Id",
	"Mcp-Protocol-Version",
	"Mcp-Method", // 2026-07-28 routing headers, checked against the body by the gate (headers.go)
	"Mcp-Name",
}

// forwardedParamPrefix: tools' x-mcp-header arguments (2026-07-28), Mcp-Param-<name>.
const forwardedParamPrefix = "Mcp-Param-"

// returnedResponseHeaders are the only upstream response headers a client sees. Dropped on
// purpose: Set-Cookie (the upstream would set cookies on Conexor's origin, next to the
// login session), WWW-Authenticate (clients would start OAuth against the upstream),
// Location, and Access-Control-* (CORS is Conexor's).
var returnedResponseHeaders = map[string]bool{
	"Content-Type":         true,
	"Content-Length":       true,
	"Content-Encoding":     true,
	"Cache-Control":        true,
	"Mcp-Session-Id":       true,
	"Mcp-Protocol-Version": true,
	"Retry-After":          true,
	"Allow":                true,
	"Vary":                 true,
	"X-Accel-Buffering":    true,
}

type upstreamKey struct{}

// upstreamCall is the per-request state the proxy's hooks share.
type upstreamCall struct {
	info      *serverInfo
	principal *principal
	id        []byte          // the JSON-RPC id, for the error body
	msg       Message         // the request's message (zero for GET and DELETE)
	edit      resultEdit      // applied to the response to msg; nil: none
	policy    netguard.Policy // which addresses the upstream may be on
	failed    bool            // the proxy answered 502 itself
	// identityErr: the server sends identity assertions and none could be signed, so the
	// request is not sent (upstreamTransports.RoundTrip).
	identityErr error
}

// proxy forwards MCP traffic to the upstream of servers that have one.
type proxy struct {
	rp       *httputil.ReverseProxy
	log      *slog.Logger
	sessions *sessionBinder
	// apiPrivateUpstreams: see Options.APIPrivateUpstreams.
	apiPrivateUpstreams bool
	// testEdit, set only by the package's tests (SetResultEditForTest), adds an edit to
	// every request's response, so the relay can be tested before any real edit exists.
	testEdit func(Message) resultEdit
	// identities signs the identity assertions of servers that send them (Options.Asserter).
	identities *identities
}

func newProxy(transports upstreamTransports, apiPrivateUpstreams bool, log *slog.Logger, sessions *sessionBinder) *proxy {
	p := &proxy{log: log, sessions: sessions, apiPrivateUpstreams: apiPrivateUpstreams}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: transports,
		// Zero: ReverseProxy flushes every write of an event stream and of a body of unknown
		// length (chunked), so SSE events and streamed answers reach the client as they
		// arrive, and writes a body of known length (an edited JSON answer, already in
		// memory) without a flush per write: one less write to the socket per answer.
		FlushInterval: 0,
		// Pooled copy buffers: ReverseProxy otherwise allocates 32 KB per response.
		BufferPool:     copyBuffers,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.fail,
		// ReverseProxy logs here only a body read error (the relay turns each into its
		// own log line first and hands on io.EOF or context.Canceled, which it does not
		// log) and "http: proxy error" without an ErrorHandler (there is one). Kept for
		// whatever a later Go version adds.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return p
}

// copyBuffers are the buffers ReverseProxy copies response bodies through.
var copyBuffers = &bufferPool{}

// bufferPool is an httputil.BufferPool of 32 KB buffers (ReverseProxy's own size).
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }

// NewUpstreamTransport is an upstream transport: bounded dial and response-header waits,
// no transparent decompression (so bytes stream through as they come), and a dialer that
// applies policy to every address it connects to, after DNS resolution (so a name that
// resolves elsewhere later, DNS rebinding, is caught). No proxy from the environment
// (HTTP_PROXY) is used, under either policy: a proxy would dial on the gateway's behalf,
// and the policy would check the proxy's address instead of the upstream's.
func NewUpstreamTransport(policy netguard.Policy, dialTimeout, headerTimeout time.Duration) *http.Transport {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Control: policy.Control}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
	}
}

// upstreamTransports holds one transport per address policy. Connections are pooled per
// transport, so one dialed for an operator's internal upstream is never reused for an
// upstream a token holder named on the same host and port.
type upstreamTransports struct {
	public, internal http.RoundTripper
}

// newUpstreamTransports builds the transports with the default timeouts, or uses override
// for both (Options.UpstreamTransport: it then brings its own address policy). The
// function returned closes idle connections.
func newUpstreamTransports(override http.RoundTripper) (upstreamTransports, func() error) {
	if override != nil {
		return upstreamTransports{public: override, internal: override}, func() error { return nil }
	}
	pub := NewUpstreamTransport(netguard.Public, DefaultUpstreamDialTimeout, DefaultUpstreamResponseHeaderTimeout)
	internal := NewUpstreamTransport(netguard.Internal, DefaultUpstreamDialTimeout, DefaultUpstreamResponseHeaderTimeout)
	return upstreamTransports{public: pub, internal: internal}, func() error {
		pub.CloseIdleConnections()
		internal.CloseIdleConnections()
		return nil
	}
}

// RoundTrip sends the request on the transport of the call's policy.
func (t upstreamTransports) RoundTrip(r *http.Request) (*http.Response, error) {
	if call, ok := r.Context().Value(upstreamKey{}).(*upstreamCall); ok && call.identityErr != nil {
		return nil, call.identityErr
	}
	if call, ok := r.Context().Value(upstreamKey{}).(*upstreamCall); ok && call.policy == netguard.Internal {
		return t.internal.RoundTrip(r)
	}
	return t.public.RoundTrip(r)
}

// policyFor is the address policy of srv's upstream: internal addresses are for upstreams
// an operator set, or any when api_private_upstreams says the API may set them too.
// Link-local addresses are refused under both.
func (p *proxy) policyFor(srv *storage.Server) netguard.Policy {
	if srv.UpstreamByAPI && !p.apiPrivateUpstreams {
		return netguard.Public
	}
	return netguard.Internal
}

// serve forwards one admitted request of principal pr. A session ID the client sends must be
// one issued to pr (sessionBinder); the upstream gets its own ID back.
func (p *proxy) serve(w http.ResponseWriter, r *http.Request, info *serverInfo, pr *principal, msg Message, edit resultEdit) (failed bool) {
	id := []byte(msg.ID)
	if sids := r.Header.Values("Mcp-Session-Id"); len(sids) > 0 {
		upstreamID, ok := "", len(sids) == 1
		if ok {
			upstreamID, ok = p.sessions.unwrap(pr, sids[0])
		}
		if !ok {
			p.log.InfoContext(r.Context(), "mcp session refused: not this principal's", "server", info.path,
				"client_id", pr.Claims.ClientID, "sub", pr.Claims.Subject)
			writeRPCError(w, http.StatusNotFound, id, CodeNotFound, "Session not found: start a new session with initialize.")
			return true
		}
		r.Header.Set("Mcp-Session-Id", upstreamID)
	}
	call := &upstreamCall{info: info, principal: pr, id: id, msg: msg, edit: edit, policy: p.policyFor(info.srv)}
	r = r.WithContext(context.WithValue(r.Context(), upstreamKey{}, call))
	p.rp.ServeHTTP(w, r)
	return call.failed
}

// rewrite builds the upstream request from scratch: the upstream URL exactly (the client's
// path and query are Conexor's, not the upstream's), an allow-list of MCP headers, and the
// server's configured headers (its API key) on top.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	call := pr.In.Context().Value(upstreamKey{}).(*upstreamCall)
	u := *call.info.upstream
	pr.Out.URL = &u
	pr.Out.Host = ""
	pr.Out.RequestURI = ""
	h := make(http.Header, len(forwardedRequestHeaders)+len(call.info.headers)+1)
	for _, k := range forwardedRequestHeaders {
		if v := pr.In.Header[k]; len(v) > 0 {
			h[k] = append([]string(nil), v...)
		}
	}
	for k, v := range pr.In.Header {
		if strings.HasPrefix(k, forwardedParamPrefix) {
			h[k] = append([]string(nil), v...)
		}
	}
	h.Set("User-Agent", "Conexor-MCP-Gateway")
	for k, v := range call.info.headers {
		h[k] = append([]string(nil), v...)
	}
	if name := call.info.srv.IdentityHeader; name != "" {
		// Last, so no configured header of the same name can stand in for the assertion.
		assertion, err := p.identities.assertion(call)
		h.Del(name)
		if err != nil {
			call.identityErr = err
		} else {
			h.Set(name, assertion)
		}
	}
	pr.Out.Header = h
}

// errUpstreamStatus reports an upstream answer Conexor will not relay.
type errUpstreamStatus struct{ why string }

func (e *errUpstreamStatus) Error() string { return e.why }

func (p *proxy) modifyResponse(resp *http.Response) error {
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusProxyAuthRequired:
		// The upstream refused Conexor's own credentials (the configured headers); relaying
		// the 401 would send the client into an OAuth flow that cannot fix it.
		return &errUpstreamStatus{fmt.Sprintf("upstream answered %d: check the server's configured upstream headers", resp.StatusCode)}
	case resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified:
		// A client following the redirect would send its Conexor token to wherever it points.
		return &errUpstreamStatus{fmt.Sprintf("upstream answered a redirect (%d); configure its final URL", resp.StatusCode)}
	case resp.StatusCode >= 200 && resp.StatusCode < 300 && resp.StatusCode != http.StatusAccepted &&
		resp.StatusCode != http.StatusNoContent && resp.Request.Method != http.MethodDelete:
		// DELETE ends a session: whatever a 2xx carries, the client reads only the status.
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if mt != "application/json" && mt != "text/event-stream" && !(mt == "" && emptyBody(resp)) {
			return &errUpstreamStatus{fmt.Sprintf("upstream answered %d with content type %q, not JSON or an event stream", resp.StatusCode, mt)}
		}
	}
	for k := range resp.Header {
		if !returnedResponseHeaders[k] {
			delete(resp.Header, k)
		}
	}
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
		call := resp.Request.Context().Value(upstreamKey{}).(*upstreamCall)
		resp.Header.Set("Mcp-Session-Id", p.sessions.wrap(call.principal, sid))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		resp.Header.Set("X-Accel-Buffering", "no") // and no buffering in front of Conexor either
	}
	return p.relay(resp, resp.Request.Context().Value(upstreamKey{}).(*upstreamCall))
}

// emptyBody reports whether resp has no body. An upstream may send an empty body chunked
// (Content-Length unknown, as the TypeScript SDK does): the first byte is peeked then, and
// put back if there is one.
func emptyBody(resp *http.Response) bool {
	switch {
	case resp.ContentLength == 0 || resp.Body == nil || resp.Body == http.NoBody:
		return true
	case resp.ContentLength > 0:
		return false
	}
	var b [1]byte
	n, err := io.ReadFull(resp.Body, b[:])
	if n == 0 && errors.Is(err, io.EOF) {
		resp.Body.Close()
		resp.Body, resp.ContentLength = http.NoBody, 0
		resp.Header.Del("Content-Length")
		return true
	}
	resp.Body = &peekedBody{first: b[:n], ReadCloser: resp.Body}
	return false
}

// peekedBody puts back the bytes emptyBody read.
type peekedBody struct {
	first []byte
	io.ReadCloser
}

func (p *peekedBody) Read(b []byte) (int, error) {
	if len(p.first) > 0 {
		n := copy(b, p.first)
		p.first = p.first[n:]
		return n, nil
	}
	return p.ReadCloser.Read(b)
}

// fail answers 502 with a JSON-RPC error when the upstream cannot be reached or answered
// something unusable. A client that went away gets nothing.
func (p *proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return
	}
	call, _ := r.Context().Value(upstreamKey{}).(*upstreamCall)
	if call != nil {
		call.failed = true
	}
	var (
		msg    = "The upstream MCP server is unreachable."
		logMsg = "upstream request failed"
		us     *errUpstreamStatus
		cut    *errAnswerCut
		noID   *errNoIdentity
		unch   *errUnchecked
	)
	switch {
	case errors.As(err, &us):
		msg = "The upstream MCP server gave an answer the gateway does not relay."
	case errors.As(err, &unch):
		msg, logMsg = msgUnchecked, "upstream answer could not be edited; not relayed"
	case errors.As(err, &cut):
		msg, logMsg = msgAnswerCut, "upstream answer cut short"
	case errors.Is(err, netguard.ErrRefusedAddress):
		// An upstream set through the API that resolves to an internal address (now, if
		// not when it was set), or any upstream on a link-local one.
		msg = "The upstream MCP server is on an address the gateway does not connect to for this server."
		logMsg = "upstream refused by the network policy"
	case errors.As(err, &noID):
		msg, logMsg = identityFailure, "upstream request not sent: no identity assertion"
	case isTimeout(err):
		msg = "The upstream MCP server did not answer in time."
	}
	var id []byte
	if call != nil {
		id = call.id
		p.logFailure(r.Context(), call, r.Method, logMsg, err)
	} else {
		p.log.WarnContext(r.Context(), logMsg, "method", "http:"+r.Method, "err", err)
	}
	writeRPCError(w, http.StatusBadGateway, id, CodeUnavailable, msg)
}

func isTimeout(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue) && ue.Timeout()
}
