package storagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/conexor/conexor/storage"
)

// newMember creates a user with a password hash and makes them a member of the env's org.
func (e *Env) newMember(t *testing.T, email, role string) *storage.User {
	t.Helper()
	u, err := e.Store.CreateUser(e.Ctx, email, "hash-"+email)
	noErr(t, "CreateUser("+email+")", err)
	noErr(t, "AddMember("+email+")", e.Store.AddMember(e.Ctx, e.Org.ID, u.ID, role))
	return u
}

// testMembersOfOrg: the list, roles, last login, and the last-admin rule of SetRole and
// RemoveMember.
func testMembersOfOrg(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	admin := e.newMember(t, "admin@example.com", storage.RoleAdmin)
	bob := e.newMember(t, "bob@example.com", storage.RoleMember)
	pending, err := s.CreateUser(ctx, "new@example.com", "")
	noErr(t, "CreateUser(no password)", err)
	noErr(t, "AddMember(pending)", s.AddMember(ctx, e.Org.ID, pending.ID, storage.RoleMember))
	globex, err := s.EnsureOrg(ctx, "globex", "Globex")
	noErr(t, "EnsureOrg", err)
	noErr(t, "AddMember(globex)", s.AddMember(ctx, globex.ID, bob.ID, storage.RoleAdmin))

	noErr(t, "RecordLogin", s.RecordLogin(ctx, admin.ID))
	ms, err := s.MembersOfOrg(ctx, e.Org.ID)
	noErr(t, "MembersOfOrg", err)
	if len(ms) != 3 || ms[0].Email != "admin@example.com" || ms[1].Email != "bob@example.com" || ms[2].Email != "new@example.com" {
		t.Fatalf("MembersOfOrg = %+v, want admin, bob, new in that order", ms)
	}
	if ms[0].Role != storage.RoleAdmin || ms[1].Role != storage.RoleMember || ms[0].UserID != admin.ID {
		t.Errorf("MembersOfOrg roles = %+v", ms)
	}
	if ms[0].LastLoginAt == nil || ms[0].LastLoginAt.Sub(e.Clock.Now()).Abs() > time.Minute || ms[1].LastLoginAt != nil {
		t.Errorf("MembersOfOrg last logins = %v, %v; want now, never", ms[0].LastLoginAt, ms[1].LastLoginAt)
	}
	if ms[0].MemberSince.IsZero() || !ms[0].PasswordSet || ms[2].PasswordSet {
		t.Errorf("MembersOfOrg member since / password set = %+v", ms)
	}
	if ms, err := s.MembersOfOrg(ctx, "org_nope"); err != nil || len(ms) != 0 {
		t.Errorf("MembersOfOrg(unknown) = %v, %v", ms, err)
	}

	wantErr(t, "SetRole(only admin to member)", s.SetRole(ctx, e.Org.ID, admin.ID, storage.RoleMember), storage.ErrLastAdmin)
	wantErr(t, "RemoveMember(only admin)", s.RemoveMember(ctx, e.Org.ID, admin.ID), storage.ErrLastAdmin)
	noErr(t, "SetRole(only admin stays admin)", s.SetRole(ctx, e.Org.ID, admin.ID, storage.RoleAdmin))
	wantErr(t, "SetRole(non-member)", s.SetRole(ctx, globex.ID, admin.ID, storage.RoleAdmin), storage.ErrNotFound)
	wantErr(t, "RemoveMember(non-member)", s.RemoveMember(ctx, globex.ID, admin.ID), storage.ErrNotFound)
	wantErr(t, "SetRole(unknown org)", s.SetRole(ctx, "org_nope", admin.ID, storage.RoleAdmin), storage.ErrNotFound)

	noErr(t, "SetRole(bob to admin)", s.SetRole(ctx, e.Org.ID, bob.ID, storage.RoleAdmin))
	noErr(t, "SetRole(first admin to member)", s.SetRole(ctx, e.Org.ID, admin.ID, storage.RoleMember))
	m, err := s.Membership(ctx, e.Org.ID, admin.ID)
	noErr(t, "Membership", err)
	if m.Role != storage.RoleMember {
		t.Errorf("role after SetRole = %q", m.Role)
	}
	noErr(t, "RemoveMember(member)", s.RemoveMember(ctx, e.Org.ID, admin.ID))
	_, err = s.Membership(ctx, e.Org.ID, admin.ID)
	wantErr(t, "Membership(removed)", err, storage.ErrNotFound)
	if _, err := s.UserByID(ctx, admin.ID); err != nil {
		t.Errorf("RemoveMember deleted the user: %v", err)
	}
	wantErr(t, "RemoveMember(bob, now the only admin)", s.RemoveMember(ctx, e.Org.ID, bob.ID), storage.ErrLastAdmin)
	if m, err := s.Membership(ctx, globex.ID, bob.ID); err != nil || m.Role != storage.RoleAdmin {
		t.Errorf("bob's other membership = %+v, %v", m, err)
	}
}

