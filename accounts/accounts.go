// Package accounts is the service layer of people: an org's members and their roles, and a
// user's own password and sessions. The dashboard, the account pages and the CLI all call
// it, so each rule (an org keeps an admin, a password's length, a set-password link works
// once) and each audit event lives in one place.
//
// Who acts comes from the context (audit.WithActor), set by the front end.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/limit"
	"github.com/conexor/conexor/internal/password"
	"github.com/conexor/conexor/storage"
)

// LinkTTL is how long a set-password link works.
const LinkTTL = 24 * time.Hour

// MaxPasswordLength caps a password (argon2id hashes any length; a megabyte would only
// cost time).
const MaxPasswordLength = 1024

// Store is what the service needs from storage.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	UserByEmail(ctx context.Context, email string) (*storage.User, error)
	UserByID(ctx context.Context, id string) (*storage.User, error)
	CreateUser(ctx context.Context, email, passwordHash string) (*storage.User, error)
	AddMember(ctx context.Context, orgID, userID, role string) error
	Membership(ctx context.Context, orgID, userID string) (*storage.Membership, error)
	SetRole(ctx context.Context, orgID, userID, role string) error
	RemoveMember(ctx context.Context, orgID, userID string) error
	SetPassword(ctx context.Context, userID, hash string) error
	DeleteSessionsOfUser(ctx context.Context, userID, exceptRowID string) (int64, error)
	CreatePasswordReset(ctx context.Context, userID string, ttl time.Duration) (string, error)
	PasswordResetUser(ctx context.Context, token string) (string, error)
	UsePasswordReset(ctx context.Context, token string) (string, error)
}

// GrantRevoker ends a user's grants on the servers of an org (provider.Provider).
type GrantRevoker interface {
	RevokeUserGrants(ctx context.Context, userID, orgID string) (int, error)
}

// Service is the accounts service; build it as a literal.
type Service struct {
	Store  Store
	Grants GrantRevoker
	Audit  *audit.Recorder
	Log    *slog.Logger
	// Now is the clock of the limit on wrong current passwords; nil means time.Now.
	Now func() time.Time
	// Limits counts wrong current passwords; nil counts them in this process only.
	Limits Limiter

	guesses guesses
}

var (
	// ErrLastAdmin refuses demoting or removing an org's only admin.
	ErrLastAdmin = storage.ErrLastAdmin
	// ErrNotMember means the user is not a member of the org.
	ErrNotMember = errors.New("accounts: not a member of this organization")
	// ErrLinkInvalid means a set-password link is unknown, used or expired.
	ErrLinkInvalid = errors.New("accounts: the set-password link is unknown, used or expired")
	// ErrNoUser means no user has the email.
	ErrNoUser = errors.New("accounts: no user with this email")
)

// Problems are validation errors by form field ("email", "role", "current", "password",
// "confirm"); it is an error.
type Problems map[string][]string

func (p Problems) Error() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, strings.Join(p[k], " "))
	}
	return strings.Join(parts, " ")
}

func (p Problems) add(field, msg string) { p[field] = append(p[field], msg) }

// NormalizeEmail checks an email address as a person types it and returns it lower-case,
// or a sentence saying what is wrong.
func NormalizeEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", "Enter an email address."
	case len(s) > 320:
		return "", "The email address is too long (at most 320 characters)."
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "", "Enter an email address like name@example.com."
	}
	a, err := mail.ParseAddress(s)
	local, domain, ok := strings.Cut(s, "@")
	if err != nil || a.Address != s || !ok || local == "" || domain == "" || strings.ContainsAny(s, "<>\"") {
		return "", "Enter an email address like name@example.com."
	}
	return strings.ToLower(s), ""
}

// validRole reports whether role is one a member can hold.
func validRole(role string) bool { return role == storage.RoleAdmin || role == storage.RoleMember }

