package accounts

import (
	"context"
	"sync"
	"time"

	"github.com/conexor/conexor/internal/limit"
)

// Limits for wrong current passwords on the change-password form, per user: the login
// page's (5 free failures, then one every 10 s), so a stolen session cannot guess the
// password faster here than at the login page. An attempt is charged when it starts and
// refunded when the password was right, so parallel guesses are all counted.
var guessRule = limit.Rule{Name: "password-change", Burst: 5, Every: 10 * time.Second}

// Limiter counts attempts in token buckets (internal/limit.Limiter); with Postgres or Redis
// every replica shares them.
type Limiter interface {
	// Take charges one attempt to every bucket, all or none: zero when charged, else how
	// long until one is allowed.
	Take(ctx context.Context, charges ...limit.Charge) time.Duration
	// Give refunds one attempt to every bucket.
	Give(ctx context.Context, charges ...limit.Charge)
}

// guesses is the Service's Limiter: Service.Limits, or one in process when that is nil.
type guesses struct {
	once sync.Once
	lim  Limiter
}

func (s *Service) limiter() Limiter {
	s.guesses.once.Do(func() {
		s.guesses.lim = s.Limits
		if s.guesses.lim == nil {
			s.guesses.lim = limit.New(limit.Options{Now: s.Now, Log: s.Log})
		}
	})
	return s.guesses.lim
}