// testLastAdminRace: two admins demote (or remove) each other at the same moment; exactly
// one succeeds, and the org keeps an admin.
func testLastAdminRace(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	for round := range 4 {
		a := e.newMember(t, "a"+string(rune('0'+round))+"@example.com", storage.RoleAdmin)
		b := e.newMember(t, "b"+string(rune('0'+round))+"@example.com", storage.RoleAdmin)
		// The members of earlier rounds are members now: only a and b are admins.
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, u := range []*storage.User{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if round%2 == 0 {
					errs[i] = s.SetRole(ctx, e.Org.ID, u.ID, storage.RoleMember)
				} else {
					errs[i] = s.RemoveMember(ctx, e.Org.ID, u.ID)
				}
			}()
		}
		close(start)
		wg.Wait()
		ok, refused := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrLastAdmin):
				refused++
			default:
				t.Fatalf("round %d: unexpected error %v", round, errString(err))
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: %d succeeded, %d refused; want exactly one of each", round, ok, refused)
		}
		ms, err := s.MembersOfOrg(ctx, e.Org.ID)
		noErr(t, "MembersOfOrg", err)
		admins := 0
		for _, m := range ms {
			if m.Role == storage.RoleAdmin {
				admins++
			}
		}
		if admins != 1 {
			t.Fatalf("round %d: %d admins left, want 1", round, admins)
		}
		// Leave no admin from this round so the next round's two are the only ones.
		for _, u := range []*storage.User{a, b} {
			if m, err := s.Membership(ctx, e.Org.ID, u.ID); err == nil && m.Role == storage.RoleAdmin {
				noErr(t, "AddMember(demote)", s.AddMember(ctx, e.Org.ID, u.ID, storage.RoleMember))
			}
		}
	}
}

