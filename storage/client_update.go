package storage

import "context"

// UpdateClient stores the settings an operator may change on an active client: its name,
// scopes and redirect URIs. A client that is unknown or was revoked meanwhile is ErrNotFound.
func (s *Store) UpdateClient(ctx context.Context, c *Client) error {
	res := s.conn(ctx).Model(&Client{}).Where("id = ? AND revoked_at IS NULL", c.ID).Updates(map[string]any{
		"name":          c.Name,
		"scopes":        c.Scopes,
		"redirect_uris": c.RedirectURIsJSON,
		"updated_at":    s.now().UTC(),
	})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	s.clientChanged(ctx, c.ID)
	return s.notify(ctx, TopicClients)
}
