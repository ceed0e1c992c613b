package storagetest

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/limit"
)

// testLimitBuckets pins the shared token bucket (Store.TakeTokens, internal/limit's
// Counter): a new bucket is full, takes stop at burst, a refund is capped at burst, time
// refills it, concurrent takes are counted exactly, and the purge drops only full buckets.
func testLimitBuckets(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	now := time.Unix(1_800_000_000, 0)
	take := func(key string, cost float64, at time.Time) (float64, bool) {
		t.Helper()
		res, err := s.TakeTokens(ctx, []limit.Step{{Key: key, Burst: 5, Every: 10 * time.Second, Cost: cost}}, at)
		if err != nil || len(res) != 1 {
			t.Fatalf("TakeTokens(%s, %v): %v, %v", key, cost, res, err)
		}
		return res[0].Tokens, res[0].Taken
	}
	for i := range 5 {
		if tokens, taken := take("a", 1, now); !taken || tokens != float64(4-i) {
			t.Fatalf("take %d of a full bucket of 5: taken=%v tokens=%v", i+1, taken, tokens)
		}
	}
	if tokens, taken := take("a", 1, now); taken || tokens != 0 {
		t.Fatalf("6th take: taken=%v tokens=%v, want refused with 0 left", taken, tokens)
	}
	if _, taken := take("b", 1, now); !taken {
		t.Fatal("another key shares a's bucket")
	}
	// 5 s is half a token: still refused, and the half is kept.
	if tokens, taken := take("a", 1, now.Add(5*time.Second)); taken || math.Abs(tokens-0.5) > 1e-9 {
		t.Fatalf("after 5 s: taken=%v tokens=%v, want refused with 0.5", taken, tokens)
	}
	if tokens, taken := take("a", 1, now.Add(10*time.Second)); !taken || math.Abs(tokens) > 1e-9 {
		t.Fatalf("after 10 s: taken=%v tokens=%v, want one token taken", taken, tokens)
	}
	// A clock behind the last step (another replica's) refills nothing and moves nothing back.
	if _, taken := take("a", 1, now); taken {
		t.Fatal("a step from an earlier clock refilled the bucket")
	}
	// Refunds: one back, and never above burst.
	if tokens, taken := take("a", -1, now.Add(10*time.Second)); !taken || math.Abs(tokens-1) > 1e-9 {
		t.Fatalf("refund: taken=%v tokens=%v, want 1", taken, tokens)
	}
	if tokens, _ := take("c", -1, now); tokens != 5 {
		t.Fatalf("refund to a new bucket: %v tokens, want burst 5", tokens)
	}
	// Cost 0 is a read: the tokens with the refill, nothing written (see the purge below:
	// "p" leaves no row).
	if tokens, taken := take("a", 0, now.Add(15*time.Second)); !taken || math.Abs(tokens-1.5) > 1e-9 {
		t.Fatalf("read of a: taken=%v tokens=%v, want 1.5", taken, tokens)
	}
	if tokens, _ := take("p", 0, now); tokens != 5 {
		t.Fatalf("read of a new bucket: %v tokens, want burst 5", tokens)
	}
	if tokens, _ := take("a", 0, now.Add(10*time.Second)); math.Abs(tokens-1) > 1e-9 {
		t.Fatalf("the read wrote: a holds %v at its last step's time, want 1", tokens)
	}

	// Concurrent takes on one bucket, as replicas make them: exactly burst succeed.
	const burst, n = 40, 64
	var wg sync.WaitGroup
	var won, won2, errs atomic.Int64
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Each call steps two buckets, in opposite orders: no deadlock, both exact.
			steps := []limit.Step{
				{Key: "race", Burst: burst, Every: time.Hour, Cost: 1},
				{Key: "race2", Burst: 2 * burst, Every: time.Minute, Cost: 1},
			}
			var res []limit.Result
			var err error
			if i%2 == 0 {
				res, err = s.TakeTokens(ctx, steps, now)
			} else {
				res, err = s.TakeTokens(ctx, []limit.Step{
					{Key: "race2", Burst: 2 * burst, Every: time.Minute, Cost: 1},
					{Key: "race", Burst: burst, Every: time.Hour, Cost: 1},
				}, now)
				if err == nil {
					res[0], res[1] = res[1], res[0]
				}
			}
			switch {
			case err != nil:
				errs.Add(1)
				t.Errorf("concurrent TakeTokens: %v", err)
			default:
				if res[0].Taken {
					won.Add(1)
				}
				if res[1].Taken {
					won2.Add(1)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if errs.Load() == 0 && (won.Load() != burst || won2.Load() != n) {
		t.Fatalf("%d concurrent takes on buckets of %d and %d: %d and %d taken, want exactly %d and %d",
			n, burst, 2*burst, won.Load(), won2.Load(), burst, n)
	}

	// Purge: a is full again 50 s after its last step at the latest; race is not.
	n1, err := s.PurgeLimits(ctx, now.Add(10*time.Second+5*10*time.Second+time.Second))
	if err != nil {
		t.Fatalf("PurgeLimits: %v", err)
	}
	if n1 != 3 { // a, b, c
		t.Fatalf("PurgeLimits removed %d buckets, want 3 (a, b and c are full again; race and race2 are not)", n1)
	}
	res, err := s.TakeTokens(ctx, []limit.Step{{Key: "race", Burst: burst, Every: time.Hour, Cost: 1}}, now.Add(time.Minute))
	if err != nil || res[0].Taken {
		t.Fatalf("after the purge: %v, %v; the purge dropped a bucket that was not full (race refilled)", res, err)
	}
	if _, err := s.TakeTokens(ctx, []limit.Step{{Key: "x", Burst: 1, Every: time.Second, Cost: 1}, {Key: "x", Burst: 1, Every: time.Second, Cost: 1}}, now); err == nil {
		t.Fatal("one bucket twice in one call: no error")
	}
}
