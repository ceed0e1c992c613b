package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conexor/conexor/accounts"
	"github.com/conexor/conexor/consent"
	"github.com/conexor/conexor/dashboard"
	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/mcp"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// route is one line of the route table: where a handler answers and which policies of
// the app apply there. Every route of Conexor is a line of routeTable; nothing else
// registers routes, and the CORS and page-header paths are derived from the table.
type route struct {
	// path is a gorilla/mux template, or with prefix a path prefix.
	path   string
	prefix bool
	// methods the router matches; none means every method reaches the handler, which
	// answers a wrong one itself (the OAuth endpoints and the gateway do, in their formats).
	// A method no line of a path accepts gets the app's 405 (fallback.go).
	methods []string
	// handler, wrapped in its own middleware. Nil makes no route: the line only extends a
	// policy to paths that have none, so their 404 follows it.
	handler http.Handler
	// cors lets browser-based MCP clients call from any origin (httpx.CORS). A template
	// covers every path under its literal part, so a 404 there is readable cross-origin.
	cors bool
	// page marks a page of the browser flow: every response, the router's 404 and 405
	// included, carries the HTML page headers (httpx.PageHeaders) and refusals are HTML.
	// Its POSTs must come from the issuer's origin (samePagePost, origin.go).
	page bool
	// origin, when set, refuses a request whose Origin header is not allowed
	// (httpx.CheckOrigin, the allowed_origins setting): the MCP transport's DNS-rebinding check.
	origin func(w http.ResponseWriter, r *http.Request, origin string)
}

