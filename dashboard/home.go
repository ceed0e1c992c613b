package dashboard

import (
	"bytes"
	"net/http"
	"time"

	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// root serves GET /: the dashboard for a logged-in visitor, else the login page, which
// comes back to the dashboard.
func (h *Handler) root(w http.ResponseWriter, r *http.Request) {
	v, err := h.Visitors.Visitor(r)
	if err != nil {
		h.serverError(w, r, "load session", err)
		return
	}
	if v.User == nil {
		http.Redirect(w, r, loginURL(urls.Dashboard), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, urls.Dashboard, http.StatusSeeOther)
}

// home serves GET /dashboard: every org of the user with its servers and their numbers.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	v, err := h.Visitors.Visitor(r)
	if err != nil {
		h.serverError(w, r, "load session", err)
		return
	}
	if v.User == nil {
		h.loginFirst(w, r, urls.Dashboard)
		return
	}
	ctx := r.Context()
	orgs, err := h.Store.OrgsOfUser(ctx, v.User.ID)
	if err != nil {
		h.serverError(w, r, "list orgs", err)
		return
	}
	page := templates.DashboardPage{Chrome: templates.Chrome{UserEmail: v.User.Email, CSRF: v.CSRF,
		Crumbs: []templates.Crumb{{Label: "Dashboard"}}}}
	var ids []string
	for _, o := range orgs {
		servers, err := h.Store.ServersOfOrg(ctx, o.Org.ID)
		if err != nil {
			h.serverError(w, r, "list servers", err)
			return
		}
		ov := templates.OrgView{Name: o.Org.Name, Slug: o.Org.Slug, Role: o.Role}
		if o.Role == storage.RoleAdmin {
			ov.NewServerURL = urls.Dashboard + "/" + o.Org.Slug + "/servers/new"
			ov.ActivityURL = urls.DashActivityPage(o.Org.Slug)
		}
		for _, s := range servers {
			ids = append(ids, s.ID)
			ov.Servers = append(ov.Servers, templates.ServerRow{
				Name: s.Name, Path: s.Path(), URL: urls.DashServerPage(s.OrgSlug, s.Slug),
				MCPURL: urls.Resource(h.Provider.Issuer(), s.OrgSlug, s.Slug), Upstream: s.Upstream != "", Enabled: s.Enabled,
			})
		}
		page.Orgs = append(page.Orgs, ov)
	}
	stats, err := h.Store.ServerStats(ctx, ids, h.now().Add(-24*time.Hour))
	if err != nil {
		h.serverError(w, r, "server stats", err)
		return
	}
	i := 0
	for oi := range page.Orgs {
		for si := range page.Orgs[oi].Servers {
			st := stats[ids[i]]
			page.Orgs[oi].Servers[si].Clients = st.ActiveClients
			page.Orgs[oi].Servers[si].Tokens24h = st.TokensLast24h
			i++
		}
	}
	h.render(w, r, http.StatusOK, func(b *bytes.Buffer) error { return h.Pages.Dashboard(b, page) })
}

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

// chrome is the header and breadcrumbs of a page of q's org; crumbs after the org's
// server page are added by the caller.
func chrome(q *request, crumbs ...templates.Crumb) templates.Chrome {
	return templates.Chrome{UserEmail: q.visitor.User.Email, CSRF: q.visitor.CSRF,
		Crumbs: append([]templates.Crumb{{Label: "Dashboard", URL: urls.Dashboard}}, crumbs...)}
}
