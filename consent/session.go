package consent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/conexor/conexor/internal/secret"
	"github.com/conexor/conexor/storage"
)

// SessionRows is what the session store needs from storage: the browser-session table.
type SessionRows interface {
	Session(ctx context.Context, id string) (*storage.HTTPSession, error)
	SaveSession(ctx context.Context, hs *storage.HTTPSession) error
	DeleteSession(ctx context.Context, id string) error
}

// DBStore is a gorilla/sessions Store that keeps session data in the database and only a
// random session ID in the cookie. Because the row is the session, deleting it (logout)
// ends the session everywhere at once, and any replica sharing the database can serve the
// next request; a cookie-only store could do neither.
//
// The cookie value is signed (securecookie, HMAC with a key derived from the system
// secret), so a forged or tampered cookie is rejected before the database is asked. Rows
// are keyed by SHA-256 of the ID, so a copy of the table holds no usable session.
type DBStore struct {
	rows    SessionRows
	codecs  []securecookie.Codec
	options sessions.Options
	now     func() time.Time
}

var _ sessions.Store = (*DBStore)(nil)

// NewDBStore builds the store. cookieKey signs the cookie; ttl is the session lifetime (the
// cookie's Max-Age and the row's expiry); secure sets the cookie's Secure flag (the issuer is
// https).
func NewDBStore(rows SessionRows, cookieKey []byte, ttl time.Duration, secure bool, now func() time.Time) *DBStore {
	if now == nil {
		now = time.Now
	}
	codec := securecookie.New(cookieKey, nil)
	codec.MaxAge(int(ttl.Seconds()))
	codec.SetSerializer(securecookie.JSONEncoder{})
	return &DBStore{
		rows:   rows,
		codecs: []securecookie.Codec{codec},
		options: sessions.Options{
			Path:     "/",
			MaxAge:   int(ttl.Seconds()),
			Secure:   secure,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
		now: now,
	}
}

// Get returns the request's session, cached for the rest of the request.
func (s *DBStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie, or returns a new empty one when
// there is no cookie, the cookie is not validly signed, or its row is gone or expired: all
// of those simply mean "not logged in". Only a database failure is an error.
func (s *DBStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.options
	sess.Options = &opts
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var id string
	if err := securecookie.DecodeMulti(name, c.Value, &id, s.codecs...); err != nil || id == "" {
		return sess, nil
	}
	row, err := s.rows.Session(r.Context(), rowID(id))
	if errors.Is(err, storage.ErrNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, fmt.Errorf("consent: load session: %w", err)
	}
	if !row.ExpiresAt.After(s.now()) {
		return sess, nil
	}
	var values map[string]string
	if err := json.Unmarshal(row.Data, &values); err != nil {
		return sess, nil // unreadable: start over rather than fail the page
	}
	for k, v := range values {
		sess.Values[k] = v
	}
	sess.ID, sess.IsNew = id, false
	return sess, nil
}

// Save writes the session row and sets the cookie. A negative MaxAge deletes the row and
// expires the cookie. Values must be strings (they are stored as JSON).
func (s *DBStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.rows.DeleteSession(r.Context(), rowID(sess.ID)); err != nil {
				return fmt.Errorf("consent: delete session: %w", err)
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	values := make(map[string]string, len(sess.Values))
	for k, v := range sess.Values {
		ks, ok1 := k.(string)
		vs, ok2 := v.(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("consent: session values must be strings, got %T=%T", k, v)
		}
		values[ks] = vs
	}
	data, err := json.Marshal(values)
	if err != nil {
		return err
	}
	if sess.ID == "" {
		sess.ID = secret.RandomToken(32)
	}
	ttl := time.Duration(sess.Options.MaxAge) * time.Second
	if err := s.rows.SaveSession(r.Context(), &storage.HTTPSession{
		ID: rowID(sess.ID), Data: data, ExpiresAt: s.now().Add(ttl),
	}); err != nil {
		return fmt.Errorf("consent: save session: %w", err)
	}
	encoded, err := securecookie.EncodeMulti(sess.Name(), sess.ID, s.codecs...)
	if err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, sess.Options))
	return nil
}

// Renew gives the session a new ID, deleting the old row, and saves it: at login, so an ID
// an attacker planted or saw before login is worthless afterwards (session fixation).
func (s *DBStore) Renew(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.ID != "" {
		if err := s.rows.DeleteSession(r.Context(), rowID(sess.ID)); err != nil {
			return fmt.Errorf("consent: delete old session: %w", err)
		}
	}
	sess.ID = ""
	sess.IsNew = true
	return s.Save(r, w, sess)
}

// Destroy deletes the session row and expires the cookie.
func (s *DBStore) Destroy(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	sess.Options.MaxAge = -1
	return s.Save(r, w, sess)
}

// rowID is the database key of a session ID.
func rowID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}
