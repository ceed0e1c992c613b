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
	"unicode/utf8"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/conexor/conexor/audit"
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
	rows     SessionRows
	codecs   []securecookie.Codec
	options  sessions.Options
	lifetime lifetime
}

var _ sessions.Store = (*DBStore)(nil)

// NewDBStore builds the store. cookieKey signs the cookie; ttl is how long a login lasts (see
// lifetime); secure sets the cookie's Secure flag (the issuer is https).
func NewDBStore(rows SessionRows, cookieKey []byte, ttl time.Duration, secure bool, now func() time.Time) *DBStore {
	if now == nil {
		now = time.Now
	}
	codec := securecookie.New(cookieKey, nil)
	// No age check in the cookie: securecookie would compare its signed timestamp with the
	// wall clock, a second lifetime on another clock. The row decides (lifetime.live).
	codec.MaxAge(0)
	codec.SetSerializer(securecookie.JSONEncoder{})
	return &DBStore{
		rows:   rows,
		codecs: []securecookie.Codec{codec},
		options: sessions.Options{
			Path:     "/",
			Secure:   secure,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
		lifetime: lifetime{ttl: ttl, now: now},
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
	var values map[string]string
	if err := json.Unmarshal(row.Data, &values); err != nil {
		return sess, nil // unreadable: start over rather than fail the page
	}
	if !s.lifetime.live(values, row.ExpiresAt) {
		return sess, nil
	}
	if uid := values[keyUserID]; uid != "" && row.UserID == "" {
		// A session saved before rows named their user: name it now, once, so ending the
		// user's sessions (a removed member, a new password) ends this one too.
		row.UserID, row.IP, row.UserAgent = uid, audit.RemoteIP(r), clipUA(r.UserAgent())
		if err := s.rows.SaveSession(r.Context(), row); err != nil {
			return sess, fmt.Errorf("consent: save session: %w", err)
		}
	}
	for k, v := range values {
		sess.Values[k] = v
	}
	sess.ID, sess.IsNew = id, false
	return sess, nil
}

// Save writes the session row and sets the cookie, both ending when lifetime says. A
// negative MaxAge (Destroy), or a session already past its end, deletes the row and expires
// the cookie. Values must be strings (they are stored as JSON).
func (s *DBStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	values := make(map[string]string, len(sess.Values))
	for k, v := range sess.Values {
		ks, ok1 := k.(string)
		vs, ok2 := v.(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("consent: session values must be strings, got %T=%T", k, v)
		}
		values[ks] = vs
	}
	now := s.lifetime.now()
	if values[keyUserID] != "" && values[keyLoginAt] == "" {
		values[keyLoginAt] = now.UTC().Format(time.RFC3339Nano)
		sess.Values[keyLoginAt] = values[keyLoginAt]
	}
	end := s.lifetime.end(values)
	if sess.Options.MaxAge >= 0 && !end.After(now) {
		sess.Options.MaxAge = -1
	}
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.rows.DeleteSession(r.Context(), rowID(sess.ID)); err != nil {
				return fmt.Errorf("consent: delete session: %w", err)
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	data, err := json.Marshal(values)
	if err != nil {
		return err
	}
	if sess.ID == "" {
		sess.ID = secret.RandomToken(32)
	}
	// The user, address and browser go in columns of their own, so a user's sessions can
	// be listed (the account page) and ended together (a removed member, a new password).
	if err := s.rows.SaveSession(r.Context(), &storage.HTTPSession{
		ID: rowID(sess.ID), Data: data, ExpiresAt: end,
		UserID: values[keyUserID], IP: audit.RemoteIP(r), UserAgent: clipUA(r.UserAgent()),
	}); err != nil {
		return fmt.Errorf("consent: save session: %w", err)
	}
	encoded, err := securecookie.EncodeMulti(sess.Name(), sess.ID, s.codecs...)
	if err != nil {
		return err
	}
	sess.Options.MaxAge = maxAge(end.Sub(now))
	c := sessions.NewCookie(sess.Name(), encoded, sess.Options)
	c.Expires = end.UTC() // NewCookie computes it from the wall clock
	http.SetCookie(w, c)
	return nil
}

// clipUA cuts a user agent to its column's 512 bytes without splitting a character.
func clipUA(ua string) string {
	const n = 512
	if len(ua) <= n {
		return ua
	}
	i := n
	for i > 0 && !utf8.RuneStart(ua[i]) {
		i--
	}
	return ua[:i]
}

// maxAge is d in whole seconds, rounded up, so the cookie never ends before the row.
func maxAge(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
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

// lifetime is the one rule for when a browser session ends, on the injected clock. Everything
// that expires a session follows from it: the row's expires_at (which the store's Session
// query and the periodic purge compare), the cookie's Max-Age and Expires, and the check in
// DBStore.New. The cookie's signature carries no age of its own.
//
// A logged-in session ends ttl after login_at, the time it was first saved with a user, and
// saving it again never extends it (an absolute lifetime, no idle timeout). login_at is read
// on every load too, so a lowered ttl ends older sessions at once. A pre-login session (a
// visitor's CSRF token for the login form) ends preLoginTTL after it is saved; it is saved
// once, when the token is made.
type lifetime struct {
	ttl time.Duration
	now func() time.Time
}

// end returns when a session with these values ends. A logged-in session without a readable
// login_at has already ended.
func (l lifetime) end(values map[string]string) time.Time {
	if values[keyUserID] == "" {
		return l.now().Add(preLoginTTL)
	}
	at, err := time.Parse(time.RFC3339Nano, values[keyLoginAt])
	if err != nil {
		return time.Time{}
	}
	return at.Add(l.ttl)
}

// live reports whether a stored session has not ended: its row has not expired and, when it
// is logged in, neither has its login.
func (l lifetime) live(values map[string]string, rowExpires time.Time) bool {
	now := l.now()
	if !now.Before(rowExpires) {
		return false
	}
	return values[keyUserID] == "" || now.Before(l.end(values))
}
