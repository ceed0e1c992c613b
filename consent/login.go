package consent

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/internal/secret"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// loginPage serves GET /login. A logged-in visitor is sent where they were going, or to the
// dashboard. Everyone else gets the form, backed by a short pre-login session that holds
// the form's CSRF token.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r)
	if !ok {
		return
	}
	returnTo := safeReturnTo(r.URL.Query().Get("return_to"))
	if uid := value(sess, keyUserID); uid != "" {
		_, err := h.store.UserByID(r.Context(), uid)
		switch {
		case err == nil:
			if returnTo == "" {
				returnTo = urls.Dashboard
			}
			http.Redirect(w, r, returnTo, http.StatusSeeOther)
			return
		case !errors.Is(err, storage.ErrNotFound):
			h.serverError(w, r, "load user", err)
			return
		}
		// The user was deleted: fall through to a fresh login.
		sess.Values = map[any]any{}
	}
	csrf, ok := h.ensureCSRF(w, r, sess)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, func(b *bytes.Buffer) error {
		return h.pages.Login(b, templates.LoginPage{CSRF: csrf, ReturnTo: returnTo})
	})
}

// ensureCSRF returns the session's CSRF token, creating (and saving) a pre-login session
// with one when there is none.
func (h *Handler) ensureCSRF(w http.ResponseWriter, r *http.Request, sess *sessions.Session) (string, bool) {
	if t := value(sess, keyCSRF); t != "" {
		return t, true
	}
	t := secret.RandomToken(32)
	sess.Values[keyCSRF] = t
	if err := sess.Save(r, w); err != nil {
		h.serverError(w, r, "save session", err)
		return "", false
	}
	return t, true
}

// errLogin is the one answer to a failed login, whether the email is unknown or the
// password wrong: the same status and the same words, so the page does not reveal which
// emails have accounts.
const errLogin = "The email or password is not correct."

// login serves POST /login.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.checkedPost(w, r)
	if !ok {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	pw := r.PostForm.Get("password")
	returnTo := safeReturnTo(r.PostForm.Get("return_to"))
	account, ip := strings.ToLower(email), httpx.ClientIP(r)
	again := func(status int, msg string) {
		h.render(w, r, status, func(b *bytes.Buffer) error {
			return h.pages.Login(b, templates.LoginPage{CSRF: value(sess, keyCSRF), ReturnTo: returnTo, Email: email, Error: msg})
		})
	}
	wait, succeeded := h.throttle.begin(r.Context(), account, ip)
	if wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		// Not an audit event: a flood of throttled attempts would crowd real events out of the
		// log (the failures that led to the throttle are recorded; this is logged and counted).
		h.log.WarnContext(r.Context(), "login throttled", "ip", ip, "retry_after_s", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		again(http.StatusTooManyRequests, "Too many failed attempts. Wait "+strconv.Itoa(secs)+" seconds, then try again.")
		return
	}
	user, err := h.store.UserByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		succeeded() // no password was tried
		h.serverError(w, r, "look up user", err)
		return
	}
	// Always pay for one argon2id verification, against a dummy hash for unknown emails, so
	// the response time does not reveal whether the account exists.
	// A user added by an admin who has not set a password yet has none: the same.
	hash := h.dummyHash
	if user != nil && user.PasswordHash != "" {
		hash = user.PasswordHash
	}
	match, verr := password.Verify(hash, pw)
	if user == nil || user.PasswordHash == "" || verr != nil || !match || email == "" {
		// The attempt's token, taken by begin, stays spent.
		attrs := []any{"ip", ip}
		// The actor is the account tried when it exists, else an anonymous one named by the
		// email typed (never the password).
		actor := audit.FromRequest(r, audit.KindAnonymous, "", emailLike(account))
		if user != nil {
			attrs = append(attrs, "user_id", user.ID)
			actor = audit.FromRequest(r, audit.KindUser, user.ID, user.Email)
		}
		h.audit.Record(r.Context(), audit.Event{Actor: actor, Action: audit.LoginFailed, Result: audit.Refused,
			Target: actor.ID, TargetName: actor.Name})
		if verr != nil {
			attrs = append(attrs, "err", verr)
		}
		h.log.InfoContext(r.Context(), "login failed", attrs...)
		again(http.StatusUnauthorized, errLogin)
		return
	}
	succeeded() // only failures cost: a person who types the password right is never slowed
	// A fresh session ID and CSRF token at login: whatever was known about the pre-login
	// session (a planted cookie, a token seen in a page) is useless afterwards. Saving it
	// with a user starts its lifetime (login_at).
	sess.Values = map[any]any{
		keyUserID: user.ID,
		keyCSRF:   secret.RandomToken(32),
	}
	if err := h.sessions.Renew(r, w, sess); err != nil {
		h.serverError(w, r, "renew session", err)
		return
	}
	h.log.InfoContext(r.Context(), "login", "user_id", user.ID, "ip", ip)
	if err := h.store.RecordLogin(r.Context(), user.ID); err != nil {
		// The login stands; only the members page's "last login" misses it.
		h.log.WarnContext(r.Context(), "record last login", "user_id", user.ID, "err", err)
	}
	h.audit.Record(r.Context(), audit.Event{Actor: audit.FromRequest(r, audit.KindUser, user.ID, user.Email),
		Action: audit.LoginSucceeded, Target: user.ID, TargetName: user.Email})
	if returnTo == "" {
		returnTo = urls.Dashboard
	}
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
}

// logout serves POST /logout: the session row is deleted, so the session ends for good,
// not just in this browser's cookie jar. With a return_to (the consent page's "Not you?"),
// the person goes on to log in again and continue.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.checkedPost(w, r)
	if !ok {
		return
	}
	uid := value(sess, keyUserID)
	if err := h.sessions.Destroy(r, w, sess); err != nil {
		h.serverError(w, r, "end session", err)
		return
	}
	h.log.InfoContext(r.Context(), "logout", "user_id", uid)
	if uid != "" {
		name := ""
		if u, err := h.store.UserByID(r.Context(), uid); err == nil {
			name = u.Email
		}
		h.audit.Record(r.Context(), audit.Event{Actor: audit.FromRequest(r, audit.KindUser, uid, name),
			Action: audit.Logout, Target: uid, TargetName: name})
	}
	if returnTo := safeReturnTo(r.PostForm.Get("return_to")); returnTo != "" {
		http.Redirect(w, r, urls.Login+"?return_to="+url.QueryEscape(returnTo), http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, func(b *bytes.Buffer) error {
		return h.pages.LoggedOut(b, templates.LoggedOutPage{})
	})
}

// emailLike is what an audit event names an unknown login by: the email typed when it looks
// like one, else a placeholder, so a password typed into the email field is never recorded.
func emailLike(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || !strings.Contains(domain, ".") || strings.ContainsAny(s, " \t\r\n") ||
		strings.Count(s, "@") != 1 || len(s) > 254 {
		return "(not an email address)"
	}
	return s
}
