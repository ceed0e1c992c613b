package dashboard

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/conexor/conexor/accounts"
	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/consent"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/templates"
)

// accountRoute wraps a page of the logged-in user's own account: the visitor must be
// logged in (else the login page, which comes back), and a POST must carry the session's
// CSRF token. There is no org, so no role.
func (h *Handler) accountRoute(next func(*request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := h.Visitors.Visitor(r)
		if err != nil {
			h.serverError(w, r, "load session", err)
			return
		}
		if v.User == nil {
			h.loginFirst(w, r, urls.Account)
			return
		}
		r = r.WithContext(audit.WithActor(r.Context(), audit.FromRequest(r, audit.KindUser, v.User.ID, v.User.Email)))
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
			if err := r.ParseForm(); err != nil {
				h.errorPage(w, r, http.StatusBadRequest, badForm(urls.Account))
				return
			}
			if !consent.CSRFValid(v, r) {
				h.staleForm(w, r, urls.Account)
				return
			}
		}
		next(&request{w: w, r: r, visitor: v})
	})
}

// accountPage serves GET /account.
func (h *Handler) accountPage(q *request) {
	h.showAccount(q, http.StatusOK, nil)
}

func (h *Handler) showAccount(q *request, status int, edit func(p *templates.AccountPage)) {
	u := q.visitor.User
	sessions, err := h.Store.SessionsOfUser(q.r.Context(), u.ID)
	if err != nil {
		h.serverError(q.w, q.r, "list sessions", err)
		return
	}
	page := templates.AccountPage{
		Chrome: templates.Chrome{UserEmail: u.Email, CSRF: q.visitor.CSRF,
			Crumbs: []templates.Crumb{{Label: "Dashboard", URL: urls.Dashboard}, {Label: "Account"}}},
		Email: u.Email, PasswordAction: urls.AccountPassword, EndSessionsAction: urls.AccountEndSessions,
	}
	for _, s := range sessions {
		page.Sessions = append(page.Sessions, templates.SessionRow{
			Created: s.CreatedAt.UTC().Format(timeFormat), LastSeen: s.UpdatedAt.UTC().Format(timeFormat),
			IP: s.IP, UserAgent: s.UserAgent, Current: s.ID == q.visitor.SessionRowID,
		})
	}
	if edit != nil {
		edit(&page)
	}
	h.render(q.w, q.r, status, func(b *bytes.Buffer) error { return h.Pages.Account(b, page) })
}

// changePassword serves POST /account/password: the current password, the new one twice.
// The user's other sessions end; this one stays.
func (h *Handler) changePassword(q *request) {
	f := q.r.PostForm
	err := h.Accounts.ChangePassword(q.r.Context(), q.visitor.User, f.Get("current"), f.Get("password"), f.Get("confirm"), q.visitor.SessionRowID)
	var problems accounts.Problems
	switch {
	case errors.As(err, &problems):
		h.showAccount(q, http.StatusUnprocessableEntity, func(p *templates.AccountPage) {
			p.Password.Errors = problems
		})
	case err != nil:
		h.serverError(q.w, q.r, "change password", err)
	default:
		h.Log.InfoContext(q.r.Context(), "password changed", "user_id", q.visitor.User.ID)
		h.showAccount(q, http.StatusOK, func(p *templates.AccountPage) {
			p.Changed = true
		})
	}
}

// endSessions serves POST /account/sessions/end: "Log out everywhere", this browser too.
func (h *Handler) endSessions(q *request) {
	if _, err := h.Accounts.LogOutEverywhere(q.r.Context(), q.visitor.User); err != nil {
		h.serverError(q.w, q.r, "end sessions", err)
		return
	}
	h.render(q.w, q.r, http.StatusOK, func(b *bytes.Buffer) error { return h.Pages.LoggedOut(b, templates.LoggedOutPage{}) })
}

// setPassword serves GET and POST /account/set-password: the page of a one-time link, for
// a person who is not logged in. The token is the link's (?token= on GET, a hidden field
// on POST); an unknown, used or expired one gets a page that says so.
func (h *Handler) setPassword(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(audit.WithActor(r.Context(), audit.FromRequest(r, audit.KindAnonymous, "", "")))
	if r.Method != http.MethodPost {
		token := r.URL.Query().Get("token")
		u, err := h.Accounts.LinkUser(r.Context(), token)
		if errors.Is(err, accounts.ErrLinkInvalid) {
			h.linkInvalid(w, r)
			return
		}
		if err != nil {
			h.serverError(w, r, "check set-password link", err)
			return
		}
		csrf, err := h.Visitors.FormToken(w, r)
		if err != nil {
			h.serverError(w, r, "start session", err)
			return
		}
		h.showSetPassword(w, r, http.StatusOK, templates.SetPasswordPage{Email: u.Email, Token: token, CSRF: csrf})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, badForm(urls.Login))
		return
	}
	token := r.PostForm.Get("token")
	ok, err := h.Visitors.FormTokenValid(r)
	if err != nil {
		h.serverError(w, r, "load session", err)
		return
	}
	if !ok {
		h.staleForm(w, r, urls.SetPasswordLink("", token))
		return
	}
	u, err := h.Accounts.LinkUser(r.Context(), token)
	if errors.Is(err, accounts.ErrLinkInvalid) {
		h.Audit.Record(r.Context(), audit.Event{Action: audit.PasswordSet, Result: audit.Refused, Detail: "set-password link unknown, used or expired"})
		h.linkInvalid(w, r)
		return
	}
	if err != nil {
		h.serverError(w, r, "check set-password link", err)
		return
	}
	_, err = h.Accounts.SetPasswordWithLink(r.Context(), token, r.PostForm.Get("password"), r.PostForm.Get("confirm"))
	var problems accounts.Problems
	switch {
	case errors.As(err, &problems):
		h.showSetPassword(w, r, http.StatusUnprocessableEntity, templates.SetPasswordPage{Email: u.Email, Token: token,
			CSRF: r.PostForm.Get(consent.CSRFField), Form: templates.PasswordForm{Errors: problems}})
	case errors.Is(err, accounts.ErrLinkInvalid): // used by a concurrent request
		h.linkInvalid(w, r)
	case err != nil:
		h.serverError(w, r, "set password", err)
	default:
		h.Log.InfoContext(r.Context(), "password set with a link", "user_id", u.ID)
		h.showSetPassword(w, r, http.StatusOK, templates.SetPasswordPage{Email: u.Email, Done: true, LoginURL: urls.Login})
	}
}

func (h *Handler) showSetPassword(w http.ResponseWriter, r *http.Request, status int, p templates.SetPasswordPage) {
	h.render(w, r, status, func(b *bytes.Buffer) error { return h.Pages.SetPassword(b, p) })
}

// linkInvalid is the one answer to a set-password link that is unknown, used or expired:
// the same page for all three, so it reveals nothing about other people's links.
func (h *Handler) linkInvalid(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, http.StatusGone, templates.ErrorPage{
		Title:   "This link cannot be used",
		Message: "This set-password link has already been used, has expired (links work for 24 hours), or is not a link Conexor made.",
		Action:  "If you already set your password, log in. Otherwise ask an admin of your organization for a new link.",
		BackURL: urls.Login, BackLabel: "Go to the login page",
	})
}
