package storage

import (
	"context"
	"fmt"
	"time"
)

// limitBucket is one token bucket of the limits shared by replicas (internal/limit): how
// many tokens it held at its last step (last_ms, Unix milliseconds of the caller's clock)
// and when it is full again at the latest (full_ms), after which the row holds no
// information and PurgeLimits deletes it. Keys are the limiter's: a rule name and a hash.
type limitBucket struct {
	Key    string `gorm:"column:bucket_key;primaryKey;size:100"`
	Tokens float64
	LastMS int64
	FullMS int64 `gorm:"index"`
	Taken  bool
}

func (limitBucket) TableName() string { return "limit_buckets" }

// TakeTokens is one atomic step on the token bucket key (internal/limit.Counter): refill
// it for the time since its last step (at most burst), then take cost tokens if it holds
// that many (a negative cost gives tokens back). It returns the tokens left and whether
// cost was taken. One INSERT ... ON CONFLICT DO UPDATE ... RETURNING: the row lock it
// takes on Postgres serializes concurrent steps on one bucket, so no replica's count is
// lost, and no transaction or retry is needed.
func (s *Store) TakeTokens(ctx context.Context, key string, burst int, every time.Duration, cost float64, now time.Time) (float64, bool, error) {
	if every <= 0 || burst <= 0 {
		return 0, false, fmt.Errorf("storage: TakeTokens: burst %d and every %s must be positive", burst, every)
	}
	lo, hi := "MIN", "MAX" // SQLite's scalar forms
	if s.dialect == "postgres" {
		lo, hi = "LEAST", "GREATEST"
	}
	const (
		b     = "CAST(@burst AS DOUBLE PRECISION)"
		c     = "CAST(@cost AS DOUBLE PRECISION)"
		nowMS = "CAST(@now AS BIGINT)"
	)
	// The bucket's tokens now: refilled for the time since its last step, at most burst
	// (a clock behind the last step refills nothing).
	avail := fmt.Sprintf("%s(%s, limit_buckets.tokens + CAST(%s(%s - limit_buckets.last_ms, 0) AS DOUBLE PRECISION) / CAST(@every AS DOUBLE PRECISION))",
		lo, b, hi, nowMS)
	q := fmt.Sprintf(`INSERT INTO limit_buckets (bucket_key, tokens, last_ms, full_ms, taken) VALUES (@key, @tokens, @now, @full, @taken)
ON CONFLICT (bucket_key) DO UPDATE SET
  tokens = CASE WHEN %[1]s >= %[2]s THEN %[3]s(%[4]s, %[1]s - %[2]s) ELSE %[1]s END,
  taken = %[1]s >= %[2]s,
  last_ms = %[5]s(limit_buckets.last_ms, %[6]s),
  full_ms = %[5]s(limit_buckets.full_ms, CAST(@full AS BIGINT))
RETURNING tokens, taken`, avail, c, lo, b, hi, nowMS)

	// A new bucket starts full; the same step as the update, done here.
	tokens, taken := float64(burst), false
	if tokens >= cost {
		tokens, taken = min(float64(burst), tokens-cost), true
	}
	// Full again at the latest burst refills after this step, whatever it held.
	full := now.Add(time.Duration(burst) * every).UnixMilli()
	var out struct {
		Tokens float64
		Taken  bool
	}
	err := s.db.WithContext(ctx).Raw(q, map[string]any{
		"key": key, "tokens": tokens, "now": now.UnixMilli(), "full": full, "taken": taken,
		"burst": float64(burst), "cost": cost, "every": float64(every.Milliseconds()),
	}).Scan(&out).Error
	if err != nil {
		return 0, false, s.unavailable(err)
	}
	return out.Tokens, out.Taken, nil
}

// PurgeLimits deletes the buckets that are full again by now: they hold no information.
func (s *Store) PurgeLimits(ctx context.Context, now time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("full_ms < ?", now.UnixMilli()).Delete(&limitBucket{})
	return res.RowsAffected, res.Error
}
