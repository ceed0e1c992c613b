// Package tick runs the background loops of Conexor (key reloads, purges, revocation
// checks) one way: a ticker, stopped with its context. It imports nothing of Conexor's.
package tick

import (
	"context"
	"time"
)

// Every calls f every d until ctx is done, the first time after d. It returns when ctx is
// done and never calls f after that, even if a tick was already due: f may cancel ctx to
// stop the loop.
func Every(ctx context.Context, d time.Duration, f func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ctx.Err() != nil {
				return
			}
			f(ctx)
		}
	}
}
