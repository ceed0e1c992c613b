package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/conexor/conexor/internal/limit"
)

// limitBucket is one token bucket of the limits shared by replicas (internal/limit): how
// many tokens it held after its last step at last_ms (Unix milliseconds of the caller's
// clock), and when it is full again at the latest (full_ms), after which the row holds no
// information and PurgeLimits deletes it. Burst, EveryMS and Cost are the last step's, so
// one statement can step buckets of different rules. Keys are the limiter's: a rule name
// and a hash.
type limitBucket struct {
	Key     string `gorm:"column:bucket_key;primaryKey;size:100"`
	Tokens  float64
	LastMS  int64
	FullMS  int64 `gorm:"index"`
	Taken   bool
	Burst   float64
	EveryMS float64
	Cost    float64
}

func (limitBucket) TableName() string { return "limit_buckets" }

// TakeTokens is internal/limit's Counter: every step, atomically on its bucket, refills it
// for the time since its last step (at most burst) and takes cost tokens if it holds that
// many (a negative cost gives tokens back). One INSERT ... ON CONFLICT DO UPDATE ...
// RETURNING for all the steps: the row locks it takes on Postgres serialize concurrent
// steps on one bucket, so no replica's count is lost, with no transaction and no retry.
// Rows are written in key order, so two statements never wait on each other's locks.
func (s *Store) TakeTokens(ctx context.Context, steps []limit.Step, now time.Time) ([]limit.Result, error) {
	if len(steps) == 0 {
		return nil, nil
	}
	order := make([]int, len(steps))
	for i, st := range steps {
		if st.Every < time.Millisecond || st.Burst <= 0 {
			return nil, fmt.Errorf("storage: TakeTokens: burst %d and every %s must be positive", st.Burst, st.Every)
		}
		order[i] = i
	}
	if slices.IndexFunc(steps, func(st limit.Step) bool { return st.Cost != 0 }) < 0 {
		return s.peekTokens(ctx, steps, now)
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(steps[a].Key, steps[b].Key) })
	nowMS := now.UnixMilli()
	rows := make([]string, 0, len(steps))
	args := make([]any, 0, 8*len(steps))
	for n, i := range order {
		st := steps[i]
		if n > 0 && steps[order[n-1]].Key == st.Key {
			return nil, fmt.Errorf("storage: TakeTokens: bucket %q twice in one call", st.Key)
		}
		// A new bucket starts full: the same step as the update, done here.
		burst := float64(st.Burst)
		tokens, taken := burst, false
		if tokens >= st.Cost {
			tokens, taken = min(burst, tokens-st.Cost), true
		}
		// Full again at the latest burst refills after this step, whatever it holds.
		full := now.Add(time.Duration(st.Burst) * st.Every).UnixMilli()
		rows = append(rows, "(?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, st.Key, tokens, nowMS, full, taken, burst, float64(st.Every.Milliseconds()), st.Cost)
	}
	lo, hi := "MIN", "MAX" // SQLite's scalar forms
	if s.dialect == "postgres" {
		lo, hi = "LEAST", "GREATEST"
	}
	// The bucket's tokens now: refilled for the time since its last step, at most burst (a
	// clock behind the last step, another replica's, refills nothing).
	avail := fmt.Sprintf("%s(excluded.burst, limit_buckets.tokens + %s(excluded.last_ms - limit_buckets.last_ms, 0) / excluded.every_ms)", lo, hi)
	q := fmt.Sprintf(`INSERT INTO limit_buckets (bucket_key, tokens, last_ms, full_ms, taken, burst, every_ms, cost) VALUES %[4]s
ON CONFLICT (bucket_key) DO UPDATE SET
  tokens = CASE WHEN %[1]s >= excluded.cost THEN %[2]s(excluded.burst, %[1]s - excluded.cost) ELSE %[1]s END,
  taken = %[1]s >= excluded.cost,
  last_ms = %[3]s(limit_buckets.last_ms, excluded.last_ms),
  full_ms = %[3]s(limit_buckets.full_ms, excluded.full_ms),
  burst = excluded.burst, every_ms = excluded.every_ms, cost = excluded.cost
RETURNING bucket_key, tokens, taken`, avail, lo, hi, strings.Join(rows, ", "))

	var got []struct {
		BucketKey string
		Tokens    float64
		Taken     bool
	}
	if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&got).Error; err != nil {
		return nil, s.unavailable(err)
	}
	byKey := make(map[string]limit.Result, len(got))
	for _, g := range got {
		byKey[g.BucketKey] = limit.Result{Tokens: g.Tokens, Taken: g.Taken}
	}
	out := make([]limit.Result, len(steps))
	for i, st := range steps {
		r, ok := byKey[st.Key]
		if !ok {
			return nil, fmt.Errorf("storage: TakeTokens: no row returned for bucket %q", st.Key)
		}
		out[i] = r
	}
	return out, nil
}

// peekTokens is TakeTokens for steps that all cost 0: one SELECT, the refill done here,
// nothing written (the hot path of a client that authenticates right).
func (s *Store) peekTokens(ctx context.Context, steps []limit.Step, now time.Time) ([]limit.Result, error) {
	keys := make([]string, len(steps))
	for i, st := range steps {
		keys[i] = st.Key
	}
	var rows []limitBucket
	if err := s.db.WithContext(ctx).Where("bucket_key IN ?", keys).Find(&rows).Error; err != nil {
		return nil, s.unavailable(err)
	}
	byKey := make(map[string]limitBucket, len(rows))
	for _, r := range rows {
		byKey[r.Key] = r
	}
	out := make([]limit.Result, len(steps))
	nowMS := now.UnixMilli()
	for i, st := range steps {
		tokens := float64(st.Burst)
		if r, ok := byKey[st.Key]; ok {
			tokens = r.Tokens
			if nowMS > r.LastMS {
				tokens += float64(nowMS-r.LastMS) / float64(st.Every.Milliseconds())
			}
			tokens = min(float64(st.Burst), tokens)
		}
		out[i] = limit.Result{Tokens: tokens, Taken: true}
	}
	return out, nil
}

// PurgeLimits deletes the buckets that are full again by now: they hold no information.
// It goes through s.conn so that, run under LongRunning (the background purge), it uses the
// pinned connection whose statement_timeout follows the purge's deadline.
func (s *Store) PurgeLimits(ctx context.Context, now time.Time) (int64, error) {
	return s.deleteInBatches(ctx, "limit_buckets", "full_ms < ?", now.UnixMilli())
}