// routeTable is every route Conexor serves, in the order the router tries them. Every
// route also passes through the request metrics; around the router, in this order from
// the outside: panic recovery, trusted proxies, CORS, page headers (see routes).
func (a *App) routeTable(browser consent.Endpoints, dash dashboard.Endpoints, gw mcp.Endpoints) []route {
	p := a.Provider
	get := []string{http.MethodGet, http.MethodHead}
	post := []string{http.MethodPost}
	return []route{
		// The MCP endpoint (mcp) first: it takes most requests, and the router tries every
		// line before it, one regular expression each. No other line matches a path under
		// urls.MCPPrefix, so the order changes no answer. Its handler answers OPTIONS and
		// wrong methods itself.
		{path: urls.MCPRoute, handler: gw.MCP, cors: true, origin: mcp.RefuseOrigin},
		{path: urls.MCPRoute + "/", handler: gw.MCP, cors: true, origin: mcp.RefuseOrigin}, // the same endpoint

		// The authorization server (provider). The OAuth endpoints answer a wrong method
		// with an RFC 6749 error; introspection is for resource servers, not browsers.
		{path: urls.Token, handler: a.withinStorageTimeout(http.HandlerFunc(p.TokenHandler)), cors: true},
		// A revocation's 200 waits until this process refuses the token (AfterRevocation).
		{path: urls.Revoke, handler: a.withinStorageTimeout(a.gateway.AfterRevocation(http.HandlerFunc(p.RevokeHandler))), cors: true},
		{path: urls.Introspect, handler: a.withinStorageTimeout(http.HandlerFunc(p.IntrospectHandler))},
		{path: urls.Register, handler: a.withinStorageTimeout(http.HandlerFunc(p.RegisterHandler)), cors: true},
		{path: urls.JWKS, methods: get, handler: http.HandlerFunc(p.JWKSHandler), cors: true},
		{path: urls.ASMetadata, methods: get, handler: http.HandlerFunc(p.MetadataHandler), cors: true},

		// The browser flow (consent): same-origin HTML pages, never CORS.
		{path: urls.Consent, methods: []string{http.MethodGet}, handler: browser.Authorize, page: true},
		{path: urls.Consent, methods: []string{http.MethodPost}, handler: browser.Decide, page: true},
		{path: urls.Login, methods: []string{http.MethodGet}, handler: a.withinStorageTimeout(browser.LoginPage), page: true},
		{path: urls.Login, methods: []string{http.MethodPost}, handler: a.withinStorageTimeout(browser.Login), page: true},
		{path: urls.Logout, methods: []string{http.MethodPost}, handler: a.withinStorageTimeout(browser.Logout), page: true},
		{path: templates.StylesheetPath, methods: get, handler: templates.Static()},
		{path: templates.ScriptPath, methods: get, handler: templates.Static()},

		// The dashboard: same-origin HTML pages on the provider's service layer. The new-server
		// page comes before the server page, whose {server} would match "new". A revocation's
		// 200 waits until this process refuses the client's tokens, as the endpoint's does.
		{path: urls.Root, methods: get, handler: dash.Root, page: true},
		{path: urls.Dashboard, methods: get, handler: dash.Home, page: true},
		{path: urls.DashNewServer, methods: get, handler: dash.NewServer, page: true},
		{path: urls.DashNewServer, methods: post, handler: dash.CreateServer, page: true},
		{path: urls.DashServer, methods: get, handler: dash.Server, page: true},
		{path: urls.DashSettings, methods: post, handler: dash.Settings, page: true},
		{path: urls.DashClients, methods: post, handler: dash.CreateClient, page: true},
		{path: urls.DashClient + "/rotate", methods: post, handler: dash.Rotate, page: true},
		{path: urls.DashClient + "/edit", methods: get, handler: dash.EditForm, page: true},
		{path: urls.DashClient + "/edit", methods: post, handler: dash.Edit, page: true},
		{path: urls.DashClient + "/revoke", methods: get, handler: dash.RevokeForm, page: true},
		{path: urls.DashClient + "/revoke", methods: post, handler: a.gateway.AfterRevocation(dash.Revoke), page: true},
		// Members of an org, and the user's own account (accounts).
		{path: urls.DashMembers, methods: get, handler: dash.Members, page: true},
		{path: urls.DashMembers, methods: post, handler: dash.AddMember, page: true},
		{path: urls.DashMember + "/role", methods: post, handler: dash.SetRole, page: true},
		{path: urls.DashMember + "/remove", methods: get, handler: dash.RemoveForm, page: true},
		// Removing a member revokes their grants: the 200 waits, as a revocation's does.
		{path: urls.DashMember + "/remove", methods: post, handler: a.gateway.AfterRevocation(dash.Remove), page: true},
		{path: urls.Account, methods: get, handler: dash.Account, page: true},
		{path: urls.AccountPassword, methods: post, handler: dash.Password, page: true},
		{path: urls.AccountEndSessions, methods: post, handler: dash.EndSessions, page: true},
		{path: urls.SetPassword, methods: []string{http.MethodGet, http.MethodHead, http.MethodPost}, handler: dash.SetPassword, page: true},
		{path: urls.DashActivity, methods: get, handler: dash.Activity, page: true},
		{path: urls.DashGrantsRevoke, methods: post, handler: a.gateway.AfterRevocation(dash.GrantRevoke), page: true},
		{path: urls.AccountApps, methods: get, handler: dash.Apps, page: true},
		{path: urls.AccountAppsRevoke, methods: post, handler: a.gateway.AfterRevocation(dash.AppsRevoke), page: true},

		// The rest of the MCP gateway (mcp); its handlers answer OPTIONS and wrong methods themselves.
		{path: urls.PRMetadataRoute, handler: gw.Metadata, cors: true},
		{path: urls.ServerAPIRoute, handler: gw.API, cors: true, origin: mcp.RefuseAPIOrigin},
		{path: urls.MCPPrefix, prefix: true, handler: gw.NoServer, cors: true}, // a JSON-RPC 404
		// No route: a browser client probing RFC 9728 metadata elsewhere reads the 404.
		{path: urls.PRMetadata, cors: true},
		{path: urls.PRMetadata + "/", prefix: true, cors: true},

		// Operations.
		{path: urls.Healthz, methods: get, handler: http.HandlerFunc(healthz)},
		{path: urls.Readyz, methods: get, handler: http.HandlerFunc(a.readyz)},
		{path: urls.Metrics, methods: get, handler: promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{})},
	}
}

