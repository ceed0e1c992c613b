package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// purgeTimeout bounds one purge pass, and is how long its lease lasts. Deleting a backlog
// of expired rows from big tables may take far longer than storage_timeout, which is meant
// for requests; the pass gets its own deadline so that it still ends if the database stops
// answering, and a replica that dies mid-pass blocks the others' purges no longer than this.
const purgeTimeout = 5 * time.Minute

// purgeLease names the lease that makes one replica purge at a time: two replicas deleting
// the same rows would each wait on the other's row locks and do the work twice.
const purgeLease = "purge"

// purgeHolder identifies this process as the holder of the purge lease.
var purgeHolder = func() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}()

// purge runs one purge pass if no other replica is running one. Expired codes, tokens and
// sessions go expired_retention after they expire; audit events after audit_retention.
func (a *App) purge(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, purgeTimeout)
	defer cancel()
	got, err := a.Store.TryLease(ctx, purgeLease, purgeHolder, purgeTimeout)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("purge: take the purge lease", "err", err)
		}
		return
	}
	if !got {
		a.log.Debug("purge skipped: another replica is purging")
		return
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := a.Store.ReleaseLease(rctx, purgeLease, purgeHolder); err != nil {
			a.log.Warn("purge: release the purge lease (it expires by itself)", "err", err)
		}
	}()
	_ = a.Store.LongRunning(ctx, func(ctx context.Context) error { a.purgePass(ctx); return nil })
}

// purgePass is one pass of purge, its statements allowed purgeTimeout.
func (a *App) purgePass(ctx context.Context) {
	start := time.Now()
	n, err := a.Store.PurgeExpired(ctx, a.Store.Now().Add(-a.cfg.ExpiredRetention))
	if err != nil && ctx.Err() == nil {
		a.log.Warn("purge expired tokens and sessions", "err", err)
	} else if n > 0 {
		a.log.Info("purged expired tokens and sessions", "rows", n, "took", time.Since(start).Round(time.Millisecond))
	}
	n, err = a.Store.PurgeAudit(ctx, a.Store.Now().Add(-a.cfg.AuditRetention))
	if err != nil && ctx.Err() == nil {
		a.log.Warn("purge old audit events", "err", err)
	} else if n > 0 {
		a.log.Info("purged audit events and usage counters past audit_retention", "rows", n)
	}
	if n, err := a.Store.PurgeLimits(ctx, a.Store.Now()); err != nil && ctx.Err() == nil {
		a.log.Warn("purge full limit buckets", "err", err)
	} else if n > 0 {
		a.log.Info("purged full limit buckets", "rows", n)
	}
	if n, err := a.Store.PurgeTasks(ctx, a.Store.Now()); err != nil && ctx.Err() == nil {
		a.log.Warn("purge expired MCP task records", "err", err)
	} else if n > 0 {
		a.log.Info("purged expired MCP task records", "rows", n)
	}
}
