package consent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/sessions"

	"github.com/conexor/conexor/storage"
)

// loginTTL is the lifetime these tests give a login (the default).
const loginTTL = 12 * time.Hour

// lifetimeRig is a DBStore and the real store behind it on one stopped clock, as the app
// wires them.
type lifetimeRig struct {
	t   *testing.T
	now time.Time
	db  *storage.Store
	st  *DBStore
}

func newLifetimeRig(t *testing.T) *lifetimeRig {
	t.Helper()
	rig := &lifetimeRig{t: t, now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	ctx := context.Background()
	db, err := storage.Open(ctx, "sqlite://"+t.TempDir()+"/s.db", storage.WithClock(rig.clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rig.db = db
	rig.st = NewDBStore(db, testSecret, loginTTL, false, rig.clock)
	return rig
}

func (r *lifetimeRig) clock() time.Time { return r.now }

// save saves sess (loaded with c, or new when c is nil) after edit, and returns the cookie set.
func (r *lifetimeRig) save(st *DBStore, c *http.Cookie, edit func(*sessions.Session)) (*http.Cookie, *sessions.Session) {
	r.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if c != nil {
		req.AddCookie(c)
	}
	sess, err := st.New(req, cookieName)
	if err != nil {
		r.t.Fatal(err)
	}
	edit(sess)
	rec := httptest.NewRecorder()
	if err := st.Save(req, rec, sess); err != nil {
		r.t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		r.t.Fatalf("%d cookies set", len(cookies))
	}
	return cookies[0], sess
}

// checkEnd checks that the cookie and the row end at end, and that the session loads
// (through the DBStore and through the store's own Session query) until just before end
// and not at end. It leaves the clock at end.
func (r *lifetimeRig) checkEnd(name string, st *DBStore, c *http.Cookie, sess *sessions.Session, end time.Time) {
	r.t.Helper()
	if want := int(end.Sub(r.now) / time.Second); c.MaxAge != want {
		r.t.Errorf("%s: cookie Max-Age %d s, want %d s (the server-side lifetime)", name, c.MaxAge, want)
	}
	if !c.Expires.Equal(end) {
		r.t.Errorf("%s: cookie Expires %v, want %v", name, c.Expires, end)
	}
	row, err := r.db.Session(context.Background(), rowID(sess.ID))
	if err != nil {
		r.t.Fatalf("%s: row: %v", name, err)
	}
	if !row.ExpiresAt.Equal(end) {
		r.t.Errorf("%s: row expires at %v, want %v", name, row.ExpiresAt, end)
	}
	r.now = end.Add(-time.Second)
	if _, isNew := load(r.t, st, c); isNew {
		r.t.Errorf("%s: the session ended a second before its end", name)
	}
	if _, err := r.db.Session(context.Background(), rowID(sess.ID)); err != nil {
		r.t.Errorf("%s: the store hides the row a second before its end: %v", name, err)
	}
	r.now = end
	if _, isNew := load(r.t, st, c); !isNew {
		r.t.Errorf("%s: the session still loads at its end", name)
	}
	if _, err := r.db.Session(context.Background(), rowID(sess.ID)); !errors.Is(err, storage.ErrNotFound) {
		r.t.Errorf("%s: the store still returns the row at its end: %v", name, err)
	}
}

// TestLoginLifetime: a login lasts exactly the lifetime, for the row, the store's query, the
// cookie and the load, all on the injected clock; saving it again does not extend it.
func TestLoginLifetime(t *testing.T) {
	r := newLifetimeRig(t)
	start := r.now
	login := func(s *sessions.Session) { s.Values[keyUserID] = "usr_1"; s.Values[keyCSRF] = "tok" }
	c, sess := r.save(r.st, nil, login)
	if sess.Values[keyLoginAt] != start.Format(time.RFC3339Nano) {
		t.Errorf("login_at = %v, want the save time %v", sess.Values[keyLoginAt], start)
	}
	r.checkEnd("login", r.st, c, sess, start.Add(loginTTL))

	// Saved again an hour before its end (a later page storing a value): still ends then.
	r.now = start
	c, sess = r.save(r.st, nil, login)
	r.now = start.Add(loginTTL - time.Hour)
	c2, sess2 := r.save(r.st, c, func(s *sessions.Session) {
		if s.IsNew {
			t.Fatal("the session did not load 11 hours into a 12-hour login")
		}
		s.Values["note"] = "x"
	})
	if sess2.ID != sess.ID {
		t.Fatal("saving again changed the session ID")
	}
	r.checkEnd("saved again", r.st, c2, sess2, start.Add(loginTTL))
}

// TestPreLoginLifetime: a visitor's session for the login form lasts preLoginTTL.
func TestPreLoginLifetime(t *testing.T) {
	r := newLifetimeRig(t)
	c, sess := r.save(r.st, nil, func(s *sessions.Session) { s.Values[keyCSRF] = "tok" })
	if _, ok := sess.Values[keyLoginAt]; ok {
		t.Error("a session without a user got a login_at")
	}
	r.checkEnd("pre-login", r.st, c, sess, r.now.Add(preLoginTTL))
}

// TestLoweredLifetimeEndsOlderLogins: login_at is read on every load, so a shorter lifetime
// (a restart with a new setting) ends logins older than it although their rows live on.
func TestLoweredLifetimeEndsOlderLogins(t *testing.T) {
	r := newLifetimeRig(t)
	start := r.now
	c, _ := r.save(r.st, nil, func(s *sessions.Session) { s.Values[keyUserID] = "usr_1" })
	short := NewDBStore(r.db, testSecret, time.Hour, false, r.clock)
	r.now = start.Add(time.Hour - time.Second)
	if _, isNew := load(t, short, c); isNew {
		t.Error("ended before the lowered lifetime")
	}
	r.now = start.Add(time.Hour)
	if _, isNew := load(t, short, c); !isNew {
		t.Error("a login older than the lowered lifetime still loads")
	}
	if _, isNew := load(t, r.st, c); isNew {
		t.Error("the 12-hour store no longer loads it")
	}
}

// TestLoginWithoutLoginAtHasEnded: a row claiming a user but no readable login time is not
// a session (only Save writes rows, and it always stamps login_at).
func TestLoginWithoutLoginAtHasEnded(t *testing.T) {
	r := newLifetimeRig(t)
	c, sess := r.save(r.st, nil, func(s *sessions.Session) { s.Values[keyUserID] = "usr_1" })
	row, err := r.db.Session(context.Background(), rowID(sess.ID))
	if err != nil {
		t.Fatal(err)
	}
	row.Data = []byte(`{"uid":"usr_1","login_at":"yesterday"}`)
	if err := r.db.SaveSession(context.Background(), row); err != nil {
		t.Fatal(err)
	}
	if _, isNew := load(t, r.st, c); !isNew {
		t.Error("a session with an unreadable login_at loads")
	}
}

// memRows is an in-memory SessionRows, for the synctest bubble (no database there).
type memRows struct {
	mu   sync.Mutex
	rows map[string]storage.HTTPSession
}

func (m *memRows) Session(_ context.Context, id string) (*storage.HTTPSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	hs, ok := m.rows[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &hs, nil
}

func (m *memRows) SaveSession(_ context.Context, hs *storage.HTTPSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[hs.ID] = *hs
	return nil
}

func (m *memRows) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.rows, id)
	return nil
}

// TestLifetimeIgnoresWallClock: in a synctest bubble the wall clock moves while the
// injected clock stands still, so a second lifetime on the wall clock (the cookie codec's
// own age check, a cookie Expires computed from time.Now) shows up.
func TestLifetimeIgnoresWallClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		injected := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		st := NewDBStore(&memRows{rows: map[string]storage.HTTPSession{}}, testSecret, loginTTL, false,
			func() time.Time { return injected })
		c, _ := roundTrip(t, st, map[any]any{keyUserID: "usr_1"})
		if end := injected.Add(loginTTL); !c.Expires.Equal(end) {
			t.Errorf("cookie Expires %v, want %v (injected clock + lifetime)", c.Expires, end)
		}
		time.Sleep(2 * loginTTL) // the wall clock only
		if _, isNew := load(t, st, c); isNew {
			t.Error("the session ended on the wall clock while the injected clock says it lives")
		}
	})
}