func (a *App) routes() http.Handler {
	pages, err := templates.New()
	if err != nil {
		panic(err) // only broken embedded templates fail here, which every test catches
	}
	p := a.Provider
	browser, err := consent.New(consent.Config{Store: a.Store, Sessions: a.Store, Provider: p,
		SessionKey: a.sessionKey, Pages: pages, Log: a.log, Now: p.Config().Now, Audit: a.Audit,
		Limits: a.limits})
	if err != nil {
		panic(err) // as above
	}
	dash := &dashboard.Handler{Store: a.Store, Provider: p, Visitors: browser,
		Pages: pages, Log: a.log, Now: p.Config().Now, PrivateUpstreams: a.cfg.APIPrivateUpstreams,
		ConfiguredHeaders: func(path string) bool { return len(a.cfg.Upstreams[path].Headers) > 0 },
		Audit:             a.Audit,
		Accounts:          &accounts.Service{Store: a.Store, Grants: p, Audit: a.Audit, Log: a.log, Now: p.Config().Now, Limits: a.limits}}
	table := a.routeTable(browser.Endpoints(), dash.Endpoints(), a.gateway.Endpoints())

	r := mux.NewRouter()
	r.SkipClean(true) // never answer a POST with a redirect; odd paths simply do not match
	metrics := httpx.NewMetrics(a.registry)
	r.Use(metrics.Middleware)
	var corsPatterns []string
	pagePaths := &pageSet{}
	origins := httpx.NewOrigins(a.cfg.Issuer, a.cfg.AllowedOrigins)
	for _, rt := range table {
		if rt.origin != nil {
			rt.handler = httpx.CheckOrigin(origins, rt.origin, rt.handler)
		}
		if rt.page && rt.handler != nil {
			rt.handler = a.samePagePost(pages, rt.handler)
		}
		if rt.handler != nil {
			m := r.NewRoute()
			if rt.prefix {
				m.PathPrefix(rt.path)
			} else {
				m.Path(rt.path)
			}
			if len(rt.methods) > 0 {
				m.Methods(rt.methods...)
			}
			m.Handler(rt.handler)
		}
		if rt.cors {
			corsPatterns = append(corsPatterns, corsPattern(rt))
		}
		if rt.page {
			pagePaths.add(rt.path)
		}
	}

	// mux runs r.Use middleware only for matched routes: count the unmatched ones too.
	fb := &fallback{issuer: a.cfg.Issuer, router: r, pages: pages, pagePaths: pagePaths}
	r.NotFoundHandler = metrics.Middleware(http.HandlerFunc(fb.notFound))
	r.MethodNotAllowedHandler = metrics.Middleware(http.HandlerFunc(fb.methodNotAllowed))

	// CORS outside the router, so a preflight never meets a route's method restriction.
	cors := httpx.CORS(httpx.MatchPaths(corsPatterns...), pageHeaders(pagePaths, r))
	// Validate has already parsed the prefixes; behind trusted proxies, RemoteAddr becomes
	// the client's address for every handler (login throttling, registration limits).
	proxies, _ := httpx.ParsePrefixes(a.cfg.TrustedProxies)
	// Recover is outermost, so no panic anywhere (router, CORS, fallbacks) leaks a trace.
	return httpx.Recover(a.log)(httpx.TrustedProxies(proxies, cors))
}

// corsPattern is the httpx.MatchPaths pattern of a CORS route: its path, or for a prefix
// or a template the literal part before the first variable, matched as a prefix.
func corsPattern(rt route) string {
	if i := strings.IndexByte(rt.path, '{'); i >= 0 {
		return rt.path[:i]
	}
	return rt.path // a prefix ends in "/", which MatchPaths matches as a prefix
}

// withinStorageTimeout gives the request one deadline, storage_timeout from its start, for
// everything it asks of storage and of the shared limits: each database call is bounded by
// the store anyway, but a request that makes several (a throttle check that falls back to
// counting in process, then the client lookup) would otherwise add their bounds up. With a
// silent database the answer is then a 503 within storage_timeout, whatever the route does
// first. Only routes that reach nothing slower than the database have it: the authorization
// endpoint may fetch a client metadata document, and the gateway streams.
func (a *App) withinStorageTimeout(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), a.cfg.StorageTimeout)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok\n")
}

// readyz answers 200 when the database answers within storage_timeout and takes writes
// (storage.Store.Ready), else 503 with Retry-After and the reason.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	if err := a.Store.Ready(r.Context()); err != nil {
		a.log.WarnContext(r.Context(), "readiness check failed", "err", err)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		if errors.Is(err, storage.ErrReadOnly) {
			_, _ = io.WriteString(w, "not ready: database is read-only\n")
			return
		}
		_, _ = io.WriteString(w, "database unreachable\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}
