package consent

import (
	"math"
	"sync"
	"time"
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
//
// An attempt is charged when it starts (begin) and refunded if the password was right. A
// check before the slow password hash and a charge only after it had failed let N parallel
// guesses all pass the check: the limit must count attempts in flight.
type throttle struct {
	now      func() time.Time
	mu       sync.Mutex
	accounts map[string]*bucket
	ips      map[string]*bucket
}

// bucket is a token bucket that, unlike rate.Limiter, can be given a token back after the
// fact (a reservation there can only be cancelled before its time).
type bucket struct {
	every  time.Duration // one token comes back per every
	burst  float64
	tokens float64
	last   time.Time
}

func (b *bucket) at(now time.Time) float64 {
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(b.every))
		b.last = now
	}
	return b.tokens
}

// wait is the time until the bucket holds a whole token.
func (b *bucket) wait(now time.Time) time.Duration {
	tokens := b.at(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) * float64(b.every)))
}

func (b *bucket) take(now time.Time) { b.at(now); b.tokens-- }

func (b *bucket) give(now time.Time) { b.tokens = min(b.burst, b.at(now)+1) }

func newThrottle(now func() time.Time) *throttle {
	return &throttle{now: now, accounts: map[string]*bucket{}, ips: map[string]*bucket{}}
}

// wait reports how long a login for account from ip must wait before it may be tried;
// zero means now. It charges nothing; the login handler uses begin.
func (t *throttle) wait(account, ip string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.waitLocked(account, ip, t.now())
}

func (t *throttle) waitLocked(account, ip string, now time.Time) time.Duration {
	var d time.Duration
	if b, ok := t.accounts[account]; ok {
		d = max(d, b.wait(now))
	}
	if b, ok := t.ips[ip]; ok {
		d = max(d, b.wait(now))
	}
	return d
}

// begin starts a login attempt: it returns how long to wait (nothing is charged then), or
// takes one token from the account's and the IP's budget before the password is checked
// and returns the function to call if the password was right, which gives them back.
func (t *throttle) begin(account, ip string) (wait time.Duration, succeeded func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if d := t.waitLocked(account, ip, now); d > 0 {
		return d, nil
	}
	ba := get(t.accounts, account, accountEvery, accountBurst, now)
	bi := get(t.ips, ip, ipEvery, ipBurst, now)
	ba.take(now)
	bi.take(now)
	var once sync.Once
	return 0, func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			now := t.now()
			ba.give(now)
			bi.give(now)
		})
	}
}

// fail records a failed login as a whole (begin and no success).
func (t *throttle) fail(account, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if b := get(t.accounts, account, accountEvery, accountBurst, now); b.at(now) >= 1 {
		b.take(now)
	}
	if b := get(t.ips, ip, ipEvery, ipBurst, now); b.at(now) >= 1 {
		b.take(now)
	}
}

func get(m map[string]*bucket, key string, every time.Duration, burst int, now time.Time) *bucket {
	if b, ok := m[key]; ok {
		return b
	}
	if len(m) >= maxTracked {
		// Forget buckets that have refilled: they hold no information.
		for k, b := range m {
			if b.at(now) >= b.burst {
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
	b := &bucket{every: every, burst: float64(burst), tokens: float64(burst), last: now}
	m[key] = b
	return b
}
