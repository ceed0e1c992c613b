package storage

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// Grant is one remembered consent (a user let a client use a server with some scopes) as
// the connected-apps pages show it: who, which app, which server, and when it was first
// approved and last used. The tokens issued under it are the user's tokens of that client
// whose audience is the server's resource URL.
type Grant struct {
	UserID, UserEmail string
	ClientID          string
	// ClientName is the client's name, its ID when the client row is gone.
	ClientName   string
	ClientSource string
	ServerID     string
	OrgID        string
	OrgSlug      string
	ServerSlug   string
	ServerName   string
	// Scopes is space-separated, as approved.
	Scopes string
	// CreatedAt is when the user first approved the client; UpdatedAt when they last did.
	CreatedAt, UpdatedAt time.Time
	// LastUsed is when the newest access token of the grant was issued; zero means never
	// (or every one was purged, a day after it expired).
	LastUsed time.Time
}

// ServerPath is "org/server" of the grant's server.
func (g *Grant) ServerPath() string { return g.OrgSlug + "/" + g.ServerSlug }

// Verified reports whether the grant's client was created by an admin of Conexor (the
// dashboard or the CLI). Clients that registered themselves, by dynamic registration or a
// client ID metadata document, are not: anyone can name such a client anything, which is
// also why the consent page warns about them.
func (g *Grant) Verified() bool { return g.ClientSource == ClientSourceAdmin }

// GrantFilter selects grants; empty fields select everything.
type GrantFilter struct {
	UserID, ClientID, ServerID, OrgID string
}

// Grants lists the grants f selects, ordered by server path, app name and user email,
// with their last use. Grants of revoked clients are left out: their tokens were revoked
// with the client and no new ones can be issued. audience is the resource URL of a server
// (the provider's, which knows the issuer): tokens are matched to a grant by it. Two
// queries whatever the number of grants.
func (s *Store) Grants(ctx context.Context, f GrantFilter, audience func(org, server string) string) ([]Grant, error) {
	if !keyable(f.UserID, f.ClientID, f.ServerID, f.OrgID) {
		return nil, nil
	}
	q := s.conn(ctx).Table("consents").
		Select(`consents.user_id AS user_id, users.email AS user_email, consents.client_id AS client_id,
COALESCE(clients.name, consents.client_id) AS client_name, COALESCE(clients.source, '') AS client_source,
consents.server_id AS server_id, servers.org_id AS org_id, servers.org_slug AS org_slug, servers.slug AS server_slug,
servers.name AS server_name, consents.scopes AS scopes, consents.created_at AS created_at, consents.updated_at AS updated_at`).
		Joins("JOIN users ON users.id = consents.user_id").
		Joins("JOIN servers ON servers.id = consents.server_id").
		Joins("LEFT JOIN clients ON clients.id = consents.client_id").
		Where("clients.revoked_at IS NULL")
	if f.UserID != "" {
		q = q.Where("consents.user_id = ?", f.UserID)
	}
	if f.ClientID != "" {
		q = q.Where("consents.client_id = ?", f.ClientID)
	}
	if f.ServerID != "" {
		q = q.Where("consents.server_id = ?", f.ServerID)
	}
	if f.OrgID != "" {
		q = q.Where("servers.org_id = ?", f.OrgID)
	}
	var out []Grant
	if err := q.Order("servers.org_slug, servers.slug, client_name, users.email, consents.client_id").Scan(&out).Error; err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	type useKey struct{ user, client, aud string }
	users, clients, auds := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := range out {
		users[out[i].UserID] = true
		clients[out[i].ClientID] = true
		auds[audience(out[i].OrgSlug, out[i].ServerSlug)] = true
	}
	rows, err := s.conn(ctx).Model(&accessTokenRow{}).
		Select("subject, client_id, granted_audience, MAX(requested_at)").
		Where("client_id IN ? AND subject IN ? AND granted_audience IN ?", setKeys(clients), setKeys(users), setKeys(auds)).
		Group("subject, client_id, granted_audience").Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	last := map[useKey]time.Time{}
	for rows.Next() {
		var k useKey
		var at aggregateTime
		if err := rows.Scan(&k.user, &k.client, &k.aud, &at); err != nil {
			return nil, err
		}
		if at.Valid {
			last[k] = at.Time
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		g := &out[i]
		g.LastUsed = last[useKey{g.UserID, g.ClientID, audience(g.OrgSlug, g.ServerSlug)}]
	}
	return out, nil
}

// RevokeGrant ends one grant in one transaction: the remembered consent is deleted, so the
// next authorization asks again, and every active access token, refresh token and
// authorization code of the user and client whose audience is the server's resource URL
// (audience) is revoked; the gateway learns of the access tokens from their revoked_at.
// ErrNotFound when the user holds no such consent (nothing is changed then).
func (s *Store) RevokeGrant(ctx context.Context, userID, clientID, serverID, audience string) error {
	if !keyable(userID, clientID, serverID, audience) {
		return ErrNotFound
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("user_id = ? AND client_id = ? AND server_id = ?", userID, clientID, serverID).Delete(&Consent{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return s.revokeUserTokens(ctx, userID, clientID, []string{audience})
	})
}

// RevokeUserGrants ends every grant of a user on the servers of audiences (server ID →
// its resource URL) in one transaction: the user's consents for those servers are deleted
// and every active token of the user with one of those audiences is revoked, whichever
// client holds it. It returns how many consents were deleted.
func (s *Store) RevokeUserGrants(ctx context.Context, userID string, audiences map[string]string) (int, error) {
	if len(audiences) == 0 || !keyable(userID) {
		return 0, nil
	}
	ids := make([]string, 0, len(audiences))
	auds := make([]string, 0, len(audiences))
	for id, aud := range audiences {
		ids = append(ids, id)
		auds = append(auds, aud)
	}
	if !keyable(ids...) || !keyable(auds...) {
		return 0, nil
	}
	var n int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("user_id = ? AND server_id IN ?", userID, ids).Delete(&Consent{})
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		return s.revokeUserTokens(ctx, userID, "", auds)
	})
	return int(n), err
}

