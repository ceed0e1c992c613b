package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/consent"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

// need is what a request needs of the visitor's role in the org.
type need int

const (
	needRead  need = iota // see the org's servers and clients
	needAdmin             // change them
)

// refusal is the status a visitor with role (in the org; "" for someone outside it) gets
// for a request that needs n, or 0 when it is allowed. Outsiders get 404 for everything,
// so no URL reveals that an org exists; members may read but not change.
func refusal(role string, n need) int {
	switch {
	case role != storage.RoleAdmin && role != storage.RoleMember:
		return http.StatusNotFound
	case n == needAdmin && role != storage.RoleAdmin:
		return http.StatusForbidden
	}
	return 0
}

// request is one allowed request to a page of an org: who, in which org and role, and for
// a POST, its parsed form (CSRF already checked).
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	visitor consent.Visitor
	org     *storage.Org
	role    string
	// server is set on the routes of one server; client on the routes of one client.
	server *storage.Server
	client *storage.Client
}

func (q *request) admin() bool { return q.role == storage.RoleAdmin }

// orgRoute wraps a handler of an org's page: the visitor must be logged in (else the login
// page, which comes back), a POST must carry the session's CSRF token, and the visitor's
// role in the org must allow n. Checks run in that order, so a forged POST is refused
// before anything about the org is looked up.
func (h *Handler) orgRoute(n need, next func(*request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, ok := h.begin(w, r, n)
		if ok {
			next(q)
		}
	})
}

// serverRoute is orgRoute for the pages of one server ({server}).
func (h *Handler) serverRoute(n need, next func(*request)) http.Handler {
	return h.orgRoute(n, func(q *request) {
		if h.loadServer(q) {
			next(q)
		}
	})
}

// clientRoute is serverRoute for the admin actions on one client ({client}) of the server;
// a client of another server is not found.
func (h *Handler) clientRoute(next func(*request)) http.Handler {
	return h.serverRoute(needAdmin, func(q *request) {
		c, err := h.Store.ClientByID(q.r.Context(), mux.Vars(q.r)["client"])
		switch {
		case errors.Is(err, storage.ErrNotFound) || (err == nil && (c.ServerID == nil || *c.ServerID != q.server.ID)):
			h.notFound(q.w, q.r)
			return
		case err != nil:
			h.serverError(q.w, q.r, "load client", err)
			return
		}
		q.client = c
		next(q)
	})
}

func (h *Handler) begin(w http.ResponseWriter, r *http.Request, n need) (*request, bool) {
	vars := mux.Vars(r)
	back := urls.Dashboard
	if vars["server"] != "" {
		back = urls.DashServerPage(vars["org"], vars["server"])
	} else if vars["user"] != "" || strings.HasSuffix(r.URL.Path, "/members") {
		back = urls.DashMembersPage(vars["org"])
	}
	v, err := h.Visitors.Visitor(r)
	if err != nil {
		h.serverError(w, r, "load session", err)
		return nil, false
	}
	if v.User == nil {
		if r.Method == http.MethodGet {
			back = r.URL.Path
		}
		h.loginFirst(w, r, back)
		return nil, false
	}
	// Whatever the service layer records below, this user did it.
	r = r.WithContext(audit.WithActor(r.Context(), audit.FromRequest(r, audit.KindUser, v.User.ID, v.User.Email)))
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
		if err := r.ParseForm(); err != nil {
			h.errorPage(w, r, http.StatusBadRequest, badForm(back))
			return nil, false
		}
		if !consent.CSRFValid(v, r) {
			h.staleForm(w, r, back)
			return nil, false
		}
	}
	q := &request{w: w, r: r, visitor: v}
	org, err := h.Store.OrgBySlug(r.Context(), vars["org"])
	if err == nil {
		q.org = org
		var m *storage.Membership
		m, err = h.Store.Membership(r.Context(), org.ID, v.User.ID)
		if err == nil {
			q.role = m.Role
		}
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, "load org", err)
		return nil, false
	}
	switch refusal(q.role, n) {
	case http.StatusNotFound:
		h.notFound(w, r)
		return nil, false
	case http.StatusForbidden:
		h.Log.InfoContext(r.Context(), "dashboard: member refused", "path", r.URL.Path, "user_id", v.User.ID)
		h.forbidden(w, r, back, q)
		return nil, false
	}
	return q, true
}

func (h *Handler) loadServer(q *request) bool {
	srv, err := h.Store.ServerByPath(q.r.Context(), q.org.Slug, mux.Vars(q.r)["server"])
	switch {
	case errors.Is(err, storage.ErrNotFound):
		h.notFound(q.w, q.r)
		return false
	case err != nil:
		h.serverError(q.w, q.r, "load server", err)
		return false
	}
	q.server = srv
	return true
}

// maxFormSize caps a dashboard form (redirect URIs, descriptions, headers).
const maxFormSize = 64 << 10

// loginURL is the login page that comes back to path.
func loginURL(path string) string {
	return urls.Login + "?return_to=" + url.QueryEscape(path)
}
