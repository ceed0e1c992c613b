package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/conexor/conexor/internal/urls"
)

// Where a client came from.
const (
	ClientSourceAdmin    = "admin"    // created by an operator (CLI or dashboard)
	ClientSourceDynamic  = "dynamic"  // RFC 7591 dynamic registration
	ClientSourceMetadata = "metadata" // a client ID metadata document (the ID is its URL)
)

// Client is an OAuth client. It implements fosite.Client. A client created for one MCP server
// carries ServerID; a dynamically registered one has none and the resource parameter decides.
type Client struct {
	ID         string  `gorm:"primaryKey;size:2100"`
	Name       string  `gorm:"size:200;not null"`
	ServerID   *string `gorm:"index;size:40"`
	SecretHash string  `gorm:"size:255"`
	Public     bool    `gorm:"not null"`
	// Scopes, GrantTypes: space-separated.
	Scopes                  string `gorm:"size:2000;not null"`
	GrantTypes              string `gorm:"size:200;not null"`
	RedirectURIsJSON        string `gorm:"column:redirect_uris;type:text"`
	TokenEndpointAuthMethod string `gorm:"size:40"`
	Source                  string `gorm:"size:20;not null"`
	// Metadata keeps the registration document as received (RFC 7591 echo).
	Metadata  string `gorm:"type:text"`
	RevokedAt *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time

	// ServerPath is "org/server" of ServerID's MCP server, filled in by the store. The
	// server's resource URL (the client's audience) is the provider's to compute: only it
	// knows the issuer.
	ServerPath string `gorm:"-"`
}

var _ fosite.Client = (*Client)(nil)

// GetID implements fosite.Client.
func (c *Client) GetID() string { return c.ID }

// GetHashedSecret implements fosite.Client.
func (c *Client) GetHashedSecret() []byte { return []byte(c.SecretHash) }

// GetRedirectURIs implements fosite.Client.
func (c *Client) GetRedirectURIs() []string { return c.RedirectURIs() }

// RedirectURIs decodes the registered redirect URIs.
func (c *Client) RedirectURIs() []string {
	if c.RedirectURIsJSON == "" {
		return nil
	}
	var uris []string
	if err := json.Unmarshal([]byte(c.RedirectURIsJSON), &uris); err != nil {
		return nil
	}
	return uris
}

// SetRedirectURIs encodes the redirect URIs.
func (c *Client) SetRedirectURIs(uris []string) {
	if len(uris) == 0 {
		c.RedirectURIsJSON = ""
		return
	}
	b, _ := json.Marshal(uris)
	c.RedirectURIsJSON = string(b)
}

// GetGrantTypes implements fosite.Client.
func (c *Client) GetGrantTypes() fosite.Arguments { return strings.Fields(c.GrantTypes) }

// GetResponseTypes implements fosite.Client: "code" for clients allowed the code grant.
func (c *Client) GetResponseTypes() fosite.Arguments {
	if c.GetGrantTypes().Has("authorization_code") {
		return fosite.Arguments{"code"}
	}
	return fosite.Arguments{}
}

// GetScopes implements fosite.Client.
func (c *Client) GetScopes() fosite.Arguments { return strings.Fields(c.Scopes) }

// IsPublic implements fosite.Client.
func (c *Client) IsPublic() bool { return c.Public }

// GetAudience implements fosite.Client. It is always empty: the storage layer does not know
// the issuer, so the provider wraps the clients it hands to fosite with their audience
// (provider.fositeClient); a Client carried in a stored request is never asked for it.
func (c *Client) GetAudience() fosite.Arguments { return nil }

// Revoked reports whether an operator revoked the client.
func (c *Client) Revoked() bool { return c.RevokedAt != nil }

// GetClient implements fosite.ClientManager. Revoked clients are not found, so every grant
// and every authentication with them fails.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.ClientByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil && !errors.Is(err, ErrUnavailable) {
		// fosite turns every error of a client lookup into invalid_client: whatever went
		// wrong, the credentials may be fine, so the caller must hear "retry".
		return nil, fmt.Errorf("%w: load client: %w", ErrUnavailable, err)
	}
	if err != nil {
		return nil, err
	}
	if c.Revoked() {
		return nil, fosite.ErrNotFound
	}
	return c, nil
}

