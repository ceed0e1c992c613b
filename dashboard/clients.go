package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// createClient serves POST .../clients. The new client's secret is shown in the direct
// answer to the POST, never behind a redirect: reloading or going back cannot show it
// again, and only its hash is stored.
func (h *Handler) createClient(q *request) {
	in := parseClientInput(q.r.PostForm)
	errs := in.problems(true)
	if len(errs) == 0 {
		c, secret, err := h.Provider.CreateClient(q.r.Context(), in.spec(q.server.ID))
		switch {
		case err == nil:
			h.Log.InfoContext(q.r.Context(), "client created from the dashboard", "client_id", c.ID, "server", q.server.Path(), "user_id", q.visitor.User.ID)
			h.showSecret(q, c, secret, false)
			return
		case errors.Is(err, provider.ErrInvalidClientSpec):
			errs = fieldErrors(err)
		default:
			h.serverError(q.w, q.r, "create client", err)
			return
		}
	}
	h.showServer(q, http.StatusUnprocessableEntity, func(p *templates.ServerPage) {
		p.Create = in.form(h.Provider.Scopes(), errs)
	})
}

// showSecret renders a client's credentials once, with Cache-Control: no-store (set by
// the page headers) so no cache or back button keeps them.
func (h *Handler) showSecret(q *request, c *storage.Client, secret string, rotated bool) {
	srv := q.server
	issuer := h.Provider.Issuer()
	page := templates.ClientSecretPage{
		Chrome: chrome(q, templates.Crumb{Label: q.org.Name}, templates.Crumb{Label: srv.Name, URL: urls.DashServerPage(srv.OrgSlug, srv.Slug)},
			templates.Crumb{Label: c.Name}),
		ClientName: c.Name, ClientID: c.ID, ClientSecret: secret, Rotated: rotated, Scopes: c.GetScopes(),
		ServerURL: urls.DashServerPage(srv.OrgSlug, srv.Slug),
	}
	if secret != "" {
		page.Curl = curlToken(urls.Endpoint(issuer, urls.Token), c.ID, secret, strings.Join(c.GetScopes(), " "))
	}
	if c.Public && len(c.RedirectURIs()) > 0 {
		page.ConsentURL = consentURL(issuer, c)
	}
	h.render(q.w, q.r, http.StatusOK, func(b *bytes.Buffer) error { return h.Pages.ClientSecret(b, page) })
}

// consentURL starts the authorization code flow of a public client at its first redirect
// URI, as the product page shows it, with the PKCE challenge and state left to fill in.
func consentURL(issuer string, c *storage.Client) string {
	v := url.Values{
		"client_id": {c.ID}, "response_type": {"code"}, "scope": {strings.Join(c.GetScopes(), " ")},
		"redirect_uri": {c.RedirectURIs()[0]}, "code_challenge_method": {"S256"},
	}
	return urls.Endpoint(issuer, urls.Consent) + "?" + v.Encode() + "&code_challenge=CODE_CHALLENGE&state=STATE"
}

// rotate serves POST .../rotate: a new secret, shown once the same way; the old one stops
// working at once.
func (h *Handler) rotate(q *request) {
	if q.client.Revoked() || q.client.Public {
		h.errorPage(q.w, q.r, http.StatusConflict, templates.ErrorPage{
			Title:   "This client has no secret to rotate",
			Message: "The client is public or revoked, so it has no secret. Nothing was changed.",
			BackURL: urls.DashServerPage(q.server.OrgSlug, q.server.Slug), BackLabel: "Back to the server",
		})
		return
	}
	if q.r.PostForm.Get("secret_version") != secretVersion(q.client) {
		// The form was made for a secret that is gone: a reload of the rotation's result
		// page sends its POST again, and rotating twice would kill the secret just shown.
		h.errorPage(q.w, q.r, http.StatusConflict, templates.ErrorPage{
			Title: "The secret was already rotated",
			Message: "This form was made before the client's last rotation (a reload sends it again). Nothing was changed: " +
				"the secret shown after that rotation still works. To rotate again, use the button on the server page.",
			BackURL: urls.DashServerPage(q.server.OrgSlug, q.server.Slug), BackLabel: "Back to the server",
		})
		return
	}
	secret, err := h.Provider.RotateSecret(q.r.Context(), q.client.ID)
	if err != nil {
		h.serverError(q.w, q.r, "rotate secret", err)
		return
	}
	h.Log.InfoContext(q.r.Context(), "client secret rotated from the dashboard", "client_id", q.client.ID, "user_id", q.visitor.User.ID)
	h.showSecret(q, q.client, secret, true)
}

// editForm serves GET .../edit.
func (h *Handler) editForm(q *request) {
	if h.refuseRevoked(q) {
		return
	}
	h.showEdit(q, http.StatusOK, clientInputOf(q.client), nil)
}

