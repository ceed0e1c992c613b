// Package dashboard is Conexor's admin console in the browser: the orgs and MCP servers of
// the logged-in user, each server's connect instructions and OAuth clients, and the forms
// that create, rotate, edit and revoke clients and change or create servers.
//
// It is one more front end of the provider's service layer, like the CLI and the server
// API: every change goes through provider.CreateClient, RotateSecret, UpdateClient,
// RevokeClient, CreateServer and UpdateServer, so the validation is theirs. Login, the
// session and the CSRF token are consent's (consent.Visitor). Roles are decided here, in
// the handlers (access.go), never by what a template leaves out.
package dashboard

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/conexor/conexor/audit"

	"github.com/conexor/conexor/consent"
	"github.com/conexor/conexor/internal/netguard"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// Store is what the dashboard reads from storage.
type Store interface {
	OrgBySlug(ctx context.Context, slug string) (*storage.Org, error)
	Membership(ctx context.Context, orgID, userID string) (*storage.Membership, error)
	ServerByPath(ctx context.Context, org, server string) (*storage.Server, error)
	ListClients(ctx context.Context, serverID string) ([]storage.Client, error)
	ClientByID(ctx context.Context, id string) (*storage.Client, error)
	OrgsOfUser(ctx context.Context, userID string) ([]storage.OrgRole, error)
	ServersOfOrg(ctx context.Context, orgID string) ([]storage.Server, error)
	ServerStats(ctx context.Context, serverIDs []string, since time.Time) (map[string]storage.ServerStats, error)
	ClientsLastUsed(ctx context.Context, clientIDs []string) (map[string]time.Time, error)
	MembersOfOrg(ctx context.Context, orgID string) ([]storage.Member, error)
	SessionsOfUser(ctx context.Context, userID string) ([]storage.HTTPSession, error)
	UserByID(ctx context.Context, id string) (*storage.User, error)
	AuditEvents(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error)
	ClientTokenCounts(ctx context.Context, clientIDs []string, since time.Time) (map[string]int, error)
	Usage(ctx context.Context, serverPaths []string, since time.Time) ([]storage.UsageCount, error)
	ClientNames(ctx context.Context, ids []string) (map[string]string, error)
}

// Provider is the service layer every change goes through.
type Provider interface {
	CreateClient(ctx context.Context, spec provider.ClientSpec) (*storage.Client, string, error)
	RotateSecret(ctx context.Context, clientID string) (string, error)
	UpdateClient(ctx context.Context, clientID string, u provider.ClientUpdate) (*storage.Client, error)
	RevokeClient(ctx context.Context, clientID string) error
	CreateServer(ctx context.Context, spec provider.ServerSpec) (*storage.Server, error)
	UpdateServer(ctx context.Context, org, slug string, change provider.ServerChange) (*storage.Server, error)
	UpstreamHeaderNames(srv *storage.Server) []string
	Scopes() *provider.Scopes
	Issuer() string
	GrantsOfUser(ctx context.Context, userID string) ([]storage.Grant, error)
	GrantsOfServer(ctx context.Context, serverID string) ([]storage.Grant, error)
	RevokeGrant(ctx context.Context, userID, clientID, serverID string) error
}

// Visitors tells who sends a request (consent.Handler).
type Visitors interface {
	Visitor(r *http.Request) (consent.Visitor, error)
	// FormToken and FormTokenValid are the anti-forgery token of a form shown to a person
	// who is not logged in (the set-password link's page).
	FormToken(w http.ResponseWriter, r *http.Request) (string, error)
	FormTokenValid(r *http.Request) (bool, error)
}

// Handler serves the dashboard. Its fields are its dependencies; build it as a literal.
type Handler struct {
	Store    Store
	Provider Provider
	Visitors Visitors
	Pages    *templates.Templates
	Log      *slog.Logger
	// Now is the clock of "tokens in the last 24 h".
	Now func() time.Time
	// PrivateUpstreams lets an admin point a server at a private address
	// (api_private_upstreams, the same rule as the server API).
	PrivateUpstreams bool
	// ConfiguredHeaders reports whether the configuration file gives the server at
	// "org/server" upstream headers (upstreams:): the operator's credentials, which an admin
	// must not be able to send elsewhere by moving the upstream to another origin.
	ConfiguredHeaders func(serverPath string) bool
	// LookupIP resolves an upstream's host for the private-address check; nil means the
	// system resolver.
	LookupIP netguard.Resolver
	// Audit records the dashboard's refusals (the service layer records the changes); nil
	// records nothing.
	Audit *audit.Recorder
	// Accounts is the service of members, passwords and sessions (accounts.Service).
	Accounts Accounts
}

