package tick_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/conexor/conexor/internal/tick"
)

func TestEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		var at []time.Duration
		done := make(chan struct{})
		go func() {
			tick.Every(ctx, time.Minute, func(context.Context) { at = append(at, time.Since(start)) })
			close(done)
		}()
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		cancel()
		<-done
		want := []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute}
		if len(at) != len(want) {
			t.Fatalf("f ran at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Errorf("call %d at %v, want %v", i, at[i], want[i])
			}
		}
	})
}

// TestEveryStopsWhenFCancels: a loop that cancels its own context (a revoked token's
// stream) ends at once and is not called again.
func TestEveryStopsWhenFCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		done := make(chan struct{})
		go func() {
			tick.Every(ctx, time.Second, func(context.Context) {
				calls++
				if calls == 2 {
					cancel()
				}
			})
			close(done)
		}()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("Every still running after f cancelled its context")
		}
		if calls != 2 {
			t.Errorf("f called %d times, want 2", calls)
		}
	})
}
