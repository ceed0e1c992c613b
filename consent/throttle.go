package consent

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits for failed logins. An account gets 5 free failures, then one more every 10 s
// (~360 guesses an hour instead of millions); an IP address gets 20 a minute, across
// accounts, which stops spraying one password over many emails. Only failures cost tokens,
// so a person who types their password right is never slowed down.
const (
	accountBurst = 5
	accountEvery = 10 * time.Second
	ipBurst      = 20
	ipEvery      = 3 * time.Second
	// maxTracked bounds memory under a flood of distinct emails or addresses.
	maxTracked = 10000
)

// throttle limits failed logins per account and per client IP. It is per process: with
// several replicas an attacker gets each replica's allowance, which still bounds guessing
// to a few per second per account, and nothing is lost when a replica restarts.
type throttle struct {
	now      func() time.Time
	mu       sync.Mutex
	accounts map[string]*rate.Limiter
	ips      map[string]*rate.Limiter
}

func newThrottle(now func() time.Time) *throttle {
	return &throttle{now: now, accounts: map[string]*rate.Limiter{}, ips: map[string]*rate.Limiter{}}
}

// wait reports how long a login for account from ip must wait before it may be tried;
// zero means now. Checked before the password hash, so a throttled attempt costs no CPU.
func (t *throttle) wait(account, ip string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var d time.Duration
	if l, ok := t.accounts[account]; ok {
		d = max(d, untilToken(l, now))
	}
	if l, ok := t.ips[ip]; ok {
		d = max(d, untilToken(l, now))
	}
	return d
}

// fail records a failed login.
func (t *throttle) fail(account, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	get(t.accounts, account, rate.Every(accountEvery), accountBurst, now).AllowN(now, 1)
	get(t.ips, ip, rate.Every(ipEvery), ipBurst, now).AllowN(now, 1)
}

func get(m map[string]*rate.Limiter, key string, r rate.Limit, burst int, now time.Time) *rate.Limiter {
	if l, ok := m[key]; ok {
		return l
	}
	if len(m) >= maxTracked {
		// Forget limiters that have refilled: they hold no information.
		for k, l := range m {
			if l.TokensAt(now) >= float64(l.Burst()) {
				delete(m, k)
			}
		}
		if len(m) >= maxTracked { // still full: under attack; drop arbitrary entries
			for k := range m {
				delete(m, k)
				if len(m) < maxTracked/2 {
					break
				}
			}
		}
	}
	l := rate.NewLimiter(r, burst)
	m[key] = l
	return l
}

// untilToken is the time until l has a whole token.
func untilToken(l *rate.Limiter, now time.Time) time.Duration {
	tokens := l.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	secs := (1 - tokens) / float64(l.Limit())
	return time.Duration(math.Ceil(secs * float64(time.Second)))
}