// Endpoints are the dashboard's handlers, one per route of internal/app's route table;
// each expects the method of its line and reads the {org}, {server} and {client} variables.
type Endpoints struct {
	Root         http.Handler // GET /
	Home         http.Handler // GET /dashboard
	Server       http.Handler // GET  urls.DashServer
	Settings     http.Handler // POST urls.DashSettings
	NewServer    http.Handler // GET  urls.DashNewServer
	CreateServer http.Handler // POST urls.DashNewServer
	CreateClient http.Handler // POST urls.DashClients
	Rotate       http.Handler // POST urls.DashClient + "/rotate"
	EditForm     http.Handler // GET  urls.DashClient + "/edit"
	Edit         http.Handler // POST urls.DashClient + "/edit"
	RevokeForm   http.Handler // GET  urls.DashClient + "/revoke"
	Revoke       http.Handler // POST urls.DashClient + "/revoke"
	Members      http.Handler // GET  urls.DashMembers
	AddMember    http.Handler // POST urls.DashMembers
	SetRole      http.Handler // POST urls.DashMember + "/role"
	RemoveForm   http.Handler // GET  urls.DashMember + "/remove"
	Remove       http.Handler // POST urls.DashMember + "/remove"
	Account      http.Handler // GET  urls.Account
	Password     http.Handler // POST urls.AccountPassword
	EndSessions  http.Handler // POST urls.AccountEndSessions
	SetPassword  http.Handler // GET and POST urls.SetPassword
	Activity     http.Handler // GET  urls.DashActivity
	Apps         http.Handler // GET  urls.AccountApps
	AppsRevoke   http.Handler // POST urls.AccountAppsRevoke
	GrantRevoke  http.Handler // POST urls.DashGrantsRevoke
}

// Endpoints returns the dashboard's handlers.
func (h *Handler) Endpoints() Endpoints {
	return Endpoints{
		Root:         http.HandlerFunc(h.root),
		Home:         http.HandlerFunc(h.home),
		Server:       h.serverRoute(needRead, h.serverPage),
		Settings:     h.serverRoute(needAdmin, h.saveSettings),
		NewServer:    h.orgRoute(needAdmin, h.newServerForm),
		CreateServer: h.orgRoute(needAdmin, h.createServer),
		CreateClient: h.serverRoute(needAdmin, h.createClient),
		Rotate:       h.clientRoute(h.rotate),
		EditForm:     h.clientRoute(h.editForm),
		Edit:         h.clientRoute(h.edit),
		RevokeForm:   h.clientRoute(h.revokeForm),
		Revoke:       h.clientRoute(h.revoke),
		Members:      h.orgRoute(needRead, h.membersPage),
		AddMember:    h.orgRoute(needAdmin, h.addMember),
		SetRole:      h.memberRoute(h.setRole),
		RemoveForm:   h.memberRoute(h.removeForm),
		Remove:       h.memberRoute(h.removeMember),
		Account:      h.accountRoute(h.accountPage),
		Password:     h.accountRoute(h.changePassword),
		EndSessions:  h.accountRoute(h.endSessions),
		SetPassword:  http.HandlerFunc(h.setPassword),
		Activity:     h.orgRoute(needAdmin, h.activity),
		Apps:         http.HandlerFunc(h.apps),
		AppsRevoke:   http.HandlerFunc(h.revokeApp),
		GrantRevoke:  h.serverRoute(needRead, h.revokeGrant), // members get a 403 there, recorded
	}
}

// render writes a page through templates.Write (the page headers, no half pages).
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page func(*bytes.Buffer) error) {
	templates.Write(w, r, h.Log, status, page)
}

