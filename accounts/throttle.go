package accounts

import (
	"sync"
	"time"
)

// Limits for wrong current passwords on the change-password form, per user: the login
// page's (5 free failures, then one every 10 s), so a stolen session cannot guess the
// password faster here than at the login page.
const (
	guessBurst = 5
	guessEvery = 10 * time.Second
	maxGuessed = 10000
)

// guesses is a per-process token bucket of current-password attempts per user. An attempt
// is charged when it starts and refunded when the password was right, so parallel guesses
// are all counted.
type guesses struct {
	mu    sync.Mutex
	users map[string]*guessBucket
}

type guessBucket struct {
	tokens float64
	last   time.Time
}

// take charges one attempt for user; ok is false (and nothing is charged) when none is
// left, wait then says how long until one is.
func (g *guesses) take(user string, now time.Time) (wait time.Duration, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.users == nil {
		g.users = map[string]*guessBucket{}
	}
	b := g.users[user]
	if b == nil {
		if len(g.users) >= maxGuessed {
			g.users = map[string]*guessBucket{} // forget everyone rather than grow without bound
		}
		b = &guessBucket{tokens: guessBurst, last: now}
		g.users[user] = b
	}
	if now.After(b.last) {
		b.tokens = min(guessBurst, b.tokens+float64(now.Sub(b.last))/float64(guessEvery))
		b.last = now
	}
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(guessEvery)), false
	}
	b.tokens--
	return 0, true
}

// refund gives back the attempt of a right password.
func (g *guesses) refund(user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b := g.users[user]; b != nil {
		b.tokens = min(guessBurst, b.tokens+1)
	}
}