// revokeUserTokens revokes the active tokens of a user (of one client, or of every client
// when clientID is "") whose audience is one of auds.
func (s *Store) revokeUserTokens(ctx context.Context, userID, clientID string, auds []string) error {
	return s.revokeTokens(ctx, func(q *gorm.DB) *gorm.DB {
		q = q.Where("subject = ? AND granted_audience IN ?", userID, auds)
		if clientID != "" {
			q = q.Where("client_id = ?", clientID)
		}
		return q
	})
}

// revokeAttempts bounds how often revokeTokens goes back for tokens a concurrent refresh
// or code exchange issued meanwhile.
const revokeAttempts = 50

// ErrRevokeRaced means a revocation found new tokens issued for what it revoked on each
// of revokeAttempts passes; nothing it changed is kept.
var ErrRevokeRaced = errors.New("storage: tokens kept being issued while revoking them")

// revokeTokens revokes every active refresh token, authorization code and access token that
// where selects, inside the caller's transaction, and leaves none active even while refreshes
// and code exchanges of the same grant commit concurrently.
//
// On Postgres (READ COMMITTED) each statement sees only what had committed when it started.
// A refresh that rotated a refresh token and commits while the UPDATE waits on that row's
// lock inserts a new refresh and access token the UPDATE never sees. So refresh tokens and
// codes are revoked first, then a fresh statement counts those still active: one in the
// middle of being rotated or redeemed still counts (its change is not committed), as does
// one a refresh committed meanwhile. Only when none is left, so no refresh or exchange of
// them is in flight and every later one finds its token inactive and fails
// (fosite.ErrSerializationFailure), are the access tokens revoked, by a statement that sees
// every one issued. Without a concurrent refresh that is one pass and one count; a client
// keeps its grant alive for another pass only by refreshing again within it. SQLite runs
// write transactions one at a time, so there the first pass always finds nothing left.
func (s *Store) revokeTokens(ctx context.Context, where func(*gorm.DB) *gorm.DB) error {
	set := map[string]any{"active": false, "revoked_at": s.now().UTC()}
	for range revokeAttempts {
		for _, m := range []any{&refreshTokenRow{}, &authorizeCodeRow{}} {
			if err := where(s.conn(ctx).Model(m).Where("active")).Updates(set).Error; err != nil {
				return err
			}
		}
		var left int64
		for _, m := range []any{&refreshTokenRow{}, &authorizeCodeRow{}} {
			var n int64
			if err := where(s.conn(ctx).Model(m).Where("active")).Count(&n).Error; err != nil {
				return err
			}
			left += n
		}
		if left == 0 {
			res := where(s.conn(ctx).Model(&accessTokenRow{}).Where("active")).Updates(set)
			if res.Error != nil || res.RowsAffected == 0 {
				return res.Error
			}
			return s.notify(ctx, TopicRevoked) // delivered when the caller's transaction commits
		}
	}
	return ErrRevokeRaced
}

// ClientTokenCounts counts the access tokens issued to each client since a moment; a
// client with none is absent. One query on the (client_id, requested_at) index.
func (s *Store) ClientTokenCounts(ctx context.Context, clientIDs []string, since time.Time) (map[string]int, error) {
	out := make(map[string]int, len(clientIDs))
	if len(clientIDs) == 0 || !keyable(clientIDs...) {
		return out, nil
	}
	var rows []struct {
		ClientID string
		N        int
	}
	err := s.conn(ctx).Model(&accessTokenRow{}).Select("client_id, COUNT(*) AS n").
		Where("client_id IN ? AND requested_at >= ?", clientIDs, since.UTC()).
		Group("client_id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ClientID] = r.N
	}
	return out, nil
}

func setKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
