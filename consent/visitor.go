package consent

import (
	"errors"
	"net/http"

	"github.com/conexor/conexor/internal/secret"
	"github.com/conexor/conexor/storage"
)

// Visitor is who a browser request comes from, for other pages of the app (the dashboard)
// that use the same login, session and CSRF token as the consent flow.
type Visitor struct {
	// User is the logged-in user; nil when the visitor is not logged in (or the session
	// ended, or the user was deleted).
	User *storage.User
	// CSRF is the session's anti-forgery token, to put in every form as csrf_token. Empty
	// when the visitor is not logged in.
	CSRF string
	// SessionRowID is the database key of the visitor's session (storage.HTTPSession.ID),
	// so the account page can mark "this session" and keep it when ending the others.
	SessionRowID string
}

// CSRFField is the name of the form field that carries the anti-forgery token.
const CSRFField = csrfField

// Visitor returns who sent r. Not being logged in is not an error; only a database
// failure is.
func (h *Handler) Visitor(r *http.Request) (Visitor, error) {
	sess, err := h.sessions.Get(r, cookieName)
	if err != nil {
		return Visitor{}, err
	}
	uid := value(sess, keyUserID)
	if uid == "" {
		return Visitor{}, nil
	}
	user, err := h.store.UserByID(r.Context(), uid)
	if errors.Is(err, storage.ErrNotFound) {
		return Visitor{}, nil
	}
	if err != nil {
		return Visitor{}, err
	}
	return Visitor{User: user, CSRF: value(sess, keyCSRF), SessionRowID: rowID(sess.ID)}, nil
}

// CSRFValid reports whether a parsed POST form carries v's anti-forgery token (compared in
// constant time). A visitor who is not logged in has none, so nothing they post is valid.
func CSRFValid(v Visitor, r *http.Request) bool {
	return csrfValid(v.CSRF, r.PostForm.Get(csrfField))
}

// FormToken returns the anti-forgery token of r's session for a form shown to a person who
// may not be logged in (the set-password link's page), creating and saving a pre-login
// session with one when there is none, as the login page does.
func (h *Handler) FormToken(w http.ResponseWriter, r *http.Request) (string, error) {
	sess, err := h.sessions.Get(r, cookieName)
	if err != nil {
		return "", err
	}
	if t := value(sess, keyCSRF); t != "" {
		return t, nil
	}
	t := secret.RandomToken(32)
	sess.Values[keyCSRF] = t
	if err := sess.Save(r, w); err != nil {
		return "", err
	}
	return t, nil
}

// FormTokenValid reports whether a parsed POST form carries the token of r's session,
// logged in or not (see FormToken).
func (h *Handler) FormTokenValid(r *http.Request) (bool, error) {
	sess, err := h.sessions.Get(r, cookieName)
	if err != nil {
		return false, err
	}
	return csrfValid(value(sess, keyCSRF), r.PostForm.Get(csrfField)), nil
}
