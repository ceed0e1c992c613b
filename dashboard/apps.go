package dashboard

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/consent"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// The connected-apps page: every app the logged-in user approved, whatever the org, with
// the Revoke access action. It belongs to no org, so it needs no role: a user sees and
// revokes only their own grants, because every lookup is by the session's user ID, never by
// an ID from the form alone.

// apps serves GET /account/apps.
func (h *Handler) apps(w http.ResponseWriter, r *http.Request) {
	v, ok := h.accountVisitor(w, r)
	if !ok {
		return
	}
	h.showApps(w, r, v, "")
}

// revokeApp serves POST /account/apps/revoke (client, server): it ends the user's grant
// to that client on that server (provider.RevokeGrant) and shows the page again with a
// notice. The route is wrapped in the gateway's AfterRevocation, so this 200 leaves only
// once this process refuses the grant's access tokens. A pair the user holds no grant for
// (another user's, or made up) gets the dashboard's one "not found" page.
func (h *Handler) revokeApp(w http.ResponseWriter, r *http.Request) {
	v, ok := h.accountVisitor(w, r)
	if !ok {
		return
	}
	ctx := audit.WithActor(r.Context(), audit.FromRequest(r, audit.KindUser, v.User.ID, v.User.Email))
	clientID, serverID := r.PostForm.Get("client"), r.PostForm.Get("server")
	grants, err := h.Provider.GrantsOfUser(ctx, v.User.ID)
	if err != nil {
		h.serverError(w, r, "list grants", err)
		return
	}
	var g *storage.Grant
	for i := range grants {
		if grants[i].ClientID == clientID && grants[i].ServerID == serverID {
			g = &grants[i]
		}
	}
	if g == nil {
		h.Audit.Record(ctx, audit.Event{Action: audit.ConsentRevoked, Target: clientID, Result: audit.Refused,
			Detail: "no grant of the user to this client on server " + serverID})
		h.notFound(w, r)
		return
	}
	err = h.Provider.RevokeGrant(ctx, v.User.ID, clientID, serverID)
	switch {
	case errors.Is(err, storage.ErrNotFound): // revoked meanwhile, in another tab
		h.notFound(w, r)
		return
	case err != nil:
		h.serverError(w, r, "revoke grant", err)
		return
	}
	h.Log.InfoContext(ctx, "grant revoked by its user", "user_id", v.User.ID, "client_id", clientID, "server", g.ServerPath())
	h.showApps(w, r, v, g.ClientName+" on "+g.ServerPath())
}

func (h *Handler) showApps(w http.ResponseWriter, r *http.Request, v consent.Visitor, revoked string) {
	grants, err := h.Provider.GrantsOfUser(r.Context(), v.User.ID)
	if err != nil {
		h.serverError(w, r, "list grants", err)
		return
	}
	page := templates.AppsPage{
		Chrome: templates.Chrome{UserEmail: v.User.Email, CSRF: v.CSRF,
			Crumbs: []templates.Crumb{{Label: "Dashboard", URL: urls.Dashboard}, {Label: "Connected apps"}}},
		RevokeAction: urls.AccountAppsRevoke,
		Revoked:      revoked,
	}
	for _, g := range grants {
		page.Apps = append(page.Apps, templates.AppRow{
			Name: g.ClientName, ClientID: g.ClientID, Verified: g.Verified(),
			ServerName: g.ServerName, ServerPath: g.ServerPath(), ServerID: g.ServerID,
			Scopes: strings.Fields(g.Scopes), FirstApproved: formatTime(g.CreatedAt), LastUsed: lastUsed(g.LastUsed),
		})
	}
	h.render(w, r, http.StatusOK, func(b *bytes.Buffer) error { return h.Pages.Apps(b, page) })
}

// accountVisitor is the logged-in visitor of an account page, or false after answering: the
// login page for a visitor who is not logged in, and for a POST an unreadable form or a
// missing or wrong CSRF token (checked before anything is looked up).
func (h *Handler) accountVisitor(w http.ResponseWriter, r *http.Request) (consent.Visitor, bool) {
	v, err := h.Visitors.Visitor(r)
	if err != nil {
		h.serverError(w, r, "load session", err)
		return v, false
	}
	if v.User == nil {
		h.loginFirst(w, r, urls.AccountApps)
		return v, false
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
		if err := r.ParseForm(); err != nil {
			h.errorPage(w, r, http.StatusBadRequest, badForm(urls.AccountApps))
			return v, false
		}
		if !consent.CSRFValid(v, r) {
			h.staleForm(w, r, urls.AccountApps)
			return v, false
		}
	}
	return v, true
}

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// lastUsed is a last-use time as shown, "Never" for none.
func lastUsed(t time.Time) string {
	if t.IsZero() {
		return "Never"
	}
	return formatTime(t)
}
