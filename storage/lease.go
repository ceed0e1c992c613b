package storage

import (
	"context"
	"time"

	"gorm.io/gorm/clause"
)

// lease is a named, expiring claim on a job that only one process may run at a time (the
// purge). A row rather than a Postgres advisory lock: it works the same on SQLite (several
// processes may share one file) and Postgres, holds no connection while the job runs, and
// a holder that dies without releasing it loses it when it expires.
type lease struct {
	Name      string    `gorm:"primaryKey;size:64"`
	Holder    string    `gorm:"size:64;not null"`
	ExpiresAt time.Time `gorm:"not null"`
}

// TableName is leases.
func (lease) TableName() string { return "leases" }

// TryLease claims the lease name for holder until ttl from now, and reports whether it got
// it: it does when nobody holds it, when the last holder's claim expired, or when holder
// already holds it (the claim is extended). It never waits for another holder.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := s.now().UTC()
	row := lease{Name: name, Holder: holder, ExpiresAt: now.Add(ttl)}
	res := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return false, res.Error
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	res = s.conn(ctx).Model(&lease{}).
		Where("name = ? AND (holder = ? OR expires_at < ?)", name, holder, now).
		Updates(map[string]any{"holder": holder, "expires_at": row.ExpiresAt})
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

// ReleaseLease ends holder's claim on name, so the next TryLease by anyone succeeds at once.
// Releasing a lease one does not hold changes nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	return s.conn(ctx).Model(&lease{}).Where("name = ? AND holder = ?", name, holder).
		Update("expires_at", time.Time{}).Error
}
