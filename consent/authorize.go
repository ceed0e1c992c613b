package consent

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/sessions"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// authorize serves GET /oauth/consent, the authorization endpoint (RFC 6749 4.1.1). The
// request is validated before anything else, so a bad client or redirect URI is shown as an
// error page and never redirected to; then the person logs in if needed, must belong to
// the org that owns the server, and either has a remembered consent that covers the
// request (answered at once) or sees the consent page.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := provider.WithClientIP(r.Context(), httpx.ClientIP(r)) // rate-limits new metadata documents
	ar, aerr := h.provider.ParseAuthorize(ctx, r.URL.Query())
	sess, ok := h.session(w, r)
	if !ok {
		return
	}
	if aerr != nil {
		h.authorizeFailed(w, r, sess, aerr, r.URL.RequestURI())
		return
	}
	user, ok := h.currentUser(w, r, sess, r.URL.RequestURI())
	if !ok {
		return
	}
	org, m, ok := h.requireMember(w, r, sess, user, ar, r.URL.RequestURI())
	if !ok {
		return
	}
	if ok := h.limitToRole(w, r, sess, user, org, m, ar, r.URL.RequestURI()); !ok {
		return
	}
	if !ar.ForceConsent {
		c, err := h.store.ConsentFor(ctx, user.ID, ar.Client.ID, ar.Server.ID)
		switch {
		case err == nil && scopesCovered(c.Scopes, ar.Scopes):
			h.log.InfoContext(ctx, "consent remembered", "user_id", user.ID, "client_id", ar.Client.ID, "server", ar.Server.Path())
			h.issue(w, r, ar, user, ar.Scopes, false)
			return
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			h.serverError(w, r, "load consent", err)
			return
		}
	}
	csrf, ok := h.ensureCSRF(w, r, sess)
	if !ok {
		return
	}
	h.showConsent(w, r, http.StatusOK, h.consentPage(ar, user, org, csrf, r.URL.RawQuery, ""))
}

// decide serves POST /oauth/consent, the person's answer. The form carries the original
// authorization query, which is validated again from scratch: the page's hidden fields are
// never trusted, only the session (who) and the ticked scopes (a subset of what the
// re-validated request asks for).
func (h *Handler) decide(w http.ResponseWriter, r *http.Request) {
	ctx := provider.WithClientIP(r.Context(), httpx.ClientIP(r))
	sess, ok := h.checkedPost(w, r)
	if !ok {
		return
	}
	raw := r.PostForm.Get("request")
	q, err := url.ParseQuery(raw)
	if err != nil || raw == "" {
		h.errorPage(w, r, http.StatusBadRequest, templates.ErrorPage{
			Title:   "The consent form is incomplete",
			Message: "The form did not carry the application's request.",
			Action:  "Go back to the application and start the connection again.",
		})
		return
	}
	consentURL := urls.Consent + "?" + raw
	ar, aerr := h.provider.ParseAuthorize(ctx, q)
	if aerr != nil {
		h.authorizeFailed(w, r, sess, aerr, consentURL)
		return
	}
	user, ok := h.currentUser(w, r, sess, consentURL)
	if !ok {
		return
	}
	org, m, ok := h.requireMember(w, r, sess, user, ar, consentURL)
	if !ok {
		return
	}
	if ok := h.limitToRole(w, r, sess, user, org, m, ar, consentURL); !ok {
		return
	}
	switch r.PostForm.Get("decision") {
	case "deny":
		h.log.InfoContext(ctx, "consent denied", "user_id", user.ID, "client_id", ar.Client.ID, "server", ar.Server.Path())
		deny := &provider.AuthorizeError{Redirect: true, RedirectURI: ar.RedirectURI, State: ar.State,
			Code: "access_denied", Description: "The user denied the request."}
		http.Redirect(w, r, deny.RedirectURL(h.provider.Issuer()), http.StatusSeeOther)
	case "approve":
		granted, err := grantedScopes(ar.Scopes, r.PostForm["scope"])
		switch {
		case errors.Is(err, errNoScope):
			h.showConsent(w, r, http.StatusUnprocessableEntity, h.consentPage(ar, user, org, value(sess, keyCSRF), raw,
				"Choose at least one permission to approve, or choose Deny."))
		case err != nil:
			h.errorPage(w, r, http.StatusBadRequest, templates.ErrorPage{
				Title:   "The consent form was changed",
				Message: "The form granted a permission the application did not ask for.",
				Action:  "Go back to the application and start the connection again.",
			})
		default:
			h.issue(w, r, ar, user, granted, true)
		}
	default:
		h.errorPage(w, r, http.StatusBadRequest, templates.ErrorPage{
			Title:   "No decision was sent",
			Message: "The form must be sent with the Approve or the Deny button.",
			Action:  "Go back, reload the page and choose Approve or Deny.",
		})
	}
}

