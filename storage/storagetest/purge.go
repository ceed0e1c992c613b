package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/storage"
)

// testPurgeExpired: PurgeExpired deletes exactly the codes, tokens, PKCE sessions and
// browser sessions that expired before the cutoff, and counts them. Rows that expired after
// the cutoff (kept so replays are still recognised), at it, or not yet, stay, and so does a
// revoked or used token that has not expired: it must keep answering "inactive", not
// "unknown".
func testPurgeExpired(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	now := e.Clock.Now().UTC().Truncate(time.Microsecond)
	cutoff := now.Add(-time.Hour)
	// Expiries relative to the cutoff: gone strictly before it, kept from it on.
	ages := []struct {
		name string
		exp  time.Time
		gone bool
	}{
		{"long-gone", cutoff.Add(-24 * time.Hour), true},
		{"just-gone", cutoff.Add(-time.Second), true},
		{"at-cutoff", cutoff, false},
		{"expired-recently", now.Add(-time.Minute), false},
		{"live", now.Add(time.Hour), false},
	}
	kinds := []struct {
		name   string
		typ    fosite.TokenType
		create func(sig string, r fosite.Requester) error
		get    func(sig string) error
	}{
		{"code", fosite.AuthorizeCode, func(sig string, r fosite.Requester) error { return s.CreateAuthorizeCodeSession(ctx, sig, r) },
			func(sig string) error {
				_, err := s.GetAuthorizeCodeSession(ctx, sig, &fosite.DefaultSession{})
				return err
			}},
		{"access", fosite.AccessToken, func(sig string, r fosite.Requester) error { return s.CreateAccessTokenSession(ctx, sig, r) },
			func(sig string) error {
				_, err := s.GetAccessTokenSession(ctx, sig, &fosite.DefaultSession{})
				return err
			}},
		{"refresh", fosite.RefreshToken, func(sig string, r fosite.Requester) error {
			return s.CreateRefreshTokenSession(ctx, sig, Sig("purge-access-of-"+sig), r)
		}, func(sig string) error {
			_, err := s.GetRefreshTokenSession(ctx, sig, &fosite.DefaultSession{})
			return err
		}},
		{"pkce", fosite.AuthorizeCode, func(sig string, r fosite.Requester) error { return s.CreatePKCERequestSession(ctx, sig, r) },
			func(sig string) error {
				_, err := s.GetPKCERequestSession(ctx, sig, &fosite.DefaultSession{})
				return err
			}},
	}
	var wantGone int64
	for _, k := range kinds {
		for _, a := range ages {
			req := e.NewRequest(t, "req-purge-"+k.name+"-"+a.name, nil)
			req.Session.(*fosite.DefaultSession).ExpiresAt[k.typ] = a.exp
			noErr(t, "create "+k.name+" "+a.name, k.create(Sig("purge-"+k.name+"-"+a.name), req))
		}
	}
	sessionID := func(age string) string { return "purge-session-" + age }
	for i, a := range ages {
		// Any time zone: the cutoff compares instants.
		zone := time.FixedZone("", (i-2)*5*3600)
		noErr(t, "SaveSession "+a.name, s.SaveSession(ctx, &storage.HTTPSession{ID: sessionID(a.name), Data: []byte("{}"), ExpiresAt: a.exp.In(zone)}))
	}
	for _, a := range ages {
		if a.gone {
			wantGone += int64(len(kinds)) + 1 // each token kind and a browser session
		}
	}

	// Not expired, but revoked (access), rotated (refresh) or used (code): kept.
	revokedReq := e.NewRequest(t, "req-purge-revoked", nil)
	revokedAT, rotatedRT, usedCode := Sig("purge-revoked-access"), Sig("purge-rotated-refresh"), Sig("purge-used-code")
	revokedSince := e.Clock.Now().Add(-time.Second)
	noErr(t, "CreateAccessTokenSession(revoked)", s.CreateAccessTokenSession(ctx, revokedAT, revokedReq))
	noErr(t, "CreateRefreshTokenSession(rotated)", s.CreateRefreshTokenSession(ctx, rotatedRT, revokedAT, revokedReq))
	noErr(t, "CreateAuthorizeCodeSession(used)", s.CreateAuthorizeCodeSession(ctx, usedCode, revokedReq))
	noErr(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, revokedReq.ID))
	noErr(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, revokedReq.ID, rotatedRT))
	noErr(t, "InvalidateAuthorizeCodeSession", s.InvalidateAuthorizeCodeSession(ctx, usedCode))

	// The cutoff in another zone than the rows' (SQLite compares times as text).
	n, err := s.PurgeExpired(ctx, cutoff.In(time.FixedZone("UTC+5", 5*3600)))
	noErr(t, "PurgeExpired", err)
	if n != wantGone {
		t.Errorf("PurgeExpired = %d rows, want %d", n, wantGone)
	}

	for _, k := range kinds {
		for _, a := range ages {
			err := k.get(Sig("purge-" + k.name + "-" + a.name))
			switch {
			case a.gone && !errors.Is(err, fosite.ErrNotFound):
				t.Errorf("%s expiring %s: still there after the purge (%v)", k.name, a.name, errString(err))
			case !a.gone && err != nil:
				t.Errorf("%s expiring %s: lost in the purge: %v", k.name, a.name, errString(err))
			}
		}
	}
	// Session hides expired rows: look with the clock set back before every expiry.
	e.Clock.Advance(-48 * time.Hour)
	for _, a := range ages {
		_, err := s.Session(ctx, sessionID(a.name))
		switch {
		case a.gone && !errors.Is(err, storage.ErrNotFound):
			t.Errorf("browser session expiring %s: still there after the purge (%v)", a.name, err)
		case !a.gone && err != nil:
			t.Errorf("browser session expiring %s: lost in the purge: %v", a.name, err)
		}
	}
	e.Clock.Advance(48 * time.Hour)

	_, err = s.GetAccessTokenSession(ctx, revokedAT, &fosite.DefaultSession{})
	wantErr(t, "GetAccessTokenSession(revoked, purged)", err, fosite.ErrInactiveToken)
	hashes, _, err := s.RevokedAccessTokensSince(ctx, revokedSince)
	noErr(t, "RevokedAccessTokensSince", err)
	if !slices.Contains(hashes, storage.SignatureHash(revokedAT)) {
		t.Error("the purge lost a revoked access token that has not expired: resource servers no longer see it revoked")
	}
	_, err = s.GetRefreshTokenSession(ctx, rotatedRT, &fosite.DefaultSession{})
	wantErr(t, "GetRefreshTokenSession(rotated, purged)", err, fosite.ErrInactiveToken)
	_, err = s.GetAuthorizeCodeSession(ctx, usedCode, &fosite.DefaultSession{})
	wantErr(t, "GetAuthorizeCodeSession(used, purged)", err, fosite.ErrInvalidatedAuthorizeCode)

	// Nothing is left to purge.
	n, err = s.PurgeExpired(ctx, cutoff)
	noErr(t, "PurgeExpired(again)", err)
	if n != 0 {
		t.Errorf("PurgeExpired(again) = %d rows, want 0", n)
	}
}