// checkNewPassword adds the problems of a new password and its confirmation.
func checkNewPassword(p Problems, pw, confirm string) {
	switch {
	case utf8.RuneCountInString(pw) < password.MinLength:
		p.add("password", fmt.Sprintf("Use at least %d characters.", password.MinLength))
	case len(pw) > MaxPasswordLength:
		p.add("password", fmt.Sprintf("Use at most %d characters.", MaxPasswordLength))
	case !utf8.ValidString(pw):
		p.add("password", "The password is not valid text.")
	case pw != confirm:
		p.add("confirm", "The two passwords do not match.")
	}
}

// CheckPassword returns the problem with a new password, "" when it is acceptable (the
// CLI, which has no confirmation field).
func CheckPassword(pw string) string {
	p := Problems{}
	checkNewPassword(p, pw, pw)
	if len(p["password"]) > 0 {
		return p["password"][0]
	}
	return ""
}

// Added is the result of AddMember.
type Added struct {
	User *storage.User
	// Created says the email was new: the user was created without a password.
	Created bool
	// Link is the set-password token, made for a user who has no password yet; shown once.
	Link string
}

// AddMember adds the person with email to org with role. A new email becomes a user with
// no usable password and a one-time set-password link (Added.Link, valid LinkTTL); an
// existing user is just added, with no link, even one who has not set a password yet. Problems for a bad email or role, or a member already.
func (s *Service) AddMember(ctx context.Context, org *storage.Org, email, role string) (*Added, error) {
	p := Problems{}
	email, msg := NormalizeEmail(email)
	if msg != "" {
		p.add("email", msg)
	}
	if !validRole(role) {
		p.add("role", "Choose admin or member.")
	}
	if len(p) > 0 {
		return nil, p
	}
	var out Added
	err := s.Store.InTx(ctx, func(ctx context.Context) error {
		out = Added{}
		u, err := s.Store.UserByEmail(ctx, email)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			u, err = s.Store.CreateUser(ctx, email, "")
			if err != nil {
				return err
			}
			out.Created = true
		case err != nil:
			return err
		default:
			if _, err := s.Store.Membership(ctx, org.ID, u.ID); err == nil {
				return Problems{"email": {email + " is already a member of " + org.Name + "."}}
			} else if !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
		out.User = u
		if err := s.Store.AddMember(ctx, org.ID, u.ID, role); err != nil {
			return err
		}
		// Only a user this call created gets a link. An existing user without a password yet
		// was invited by someone else, who holds their link: a second link to this admin
		// would let any org's admin take over another org's invitee by adding their email.
		if out.Created {
			out.Link, err = s.Store.CreatePasswordReset(ctx, u.ID, LinkTTL)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	detail := "role " + role
	if out.Created {
		detail += "; new user, set-password link issued"
	}
	s.Audit.Record(ctx, audit.Event{OrgID: org.ID, Action: audit.MemberAdded, Target: out.User.ID, TargetName: out.User.Email, Detail: detail})
	return &out, nil
}

// SetRole changes a member's role. ErrLastAdmin (recorded as refused) when it would demote
// the org's only admin; ErrNotMember when the user is not a member.
func (s *Service) SetRole(ctx context.Context, org *storage.Org, userID, role string) error {
	if !validRole(role) {
		return Problems{"role": {"Choose admin or member."}}
	}
	u, err := s.member(ctx, org, userID)
	if err != nil {
		return err
	}
	ev := audit.Event{OrgID: org.ID, Action: audit.MemberRoleChanged, Target: u.ID, TargetName: u.Email, Detail: "to " + role}
	err = s.Store.SetRole(ctx, org.ID, userID, role)
	switch {
	case errors.Is(err, storage.ErrLastAdmin):
		ev.Result, ev.Detail = audit.Refused, "to "+role+": the organization's only admin"
		s.Audit.Record(ctx, ev)
		return ErrLastAdmin
	case errors.Is(err, storage.ErrNotFound):
		return ErrNotMember
	case err != nil:
		return err
	}
	s.Audit.Record(ctx, ev)
	return nil
}

// Removed is the result of RemoveMember.
type Removed struct {
	User *storage.User
	// Sessions is how many browser sessions of the user ended.
	Sessions int64
	// Grants is how many grants on the org's servers were revoked; GrantsErr says why they
	// could not be (the membership is gone all the same).
	Grants    int
	GrantsErr error
}

// RemoveMember ends a membership, then every browser session of the user (at once: their
// next page is the login) and their grants on the org's servers. ErrLastAdmin (recorded as
// refused) for the org's only admin; ErrNotMember when the user is not a member.
func (s *Service) RemoveMember(ctx context.Context, org *storage.Org, userID string) (*Removed, error) {
	u, err := s.member(ctx, org, userID)
	if err != nil {
		return nil, err
	}
	ev := audit.Event{OrgID: org.ID, Action: audit.MemberRemoved, Target: u.ID, TargetName: u.Email}
	err = s.Store.RemoveMember(ctx, org.ID, userID)
	switch {
	case errors.Is(err, storage.ErrLastAdmin):
		ev.Result, ev.Detail = audit.Refused, "the organization's only admin"
		s.Audit.Record(ctx, ev)
		return nil, ErrLastAdmin
	case errors.Is(err, storage.ErrNotFound):
		return nil, ErrNotMember
	case err != nil:
		return nil, err
	}
	out := &Removed{User: u}
	out.Sessions, err = s.Store.DeleteSessionsOfUser(ctx, u.ID, "")
	if err != nil {
		// The membership is gone, so every org page already refuses them.
		s.log().ErrorContext(ctx, "end the sessions of a removed member", "user_id", u.ID, "err", err)
	}
	if s.Grants != nil {
		out.Grants, out.GrantsErr = s.Grants.RevokeUserGrants(ctx, u.ID, org.ID)
		if out.GrantsErr != nil {
			s.log().ErrorContext(ctx, "revoke the grants of a removed member", "user_id", u.ID, "org_id", org.ID, "err", out.GrantsErr)
		}
	}
	ev.Detail = plural(out.Sessions, "session") + " ended, " + plural(int64(out.Grants), "grant") + " revoked"
	if out.GrantsErr != nil {
		ev.Detail = plural(out.Sessions, "session") + " ended; the grants could not be revoked"
	}
	s.Audit.Record(ctx, ev)
	return out, nil
}

// member returns the user userID if they are a member of org, else ErrNotMember.
func (s *Service) member(ctx context.Context, org *storage.Org, userID string) (*storage.User, error) {
	if _, err := s.Store.Membership(ctx, org.ID, userID); errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotMember
	} else if err != nil {
		return nil, err
	}
	u, err := s.Store.UserByID(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotMember
	}
	return u, err
}

// ChangePassword sets a user's new password after checking the current one, and ends the
// user's other sessions (all but keepRowID, the one they are using). Problems by field
// ("current", "password", "confirm"); a wrong current password is recorded as refused.
func (s *Service) ChangePassword(ctx context.Context, u *storage.User, current, pw, confirm, keepRowID string) error {
	p := Problems{}
	guess := limit.Charge{Rule: guessRule, Subject: u.ID}
	if wait := s.limiter().Take(ctx, guess); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		s.Audit.Record(ctx, audit.Event{Action: audit.PasswordChanged, Target: u.ID, TargetName: u.Email,
			Result: audit.Refused, Detail: "too many wrong current passwords"})
		return Problems{"current": {fmt.Sprintf("Too many wrong passwords. Wait %d seconds, then try again.", secs)}}
	}
	// Always pay for one verification, so a user without a password answers as slowly.
	hash := u.PasswordHash
	if hash == "" {
		hash = dummyHash()
	}
	ok, err := password.Verify(hash, current)
	if err != nil || !ok || u.PasswordHash == "" {
		p.add("current", "The current password is not correct.")
	}
	if len(p["current"]) == 0 {
		s.limiter().Give(context.WithoutCancel(ctx), guess) // only wrong guesses cost
	}
	checkNewPassword(p, pw, confirm)
	if len(p) > 0 {
		if len(p["current"]) > 0 {
			s.Audit.Record(ctx, audit.Event{Action: audit.PasswordChanged, Target: u.ID, TargetName: u.Email,
				Result: audit.Refused, Detail: "wrong current password"})
		}
		return p
	}
	newHash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	var ended int64
	err = s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.SetPassword(ctx, u.ID, newHash); err != nil {
			return err
		}
		ended, err = s.Store.DeleteSessionsOfUser(ctx, u.ID, keepRowID)
		return err
	})
	if err != nil {
		return err
	}
	s.Audit.Record(ctx, audit.Event{Action: audit.PasswordChanged, Target: u.ID, TargetName: u.Email,
		Detail: plural(ended, "other session") + " ended"})
	return nil
}

// LinkUser returns the user a set-password link is for, without using it; ErrLinkInvalid
// when it is unknown, used or expired.
func (s *Service) LinkUser(ctx context.Context, token string) (*storage.User, error) {
	uid, err := s.Store.PasswordResetUser(ctx, token)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrLinkInvalid
	}
	if err != nil {
		return nil, err
	}
	u, err := s.Store.UserByID(ctx, uid)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrLinkInvalid
	}
	return u, err
}

// SetPasswordWithLink uses a one-time link to set its user's password and ends every
// session of that user. ErrLinkInvalid (recorded as refused) when the link is unknown, used
// or expired; Problems for a bad password (the link stays unused then).
func (s *Service) SetPasswordWithLink(ctx context.Context, token, pw, confirm string) (*storage.User, error) {
	p := Problems{}
	checkNewPassword(p, pw, confirm)
	if len(p) > 0 {
		return nil, p
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return nil, err
	}
	var u *storage.User
	err = s.Store.InTx(ctx, func(ctx context.Context) error {
		uid, err := s.Store.UsePasswordReset(ctx, token)
		if errors.Is(err, storage.ErrNotFound) {
			return ErrLinkInvalid
		}
		if err != nil {
			return err
		}
		if u, err = s.Store.UserByID(ctx, uid); err != nil {
			return err
		}
		if err := s.Store.SetPassword(ctx, uid, hash); err != nil {
			return err
		}
		_, err = s.Store.DeleteSessionsOfUser(ctx, uid, "")
		return err
	})
	if errors.Is(err, ErrLinkInvalid) {
		s.Audit.Record(ctx, audit.Event{Action: audit.PasswordSet, Result: audit.Refused, Detail: "set-password link unknown, used or expired"})
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	// The person who used the link is its user (they are not logged in yet).
	actor, _ := audit.ActorFrom(ctx)
	actor.Kind, actor.ID, actor.Name = audit.KindUser, u.ID, u.Email
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.PasswordSet, Target: u.ID, TargetName: u.Email, Detail: "with a set-password link"})
	return u, nil
}

