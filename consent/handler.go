// Package consent is Conexor's browser flow: the authorization endpoint GET /oauth/consent,
// the consent page and the user's decision, login and logout, database-backed sessions and
// CSRF protection. The OAuth protocol itself (validating the request, issuing the code) is
// the provider's; this package decides who the user is and what they agreed to.
package consent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/conexor/conexor/audit"

	"github.com/gorilla/sessions"

	"github.com/conexor/conexor/internal/limit"
	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// Store is what the flow needs from storage besides sessions: users, memberships, org names
// and remembered consents.
type Store interface {
	UserByEmail(ctx context.Context, email string) (*storage.User, error)
	UserByID(ctx context.Context, id string) (*storage.User, error)
	OrgBySlug(ctx context.Context, slug string) (*storage.Org, error)
	Membership(ctx context.Context, orgID, userID string) (*storage.Membership, error)
	ConsentFor(ctx context.Context, userID, clientID, serverID string) (*storage.Consent, error)
	SaveConsent(ctx context.Context, c *storage.Consent) error
	// RecordLogin stamps a user's last successful login.
	RecordLogin(ctx context.Context, userID string) error
}

// Authorizer is what the flow needs from the authorization server.
type Authorizer interface {
	ParseAuthorize(ctx context.Context, q url.Values) (*provider.AuthorizeRequest, *provider.AuthorizeError)
	IssueCode(ctx context.Context, ar *provider.AuthorizeRequest, userID string, granted []string) (string, error)
	Issuer() string
	Scopes() *provider.Scopes
}

// Config holds the Handler's dependencies.
type Config struct {
	Store    Store
	Sessions SessionRows
	Provider Authorizer
	// SessionKey signs the session cookie: a key derived from the system secret for that
	// purpose alone (secret.PurposeSessionCookie), at least 32 bytes.
	SessionKey []byte
	// Pages are the parsed templates; nil parses the embedded ones.
	Pages *templates.Templates
	Log   *slog.Logger
	// Now is the clock (sessions, throttling); nil means time.Now.
	Now func() time.Time
	// SessionTTL is how long a login lasts; zero means 12 hours.
	SessionTTL time.Duration
	// Audit records logins, logouts and consents; nil records nothing.
	Audit *audit.Recorder
	// Limits counts failed logins; nil counts them in this process only.
	Limits Limiter
}

// Handler serves the browser flow. Build it with New.
type Handler struct {
	store    Store
	sessions *DBStore
	provider Authorizer
	pages    *templates.Templates
	log      *slog.Logger
	throttle *throttle
	audit    *audit.Recorder
	// dummyHash is verified when an email is unknown, so that answer takes as long as a
	// wrong password (computed once: hashing costs ~30 ms).
	dummyHash string
}

// Names of the session cookie and its values.
const (
	cookieName  = "conexor_session"
	keyCSRF     = "csrf"
	keyUserID   = "uid"
	keyLoginAt  = "login_at"
	csrfField   = "csrf_token"
	maxFormSize = 64 << 10
	// preLoginTTL bounds the rows created for visitors who only look at the login page.
	preLoginTTL = time.Hour
)

// New builds the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Sessions == nil || cfg.Provider == nil {
		return nil, errors.New("consent: Store, Sessions and Provider are required")
	}
	if len(cfg.SessionKey) < 32 {
		return nil, errors.New("consent: the session key must be at least 32 bytes")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Limits == nil {
		cfg.Limits = limit.New(limit.Options{Now: cfg.Now, Log: cfg.Log})
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Pages == nil {
		p, err := templates.New()
		if err != nil {
			return nil, err
		}
		cfg.Pages = p
	}
	secure := strings.HasPrefix(cfg.Provider.Issuer(), "https://")
	return &Handler{
		store:     cfg.Store,
		sessions:  NewDBStore(cfg.Sessions, cfg.SessionKey, cfg.SessionTTL, secure, cfg.Now),
		provider:  cfg.Provider,
		pages:     cfg.Pages,
		log:       cfg.Log,
		throttle:  newThrottle(cfg.Limits),
		dummyHash: password.DummyHash(),
		audit:     cfg.Audit,
	}, nil
}

// Endpoints are the flow's handlers, one per route. The app's route table (internal/app)
// puts each at its path and method; each expects only that method.
type Endpoints struct {
	Authorize http.Handler // GET urls.Consent: the authorization endpoint, the consent page
	Decide    http.Handler // POST urls.Consent: the user's decision
	LoginPage http.Handler // GET urls.Login
	Login     http.Handler // POST urls.Login
	Logout    http.Handler // POST urls.Logout
}

// Endpoints returns the flow's handlers.
func (h *Handler) Endpoints() Endpoints {
	return Endpoints{
		Authorize: http.HandlerFunc(h.authorize),
		Decide:    http.HandlerFunc(h.decide),
		LoginPage: http.HandlerFunc(h.loginPage),
		Login:     http.HandlerFunc(h.login),
		Logout:    http.HandlerFunc(h.logout),
	}
}

// session returns the request's session. A database failure is logged and answered here;
// ok is false then.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (*sessions.Session, bool) {
	sess, err := h.sessions.Get(r, cookieName)
	if err != nil {
		h.serverError(w, r, "load session", err)
		return nil, false
	}
	return sess, true
}

