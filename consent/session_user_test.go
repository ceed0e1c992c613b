package consent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDBStoreNamesTheUser: a logged-in session's row names its user, address and browser,
// so the user's sessions can be listed and ended together; a row saved before rows named
// their user is named at its next load; a pre-login session names no one.
func TestDBStoreNamesTheUser(t *testing.T) {
	db := openStore(t)
	st := NewDBStore(db, testSecret, time.Hour, false, nil)
	ctx := context.Background()

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "203.0.113.9:4444"
	req.Header.Set("User-Agent", "Test Browser/1.0")
	rec := httptest.NewRecorder()
	sess, _ := st.New(req, cookieName)
	sess.Values[keyUserID] = "usr_1"
	if err := st.Save(req, rec, sess); err != nil {
		t.Fatal(err)
	}
	got, err := db.SessionsOfUser(ctx, "usr_1")
	if err != nil || len(got) != 1 || got[0].ID != rowID(sess.ID) || got[0].IP != "203.0.113.9" || got[0].UserAgent != "Test Browser/1.0" {
		t.Fatalf("SessionsOfUser = %+v, %v", got, err)
	}

	roundTrip(t, st, map[any]any{keyCSRF: "tok"})
	if got, _ := db.SessionsOfUser(ctx, ""); len(got) != 0 {
		t.Errorf("a pre-login session names a user: %+v", got)
	}

	// A row from before the column: the user is in the data only.
	row := got[0]
	row.UserID, row.IP, row.UserAgent = "", "", ""
	if err := db.SaveSession(ctx, &row); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.SessionsOfUser(ctx, "usr_1"); len(got) != 0 {
		t.Fatalf("the old-style row still names its user")
	}
	if vals, isNew := load(t, st, rec.Result().Cookies()[0]); isNew || vals[keyUserID] != "usr_1" {
		t.Fatalf("loading the old-style session: %v new=%v", vals, isNew)
	}
	if got, _ := db.SessionsOfUser(ctx, "usr_1"); len(got) != 1 {
		t.Errorf("loading an old-style session did not name its user: %+v", got)
	}
}