// issue asks the provider for a code for the granted scopes and sends the browser back to
// the client with it (303, so the browser follows with GET). A new consent is remembered.
func (h *Handler) issue(w http.ResponseWriter, r *http.Request, ar *provider.AuthorizeRequest, user *storage.User, granted []string, remember bool) {
	ctx := r.Context()
	redirect, err := h.provider.IssueCode(ctx, ar, user.ID, granted)
	if err != nil {
		h.serverError(w, r, "issue code", err)
		return
	}
	if remember {
		c := &storage.Consent{UserID: user.ID, ClientID: ar.Client.ID, ServerID: ar.Server.ID,
			Scopes: strings.Join(provider.SortedCopy(granted), " ")}
		if err := h.store.SaveConsent(ctx, c); err != nil {
			// The code is issued; failing to remember only means asking again next time.
			h.log.ErrorContext(ctx, "save consent", "user_id", user.ID, "client_id", ar.Client.ID, "err", err)
		}
		h.log.InfoContext(ctx, "consent approved", "user_id", user.ID, "client_id", ar.Client.ID,
			"server", ar.Server.Path(), "scope", strings.Join(granted, " "))
		// One event per approval on the consent page; a remembered consent that skips the
		// page grants nothing new and records nothing (the token counters show its use).
		h.audit.Record(ctx, audit.Event{Actor: audit.FromRequest(r, audit.KindUser, user.ID, user.Email),
			OrgID: ar.Server.OrgID, ServerPath: ar.Server.Path(), Action: audit.ConsentGranted,
			Target: ar.Client.ID, TargetName: ar.Client.Name, Detail: "scopes: " + strings.Join(granted, " ")})
	}
	http.Redirect(w, r, redirect, http.StatusSeeOther)
}

// authorizeFailed answers an invalid authorization request: redirect the error to the
// client when its redirect URI was verified, otherwise explain it on a page (RFC 6749
// 4.1.2.1: never redirect to an unverified URI). A self-registered client's error is
// redirected only to a person who has logged in (RFC 9700 4.11.2): otherwise a link to a
// deliberately broken request would bounce anyone from this trusted domain to whatever
// page the registrant named, without a click. returnTo brings the person back after login.
func (h *Handler) authorizeFailed(w http.ResponseWriter, r *http.Request, sess *sessions.Session, e *provider.AuthorizeError, returnTo string) {
	if e.Redirect && e.Unverified {
		if _, ok := h.currentUser(w, r, sess, returnTo); !ok {
			return
		}
	}
	h.log.InfoContext(r.Context(), "authorization request refused", "error", e.Code, "redirect", e.Redirect)
	if e.Redirect {
		http.Redirect(w, r, e.RedirectURL(h.provider.Issuer()), http.StatusSeeOther)
		return
	}
	status := http.StatusBadRequest
	switch e.Code {
	case "server_error":
		status = http.StatusInternalServerError
	case "temporarily_unavailable":
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	h.errorPage(w, r, status, templates.ErrorPage{
		Title:   "This connection request cannot be used",
		Message: e.Description,
		Action:  "Go back to the application and start connecting again. If this page comes back, the application is misconfigured: give its developer the error code below.",
		Code:    e.Code,
	})
}

// currentUser returns the logged-in user, or sends the browser to log in and come back to
// returnTo.
func (h *Handler) currentUser(w http.ResponseWriter, r *http.Request, sess *sessions.Session, returnTo string) (*storage.User, bool) {
	toLogin := func() {
		http.Redirect(w, r, urls.Login+"?return_to="+url.QueryEscape(returnTo), http.StatusSeeOther)
	}
	uid := value(sess, keyUserID)
	if uid == "" {
		toLogin()
		return nil, false
	}
	user, err := h.store.UserByID(r.Context(), uid)
	if errors.Is(err, storage.ErrNotFound) {
		if err := h.sessions.Destroy(r, w, sess); err != nil {
			h.serverError(w, r, "end session", err)
			return nil, false
		}
		toLogin()
		return nil, false
	}
	if err != nil {
		h.serverError(w, r, "load user", err)
		return nil, false
	}
	return user, true
}

// requireMember lets only members of the org that owns the server approve access to it;
// anyone else is told whom to ask, and may switch accounts.
func (h *Handler) requireMember(w http.ResponseWriter, r *http.Request, sess *sessions.Session, user *storage.User, ar *provider.AuthorizeRequest, returnTo string) (*storage.Org, *storage.Membership, bool) {
	ctx := r.Context()
	org, err := h.store.OrgBySlug(ctx, ar.Server.OrgSlug)
	if err != nil {
		h.serverError(w, r, "load org", err)
		return nil, nil, false
	}
	m, err := h.store.Membership(ctx, org.ID, user.ID)
	if err == nil {
		return org, m, true
	}
	if !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, "load membership", err)
		return nil, nil, false
	}
	h.log.InfoContext(ctx, "consent refused: not a member", "user_id", user.ID, "org", org.Slug, "client_id", ar.Client.ID)
	h.errorPage(w, r, http.StatusForbidden, templates.ErrorPage{
		Title: "You are not a member of " + org.Name,
		Message: "You are logged in as " + user.Email + ", which is not a member of " + org.Name + " (" + org.Slug +
			"). Only members of " + org.Name + " can let applications use its MCP server " + ar.Server.Path() + ".",
		Action: "Ask an administrator of " + org.Name + " to add " + user.Email + " to the org, or log out and log in with the account you use for " + org.Name + ".",
		Code:   "access_denied", LogoutCSRF: value(sess, keyCSRF), ReturnTo: returnTo,
	})
	return nil, nil, false
}