// testPurgeBatches: a backlog larger than one batch is purged whole, a batch at a time, and
// the count is the rows deleted; live rows among them stay.
func testPurgeBatches(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	expired := e.Clock.Now().Add(-time.Hour)
	backlog := 2*storage.PurgeBatch + 17
	// One transaction for the whole backlog; the requests are built before it, since the
	// in-memory database has a single connection.
	reqs := make([]*fosite.Request, backlog+3)
	for i := range reqs {
		reqs[i] = e.NewRequest(t, fmt.Sprint("req-batch-", i), nil)
		exp := expired
		if i >= backlog {
			exp = e.Clock.Now().Add(time.Hour)
		}
		reqs[i].Session.(*fosite.DefaultSession).ExpiresAt[fosite.AccessToken] = exp
	}
	txCtx, err := s.BeginTX(ctx)
	noErr(t, "BeginTX", err)
	for i, req := range reqs {
		noErr(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(txCtx, Sig(fmt.Sprint("batch-", i)), req))
	}
	noErr(t, "Commit", s.Commit(txCtx))

	n, err := s.PurgeExpired(ctx, e.Clock.Now())
	noErr(t, "PurgeExpired", err)
	if n != int64(backlog) {
		t.Fatalf("PurgeExpired = %d rows, want the %d expired ones", n, backlog)
	}
	for i := backlog; i < backlog+3; i++ {
		if _, err := s.GetAccessTokenSession(ctx, Sig(fmt.Sprint("batch-", i)), &fosite.DefaultSession{}); err != nil {
			t.Errorf("live token %d lost in a batched purge: %v", i, errString(err))
		}
	}
	_, err = s.GetAccessTokenSession(ctx, Sig("batch-0"), &fosite.DefaultSession{})
	wantErr(t, "GetAccessTokenSession(purged)", err, fosite.ErrNotFound)
}

// testLease: one holder at a time; the holder renews, a released or expired lease goes to
// the next one who asks.
func testLease(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	try := func(holder string, want bool) {
		t.Helper()
		got, err := s.TryLease(ctx, "job", holder, time.Minute)
		noErr(t, "TryLease "+holder, err)
		if got != want {
			t.Fatalf("TryLease(%s) = %v, want %v", holder, got, want)
		}
	}
	try("a", true)
	try("b", false)
	try("a", true) // renewal
	got, err := s.TryLease(ctx, "other-job", "b", time.Minute)
	noErr(t, "TryLease other-job", err)
	if !got {
		t.Fatal("a lease on another name was refused")
	}
	noErr(t, "ReleaseLease by a non-holder", s.ReleaseLease(ctx, "job", "b"))
	try("b", false)
	noErr(t, "ReleaseLease", s.ReleaseLease(ctx, "job", "a"))
	try("b", true)
	// b's claim lapses when its minute is over, and a takes the job again.
	try("a", false)
	e.Clock.Advance(2 * time.Minute)
	try("a", true)
	try("b", false)
}
