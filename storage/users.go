package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/conexor/conexor/internal/secret"
)

// ErrLastAdmin refuses a change that would leave an org without an admin: demoting or
// removing its only admin.
var ErrLastAdmin = errors.New("storage: an organization needs at least one admin")

// PasswordReset is a one-time set-password link. Only the SHA-256 of the link's token is
// stored, so a copy of the table opens no account.
type PasswordReset struct {
	TokenHash string    `gorm:"primaryKey;size:64"`
	UserID    string    `gorm:"size:40;index;not null"`
	ExpiresAt time.Time `gorm:"index;not null"`
	// UsedAt is set when the link is used; a used link never works again.
	UsedAt    *time.Time
	CreatedAt time.Time
}

// Member is one member of an org, as the members page lists them.
type Member struct {
	UserID      string
	Email       string
	Role        string
	LastLoginAt *time.Time
	// MemberSince is when the membership was created.
	MemberSince time.Time
	// PasswordSet is false for a user who has not yet used their set-password link.
	PasswordSet bool
}

// RecordLogin stamps a user's last successful login.
func (s *Store) RecordLogin(ctx context.Context, userID string) error {
	return s.conn(ctx).Model(&User{}).Where("id = ?", userID).Update("last_login_at", s.now().UTC()).Error
}

// MembersOfOrg lists an org's members, ordered by email, in one query.
func (s *Store) MembersOfOrg(ctx context.Context, orgID string) ([]Member, error) {
	if !keyable(orgID) {
		return nil, nil
	}
	var rows []struct {
		UserID      string
		Email       string
		Role        string
		LastLoginAt *time.Time
		CreatedAt   time.Time
		Hash        string
	}
	err := s.conn(ctx).Model(&Membership{}).
		Select("memberships.user_id, users.email, memberships.role, users.last_login_at, memberships.created_at, users.password_hash AS hash").
		Joins("JOIN users ON users.id = memberships.user_id").
		Where("memberships.org_id = ?", orgID).
		Order("users.email").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]Member, len(rows))
	for i, r := range rows {
		out[i] = Member{UserID: r.UserID, Email: r.Email, Role: r.Role, LastLoginAt: r.LastLoginAt,
			MemberSince: r.CreatedAt, PasswordSet: r.Hash != ""}
	}
	return out, nil
}

// lockOrg takes the org's row lock for the rest of the transaction in ctx, so changes to
// its memberships that must keep an admin run one after another: on Postgres the UPDATE
// holds the row lock until commit; SQLite's transactions take the write lock at BEGIN
// (_txlock=immediate) and so never overlap anyway. ErrNotFound if there is no such org.
func (s *Store) lockOrg(ctx context.Context, orgID string) error {
	res := s.conn(ctx).Exec("UPDATE orgs SET id = id WHERE id = ?", orgID)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// changeMember runs change on a member of an org with the org locked, refusing with
// ErrLastAdmin when the member is an admin, keepsAdmin is false and no other admin would
// remain. ErrNotFound if the user is not a member.
func (s *Store) changeMember(ctx context.Context, orgID, userID string, keepsAdmin bool, change func(ctx context.Context) error) error {
	if !keyable(orgID, userID) {
		return ErrNotFound
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.lockOrg(ctx, orgID); err != nil {
			return err
		}
		m, err := s.Membership(ctx, orgID, userID)
		if err != nil {
			return err
		}
		if m.Role == RoleAdmin && !keepsAdmin {
			var others int64
			err := s.conn(ctx).Model(&Membership{}).
				Where("org_id = ? AND role = ? AND user_id <> ?", orgID, RoleAdmin, userID).Count(&others).Error
			if err != nil {
				return err
			}
			if others == 0 {
				return ErrLastAdmin
			}
		}
		return change(ctx)
	})
}

