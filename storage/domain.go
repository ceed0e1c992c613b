package storage

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm/clause"

	"github.com/conexor/conexor/internal/secret"
)

// CreateOrg creates an org; ErrConflict if the slug exists.
func (s *Store) CreateOrg(ctx context.Context, slug, name string) (*Org, error) {
	o := &Org{ID: secret.NewID("org_"), Slug: slug, Name: name}
	if err := conflict(s.conn(ctx).Create(o).Error); err != nil {
		return nil, err
	}
	return o, nil
}

// OrgBySlug finds an org.
func (s *Store) OrgBySlug(ctx context.Context, slug string) (*Org, error) {
	if !keyable(slug) {
		return nil, ErrNotFound
	}
	var o Org
	if err := s.conn(ctx).Where("slug = ?", slug).Take(&o).Error; err != nil {
		return nil, notFound(err)
	}
	return &o, nil
}

// EnsureOrg returns the org with this slug, creating it if missing.
func (s *Store) EnsureOrg(ctx context.Context, slug, name string) (*Org, error) {
	o, err := s.OrgBySlug(ctx, slug)
	if err == nil {
		return o, nil
	}
	if err != ErrNotFound {
		return nil, err
	}
	o, err = s.CreateOrg(ctx, slug, name)
	if err == ErrConflict { // created concurrently
		return s.OrgBySlug(ctx, slug)
	}
	return o, err
}

// CreateServer stores a new MCP server; OrgID and OrgSlug must be set.
func (s *Store) CreateServer(ctx context.Context, srv *Server) error {
	if srv.ID == "" {
		srv.ID = secret.NewID("srv_")
	}
	if err := conflict(s.conn(ctx).Create(srv).Error); err != nil {
		return err
	}
	s.serversChanged(ctx)
	return s.notify(ctx, TopicServers)
}

// ServerByPath finds the server at org/server.
func (s *Store) ServerByPath(ctx context.Context, org, server string) (*Server, error) {
	if !keyable(org, server) {
		return nil, ErrNotFound
	}
	var srv Server
	if err := s.conn(ctx).Where("org_slug = ? AND slug = ?", org, server).Take(&srv).Error; err != nil {
		return nil, notFound(err)
	}
	return &srv, nil
}

// ServerByID finds a server by ID.
func (s *Store) ServerByID(ctx context.Context, id string) (*Server, error) {
	if !keyable(id) {
		return nil, ErrNotFound
	}
	var srv Server
	if err := s.conn(ctx).Where("id = ?", id).Take(&srv).Error; err != nil {
		return nil, notFound(err)
	}
	return &srv, nil
}

// ListServers returns every server, ordered by path.
func (s *Store) ListServers(ctx context.Context) ([]Server, error) {
	var out []Server
	err := s.conn(ctx).Order("org_slug, slug").Find(&out).Error
	return out, err
}

// UpdateServer saves the editable fields of a server.
func (s *Store) UpdateServer(ctx context.Context, srv *Server) error {
	err := s.conn(ctx).Model(srv).Select("name", "description", "enabled", "upstream", "upstream_by_api", "upstream_headers", "identity_header", "updated_at").
		Updates(srv).Error
	if err != nil {
		return err
	}
	s.serversChanged(ctx)
	return s.notify(ctx, TopicServers)
}

// CreateUser stores a user with an already-hashed password; the email is lower-cased.
func (s *Store) CreateUser(ctx context.Context, email, passwordHash string) (*User, error) {
	u := &User{ID: secret.NewID("usr_"), Email: strings.ToLower(strings.TrimSpace(email)), PasswordHash: passwordHash}
	if err := conflict(s.conn(ctx).Create(u).Error); err != nil {
		return nil, err
	}
	return u, nil
}

// UserByEmail finds a user, case-insensitively.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	if !keyable(email) {
		return nil, ErrNotFound
	}
	var u User
	if err := s.conn(ctx).Where("email = ?", strings.ToLower(strings.TrimSpace(email))).Take(&u).Error; err != nil {
		return nil, notFound(err)
	}
	return &u, nil
}

// UserByID finds a user.
func (s *Store) UserByID(ctx context.Context, id string) (*User, error) {
	if !keyable(id) {
		return nil, ErrNotFound
	}
	var u User
	if err := s.conn(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, notFound(err)
	}
	return &u, nil
}

// AddMember makes a user a member of an org (or changes the role).
func (s *Store) AddMember(ctx context.Context, orgID, userID, role string) error {
	m := &Membership{OrgID: orgID, UserID: userID, Role: role}
	return s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "org_id"}, {Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"role"}),
	}).Create(m).Error
}