// SetPasswordByEmail sets a user's password (the operator's recovery of a lost password)
// and ends every session of that user. ErrNoUser for an unknown email.
func (s *Service) SetPasswordByEmail(ctx context.Context, email, pw string) (*storage.User, error) {
	if msg := CheckPassword(pw); msg != "" {
		return nil, Problems{"password": {msg}}
	}
	u, err := s.Store.UserByEmail(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoUser
	}
	if err != nil {
		return nil, err
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return nil, err
	}
	var ended int64
	err = s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.SetPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		ended, err = s.Store.DeleteSessionsOfUser(ctx, u.ID, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	s.Audit.Record(ctx, audit.Event{Action: audit.PasswordSet, Target: u.ID, TargetName: u.Email,
		Detail: plural(ended, "session") + " ended"})
	return u, nil
}

// LogOutEverywhere ends every browser session of a user, this one included.
func (s *Service) LogOutEverywhere(ctx context.Context, u *storage.User) (int64, error) {
	n, err := s.Store.DeleteSessionsOfUser(ctx, u.ID, "")
	if err != nil {
		return 0, err
	}
	s.Audit.Record(ctx, audit.Event{Action: audit.SessionsEnded, Target: u.ID, TargetName: u.Email,
		Detail: plural(n, "session") + " ended"})
	return n, nil
}

// plural is "1 session", "2 sessions".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// dummyHash is verified in place of a missing password hash, computed once.
var dummyHash = sync.OnceValue(password.DummyHash)