func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, p templates.ErrorPage) {
	h.render(w, r, status, func(b *bytes.Buffer) error { return h.Pages.Error(b, p) })
}

// notFound is the one answer for an org, server or client that does not exist or that the
// visitor may not see: the same page, so a 404 does not tell which.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, http.StatusNotFound, templates.ErrorPage{
		Title:   "Page not found",
		Message: "There is no such page, or you do not have access to it.",
		BackURL: urls.Dashboard, BackLabel: "Go to the dashboard",
	})
}

// forbidden answers a member who sent a change only an admin may make, and records the
// attempt (q: who, in which org).
func (h *Handler) forbidden(w http.ResponseWriter, r *http.Request, back string, q *request) {
	h.recordRefused(q)
	h.errorPage(w, r, http.StatusForbidden, templates.ErrorPage{
		Title:   "Only admins can do this",
		Message: "You are a member of this organization, not an admin: you can see its servers and clients, but not change them. Nothing was changed.",
		Action:  "Ask an admin of the organization to make the change, or to make you an admin.",
		BackURL: back, BackLabel: "Back",
	})
}

// loginFirst answers a visitor who is not logged in: a page view goes to the login page
// and comes back; a form sent after the session ended says so and offers the same way back
// (the form's input cannot be replayed safely after a new login).
func (h *Handler) loginFirst(w http.ResponseWriter, r *http.Request, back string) {
	login := loginURL(back)
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		http.Redirect(w, r, login, http.StatusSeeOther)
		return
	}
	h.errorPage(w, r, http.StatusUnauthorized, templates.ErrorPage{
		Title:   "Your session has ended",
		Message: "You were logged out (your session expired or you logged out in another tab), so this form was not sent. Nothing was changed.",
		Action:  "Log in again, then repeat the change.",
		BackURL: login, BackLabel: "Log in again",
	})
}

// staleForm answers a POST whose CSRF token is missing or not the session's.
func (h *Handler) staleForm(w http.ResponseWriter, r *http.Request, back string) {
	h.Log.InfoContext(r.Context(), "dashboard csrf check failed", "path", r.URL.Path)
	h.errorPage(w, r, http.StatusForbidden, templates.ErrorPage{
		Title:   "This form has expired",
		Message: "The form did not carry a valid security token, so it was not sent and nothing was changed. This happens when the page was opened before you logged in again, or when the form came from another site.",
		Action:  "Open the page again and repeat the change.",
		BackURL: back, BackLabel: "Open the page again",
	})
}

// serverError logs a failure and shows a page that reveals nothing about it: 503 when the
// database is unavailable, else 500.
func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.Log.ErrorContext(r.Context(), "dashboard: "+what, "path", r.URL.Path, "err", err)
	if errors.Is(err, storage.ErrUnavailable) {
		w.Header().Set("Retry-After", "1")
		h.errorPage(w, r, http.StatusServiceUnavailable, templates.ErrorPage{
			Title:   "Conexor is briefly unavailable",
			Message: "Conexor cannot reach its database right now.",
			Action:  "Wait a moment and reload the page.",
		})
		return
	}
	h.errorPage(w, r, http.StatusInternalServerError, templates.ErrorPage{
		Title:   "Something went wrong",
		Message: "Conexor could not complete this step because of a problem on our side.",
		Action:  "Wait a moment and try again. If it keeps happening, contact your administrator.",
		BackURL: urls.Dashboard, BackLabel: "Go to the dashboard",
	})
}

// badForm is the page for a POST body that is not a form or is too large.
func badForm(back string) templates.ErrorPage {
	return templates.ErrorPage{
		Title:   "The form could not be read",
		Message: "The request was not a valid form submission, or it was too large. Nothing was changed.",
		BackURL: back, BackLabel: "Back",
	}
}

// fieldErrors sorts a validation error of the provider by form field; "" is the form as a
// whole (a problem of no one field, or an error that is not a validation error).
func fieldErrors(err error) map[string][]string {
	var spec *provider.SpecError
	if errors.As(err, &spec) {
		return spec.ByField()
	}
	var sp provider.ServerProblems
	if errors.As(err, &sp) {
		return sp.ByField()
	}
	return map[string][]string{"": {err.Error()}}
}
