package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/limit"
	"github.com/conexor/conexor/storage"
)

// newLimits builds the one Limiter behind the login, registration and client-authentication
// throttles: in Redis when redis_url is set (whatever the database), else in Postgres, else
// (SQLite, one process by nature) in process. It returns what closes it.
//
// Redis keys are prefixed with the issuer: the replicas of one deployment share it, and
// deployments that share a Redis do not share budgets. A Redis that does not answer at
// start is logged, not fatal: the Limiter counts in process until it answers (limit.New).
func newLimits(ctx context.Context, cfg config.Config, store *storage.Store, log *slog.Logger, now func() time.Time) (*limit.Limiter, func() error, error) {
	opts := limit.Options{Now: now, Log: log}
	closeFn := func() error { return nil }
	switch {
	case cfg.RedisURL != "":
		r, err := limit.NewRedis(cfg.RedisURL, "conexor:limit:"+cfg.Issuer+":")
		if err != nil {
			return nil, nil, err
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := r.Ping(pctx); err != nil {
			log.Warn("redis_url does not answer; login and client limits count in this process until it does", "err", err)
		}
		cancel()
		opts.Shared, opts.Kind, closeFn = r, "redis", r.Close
	case store.Dialect() == "postgres":
		opts.Shared, opts.Kind = limit.CounterFunc(store.TakeTokens), "postgres"
	}
	return limit.New(opts), closeFn, nil
}
