package mcp

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/internal/netguard"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// maxPatchBytes caps a PATCH body; the four fields fit in a few kilobytes.
const maxPatchBytes = 64 << 10

// ServerView is the server API's representation of an MCP server. Upstream headers (API
// keys) never appear in it; the upstream URL only for tokens that may change it, without
// its query.
type ServerView struct {
	Org                 string     `json:"org"`
	Server              string     `json:"server"`
	Name                string     `json:"name"`
	Description         string     `json:"description"`
	MCPURL              string     `json:"mcp_url"`
	ResourceMetadataURL string     `json:"resource_metadata_url"`
	Status              string     `json:"status"` // "enabled" or "disabled"
	Enabled             bool       `json:"enabled"`
	Kind                string     `json:"kind"` // "demo" or "proxy"
	Upstream            string     `json:"upstream,omitempty"`
	IdentityHeader      string     `json:"identity_header,omitempty"` // shown with Upstream
	Scopes              ScopesView `json:"scopes"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

// ScopesView lists the scopes a client may ask for this server: the advertised ones (what
// the protected resource metadata lists) and all of them with descriptions.
type ScopesView struct {
	Advertised []string         `json:"advertised"`
	All        []provider.Scope `json:"all"`
}

// ServerPatch is the body of PATCH /api/servers/{org}/{server}; absent fields stay as they
// are. Upstream "" switches the server to the built-in demo.
type ServerPatch struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Enabled     *bool   `json:"enabled"`
	Upstream    *string `json:"upstream"`
	// IdentityHeader names the header for identity assertions; "" turns them off.
	IdentityHeader *string `json:"identity_header"`
}

// serveAPI serves GET (mcp:server:read) and PATCH (mcp:server:manage) on one server, behind
// the same token checks as the MCP endpoint: the token's audience is the server's URL. A
// disabled server stays reachable here, or it could never be enabled again.
func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request) {
	var route string
	switch r.Method {
	case http.MethodGet:
		route = "GET /api/servers"
	case http.MethodPatch:
		route = "PATCH /api/servers"
	case http.MethodOptions:
		preflight(w, "GET, PATCH, OPTIONS")
		return
	default:
		w.Header().Set("Allow", "GET, PATCH, OPTIONS")
		httpx.WriteJSON(w, http.StatusMethodNotAllowed, httpx.OAuthError{Code: "method_not_allowed", Description: "Use GET or PATCH."})
		return
	}
	info, p, rf := g.admit(r, urls.ServersAPI)
	if rf == nil {
		rule, need := g.policy.ForMethod(route)
		if !Allows(rule, need, p.Scopes) {
			rf = &refusal{status: http.StatusForbidden, oauth: errInsufficientScope, outcome: "insufficient_scope",
				desc: "The access token lacks the scope this request needs."}
			if len(need) > 0 {
				rf.scope = need[0]
				rf.desc = "The access token lacks the scope " + need[0] + ", which " + route + " needs."
			}
		}
	}
	if rf != nil {
		server, metadataURL := "unknown", ""
		if info != nil && info.srv != nil {
			server, metadataURL = info.path, info.metadataURL
		}
		g.logRefusal(r.Context(), "server api request refused", server, route, p, rf)
		writeAPIRefusal(w, rf, metadataURL)
		return
	}
	if r.Method == http.MethodGet {
		httpx.WriteJSON(w, http.StatusOK, g.view(info.srv, p))
		return
	}
	g.patchServer(w, r, info, p)
}

func (g *Gateway) patchServer(w http.ResponseWriter, r *http.Request, info *serverInfo, p *principal) {
	bad := func(status int, code, desc string) {
		httpx.WriteJSON(w, status, httpx.OAuthError{Code: code, Description: desc})
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		bad(http.StatusUnsupportedMediaType, errInvalidRequest, "Send the changes as Content-Type: application/json.")
		return
	}
	body, err := httpx.ReadBody(w, r, maxPatchBytes)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			bad(http.StatusRequestEntityTooLarge, errInvalidRequest, "The body is too large.")
			return
		}
		bad(http.StatusBadRequest, errInvalidRequest, "The body could not be read.")
		return
	}
	var patch ServerPatch
	if err := jsonv2.Unmarshal(body, &patch, jsonv2.RejectUnknownMembers(true)); err != nil {
		bad(http.StatusBadRequest, errInvalidRequest,
			"The body must be one JSON object with only name, description, enabled, upstream and identity_header (exact names, each once).")
		return
	}
	// The provider records the change as the token's client, on behalf of its subject.
	name := ""
	if p.Claims.Subject != "" && p.Claims.Subject != p.Claims.ClientID {
		name = "on behalf of " + p.Claims.Subject
	}
	r = r.WithContext(audit.WithActor(r.Context(), audit.FromRequest(r, audit.KindClient, p.Claims.ClientID, name)))
	change := provider.ServerChange{Name: patch.Name, Description: patch.Description, Upstream: patch.Upstream,
		Enabled: patch.Enabled, ByAPI: true, IdentityHeader: patch.IdentityHeader}
	refused := func(detail string) {
		g.audit.Record(r.Context(), audit.Event{Action: audit.ServerUpdated, Result: audit.Refused, OrgID: info.srv.OrgID,
			ServerPath: info.path, Target: info.srv.ID, TargetName: info.srv.Name, Detail: detail})
	}
	if problems := change.Validate(); len(problems) > 0 {
		refused("invalid " + strings.Join(problems.Fields(), ", "))
		bad(http.StatusBadRequest, errInvalidRequest, "Invalid server: "+problems.Error()+".")
		return
	}
	if patch.Upstream != nil && *patch.Upstream != "" && !g.apiPrivateUpstreams {
		if addr, ok := netguard.PublicUpstream(r.Context(), *patch.Upstream, g.lookupIP); !ok {
			g.log.WarnContext(r.Context(), "server update refused: upstream on a non-public address",
				"server", info.path, "address", addr, "client_id", p.Claims.ClientID, "sub", p.Claims.Subject)
			refused("upstream on a non-public address")
			bad(http.StatusForbidden, "forbidden", "Through the API an upstream must be on a public address; "+
				addr+" is loopback, private or link-local. An operator sets internal upstreams (conexor servers create|update --upstream).")
			return
		}
	}
	change.Check = func(current *storage.Server) error {
		if patch.Upstream != nil && len(info.headers) > 0 && !netguard.SameOrigin(current.Upstream, *patch.Upstream) {
			return errUpstreamLocked
		}
		return nil
	}
	updated, err := g.editor.UpdateServer(r.Context(), info.srv.OrgSlug, info.srv.Slug, change)
	g.servers.forget(info.path)
	switch {
	case errors.Is(err, errUpstreamLocked):
		g.log.WarnContext(r.Context(), "server update refused: upstream with configured headers moved to another origin",
			"server", info.path, "client_id", p.Claims.ClientID, "sub", p.Claims.Subject)
		bad(http.StatusForbidden, "forbidden", "This server sends configured credentials (upstream headers) to its upstream, "+
			"so the API can move its upstream only within the same origin or back to the built-in demo; an operator must make this change.")
		return
	case errors.Is(err, provider.ErrInvalidServer):
		// Rules that depend on the stored server (an identity header named like a stored
		// upstream header), checked in the update's transaction.
		bad(http.StatusBadRequest, errInvalidRequest, "Invalid server: "+err.Error()+".")
		return
	case errors.Is(err, storage.ErrNotFound):
		bad(http.StatusNotFound, "not_found", "The server no longer exists.")
		return
	case errors.Is(err, storage.ErrUnavailable):
		g.log.ErrorContext(r.Context(), "update server: database unavailable", "server", info.path, "err", err)
		w.Header().Set("Retry-After", "1")
		bad(http.StatusServiceUnavailable, "temporarily_unavailable", "The server cannot reach its database right now; retry the request in a moment.")
		return
	case err != nil:
		g.log.ErrorContext(r.Context(), "update server", "server", info.path, "err", err)
		bad(http.StatusInternalServerError, "server_error", "The server could not be updated. Try again later.")
		return
	}
	g.log.InfoContext(r.Context(), "server updated", "server", info.path, "fields", strings.Join(change.Fields(), ","),
		"enabled", updated.Enabled, "kind", kind(updated), "client_id", p.Claims.ClientID, "sub", p.Claims.Subject)
	httpx.WriteJSON(w, http.StatusOK, g.view(updated, p))
}

// ServerEditor changes a server through Conexor's one entry point for it
// (*provider.Provider), so the API validates exactly what the CLI and the dashboard do.
type ServerEditor interface {
	UpdateServer(ctx context.Context, org, slug string, change provider.ServerChange) (*storage.Server, error)
}

// errUpstreamLocked refuses moving the upstream of a server with configured headers to
// another origin. Those headers (an API key) are the operator's secret and are never shown
// through the API; a token holder who could point the upstream at a host of their choosing
// would receive them with the next proxied request. The operator decides where they go.
var errUpstreamLocked = errors.New("upstream with configured headers moved to another origin")

func kind(srv *storage.Server) string {
	if srv.Upstream == "" {
		return "demo"
	}
	return "proxy"
}

func (g *Gateway) view(srv *storage.Server, p *principal) ServerView {
	status := "disabled"
	if srv.Enabled {
		status = "enabled"
	}
	v := ServerView{
		Org: srv.OrgSlug, Server: srv.Slug, Name: srv.Name, Description: srv.Description,
		MCPURL:              urls.Resource(g.issuer, srv.OrgSlug, srv.Slug),
		ResourceMetadataURL: urls.ResourceMetadata(g.issuer, srv.OrgSlug, srv.Slug),
		Status:              status, Enabled: srv.Enabled, Kind: kind(srv),
		Scopes:    ScopesView{Advertised: g.scopes.Advertised(), All: g.scopes.All()},
		CreatedAt: srv.CreatedAt.UTC(), UpdatedAt: srv.UpdatedAt.UTC(),
	}
	if rule, need := g.policy.ForMethod("PATCH /api/servers"); srv.Upstream != "" && Allows(rule, need, p.Scopes) {
		v.Upstream = redactUpstream(srv.Upstream)
		v.IdentityHeader = srv.IdentityHeader
	}
	return v
}

// redactUpstream shows where a server proxies to without its query, which may hold a key.
func redactUpstream(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.String()
}