// ClientByID loads a client, revoked or not, with its ServerPath filled in. Every token
// request authenticates its client here, so clients are cached by the process (see
// clientcache.go for how fresh they are kept) and, in a context from WithClientCache, by the
// request. The client returned is the caller's own copy: changing it changes nothing else.
func (s *Store) ClientByID(ctx context.Context, id string) (*Client, error) {
	if !keyable(id) {
		return nil, ErrNotFound
	}
	cached, rc := cachedClient(ctx, id)
	if cached != nil {
		return cached, nil
	}
	shared, err := s.clients.load(ctx, id, s.queryClient)
	if err != nil {
		return nil, err
	}
	c := *shared
	rc.put(&c)
	return &c, nil
}

// queryClient reads a client in one query with its server joined: a second round trip for
// the server was a sixth of the token endpoint's CPU time.
func (s *Store) queryClient(ctx context.Context, id string) (*Client, error) {
	var row struct {
		Client
		SrvOrgSlug *string
		SrvSlug    *string
	}
	res := s.conn(ctx).Model(&Client{}).
		Select("clients.*, servers.org_slug AS srv_org_slug, servers.slug AS srv_slug").
		Joins("LEFT JOIN servers ON servers.id = clients.server_id").
		Where("clients.id = ?", id).Limit(1).Scan(&row)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	c := row.Client
	if c.ServerID != nil {
		if row.SrvOrgSlug == nil || row.SrvSlug == nil {
			return nil, ErrNotFound // bound to a server that no longer exists
		}
		c.ServerPath = urls.ServerPath(*row.SrvOrgSlug, *row.SrvSlug)
	}
	return &c, nil
}

// ClientAssertionJWTValid implements fosite.ClientManager. JWT client assertions are not
// enabled, so no JTI is ever known.
func (s *Store) ClientAssertionJWTValid(context.Context, string) error { return nil }

// SetClientAssertionJWT implements fosite.ClientManager; see ClientAssertionJWTValid.
func (s *Store) SetClientAssertionJWT(context.Context, string, time.Time) error { return nil }

// CreateClient stores a new client.
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	if c.Source == "" {
		c.Source = ClientSourceAdmin
	}
	if err := conflict(s.conn(ctx).Create(c).Error); err != nil {
		return err
	}
	s.clientChanged(ctx, c.ID)
	return s.notify(ctx, TopicClients)
}

// SaveClient updates every column of an existing client (metadata documents refresh this way).
func (s *Store) SaveClient(ctx context.Context, c *Client) error {
	if err := s.conn(ctx).Save(c).Error; err != nil {
		return err
	}
	s.clientChanged(ctx, c.ID)
	return s.notify(ctx, TopicClients)
}

// ListClients returns the clients of one server, oldest first.
func (s *Store) ListClients(ctx context.Context, serverID string) ([]Client, error) {
	var cs []Client
	err := s.conn(ctx).Where("server_id = ?", serverID).Order("created_at, id").Find(&cs).Error
	return cs, err
}

// RevokeClient marks a client revoked and revokes every token issued to it, also those of
// a refresh that loaded the client before it was revoked (see revokeTokens).
func (s *Store) RevokeClient(ctx context.Context, id string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		now := s.now().UTC()
		res := s.conn(ctx).Model(&Client{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			if _, err := s.ClientByID(ctx, id); err != nil {
				return err
			}
			return nil // already revoked
		}
		s.clientChanged(ctx, id)
		if err := s.notify(ctx, TopicClients); err != nil {
			return err
		}
		return s.revokeTokens(ctx, func(q *gorm.DB) *gorm.DB { return q.Where("client_id = ?", id) })
	})
}

// SetClientSecretHash replaces a client's secret hash (rotate-secret).
func (s *Store) SetClientSecretHash(ctx context.Context, id, hash string) error {
	res := s.conn(ctx).Model(&Client{}).Where("id = ? AND revoked_at IS NULL", id).Update("secret_hash", hash)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	s.clientChanged(ctx, id)
	return s.notify(ctx, TopicClients)
}

func isNotFound(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }
