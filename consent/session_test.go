package consent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/storage"
)

func openStore(t *testing.T) *storage.Store {
	t.Helper()
	return openStoreAt(t, t.TempDir())
}

func openStoreAt(t *testing.T, dir string) *storage.Store {
	t.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, "sqlite://"+filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

var testSecret = []byte("0123456789abcdef0123456789abcdef-session-test")

// roundTrip saves values in a new session and returns the Set-Cookie it produced.
func roundTrip(t *testing.T, st *DBStore, values map[any]any) (*http.Cookie, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	rec := httptest.NewRecorder()
	sess, err := st.New(req, cookieName)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range values {
		sess.Values[k] = v
	}
	if err := st.Save(req, rec, sess); err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies set", len(cookies))
	}
	return cookies[0], sess.ID
}

func load(t *testing.T, st *DBStore, c *http.Cookie) (values map[any]any, isNew bool) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(c)
	sess, err := st.New(req, cookieName)
	if err != nil {
		t.Fatal(err)
	}
	return sess.Values, sess.IsNew
}

func TestDBStoreRoundTripAndFlags(t *testing.T) {
	db := openStore(t)
	for _, secure := range []bool{false, true} {
		st := NewDBStore(db, testSecret, time.Hour, secure, nil)
		c, id := roundTrip(t, st, map[any]any{"uid": "usr_1", "csrf": "tok"})
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != secure || c.MaxAge != 3600 {
			t.Errorf("secure=%v: cookie flags %+v", secure, c)
		}
		if strings.Contains(c.Value, "usr_1") || strings.Contains(c.Value, id) {
			t.Error("the cookie carries session data or the bare ID instead of a signed ID")
		}
		vals, isNew := load(t, st, c)
		if isNew || vals["uid"] != "usr_1" || vals["csrf"] != "tok" {
			t.Errorf("loaded %v (new=%v)", vals, isNew)
		}
		// The row is keyed by a hash of the ID, not the ID.
		if _, err := db.Session(context.Background(), id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("a row is keyed by the raw session ID: %v", err)
		}
	}
}

func TestDBStoreRejectsForgedAndExpired(t *testing.T) {
	db := openStore(t)
	now := time.Now()
	clock := func() time.Time { return now }
	st := NewDBStore(db, testSecret, time.Hour, false, clock)
	c, _ := roundTrip(t, st, map[any]any{"uid": "usr_1"})

	forged := *c
	forged.Value = c.Value[:len(c.Value)-2] + "xx"
	if vals, isNew := load(t, st, &forged); !isNew || len(vals) != 0 {
		t.Error("a tampered cookie was accepted")
	}
	otherKey := NewDBStore(db, []byte("another secret that is 32+ bytes long!!"), time.Hour, false, clock)
	if _, isNew := load(t, otherKey, c); !isNew {
		t.Error("a cookie signed with another secret was accepted")
	}
	now = now.Add(2 * time.Hour)
	if _, isNew := load(t, st, c); !isNew {
		t.Error("an expired session was accepted")
	}
}

func TestDBStoreRenewAndDestroy(t *testing.T) {
	db := openStore(t)
	st := NewDBStore(db, testSecret, time.Hour, false, nil)
	c, oldID := roundTrip(t, st, map[any]any{"csrf": "pre"})

	req := httptest.NewRequest(http.MethodPost, "/login", nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	sess, err := st.New(req, cookieName)
	if err != nil {
		t.Fatal(err)
	}
	sess.Values = map[any]any{"uid": "usr_1"}
	if err := st.Renew(req, rec, sess); err != nil {
		t.Fatal(err)
	}
	if sess.ID == oldID {
		t.Fatal("Renew kept the ID")
	}
	if _, isNew := load(t, st, c); !isNew {
		t.Error("the old session still loads after Renew")
	}
	renewed := rec.Result().Cookies()[0]
	if vals, isNew := load(t, st, renewed); isNew || vals["uid"] != "usr_1" {
		t.Error("the renewed session does not load")
	}

	req = httptest.NewRequest(http.MethodPost, "/logout", nil)
	req.AddCookie(renewed)
	rec = httptest.NewRecorder()
	sess, _ = st.New(req, cookieName)
	if err := st.Destroy(req, rec, sess); err != nil {
		t.Fatal(err)
	}
	if gone := rec.Result().Cookies()[0]; gone.MaxAge >= 0 || gone.Value != "" {
		t.Errorf("logout cookie %+v does not expire the cookie", gone)
	}
	if _, isNew := load(t, st, renewed); !isNew {
		t.Error("the session still loads after Destroy")
	}
}

func TestDBStoreValuesMustBeStrings(t *testing.T) {
	st := NewDBStore(openStore(t), testSecret, time.Hour, false, nil)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	sess, _ := st.New(req, cookieName)
	sess.Values["n"] = 1
	if err := st.Save(req, httptest.NewRecorder(), sess); err == nil {
		t.Error("a non-string value was saved")
	}
}