// limitToRole takes out of the request the scopes the user's role in the org cannot hand
// on (withheldScopes), so the consent page never offers them and a forged tick for one is
// refused like any scope that was not requested. A request left with nothing is explained
// on a page.
func (h *Handler) limitToRole(w http.ResponseWriter, r *http.Request, sess *sessions.Session, user *storage.User, org *storage.Org, m *storage.Membership, ar *provider.AuthorizeRequest, returnTo string) bool {
	allowed, withheld := withheldScopes(m.Role, ar.Scopes)
	if len(withheld) == 0 {
		return true
	}
	h.log.InfoContext(r.Context(), "scopes withheld: the user's role cannot grant them", "user_id", user.ID, "role", m.Role,
		"client_id", ar.Client.ID, "server", ar.Server.Path(), "scope", strings.Join(withheld, " "))
	if len(allowed) == 0 {
		h.errorPage(w, r, http.StatusForbidden, templates.ErrorPage{
			Title: "Only an administrator can allow this",
			Message: ar.Client.Name + " asks to manage the MCP server " + ar.Server.Path() + " (" + strings.Join(withheld, ", ") +
				"). Only an administrator of " + org.Name + " can allow that; " + user.Email + " is a member.",
			Action: "Ask an administrator of " + org.Name + " to connect the application, or log out and log in as an administrator.",
			Code:   "access_denied", LogoutCSRF: value(sess, keyCSRF), ReturnTo: returnTo,
		})
		return false
	}
	ar.Scopes = allowed
	return true
}

func (h *Handler) consentPage(ar *provider.AuthorizeRequest, user *storage.User, org *storage.Org, csrf, rawQuery, msg string) templates.ConsentPage {
	p := templates.ConsentPage{
		CSRF: csrf, Request: rawQuery,
		ClientName: ar.Client.Name, ClientID: ar.Client.ID,
		Unverified: ar.Client.Source == storage.ClientSourceDynamic || ar.Client.Source == storage.ClientSourceMetadata,
		ServerName: ar.Server.Name, ServerPath: ar.Server.Path(), OrgName: org.Name,
		RedirectHost: redirectHost(ar.RedirectURI),
		Ignored:      ar.Ignored,
		UserEmail:    user.Email,
		Error:        msg,
	}
	for _, name := range ar.Scopes {
		desc := name
		if sc, ok := h.provider.Scopes().Get(name); ok && sc.Description != "" {
			desc = sc.Description
		}
		p.Scopes = append(p.Scopes, templates.ScopeChoice{Name: name, Description: desc, Checked: true})
	}
	return p
}

func (h *Handler) showConsent(w http.ResponseWriter, r *http.Request, status int, p templates.ConsentPage) {
	h.render(w, r, status, func(b *bytes.Buffer) error { return h.pages.Consent(b, p) })
}
