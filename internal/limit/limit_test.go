package limit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/conexor/conexor/internal/redistest"
)

// counterContract is what every Counter must do; Store.TakeTokens has the same checks in
// storage/storagetest.
func counterContract(t *testing.T, c Counter) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	take := func(key string, cost float64, at time.Time) (float64, bool) {
		t.Helper()
		res, err := c.Take(ctx, []Step{{Key: key, Burst: 5, Every: 10 * time.Second, Cost: cost}}, at)
		if err != nil || len(res) != 1 {
			t.Fatalf("Take(%s, %v): %v, %v", key, cost, res, err)
		}
		return res[0].Tokens, res[0].Taken
	}
	for i := range 5 {
		if tokens, taken := take("a", 1, now); !taken || tokens != float64(4-i) {
			t.Fatalf("take %d of a full bucket of 5: taken=%v tokens=%v", i+1, taken, tokens)
		}
	}
	if tokens, taken := take("a", 1, now); taken || tokens != 0 {
		t.Fatalf("6th take: taken=%v tokens=%v, want refused with 0", taken, tokens)
	}
	if got := Wait(0, 1, 10*time.Second); got != 10*time.Second {
		t.Fatalf("Wait on an empty bucket = %s, want 10s", got)
	}
	if _, taken := take("b", 1, now); !taken {
		t.Fatal("another key shares a's bucket")
	}
	if tokens, taken := take("a", 1, now.Add(5*time.Second)); taken || math.Abs(tokens-0.5) > 1e-9 {
		t.Fatalf("after 5 s: taken=%v tokens=%v, want refused with 0.5", taken, tokens)
	}
	if _, taken := take("a", 1, now.Add(10*time.Second)); !taken {
		t.Fatal("after 10 s: no token back")
	}
	if _, taken := take("a", 1, now); taken {
		t.Fatal("a step from an earlier clock refilled the bucket")
	}
	if tokens, _ := take("a", -1, now.Add(10*time.Second)); math.Abs(tokens-1) > 1e-9 {
		t.Fatalf("refund: %v tokens, want 1", tokens)
	}
	if tokens, _ := take("c", -1, now); tokens != 5 {
		t.Fatalf("refund to a new bucket: %v tokens, want burst 5", tokens)
	}
	if tokens, taken := take("a", 0, now.Add(15*time.Second)); !taken || math.Abs(tokens-1.5) > 1e-9 {
		t.Fatalf("read of a: taken=%v tokens=%v, want 1.5", taken, tokens)
	}
	if tokens, _ := take("p", 0, now); tokens != 5 {
		t.Fatalf("read of a new bucket: %v tokens, want burst 5", tokens)
	}

	const burst, n = 40, 64
	var wg sync.WaitGroup
	var won atomic.Int64
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := c.Take(ctx, []Step{{Key: "race", Burst: burst, Every: time.Hour, Cost: 1}, {Key: "other", Burst: 1, Every: time.Hour, Cost: -1}}, now)
			if err != nil || len(res) != 2 {
				t.Errorf("concurrent Take: %v, %v", res, err)
				return
			}
			if res[0].Taken {
				won.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if won.Load() != burst {
		t.Fatalf("%d concurrent takes on a bucket of %d: %d taken", n, burst, won.Load())
	}
}

func TestMemory(t *testing.T) { counterContract(t, NewMemory()) }

// TestMemoryBounded: a flood of distinct subjects does not grow memory without bound.
func TestMemoryBounded(t *testing.T) {
	m := NewMemory()
	now := time.Now()
	for i := range 3 * maxTracked {
		_, _ = m.Take(context.Background(), []Step{{Key: Key("x", time.Duration(i).String()), Burst: 5, Every: time.Second, Cost: 1}}, now)
	}
	if m.Len() > maxTracked {
		t.Fatalf("%d buckets tracked, want at most %d", m.Len(), maxTracked)
	}
}