// SetRole changes a member's role; ErrLastAdmin if it would demote the org's only admin,
// ErrNotFound if the user is not a member. Safe under concurrency: two admins demoting
// each other at once cannot both succeed (the org's row is locked).
func (s *Store) SetRole(ctx context.Context, orgID, userID, role string) error {
	return s.changeMember(ctx, orgID, userID, role == RoleAdmin, func(ctx context.Context) error {
		return s.conn(ctx).Model(&Membership{}).Where("org_id = ? AND user_id = ?", orgID, userID).Update("role", role).Error
	})
}

// RemoveMember ends a membership; ErrLastAdmin if the member is the org's only admin,
// ErrNotFound if the user is not a member. The user and their other memberships stay.
func (s *Store) RemoveMember(ctx context.Context, orgID, userID string) error {
	return s.changeMember(ctx, orgID, userID, false, func(ctx context.Context) error {
		return s.conn(ctx).Where("org_id = ? AND user_id = ?", orgID, userID).Delete(&Membership{}).Error
	})
}

// SetPassword replaces a user's password hash; ErrNotFound if there is no such user.
func (s *Store) SetPassword(ctx context.Context, userID, hash string) error {
	if !keyable(userID) {
		return ErrNotFound
	}
	res := s.conn(ctx).Model(&User{}).Where("id = ?", userID).Update("password_hash", hash)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SessionsOfUser lists a user's live browser sessions, newest first.
func (s *Store) SessionsOfUser(ctx context.Context, userID string) ([]HTTPSession, error) {
	if !keyable(userID) || userID == "" {
		return nil, nil
	}
	var out []HTTPSession
	err := s.conn(ctx).Where("user_id = ? AND expires_at > ?", userID, s.now().UTC()).
		Order("created_at DESC, id").Find(&out).Error
	return out, err
}

// DeleteSessionsOfUser ends every browser session of a user but the one whose row ID is
// exceptRowID ("" ends them all), and reports how many ended.
func (s *Store) DeleteSessionsOfUser(ctx context.Context, userID, exceptRowID string) (int64, error) {
	if !keyable(userID, exceptRowID) || userID == "" {
		return 0, nil
	}
	res := s.conn(ctx).Where("user_id = ? AND id <> ?", userID, exceptRowID).Delete(&HTTPSession{})
	return res.RowsAffected, res.Error
}

// CreatePasswordReset makes a one-time set-password link for a user, valid for ttl, and
// returns its token. Only the token's hash is stored.
func (s *Store) CreatePasswordReset(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	token := secret.RandomToken(32)
	now := s.now().UTC()
	err := s.conn(ctx).Create(&PasswordReset{TokenHash: resetKey(token), UserID: userID, ExpiresAt: now.Add(ttl), CreatedAt: now}).Error
	if err != nil {
		return "", err
	}
	return token, nil
}

// PasswordResetUser returns the user a set-password link is for, without using it;
// ErrNotFound if the link is unknown, used or expired.
func (s *Store) PasswordResetUser(ctx context.Context, token string) (string, error) {
	if !keyable(token) || token == "" {
		return "", ErrNotFound
	}
	var pr PasswordReset
	err := s.conn(ctx).Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", resetKey(token), s.now().UTC()).Take(&pr).Error
	if err != nil {
		return "", notFound(err)
	}
	return pr.UserID, nil
}

// UsePasswordReset uses a set-password link and returns its user; ErrNotFound if the link
// is unknown, used or expired. Single use even under concurrency: the one UPDATE that
// marks it used decides, by the rows it changed.
func (s *Store) UsePasswordReset(ctx context.Context, token string) (string, error) {
	if !keyable(token) || token == "" {
		return "", ErrNotFound
	}
	key, now := resetKey(token), s.now().UTC()
	var userID string
	err := s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&PasswordReset{}).
			Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", key, now).Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		var pr PasswordReset
		if err := s.conn(ctx).Where("token_hash = ?", key).Take(&pr).Error; err != nil {
			return notFound(err)
		}
		userID = pr.UserID
		return nil
	})
	return userID, err
}

// resetKey is the stored key of a set-password token.
func resetKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
