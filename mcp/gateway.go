// Package mcp is Conexor's resource server: the gateway in front of every hosted MCP server
// at /mcp/{org}/{server}.
//
// For each request it checks the bearer token (signature by kid, typ at+jwt, issuer,
// expiry, audience equal to the server's canonical URL, not revoked), reads the one
// JSON-RPC message of a POST and checks the token's scopes against the method (Policy),
// then hands the request to the built-in demo server or streams it to the server's
// upstream. Refusals carry the RFC 6750 / RFC 9728 challenges MCP clients act on. It also
// serves each server's protected resource metadata and the server API
// (GET/PATCH /api/servers/{org}/{server}).
package mcp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/conexor/conexor/audit"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conexor/conexor/internal/netguard"
	"github.com/conexor/conexor/mcp/demo"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// DefaultMaxBodyBytes caps a POST body. MCP requests are small; a tool call's arguments
// rarely pass a few kilobytes.
const DefaultMaxBodyBytes = 4 << 20

// Options are the gateway's dependencies and settings.
type Options struct {
	// Issuer is the public base URL; every canonical resource URL starts with it.
	Issuer   string
	Verifier Verifier
	Servers  ServerStore
	Tokens   TokenStore
	// Scopes is the scope registry the policy and the metadata are built from.
	Scopes *provider.Scopes
	// UpstreamHeaders are the headers sent to proxied servers (an API key, say), by
	// "org/server": the operator configures them, clients never see them.
	UpstreamHeaders map[string]http.Header
	// StoredUpstreamHeaders opens the headers an admin stored with a server
	// (provider.Provider.UpstreamHeaders), read when the server is loaded into the server
	// cache; UpstreamHeaders win on a name clash, the operator's word. An error makes the
	// server's upstream unusable rather than calling it without its credentials.
	StoredUpstreamHeaders func(*storage.Server) (http.Header, error)
	// AccessTokenTTL is the longest access-token lifetime (default 24h, the maximum the
	// configuration allows); revocations older than that are forgotten.
	AccessTokenTTL time.Duration
	// Now is the clock tokens expire by; nil means time.Now. It must be the provider's.
	Now    func() time.Time
	Logger *slog.Logger
	// Registerer receives the gateway's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Audit counts MCP requests allowed and refused per client and hour; nil counts none.
	Audit *audit.Recorder
	// Demo serves servers without an upstream; nil builds the built-in demo server (one
	// instance for all of them: it ignores the path).
	Demo http.Handler
	// UpstreamTransport replaces both NewUpstreamTransport(policy, 5s, 60s), and with them
	// the per-server address policy.
	UpstreamTransport http.RoundTripper
	// MaxBodyBytes caps POST bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// APIPrivateUpstreams lets PATCH /api/servers point a server at loopback or private
	// addresses. Off by default: a token holder (not an operator) would otherwise make the
	// gateway a way into the network it runs in; the proxy checks it when it dials, on the
	// resolved address. Operators set internal upstreams with `conexor servers create|update
	// --upstream` whatever this says. Link-local addresses are refused for everyone.
	APIPrivateUpstreams bool
	// Editor applies server API changes through the one entry point the CLI and dashboard
	// use (*provider.Provider).
	Editor ServerEditor
	// ExactRevocationCheck asks storage about every request's token instead of using the
	// revocation set. Exact, and far slower (see the package benchmarks).
	ExactRevocationCheck bool
	// MaxCachedTokens bounds the verified-token cache (default DefaultMaxCachedTokens).
	MaxCachedTokens int
	// Asserter signs the identity assertions sent to upstreams of servers with an identity
	// header (*provider.Provider); nil refuses requests to those servers with a 502 rather
	// than call them without the assertion they were promised.
	Asserter Asserter
	// SessionKey binds proxied MCP session IDs to the principal that opened them; every
	// replica needs the same one (secret.PurposeSessionBinding). Nil is a random key good
	// for this process only.
	SessionKey []byte
	// Tasks records the tasks upstreams create for task-augmented requests, so that
	// tasks/get, tasks/result, tasks/cancel and tasks/list reach only their creator
	// (*storage.Store). Nil leaves every tasks/* method refused, as no scope grants them.
	Tasks TaskStore
}

// Gateway is the resource server. Build it with New, route its Endpoints, Close it at
// shutdown.
type Gateway struct {
	issuer  string
	log     *slog.Logger
	metrics *Metrics
	policy  *Policy
	scopes  *provider.Scopes
	servers *serverCache
	auth    *authenticator
	revoked *revocations
	proxy   *proxy
	// toolHeaders: which tool arguments travel in Mcp-Param-* headers (headers.go).
	toolHeaders toolHeaderCache
	demo        http.Handler
	maxBody     int64
	editor      ServerEditor
	audit       *audit.Recorder
	// apiPrivateUpstreams: see Options.APIPrivateUpstreams.
	apiPrivateUpstreams bool
	// lookupIP resolves upstream hosts named through the API (net.DefaultResolver).
	lookupIP netguard.Resolver
	closers  []func() error
	// tasks binds upstream tasks to their creators; nil without Options.Tasks.
	tasks *taskBook
}