// checkedPost is the start of every POST of the flow (login, consent, logout): a parsed
// form, the session, and its CSRF token matched in constant time. Anything wrong has been
// answered when ok is false.
func (h *Handler) checkedPost(w http.ResponseWriter, r *http.Request) (*sessions.Session, bool) {
	if !h.parsePost(w, r) {
		return nil, false
	}
	sess, ok := h.session(w, r)
	if !ok {
		return nil, false
	}
	if !csrfValid(value(sess, keyCSRF), r.PostForm.Get(csrfField)) {
		h.csrfFailed(w, r)
		return nil, false
	}
	return sess, true
}

func value(sess *sessions.Session, key string) string {
	v, _ := sess.Values[key].(string)
	return v
}

// render writes a page through templates.Write (the page headers, no half pages).
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page func(*bytes.Buffer) error) {
	templates.Write(w, r, h.log, status, page)
}

// errorPage renders an error page; the message is escaped by the template.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, p templates.ErrorPage) {
	h.render(w, r, status, func(b *bytes.Buffer) error { return h.pages.Error(b, p) })
}

// serverError logs an internal failure with context and shows a page that reveals nothing
// about it: 503 with Retry-After when the database is unavailable, else 500.
func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.log.ErrorContext(r.Context(), "consent flow: "+what, "path", r.URL.Path, "err", err)
	if errors.Is(err, storage.ErrUnavailable) {
		h.unavailable(w, r)
		return
	}
	h.errorPage(w, r, http.StatusInternalServerError, templates.ErrorPage{
		Title:   "Something went wrong",
		Message: "Conexor could not complete this step because of a problem on our side.",
		Action:  "Wait a moment and try again. If it keeps happening, contact your administrator.",
	})
}

// unavailable answers a browser request the database could not serve: the same condition as
// the OAuth endpoints' temporarily_unavailable, as a page.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	h.errorPage(w, r, http.StatusServiceUnavailable, templates.ErrorPage{
		Title:   "Conexor is briefly unavailable",
		Message: "Conexor cannot reach its database right now.",
		Action:  "Wait a moment and reload the page. If it keeps happening, contact your administrator.",
		Code:    "temporarily_unavailable",
	})
}

// csrfFailed answers a POST whose anti-forgery token is missing or wrong.
func (h *Handler) csrfFailed(w http.ResponseWriter, r *http.Request) {
	h.log.InfoContext(r.Context(), "csrf check failed", "path", r.URL.Path)
	h.errorPage(w, r, http.StatusForbidden, templates.ErrorPage{
		Title:   "This form has expired",
		Message: "The form you sent did not carry a valid security token. This happens when a form is sent from another site, when your session ended, or when cookies are blocked.",
		Action:  "Go back, reload the page and try again. Conexor needs cookies to keep you logged in.",
	})
}

// parsePost reads a POST form with a size cap. Only the body counts: a query string on a
// POST is ignored, so nothing can be smuggled past the form.
func (h *Handler) parsePost(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, templates.ErrorPage{
			Title:   "The form could not be read",
			Message: "The request was not a valid form submission, or it was too large.",
			Action:  "Go back, reload the page and try again.",
		})
		return false
	}
	return true
}
