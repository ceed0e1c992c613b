package storage

import "context"

// ClientNames returns the name of each client in ids that exists, revoked ones included,
// in one query; unknown IDs are absent. The usage charts show clients by name, and their
// counters name clients by ID only (a counter outlives its client's row).
func (s *Store) ClientNames(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		if keyable(id) { // an ID no row can have (invalid UTF-8, NUL) is simply unknown
			keys = append(keys, id)
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	var rows []struct{ ID, Name string }
	if err := s.conn(ctx).Model(&Client{}).Select("id, name").Where("id IN ?", keys).Scan(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, nil
}
