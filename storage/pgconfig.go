package storage

import (
	"context"
	"database/sql/driver"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// postgresDialector builds the Postgres pool from a pgx configuration, so that no call can
// wait on the network without bound (issue 12: a silent partition hung requests for 30 s):
//
//   - connect_timeout is timeout, unless the URL sets one: a SYN into a black hole fails
//     in time;
//   - TCP keepalives probe an idle connection after 15 s and give up after 3 unanswered
//     probes 5 s apart, so a pooled connection to a vanished server is found dead before
//     the next request picks it, rather than after the kernel's two hours;
//   - statement_timeout is timeout plus a second, unless the URL sets one: the server ends a
//     statement whose client has given up (the client's deadline comes first and is what
//     the caller sees; this one frees the server's side);
//   - after a failure, pooled connections are checked before reuse (shouldPing);
//   - a cancelled or timed-out call closes its connection at once: pgx's default context
//     watcher sets a past deadline on the net.Conn, so the blocked read returns and the
//     connection is discarded, rather than waiting for the server's answer to a cancel
//     request that cannot arrive through a partition.
func postgresDialector(databaseURL string, timeout time.Duration, shouldPing func(context.Context, stdlib.ShouldPingParams) bool) (gorm.Dialector, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("storage: postgres URL %s: %w", redactURL(databaseURL), err)
	}
	set := urlSettings(databaseURL)
	if !set["connect_timeout"] {
		cfg.ConnectTimeout = timeout
	}
	dialer := &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3},
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}
	if _, ok := cfg.RuntimeParams["statement_timeout"]; !ok {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt((timeout + time.Second).Milliseconds(), 10)
	}
	lifetime := DefaultConnLifetime
	if v, ok := cfg.RuntimeParams[connLifetimeParam]; ok {
		// pgxpool's name for it; pgx alone would send it to the server as a setting.
		delete(cfg.RuntimeParams, connLifetimeParam)
		if lifetime, err = time.ParseDuration(v); err != nil || lifetime <= 0 {
			return nil, fmt.Errorf("storage: postgres URL %s: %s=%q must be a positive duration such as 30m", redactURL(databaseURL), connLifetimeParam, v)
		}
	}
	return postgres.New(postgres.Config{Conn: stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(shouldPing),
		stdlib.OptionAfterConnect(func(_ context.Context, c *pgx.Conn) error {
			c.PgConn().CustomData()[retireKey] = time.Now().Add(jitteredLifetime(lifetime))
			return nil
		}),
		stdlib.OptionResetSession(retireIfDue))}), nil
}

// DefaultConnLifetime is how long a pooled Postgres connection is used at most, unless the
// URL's pool_max_conn_lifetime says otherwise. Connections are not kept forever: one that
// lived through a failover may be talking to a server that has since become a replica.
const DefaultConnLifetime = 30 * time.Minute

// connLifetimeParam is the URL parameter that sets the connection lifetime (pgxpool's name).
const connLifetimeParam = "pool_max_conn_lifetime"

// retireKey holds, in a connection's CustomData, when it is to be retired.
const retireKey = "conexor.retire_at"

// jitteredLifetime is one connection's lifetime: between three quarters of d and d, at
// random. database/sql's own SetConnMaxLifetime retires every connection opened together
// (the whole pool, at start-up under load) at the same moment, and the 32 reconnections
// that follow stalled token requests for over a second in a 30-minute soak (issue 15);
// spread over a quarter of the lifetime, they come one at a time.
func jitteredLifetime(d time.Duration) time.Duration {
	return d - rand.N(d/4+1)
}

// retireIfDue is the pool's session reset (run before a used connection is reused): past
// its lifetime the connection is reported bad, so database/sql closes it and takes or opens
// another, with nothing failing.
func retireIfDue(_ context.Context, c *pgx.Conn) error {
	if at, ok := c.PgConn().CustomData()[retireKey].(time.Time); ok && time.Now().After(at) {
		return driver.ErrBadConn
	}
	return nil
}

// urlSettings reports which query parameters a URL names (nil for a keyword/value DSN,
// which Open does not accept anyway).
func urlSettings(raw string) map[string]bool {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	set := map[string]bool{}
	for k := range u.Query() {
		set[k] = true
	}
	return set
}

// busyMillis is SQLite's busy_timeout for a store timeout: a writer waits for the write lock
// as long as any other call may take, and no longer, so a stuck writer costs its waiters the
// same storage_timeout a Postgres partition does (it was a fixed 10 s before).
func busyMillis(busy time.Duration) string {
	if busy <= 0 {
		busy = DefaultTimeout
	}
	return strconv.FormatInt(busy.Milliseconds(), 10)
}

// shouldPing decides whether the pool checks a Postgres connection with a round trip before
// handing it out again. pgx's default pings one idle for over a second. Connections idle for
// less are also pinged when a call has failed as unavailable since they were last used: a
// reset or failover breaks every pooled connection at once, and pgx reports a SELECT on a
// dead connection as a plain error rather than driver.ErrBadConn, so without the ping each
// of them would fail one request after the database is back. In steady state no call fails
// and this costs nothing.
//
// For pingAfterFailure after a failure every reused connection is checked, however recently
// it was used: a connection can come back to the pool after the failure that was recorded
// and still be dead (its last answer arrived just before the reset that broke it).
func (s *Store) shouldPing(_ context.Context, p stdlib.ShouldPingParams) bool {
	if p.IdleDuration > time.Second {
		return true
	}
	failed := s.lastFailure.Load()
	if failed == 0 {
		return false
	}
	now := time.Now()
	return now.Add(-p.IdleDuration).UnixNano() <= failed || now.UnixNano()-failed < int64(pingAfterFailure)
}

// pingAfterFailure is how long after a call failed as unavailable every connection is
// checked before reuse.
const pingAfterFailure = 5 * time.Second