// TestRedis runs the contract on the test Redis, and checks every bucket key has a TTL
// (Redis's storage stays bounded without a purge).
func TestRedis(t *testing.T) {
	url, prefix := redistest.URL(t)
	r, err := NewRedis(url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	counterContract(t, r)
	opt, _ := redis.ParseURL(url)
	c := redis.NewClient(opt)
	defer c.Close()
	ttl, err := c.PTTL(context.Background(), prefix+"race").Result()
	if err != nil || ttl <= 0 || ttl > 40*time.Hour {
		t.Fatalf("PTTL of a bucket = %s, %v: want the time until it is full (at most 40 h)", ttl, err)
	}
}

// failing is a shared store that is down.
type failing struct{ calls atomic.Int64 }

func (f *failing) Take(context.Context, []Step, time.Time) ([]Result, error) {
	f.calls.Add(1)
	return nil, errors.New("connection refused")
}

// TestLimiterFailsOpenToMemory: with the shared store down, the limits still hold per
// process, and nobody is locked out because of the failure.
func TestLimiterFailsOpenToMemory(t *testing.T) {
	f := &failing{}
	now := time.Unix(1_800_000_000, 0)
	l := New(Options{Shared: f, Now: func() time.Time { return now }})
	a := Charge{Rule{Name: "login-account", Burst: 5, Every: 10 * time.Second}, "a@x"}
	ctx := context.Background()
	for i := range 5 {
		if d := l.Take(ctx, a); d != 0 {
			t.Fatalf("attempt %d with the shared store down: wait %s, want allowed", i+1, d)
		}
	}
	if d := l.Take(ctx, a); d != 10*time.Second {
		t.Fatalf("6th attempt: wait %s, want 10s from the in-process bucket", d)
	}
	l.Give(ctx, a)
	if d := l.Take(ctx, a); d != 0 {
		t.Fatalf("after a refund: wait %s", d)
	}
	// The first failure put the store aside: the other steps did not wait for it.
	if f.calls.Load() != 1 {
		t.Fatalf("shared store tried %d times during the outage, want once", f.calls.Load())
	}
	l.retry = time.Millisecond
	l.downUntil.Store(0)
	l.Take(ctx, a)
	time.Sleep(5 * time.Millisecond)
	l.Take(ctx, a)
	// Each Take reads before it charges; on a machine slow enough that the retry interval
	// passed between the two, its charge tried the store too.
	if n := f.calls.Load(); n < 3 || n > 5 {
		t.Fatalf("shared store tried %d times in all, want it tried again after the retry interval (3)", n)
	}
}

// TestLimiterShared: two Limiters (two replicas) on one Counter share the budget.
func TestLimiterShared(t *testing.T) {
	shared := NewMemory()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	a, b := New(Options{Shared: shared, Now: clock}), New(Options{Shared: shared, Now: clock})
	acct := Charge{Rule{Name: "login-account", Burst: 4, Every: time.Minute}, "s"}
	ip := Charge{Rule{Name: "login-ip", Burst: 20, Every: time.Minute}, "ip"}
	ctx := context.Background()
	for i := range 4 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if d := l.Take(ctx, acct, ip); d != 0 {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if a.Take(ctx, acct, ip) == 0 || b.Take(ctx, acct, ip) == 0 {
		t.Fatal("the 5th attempt passed: the replicas do not share the bucket")
	}
	// The refused attempts were all or nothing: the address's bucket lost only the 4.
	other := Charge{Rule{Name: "login-account", Burst: 20, Every: time.Minute}, "t"}
	for i := range 16 {
		if d := a.Take(ctx, other, ip); d != 0 {
			t.Fatalf("another account, attempt %d from the address: refused after %d (the refused attempts were charged)", i+1, 4+i)
		}
	}
	if a.Take(ctx, other, ip) == 0 {
		t.Fatal("the address's 21st attempt passed")
	}
}

// TestLimiterWaitSpend: Wait charges nothing; Spend charges what a bucket holds.
func TestLimiterWaitSpend(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := New(Options{Now: func() time.Time { return now }})
	c := Charge{Rule{Name: "client-auth", Burst: 2, Every: time.Second}, "id"}
	ctx := context.Background()
	for range 5 {
		if d := l.Wait(ctx, c); d != 0 {
			t.Fatalf("Wait charged: %s", d)
		}
	}
	l.Spend(ctx, c)
	l.Spend(ctx, c)
	l.Spend(ctx, c) // nothing left to charge
	if d := l.Wait(ctx, c); d != time.Second {
		t.Fatalf("after 3 failures on a bucket of 2: wait %s, want 1s", d)
	}
	now = now.Add(time.Second)
	if d := l.Wait(ctx, c); d != 0 {
		t.Fatalf("a second later: wait %s", d)
	}
}

// counting is a Counter that counts the calls that write (any step with a Cost).
type counting struct {
	Counter
	writes, calls atomic.Int64
}

func (c *counting) Take(ctx context.Context, steps []Step, now time.Time) ([]Result, error) {
	c.calls.Add(1)
	for _, st := range steps {
		if st.Cost != 0 {
			c.writes.Add(1)
			break
		}
	}
	return c.Counter.Take(ctx, steps, now)
}

// TestLimiterRefusedTakeWritesNothing: an attempt refused by one bucket (the address's)
// writes nothing, in particular no bucket for the other subject it names (the email an
// attacker typed), where it used to charge and then refund it: two writes per refusal.
func TestLimiterRefusedTakeWritesNothing(t *testing.T) {
	mem := NewMemory()
	c := &counting{Counter: mem}
	now := time.Unix(1_800_000_000, 0)
	l := New(Options{Shared: c, Now: func() time.Time { return now }})
	ip := Charge{Rule{Name: "login-ip", Burst: 1, Every: time.Minute}, "ip"}
	acct := func(s string) Charge { return Charge{Rule{Name: "login-account", Burst: 5, Every: time.Minute}, s} }
	ctx := context.Background()
	if d := l.Take(ctx, acct("a@x"), ip); d != 0 {
		t.Fatalf("first attempt refused: wait %s", d)
	}
	writes, buckets := c.writes.Load(), mem.Len()
	for i := range 5 {
		if d := l.Take(ctx, acct(fmt.Sprintf("victim%d@x", i)), ip); d != time.Minute {
			t.Fatalf("attempt from an empty address: wait %s, want 1m", d)
		}
	}
	if got := c.writes.Load() - writes; got != 0 {
		t.Fatalf("5 refused attempts wrote %d times, want 0", got)
	}
	if got := mem.Len(); got != buckets {
		t.Fatalf("refused attempts left %d buckets, want %d (none for the emails typed)", got, buckets)
	}
	// An attempt that goes through still charges every bucket once.
	now = now.Add(time.Minute)
	if d := l.Take(ctx, acct("b@x"), ip); d != 0 || c.writes.Load()-writes != 1 {
		t.Fatalf("allowed attempt: wait %s, %d writes, want 0 and 1", d, c.writes.Load()-writes)
	}
}

// TestLimiterRemembersFullBuckets: good requests (a client's token requests by the
// thousand) read its full buckets from the shared store once, not once each; a failure
// charged here makes the next check read the store again, so it sees the bucket empty.
func TestLimiterRemembersFullBuckets(t *testing.T) {
	c := &counting{Counter: NewMemory()}
	now := time.Unix(1_800_000_000, 0)
	l := New(Options{Shared: c, Now: func() time.Time { return now }})
	client := Charge{Rule{Name: "client-auth", Burst: 2, Every: time.Minute}, "client_x"}
	ctx := context.Background()
	for range 100 {
		if d := l.Wait(ctx, client); d != 0 {
			t.Fatalf("a full bucket: wait %s", d)
		}
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("100 checks of a full bucket read the shared store %d times, want 1", n)
	}
	l.Spend(ctx, client)
	l.Spend(ctx, client)
	if d := l.Wait(ctx, client); d == 0 {
		t.Fatal("after the bucket was spent here, a check still finds it full")
	}
	if n := c.calls.Load(); n != 4 {
		t.Fatalf("shared store calls = %d, want 4 (one read, two charges, one read)", n)
	}
}
