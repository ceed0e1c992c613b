package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// Topic names what changed, in a change notification. Replicas keep caches of what the
// database holds (the gate's revocation set and server rows, the signing keys); a topic tells
// them which one to re-read now instead of at their next poll.
type Topic string

// The topics of change notifications.
const (
	// TopicRevoked: access tokens were revoked (revoked_at set).
	TopicRevoked Topic = "revoked"
	// TopicKeys: a signing key was added or deleted.
	TopicKeys Topic = "keys"
	// TopicClients: an OAuth client was created, changed or revoked.
	TopicClients Topic = "clients"
	// TopicServers: an MCP server was created or changed.
	TopicServers Topic = "servers"
	// TopicResync is no notification: Listen reports it when it (re)starts listening, since
	// any notification sent while it was not listening is lost. Re-read everything.
	TopicResync Topic = "*"
)

// How the listener keeps its connection honest. A connection that went silent (a dropped
// route, a stuck proxy) looks exactly like one with nothing to say, so after listenIdle
// without a notification it pings, and gives the connection up if the ping takes longer than
// listenPingTimeout. Reconnects back off from listenBackoffMin to listenBackoffMax; polling
// keeps every cache within its own bound meanwhile.
const (
	listenIdle        = 15 * time.Second
	listenPingTimeout = 5 * time.Second
	listenSetup       = 5 * time.Second
	listenBackoffMin  = 250 * time.Millisecond
	listenBackoffMax  = 10 * time.Second
)

// channelExpr names the notification channel of the connection's schema: Postgres channels
// are per database, and one database may hold several Conexors (and every test's schema),
// which must not wake each other. md5 keeps the name a short, safe identifier.
const channelExpr = `'conexor_' || left(md5(current_schema()), 16)`

// Notifies reports whether changes are announced to other processes: on Postgres, with
// LISTEN/NOTIFY. SQLite is one process; its callers rely on polling alone.
func (s *Store) Notifies() bool { return s.dialect == "postgres" }

// notify announces topic to every process listening on this schema. In a transaction (the
// one in ctx) Postgres delivers it on commit and drops it on rollback, which is exactly when
// a change is real; outside one, call it after the change. A no-op on SQLite.
//
// Outside a transaction a failure is not returned: the change has committed, and every
// listener also polls, so a lost notification costs only time. In a transaction it is,
// since Postgres has aborted the transaction and its commit would fail anyway.
func (s *Store) notify(ctx context.Context, topic Topic) error {
	err := s.Notify(ctx, topic)
	if _, inTx := ctx.Value(txKey{}).(*gorm.DB); inTx {
		return err
	}
	return nil
}

// Notify announces topic (see notify) and reports any failure, for changes made outside
// this package's methods.
func (s *Store) Notify(ctx context.Context, topic Topic) error {
	if !s.Notifies() {
		return nil
	}
	return s.conn(ctx).Exec("SELECT pg_notify("+channelExpr+", ?)", string(topic)).Error
}

// Listen calls on with the topic of every change notification for this schema until ctx
// ends, and with TopicResync each time it starts listening (first and after a reconnect).
// on runs on the listener's goroutine: it must return quickly. On SQLite it returns at once.
// It holds one connection of the pool for as long as it listens.
//
// LISTEN needs a session of its own: through a pooler in transaction mode (pgbouncer's
// default) notifications never arrive, and only polling remains.
func (s *Store) Listen(ctx context.Context, log *slog.Logger, on func(Topic)) {
	if !s.Notifies() {
		return
	}
	backoff := listenBackoffMin
	for ctx.Err() == nil {
		started := time.Now()
		err := s.listenOnce(ctx, on)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = listenBackoffMin // it worked for a while: this is a new failure
		}
		log.Warn("change notifications interrupted; polling until listening again", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// errListenerDone discards the listening connection: one that ran LISTEN must never go back
// to the pool, where a request would inherit its subscription.
var errListenerDone = driver.ErrBadConn

// listenOnce takes a connection from the pool, listens on it until it fails or ctx ends,
// and discards it.
func (s *Store) listenOnce(ctx context.Context, on func(Topic)) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(ctx, listenSetup)
	defer cancel()
	c, err := sqlDB.Conn(setup)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	s.listeners.Add(1)
	defer s.listeners.Add(-1)
	var result error
	_ = c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			result = fmt.Errorf("the Postgres driver connection is a %T, not pgx", dc)
			return errListenerDone
		}
		result = listen(ctx, setup, sc, on)
		return errListenerDone
	})
	return result
}

func listen(ctx, setup context.Context, sc *stdlib.Conn, on func(Topic)) error {
	pc := sc.Conn()
	var channel string
	if err := pc.QueryRow(setup, "SELECT "+channelExpr).Scan(&channel); err != nil {
		return fmt.Errorf("channel name: %w", err)
	}
	// channel is 'conexor_' and 16 hex digits: safe to quote as an identifier.
	if _, err := pc.Exec(setup, `LISTEN "`+channel+`"`); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	on(TopicResync)
	for {
		wait, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := pc.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			on(Topic(n.Payload))
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !pc.IsClosed():
			ping, cancel := context.WithTimeout(ctx, listenPingTimeout)
			err := pc.Ping(ping)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		default:
			return err
		}
	}
}