func (h *Handler) showEdit(q *request, status int, in clientInput, errs map[string][]string) {
	srv, c := q.server, q.client
	back := urls.DashServerPage(srv.OrgSlug, srv.Slug)
	page := templates.ClientEditPage{
		Chrome: chrome(q, templates.Crumb{Label: q.org.Name}, templates.Crumb{Label: srv.Name, URL: back},
			templates.Crumb{Label: "Edit " + c.Name}),
		ClientName: c.Name, ClientID: c.ID, Action: urls.DashClientAction(srv.OrgSlug, srv.Slug, c.ID, "edit"),
		CancelURL: back, Form: in.form(h.Provider.Scopes(), errs),
		CodeFlow: clientInputOf(c).GrantType == grantAuthorizationCode,
	}
	h.render(q.w, q.r, status, func(b *bytes.Buffer) error { return h.Pages.ClientEdit(b, page) })
}

// edit serves POST .../edit: name, scopes and (for applications) redirect URIs, through
// provider.UpdateClient. Narrowed scopes narrow what refresh can get.
func (h *Handler) edit(q *request) {
	if h.refuseRevoked(q) {
		return
	}
	in := parseClientInput(q.r.PostForm)
	codeFlow := clientInputOf(q.client).GrantType == grantAuthorizationCode
	errs := in.problems(false)
	if len(errs) == 0 {
		u := provider.ClientUpdate{Name: &in.Name, Scopes: &in.Scopes}
		if codeFlow {
			u.RedirectURIs = &in.RedirectURIs
		}
		_, err := h.Provider.UpdateClient(q.r.Context(), q.client.ID, u)
		var revoked *provider.RevokedError
		switch {
		case err == nil:
			h.Log.InfoContext(q.r.Context(), "client updated from the dashboard", "client_id", q.client.ID, "user_id", q.visitor.User.ID)
			http.Redirect(q.w, q.r, urls.DashServerPage(q.server.OrgSlug, q.server.Slug)+"#clients", http.StatusSeeOther)
			return
		case errors.As(err, &revoked):
			h.refuseRevoked(q)
			return
		case errors.Is(err, provider.ErrInvalidClientSpec):
			errs = fieldErrors(err)
		default:
			h.serverError(q.w, q.r, "update client", err)
			return
		}
	}
	h.showEdit(q, http.StatusUnprocessableEntity, in, errs)
}

// revokeForm serves GET .../revoke: the confirmation.
func (h *Handler) revokeForm(q *request) {
	if h.refuseRevoked(q) {
		return
	}
	srv, c := q.server, q.client
	back := urls.DashServerPage(srv.OrgSlug, srv.Slug)
	page := templates.ClientRevokePage{
		Chrome: chrome(q, templates.Crumb{Label: q.org.Name}, templates.Crumb{Label: srv.Name, URL: back},
			templates.Crumb{Label: "Revoke " + c.Name}),
		ClientName: c.Name, ClientID: c.ID, Action: urls.DashClientAction(srv.OrgSlug, srv.Slug, c.ID, "revoke"), CancelURL: back,
	}
	h.render(q.w, q.r, http.StatusOK, func(b *bytes.Buffer) error { return h.Pages.ClientRevoke(b, page) })
}

// revoke serves POST .../revoke as `conexor clients revoke` does (provider.RevokeClient).
// Its route is wrapped in the gateway's AfterRevocation, so this 200 leaves only once this
// process refuses the client's access tokens.
func (h *Handler) revoke(q *request) {
	srv, c := q.server, q.client
	err := h.Provider.RevokeClient(q.r.Context(), c.ID)
	var revoked *provider.RevokedError
	if err != nil && !errors.As(err, &revoked) {
		h.serverError(q.w, q.r, "revoke client", err)
		return
	}
	h.Log.InfoContext(q.r.Context(), "client revoked from the dashboard", "client_id", c.ID, "user_id", q.visitor.User.ID)
	back := urls.DashServerPage(srv.OrgSlug, srv.Slug)
	page := templates.NoticePage{
		Chrome: chrome(q, templates.Crumb{Label: q.org.Name}, templates.Crumb{Label: srv.Name, URL: back},
			templates.Crumb{Label: "Revoked"}),
		Title:   c.Name + " is revoked",
		Message: "Client " + c.ID + " can no longer get tokens; its refresh tokens no longer work and its access tokens are refused.",
		BackURL: back, BackLabel: "Back to the server",
	}
	h.render(q.w, q.r, http.StatusOK, func(b *bytes.Buffer) error { return h.Pages.Notice(b, page) })
}

// refuseRevoked answers an action on a revoked client, which can be neither changed nor
// revoked again; it reports whether it did.
func (h *Handler) refuseRevoked(q *request) bool {
	if !q.client.Revoked() {
		return false
	}
	h.errorPage(q.w, q.r, http.StatusConflict, templates.ErrorPage{
		Title:   "This client is revoked",
		Message: "Client " + q.client.ID + " was revoked on " + q.client.RevokedAt.UTC().Format(timeFormat) + ". A revoked client cannot be changed.",
		Action:  "Create a new client instead.",
		BackURL: urls.DashServerPage(q.server.OrgSlug, q.server.Slug), BackLabel: "Back to the server",
	})
	return true
}

// secretVersion names the client's current secret without revealing anything about it (a
// hash of its keyed hash): the rotate form carries it, so a form sent twice rotates once.
func secretVersion(c *storage.Client) string {
	sum := sha256.Sum256([]byte(c.SecretHash))
	return hex.EncodeToString(sum[:8])
}