// New builds a gateway.
func New(opts Options) (*Gateway, error) {
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"Issuer", opts.Issuer != ""}, {"Verifier", opts.Verifier != nil}, {"Servers", opts.Servers != nil},
		{"Tokens", opts.Tokens != nil}, {"Scopes", opts.Scopes != nil}, {"Editor", opts.Editor != nil},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, errors.New("mcp: Options need " + strings.Join(missing, ", "))
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "mcp")
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	ttl := opts.AccessTokenTTL
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	g := &Gateway{
		issuer:  strings.TrimRight(opts.Issuer, "/"),
		log:     log,
		metrics: NewMetrics(opts.Registerer),
		policy:  NewPolicy(opts.Scopes),
		scopes:  opts.Scopes,
		demo:    opts.Demo,
		maxBody: opts.MaxBodyBytes,
		editor:  opts.Editor,
		audit:   opts.Audit,

		apiPrivateUpstreams: opts.APIPrivateUpstreams,
		lookupIP:            netguard.DefaultResolver,
	}
	if g.maxBody <= 0 {
		g.maxBody = DefaultMaxBodyBytes
	}
	upstreams := opts.UpstreamHeaders
	g.servers = &serverCache{store: opts.Servers, issuer: g.issuer, stored: opts.StoredUpstreamHeaders, upstreams: func(path string) http.Header {
		if h := upstreams[path]; len(h) > 0 {
			return h.Clone()
		}
		return nil
	}}
	g.tasks = newTaskBook(opts.Tasks, now, log)
	g.revoked = newRevocations(opts.Tokens, ttl, log)
	maxCache := opts.MaxCachedTokens
	if maxCache <= 0 {
		maxCache = DefaultMaxCachedTokens
	}
	g.auth = &authenticator{verifier: opts.Verifier, tokens: opts.Tokens, revoked: g.revoked, now: now,
		exact: opts.ExactRevocationCheck, maxCache: int64(maxCache)}
	transports, closeIdle := newUpstreamTransports(opts.UpstreamTransport)
	g.closers = append(g.closers, closeIdle)
	g.proxy = newProxy(transports, opts.APIPrivateUpstreams, log, newSessionBinder(opts.SessionKey))
	g.proxy.identities = newIdentities(opts.Asserter, now)
	if g.demo == nil {
		// The demo's DNS-rebinding guard refuses loopback requests whose Host is not
		// loopback. Behind the gate it protects nothing (a rebinding page has no token)
		// and would break Conexor behind a reverse proxy on the same host.
		d, err := demo.New(demo.Options{Logger: log.With("server", "demo"), DisableLocalhostProtection: true})
		if err != nil {
			return nil, err
		}
		g.demo = d.Handler()
		g.closers = append(g.closers, d.Close)
	}
	return g, nil
}

// Endpoints are the gateway's handlers. The app's route table (internal/app) puts each at
// its path; every method reaches them and they answer a wrong one themselves. OPTIONS on
// each answers 204 with Allow and never reaches the gate (a CORS preflight carries no
// credentials); the CORS headers themselves come from the middleware around the router.
type Endpoints struct {
	// MCP is the gated MCP endpoint (GET, POST, DELETE) at urls.MCPRoute, with or without
	// a trailing slash.
	MCP http.Handler
	// Metadata is the public RFC 9728 metadata (GET) at urls.PRMetadataRoute.
	Metadata http.Handler
	// API is the gated server API (GET, PATCH) at urls.ServerAPIRoute.
	API http.Handler
	// NoServer answers any other path under urls.MCPPrefix with a JSON-RPC 404.
	NoServer http.Handler
}

// Endpoints returns the gateway's handlers. Their routes must use the urls templates:
// the handlers read the {org} and {server} variables.
func (g *Gateway) Endpoints() Endpoints {
	return Endpoints{
		MCP:      http.HandlerFunc(g.serveMCP),
		Metadata: http.HandlerFunc(g.serveMetadata),
		API:      http.HandlerFunc(g.serveAPI),
		NoServer: http.HandlerFunc(g.serveNoServer),
	}
}

// Close releases the demo server and idle upstream connections.
func (g *Gateway) Close() error {
	var errs []error
	for _, c := range g.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// AfterRevocation wraps the revocation endpoint so that a token revoked through this
// process is refused by this process before the revocation's 200 reaches the client: the
// success status is held back until the revocation set has been re-read (the store has
// committed by then). Other replicas see it within the set's refresh bound.
func (g *Gateway) AfterRevocation(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&revocationWriter{ResponseWriter: w, ctx: r.Context(), g: g}, r)
	})
}

type revocationWriter struct {
	http.ResponseWriter
	ctx         context.Context
	g           *Gateway
	wroteHeader bool
}

func (w *revocationWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		if code == http.StatusOK {
			w.g.AccessTokensRevoked(w.ctx)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *revocationWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *revocationWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