// Membership returns a user's membership of an org, or ErrNotFound.
func (s *Store) Membership(ctx context.Context, orgID, userID string) (*Membership, error) {
	if !keyable(orgID, userID) {
		return nil, ErrNotFound
	}
	var m Membership
	if err := s.conn(ctx).Where("org_id = ? AND user_id = ?", orgID, userID).Take(&m).Error; err != nil {
		return nil, notFound(err)
	}
	return &m, nil
}

// CountUsers reports how many users exist (first-start seeding checks it).
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&User{}).Count(&n).Error
	return n, err
}

// CountOrgs reports how many orgs exist; zero means an empty database.
func (s *Store) CountOrgs(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&Org{}).Count(&n).Error
	return n, err
}

// ConsentFor returns the remembered consent of a user for a client on a server.
func (s *Store) ConsentFor(ctx context.Context, userID, clientID, serverID string) (*Consent, error) {
	if !keyable(userID, clientID, serverID) {
		return nil, ErrNotFound
	}
	var c Consent
	err := s.conn(ctx).Where("user_id = ? AND client_id = ? AND server_id = ?", userID, clientID, serverID).Take(&c).Error
	if err != nil {
		return nil, notFound(err)
	}
	return &c, nil
}

// SaveConsent records (or replaces) a user's consent.
func (s *Store) SaveConsent(ctx context.Context, c *Consent) error {
	return s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}, {Name: "server_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"scopes", "updated_at"}),
	}).Create(c).Error
}

// SigningKeys returns every key, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	var ks []SigningKey
	// On a creation-time tie, the key that retired the others comes first.
	err := s.conn(ctx).Order("created_at DESC, (retired_at IS NULL) DESC, kid DESC").Find(&ks).Error
	return ks, err
}

// AddSigningKey stores a new key and retires every older current key in one transaction.
func (s *Store) AddSigningKey(ctx context.Context, k *SigningKey) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		now := s.now().UTC()
		if err := s.conn(ctx).Model(&SigningKey{}).Where("retired_at IS NULL").Update("retired_at", now).Error; err != nil {
			return err
		}
		if err := s.conn(ctx).Create(k).Error; err != nil {
			return err
		}
		return s.notify(ctx, TopicKeys)
	})
}

// DeleteSigningKey removes a retired key whose tokens have all expired.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	res := s.conn(ctx).Where("kid = ? AND retired_at IS NOT NULL", kid).Delete(&SigningKey{})
	if res.Error != nil || res.RowsAffected == 0 {
		return res.Error // none deleted: nothing to announce (every replica deletes it once)
	}
	return s.notify(ctx, TopicKeys)
}

// Session returns a browser session by ID, ErrNotFound if missing or expired.
func (s *Store) Session(ctx context.Context, id string) (*HTTPSession, error) {
	if !keyable(id) {
		return nil, ErrNotFound
	}
	var hs HTTPSession
	err := s.conn(ctx).Where("id = ? AND expires_at > ?", id, s.now().UTC()).Take(&hs).Error
	if err != nil {
		return nil, notFound(err)
	}
	return &hs, nil
}

// SaveSession creates or replaces a browser session.
func (s *Store) SaveSession(ctx context.Context, hs *HTTPSession) error {
	// UTC, so SQLite (which stores times as text) compares expiry correctly in Session.
	hs.ExpiresAt = hs.ExpiresAt.UTC()
	return s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "id"}},
		DoUpdates: clause.AssignmentColumns([]string{"data", "expires_at", "user_id", "ip", "user_agent", "updated_at"}),
	}).Create(hs).Error
}

// DeleteSession ends a browser session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.conn(ctx).Where("id = ?", id).Delete(&HTTPSession{}).Error
}

// ClientDocumentByURL returns a cached client metadata document.
func (s *Store) ClientDocumentByURL(ctx context.Context, u string) (*ClientDocument, error) {
	if !keyable(u) {
		return nil, ErrNotFound
	}
	var d ClientDocument
	if err := s.conn(ctx).Where("url = ?", u).Take(&d).Error; err != nil {
		return nil, notFound(err)
	}
	return &d, nil
}

// SaveClientDocument caches a client metadata document.
func (s *Store) SaveClientDocument(ctx context.Context, d *ClientDocument) error {
	return s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "url"}},
		DoUpdates: clause.AssignmentColumns([]string{"body", "fetched_at", "expires_at"}),
	}).Create(d).Error
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }
