package storage

import (
	"context"
	"fmt"
	"time"
)

// OrgRole is one org a user belongs to, with the user's role in it.
type OrgRole struct {
	Org  Org
	Role string
}

// OrgsOfUser lists the orgs a user is a member of, ordered by slug, in one query.
func (s *Store) OrgsOfUser(ctx context.Context, userID string) ([]OrgRole, error) {
	if !keyable(userID) {
		return nil, nil
	}
	var rows []struct {
		Org
		Role string
	}
	err := s.conn(ctx).Model(&Org{}).
		Select("orgs.*, memberships.role AS role").
		Joins("JOIN memberships ON memberships.org_id = orgs.id").
		Where("memberships.user_id = ?", userID).
		Order("orgs.slug").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]OrgRole, len(rows))
	for i, r := range rows {
		out[i] = OrgRole{Org: r.Org, Role: r.Role}
	}
	return out, nil
}

// ServersOfOrg lists an org's MCP servers, ordered by slug.
func (s *Store) ServersOfOrg(ctx context.Context, orgID string) ([]Server, error) {
	if !keyable(orgID) {
		return nil, nil
	}
	var out []Server
	err := s.conn(ctx).Where("org_id = ?", orgID).Order("slug").Find(&out).Error
	return out, err
}

// ServerStats is what the dashboard shows of a server's use.
type ServerStats struct {
	// Clients counts every client bound to the server, revoked ones included;
	// ActiveClients only those not revoked.
	Clients       int
	ActiveClients int
	// TokensLast24h counts the access tokens issued (by any grant, refresh included) since
	// the cutoff to clients bound to the server. Tokens of unbound clients (dynamic
	// registration, metadata documents) are not counted: their audience is a URL only the
	// provider can build.
	TokensLast24h int
}

// ServerStats returns the stats of each server in serverIDs (servers without clients are
// absent from the map) in one query: the access-token count per client walks the
// (client_id, requested_at) index.
func (s *Store) ServerStats(ctx context.Context, serverIDs []string, since time.Time) (map[string]ServerStats, error) {
	out := make(map[string]ServerStats, len(serverIDs))
	if !keyable(serverIDs...) || len(serverIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		ServerID string
		Clients  int
		Active   int
		Tokens   int
	}
	err := s.conn(ctx).Raw(`SELECT server_id, COUNT(*) AS clients, SUM(active) AS active, SUM(tokens) AS tokens
FROM (SELECT clients.server_id AS server_id,
        CASE WHEN clients.revoked_at IS NULL THEN 1 ELSE 0 END AS active,
        (SELECT COUNT(*) FROM oauth_access_tokens t WHERE t.client_id = clients.id AND t.requested_at >= ?) AS tokens
      FROM clients WHERE clients.server_id IN ?) per_client
GROUP BY server_id`, since.UTC(), serverIDs).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ServerID] = ServerStats{Clients: r.Clients, ActiveClients: r.Active, TokensLast24h: r.Tokens}
	}
	return out, nil
}

// ClientsLastUsed returns when each client last got an access token; a client that never
// did (or whose tokens were all purged, a day after they expired) is absent. One query: per
// client, the newest token is the last entry of the (client_id, requested_at) index.
func (s *Store) ClientsLastUsed(ctx context.Context, clientIDs []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(clientIDs))
	if !keyable(clientIDs...) || len(clientIDs) == 0 {
		return out, nil
	}
	rows, err := s.conn(ctx).Model(&Client{}).
		Select("clients.id, (SELECT MAX(t.requested_at) FROM oauth_access_tokens t WHERE t.client_id = clients.id)").
		Where("clients.id IN ?", clientIDs).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var last aggregateTime
		if err := rows.Scan(&id, &last); err != nil {
			return nil, err
		}
		if last.Valid {
			out[id] = last.Time
		}
	}
	return out, rows.Err()
}

// aggregateTime scans MAX() of a time column: Postgres returns a time, SQLite the stored
// text (it types an expression's result by its value, not by a column's declared type).
type aggregateTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (t *aggregateTime) Scan(v any) error {
	var text string
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		t.Time, t.Valid = x, true
		return nil
	case string:
		text = x
	case []byte:
		text = string(x)
	default:
		return fmt.Errorf("storage: a time aggregate of type %T", v)
	}
	for _, layout := range storedTimeLayouts {
		if parsed, err := time.ParseInLocation(layout, text, time.UTC); err == nil {
			t.Time, t.Valid = parsed, true
			return nil
		}
	}
	return fmt.Errorf("storage: %q is not a stored time", text)
}

// storedTimeLayouts are the text forms SQLite drivers store times in (the cgo driver's
// SQLiteTimestampFormats, and the pure-Go driver's default), for aggregates such as MAX()
// that come back as text instead of a time.
var storedTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999 -0700 MST",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}
