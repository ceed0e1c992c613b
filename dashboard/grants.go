package dashboard

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// addAccess fills in the Access panel of a server page for an admin: every user's grant on
// the server, and the client-credentials clients that got tokens in the last 24 hours
// (from the page's client rows, which already carry their last use). It reports false
// after answering with an error page.
func (h *Handler) addAccess(q *request, page *templates.ServerPage) bool {
	if !q.admin() {
		return true
	}
	ctx := q.r.Context()
	grants, err := h.Provider.GrantsOfServer(ctx, q.server.ID)
	if err != nil {
		h.serverError(q.w, q.r, "list grants", err)
		return false
	}
	access := &templates.AccessSection{RevokeAction: urls.DashGrantsRevokeURL(q.server.OrgSlug, q.server.Slug)}
	for _, g := range grants {
		access.Grants = append(access.Grants, templates.GrantRow{
			UserEmail: g.UserEmail, UserID: g.UserID, AppName: g.ClientName, ClientID: g.ClientID, Verified: g.Verified(),
			Scopes: strings.Fields(g.Scopes), FirstApproved: formatTime(g.CreatedAt), LastUsed: lastUsed(g.LastUsed),
		})
	}
	var services []templates.ClientRow
	var ids []string
	for _, c := range page.Clients {
		if c.Revoked == "" && slices.Contains(c.GrantTypes, grantClientCredentials) {
			services = append(services, c)
			ids = append(ids, c.ID)
		}
	}
	counts, err := h.Store.ClientTokenCounts(ctx, ids, h.now().Add(-24*time.Hour))
	if err != nil {
		h.serverError(q.w, q.r, "count client tokens", err)
		return false
	}
	for _, c := range services {
		if n := counts[c.ID]; n > 0 {
			access.Services = append(access.Services, templates.ServiceRow{Name: c.Name, ID: c.ID, Tokens24h: n, LastUsed: c.LastUsed})
		}
	}
	page.Access = access
	return true
}

// revokeGrant serves POST .../grants/revoke (user, client): an admin ends a user's grant
// to a client on this server, as the user can on their apps page. A member is refused with
// the 403 page and the refusal is recorded; a grant that is not on this server is not
// found. The route is wrapped in the gateway's AfterRevocation.
func (h *Handler) revokeGrant(q *request) {
	ctx := audit.WithActor(q.r.Context(), audit.FromRequest(q.r, audit.KindUser, q.visitor.User.ID, q.visitor.User.Email))
	back := urls.DashServerPage(q.server.OrgSlug, q.server.Slug)
	userID, clientID := q.r.PostForm.Get("user"), q.r.PostForm.Get("client")
	if !q.admin() {
		h.Audit.Record(ctx, audit.Event{OrgID: q.org.ID, ServerPath: q.server.Path(), Action: audit.ConsentRevoked,
			Target: clientID, Result: audit.Refused, Detail: "a member may not revoke a user's grant"})
		h.Log.InfoContext(ctx, "dashboard: member refused", "path", q.r.URL.Path, "user_id", q.visitor.User.ID)
		h.forbidden(q.w, q.r, back, q) // not in refusedActions: recorded just above
		return
	}
	grants, err := h.Provider.GrantsOfServer(ctx, q.server.ID)
	if err != nil {
		h.serverError(q.w, q.r, "list grants", err)
		return
	}
	var g *storage.Grant
	for i := range grants {
		if grants[i].UserID == userID && grants[i].ClientID == clientID {
			g = &grants[i]
		}
	}
	if g == nil {
		h.Audit.Record(ctx, audit.Event{OrgID: q.org.ID, ServerPath: q.server.Path(), Action: audit.ConsentRevoked,
			Target: clientID, Result: audit.Refused, Detail: "no grant of user " + userID + " to this client on this server"})
		h.notFound(q.w, q.r)
		return
	}
	err = h.Provider.RevokeGrant(ctx, userID, clientID, q.server.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		h.notFound(q.w, q.r)
		return
	case err != nil:
		h.serverError(q.w, q.r, "revoke grant", err)
		return
	}
	h.Log.InfoContext(ctx, "grant revoked by an admin", "user_id", q.visitor.User.ID, "grant_user_id", userID, "client_id", clientID, "server", q.server.Path())
	page := templates.NoticePage{
		Chrome: chrome(q, templates.Crumb{Label: q.org.Name}, templates.Crumb{Label: q.server.Name, URL: back},
			templates.Crumb{Label: "Access revoked"}),
		Title: "Access revoked",
		Message: g.ClientName + " can no longer use " + q.server.Path() + " on behalf of " + g.UserEmail +
			": its tokens are refused, and " + g.UserEmail + " is asked again the next time it connects.",
		BackURL: back, BackLabel: "Back to the server",
	}
	h.render(q.w, q.r, http.StatusOK, func(b *bytes.Buffer) error { return h.Pages.Notice(b, page) })
}
