package consent

import (
	"context"
	"sync"
	"time"

	"github.com/conexor/conexor/internal/limit"
)

// Limits for failed logins. An account gets 5 free failures, then one more every 10 s
// (~360 guesses an hour instead of millions); an IP address gets 20 a minute, across
// accounts, which stops spraying one password over many emails. Only failures cost tokens,
// so a person who types their password right is never slowed down.
var (
	accountRule = limit.Rule{Name: "login-account", Burst: 5, Every: 10 * time.Second}
	ipRule      = limit.Rule{Name: "login-ip", Burst: 20, Every: 3 * time.Second}
)

// Limiter counts attempts in token buckets (internal/limit.Limiter). With Postgres or
// Redis its buckets are shared by every replica, so N replicas do not allow N times the
// guesses.
type Limiter interface {
	// Take charges one attempt to every bucket, all or none: zero when charged, else how
	// long until one is allowed.
	Take(ctx context.Context, charges ...limit.Charge) time.Duration
	// Give refunds one attempt to every bucket.
	Give(ctx context.Context, charges ...limit.Charge)
}

// throttle limits failed logins per account and per client IP.
//
// An attempt is charged when it starts (begin) and refunded if the password was right. A
// check before the slow password hash and a charge only after it had failed let N parallel
// guesses all pass the check: the limit must count attempts in flight.
type throttle struct {
	lim Limiter
}

func newThrottle(lim Limiter) *throttle { return &throttle{lim: lim} }

// begin starts a login attempt: it returns how long to wait (nothing is charged then), or
// takes one token from the account's and the IP's budget before the password is checked
// and returns the function to call if the password was right, which gives them back.
func (t *throttle) begin(ctx context.Context, account, ip string) (wait time.Duration, succeeded func()) {
	charges := []limit.Charge{{Rule: accountRule, Subject: account}, {Rule: ipRule, Subject: ip}}
	if d := t.lim.Take(ctx, charges...); d > 0 {
		return d, nil // refused: this attempt costs nothing
	}
	var once sync.Once
	return 0, func() {
		once.Do(func() {
			// The request's context may be ending; the refund must still land.
			t.lim.Give(context.WithoutCancel(ctx), charges...)
		})
	}
}