// testSessionsOfUser: sessions carry their user, IP and user agent; a user's sessions are
// listed and ended, all or all but one.
func testSessionsOfUser(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	u := e.newMember(t, "sess@example.com", storage.RoleMember)
	exp := e.Clock.Now().Add(time.Hour)
	for _, id := range []string{"s1", "s2", "s3"} {
		noErr(t, "SaveSession", s.SaveSession(ctx, &storage.HTTPSession{ID: id, Data: []byte("{}"), ExpiresAt: exp,
			UserID: u.ID, IP: "203.0.113.7", UserAgent: "Agent " + id}))
	}
	noErr(t, "SaveSession(other user)", s.SaveSession(ctx, &storage.HTTPSession{ID: "other", Data: []byte("{}"), ExpiresAt: exp, UserID: "usr_other"}))
	noErr(t, "SaveSession(expired)", s.SaveSession(ctx, &storage.HTTPSession{ID: "old", Data: []byte("{}"), ExpiresAt: e.Clock.Now().Add(-time.Minute), UserID: u.ID}))
	noErr(t, "SaveSession(upsert UA)", s.SaveSession(ctx, &storage.HTTPSession{ID: "s1", Data: []byte("{}"), ExpiresAt: exp,
		UserID: u.ID, IP: "198.51.100.1", UserAgent: "Agent s1 v2"}))

	got, err := s.SessionsOfUser(ctx, u.ID)
	noErr(t, "SessionsOfUser", err)
	if len(got) != 3 {
		t.Fatalf("SessionsOfUser = %d sessions, want 3 (not the other user's, not the expired)", len(got))
	}
	for _, hs := range got {
		if hs.ID == "s1" && (hs.IP != "198.51.100.1" || hs.UserAgent != "Agent s1 v2") {
			t.Errorf("session s1 after upsert = %q %q", hs.IP, hs.UserAgent)
		}
	}
	if got, _ := s.SessionsOfUser(ctx, ""); len(got) != 0 {
		t.Errorf("SessionsOfUser(\"\") = %d sessions, want none (pre-login sessions belong to no one)", len(got))
	}

	n, err := s.DeleteSessionsOfUser(ctx, u.ID, "s2")
	noErr(t, "DeleteSessionsOfUser(except s2)", err)
	if n != 3 { // s1, s3 and the expired one
		t.Errorf("DeleteSessionsOfUser ended %d, want 3", n)
	}
	if _, err := s.Session(ctx, "s2"); err != nil {
		t.Errorf("the kept session is gone: %v", err)
	}
	_, err = s.Session(ctx, "s1")
	wantErr(t, "Session(ended)", err, storage.ErrNotFound)
	if _, err := s.Session(ctx, "other"); err != nil {
		t.Errorf("another user's session ended: %v", err)
	}
	n, err = s.DeleteSessionsOfUser(ctx, u.ID, "")
	noErr(t, "DeleteSessionsOfUser(all)", err)
	if n != 1 {
		t.Errorf("DeleteSessionsOfUser(all) ended %d, want 1", n)
	}

	noErr(t, "SetPassword", s.SetPassword(ctx, u.ID, "new-hash"))
	if got, _ := s.UserByID(ctx, u.ID); got == nil || got.PasswordHash != "new-hash" {
		t.Errorf("SetPassword did not store the hash: %+v", got)
	}
	wantErr(t, "SetPassword(unknown)", s.SetPassword(ctx, "usr_nope", "x"), storage.ErrNotFound)
}

// testPasswordResets: a link is stored as a hash, works once, and not after 24 h; two
// concurrent uses cannot both succeed.
func testPasswordResets(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	u := e.newMember(t, "reset@example.com", storage.RoleMember)
	tok, err := s.CreatePasswordReset(ctx, u.ID, 24*time.Hour)
	noErr(t, "CreatePasswordReset", err)
	if len(tok) < 32 {
		t.Fatalf("token %q is too short", tok)
	}
	sum := sha256.Sum256([]byte(tok))
	if uid, err := s.PasswordResetUser(ctx, tok); err != nil || uid != u.ID {
		t.Fatalf("PasswordResetUser = %q, %v", uid, err)
	}
	_, err = s.PasswordResetUser(ctx, hex.EncodeToString(sum[:]))
	wantErr(t, "PasswordResetUser(the stored hash as token)", err, storage.ErrNotFound)
	_, err = s.UsePasswordReset(ctx, "nope")
	wantErr(t, "UsePasswordReset(unknown)", err, storage.ErrNotFound)
	_, err = s.UsePasswordReset(ctx, "bad\x00token")
	wantErr(t, "UsePasswordReset(hostile)", err, storage.ErrNotFound)

	// Two uses at once: exactly one gets the user.
	var wg sync.WaitGroup
	results := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid, err := s.UsePasswordReset(context.Background(), tok)
			if err == nil && uid != u.ID {
				err = errors.New("wrong user " + uid)
			}
			results[i] = err
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, storage.ErrNotFound):
			t.Errorf("UsePasswordReset: %v", errString(err))
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent uses of one link succeeded, want exactly 1", ok)
	}
	_, err = s.PasswordResetUser(ctx, tok)
	wantErr(t, "PasswordResetUser(used)", err, storage.ErrNotFound)

	late, err := s.CreatePasswordReset(ctx, u.ID, 24*time.Hour)
	noErr(t, "CreatePasswordReset", err)
	e.Clock.Advance(24*time.Hour + time.Second)
	_, err = s.UsePasswordReset(ctx, late)
	wantErr(t, "UsePasswordReset(expired)", err, storage.ErrNotFound)
	n, err := s.PurgeExpired(ctx, e.Clock.Now())
	noErr(t, "PurgeExpired", err)
	if n < 2 {
		t.Errorf("PurgeExpired removed %d rows, want the 2 expired links at least", n)
	}
}
