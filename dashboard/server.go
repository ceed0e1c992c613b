package dashboard

import (
	"bytes"
	"errors"
	"net/http"
	"strings"

	"github.com/conexor/conexor/internal/netguard"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

const timeFormat = "2006-01-02 15:04 UTC"

// serverPage serves GET of a server's page.
func (h *Handler) serverPage(q *request) {
	h.showServer(q, http.StatusOK, func(*templates.ServerPage) {})
}

// showServer renders the server page; edit fills in what a re-rendered form kept.
func (h *Handler) showServer(q *request, status int, edit func(*templates.ServerPage)) {
	ctx := q.r.Context()
	srv := q.server
	clients, err := h.Store.ListClients(ctx, srv.ID)
	if err != nil {
		h.serverError(q.w, q.r, "list clients", err)
		return
	}
	ids := make([]string, len(clients))
	for i, c := range clients {
		ids[i] = c.ID
	}
	used, err := h.Store.ClientsLastUsed(ctx, ids)
	if err != nil {
		h.serverError(q.w, q.r, "clients last used", err)
		return
	}
	issuer := h.Provider.Issuer()
	mcpURL := urls.Resource(issuer, srv.OrgSlug, srv.Slug)
	page := templates.ServerPage{
		Chrome:  chrome(q, templates.Crumb{Label: q.org.Name}, templates.Crumb{Label: srv.Name}),
		Admin:   q.admin(),
		OrgName: q.org.Name, Name: srv.Name, Path: srv.Path(), Description: srv.Description,
		MCPURL: mcpURL, Upstream: srv.Upstream, Enabled: srv.Enabled,
		Connect: connectSteps(mcpURL, urls.Endpoint(issuer, urls.Token), "conexor-"+srv.Slug),
	}
	if page.Usage, err = h.serverUsage(ctx, srv); err != nil {
		h.serverError(q.w, q.r, "server usage", err)
		return
	}
	for _, c := range clients {
		row := templates.ClientRow{Name: c.Name, ID: c.ID, Public: c.Public, GrantTypes: c.GetGrantTypes(),
			Scopes: c.GetScopes(), RedirectURIs: c.RedirectURIs(), Created: c.CreatedAt.UTC().Format(timeFormat), LastUsed: "Never"}
		if t, ok := used[c.ID]; ok {
			row.LastUsed = t.UTC().Format(timeFormat)
		}
		if c.Revoked() {
			row.Revoked = c.RevokedAt.UTC().Format(timeFormat)
		} else if q.admin() {
			row.EditURL = urls.DashClientAction(srv.OrgSlug, srv.Slug, c.ID, "edit")
			row.RevokeURL = urls.DashClientAction(srv.OrgSlug, srv.Slug, c.ID, "revoke")
			if !c.Public {
				row.RotateURL = urls.DashClientAction(srv.OrgSlug, srv.Slug, c.ID, "rotate")
				row.SecretVersion = secretVersion(&c)
			}
		}
		page.Clients = append(page.Clients, row)
	}
	if q.admin() {
		base := urls.DashServerPage(srv.OrgSlug, srv.Slug)
		page.CreateAction = base + "/clients"
		page.SettingsAction = base + "/settings"
		page.Create = clientInput{GrantType: grantClientCredentials}.form(h.Provider.Scopes(), nil)
		page.Settings = serverInput{Name: srv.Name, Description: srv.Description, Enabled: srv.Enabled,
			Upstream: srv.Upstream, IdentityHeader: srv.IdentityHeader}.form(nil, h.Provider.UpstreamHeaderNames(srv))
	}
	if !h.addAccess(q, &page) {
		return
	}
	edit(&page)
	h.render(q.w, q.r, status, func(b *bytes.Buffer) error { return h.Pages.Server(b, page) })
}

// saveSettings serves POST .../settings: the server's name, description, enabled, upstream
// and upstream headers, through provider.UpdateServer like the server API.
func (h *Handler) saveSettings(q *request) {
	in, errs := parseServerInput(q.r.PostForm)
	change := in.settingsChange(q.server)
	if change.Upstream != nil {
		merge(errs, h.upstreamProblems(q.r.Context(), *change.Upstream))
	}
	change.Check = func(current *storage.Server) error {
		if change.Upstream != nil && h.ConfiguredHeaders != nil && h.ConfiguredHeaders(current.Path()) &&
			!netguard.SameOrigin(current.Upstream, *change.Upstream) {
			return errUpstreamLocked
		}
		return nil
	}
	if len(errs) == 0 {
		srv, err := h.Provider.UpdateServer(q.r.Context(), q.org.Slug, q.server.Slug, change)
		switch {
		case err == nil:
			h.Log.InfoContext(q.r.Context(), "server updated from the dashboard", "server", srv.Path(), "user_id", q.visitor.User.ID, "fields", strings.Join(change.Fields(), ","))
			q.server = srv
			h.showServer(q, http.StatusOK, func(p *templates.ServerPage) { p.Saved = true })
			return
		case errors.Is(err, provider.ErrInvalidServer):
			errs = fieldErrors(err)
		case errors.Is(err, errUpstreamLocked):
			errs = map[string][]string{"upstream": {"This server sends the operator's configured credentials (upstream headers) to its upstream, " +
				"so from the dashboard its upstream can move only within the same origin or back to the built-in demo. Ask the operator to make this change."}}
		case errors.Is(err, storage.ErrNotFound):
			h.notFound(q.w, q.r)
			return
		default:
			h.serverError(q.w, q.r, "update server", err)
			return
		}
	}
	h.showServer(q, http.StatusUnprocessableEntity, func(p *templates.ServerPage) {
		p.Settings = in.form(errs, h.Provider.UpstreamHeaderNames(q.server))
	})
}

// errUpstreamLocked refuses moving the upstream of a server with configured headers to
// another origin (the server API's rule, mcp.errUpstreamLocked).
var errUpstreamLocked = errors.New("upstream with configured headers moved to another origin")

// newServerForm serves GET .../servers/new.
func (h *Handler) newServerForm(q *request) {
	h.showNewServer(q, http.StatusOK, serverInput{Backend: "demo"}.form(nil, nil))
}

func (h *Handler) showNewServer(q *request, status int, form templates.ServerForm) {
	page := templates.NewServerPage{
		Chrome:  chrome(q, templates.Crumb{Label: q.org.Name}, templates.Crumb{Label: "New server"}),
		OrgName: q.org.Name, OrgSlug: q.org.Slug,
		Action: urls.Dashboard + "/" + q.org.Slug + "/servers/new", CancelURL: urls.Dashboard,
		Form: form,
	}
	h.render(q.w, q.r, status, func(b *bytes.Buffer) error { return h.Pages.NewServer(b, page) })
}

// createServer serves POST .../servers/new: provider.CreateServer, then the headers, and
// the new server's page. The gateway loads servers from the database, so it is usable at once.
func (h *Handler) createServer(q *request) {
	ctx := q.r.Context()
	in, errs := parseServerInput(q.r.PostForm)
	merge(errs, in.newServerProblems())
	spec := in.serverSpec(q.org.Slug)
	if spec.Upstream != "" {
		merge(errs, h.upstreamProblems(ctx, spec.Upstream))
	}
	if h.ConfiguredHeaders != nil && h.ConfiguredHeaders(urls.ServerPath(q.org.Slug, spec.Slug)) {
		// The configuration file sends the operator's headers (an API key) to whatever
		// server is at this path: an admin must not be able to create it with their upstream.
		merge(errs, map[string][]string{"slug": {"The operator has configured upstream credentials for this slug: only the operator can create this server (conexor servers create)."}})
	}
	if len(errs) == 0 {
		// One step: the upstream is marked as the dashboard's and the headers are sealed in
		// the same transaction that creates the server.
		srv, err := h.Provider.CreateServer(ctx, spec)
		switch {
		case err == nil:
			h.Log.InfoContext(ctx, "server created from the dashboard", "server", srv.Path(), "user_id", q.visitor.User.ID)
			http.Redirect(q.w, q.r, urls.DashServerPage(srv.OrgSlug, srv.Slug), http.StatusSeeOther)
			return
		case errors.Is(err, storage.ErrConflict):
			errs = map[string][]string{"slug": {"This organization already has a server with this slug."}}
		case errors.Is(err, provider.ErrInvalidServer):
			errs = fieldErrors(err)
		default:
			h.serverError(q.w, q.r, "create server", err)
			return
		}
	}
	h.showNewServer(q, http.StatusUnprocessableEntity, in.form(errs, nil))
}
