// Package limit counts attempts (failed logins, registrations, failed client
// authentications) in token buckets that every replica can share.
//
// A bucket holds up to Burst tokens and gets one back every Every; an attempt takes one, and
// an attempt that turned out harmless (a right password) gives it back. Token buckets, not
// windows, because the throttles need that refund: an attempt is charged when it starts, so
// parallel guesses in flight all count, and refunded when it succeeded, so only failures
// cost. The shared backends (Postgres through storage, Redis) make each step one atomic
// statement or script, so concurrent replicas never lose a count.
//
// When the shared backend fails, the Limiter counts in process instead (fails open to the
// per-process limits, logged) and keeps doing so for a few seconds before it tries the
// backend again, so an outage costs one request its timeout, not every request: a database
// or Redis blip must not lock everyone out of login, and the per-process limits still bound
// guessing to a few per second per replica.
package limit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Rule is the shape of one kind of bucket.
type Rule struct {
	// Name keeps the kinds apart in the shared store ("login-account", "register-ip").
	Name  string
	Burst int
	// Every is how long one token takes to come back.
	Every time.Duration
}

// Step is one change to one bucket: take Cost tokens (a negative Cost gives them back).
type Step struct {
	Key   string
	Burst int
	Every time.Duration
	Cost  float64
}

// Result is a bucket after its Step: the tokens it holds and whether Cost was taken.
type Result struct {
	Tokens float64
	Taken  bool
}

// Counter is a store of token buckets. Take applies every step at now, each atomically on
// its bucket: refill it for the time since its last step (never above Burst), then take
// Cost when it holds at least that much (a negative Cost gives tokens back, never above
// Burst). A bucket seen for the first time is full. A call whose steps all cost 0 is a
// read: it reports the tokens and writes nothing. The steps are independent (one may be
// taken and another not); several in one call cost one round trip, which is what keeps a
// login or a token request at one statement for its charge and one for its refund.
type Counter interface {
	Take(ctx context.Context, steps []Step, now time.Time) ([]Result, error)
}

// CounterFunc makes a function a Counter (storage.Store.TakeTokens, which keeps storage
// free of this package).
type CounterFunc func(ctx context.Context, steps []Step, now time.Time) ([]Result, error)

// Take implements Counter.
func (f CounterFunc) Take(ctx context.Context, steps []Step, now time.Time) ([]Result, error) {
	return f(ctx, steps, now)
}

// Limiter charges and refunds attempts on a shared Counter, falling back to its own
// in-process buckets when the shared one fails.
type Limiter struct {
	shared  Counter // nil: in process only (SQLite without Redis)
	local   *Memory
	now     func() time.Time
	log     *slog.Logger
	timeout time.Duration
	kind    string       // for the log: "postgres", "redis", "memory"
	warned  atomic.Int64 // when the last fallback was logged (Unix ns)
	// downUntil is when the shared store is tried again after it failed (Unix ns): during an
	// outage each request would otherwise wait Timeout for it before counting in process.
	downUntil atomic.Int64
	retry     time.Duration // sharedRetry; shorter in tests
	// full remembers buckets a read of the shared store found full (key -> until, Unix ns),
	// so that a client sending thousands of good token requests a second does not cost a
	// read of its buckets each: see fullFor. fullCount bounds it.
	full      sync.Map
	fullCount atomic.Int64
}

// fullFor is how long a bucket read as full is taken to be full without reading it again,
// unless this process charges it meanwhile. Failures at other replicas are seen up to that
// much later, and the first failure here forgets the bucket: a few extra attempts per
// replica at most, against secrets of 256 random bits, for one statement less per good
// request.
const fullFor = time.Second

// maxFull bounds the remembered full buckets; past it they are all forgotten.
const maxFull = 10000

// sharedRetry is how long the Limiter counts in process after the shared store failed,
// before it tries the store again.
const sharedRetry = 5 * time.Second

// Options configure a Limiter; every field is optional.
type Options struct {
	// Shared is the store every replica uses; nil counts in process only.
	Shared Counter
	// Kind names Shared in the log.
	Kind string
	Now  func() time.Time
	Log  *slog.Logger
	// Timeout bounds one step on Shared before the Limiter falls back to counting in
	// process; zero means one second (a login should not wait longer on its throttle).
	Timeout time.Duration
}

// New builds a Limiter.
func New(o Options) *Limiter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Kind == "" {
		o.Kind = "memory"
		if o.Shared != nil {
			o.Kind = "shared"
		}
	}
	return &Limiter{shared: o.Shared, local: NewMemory(), now: o.Now, log: o.Log, timeout: o.Timeout, kind: o.Kind, retry: sharedRetry}
}

// Shared reports which store counts: "memory" when the limits are per process.
func (l *Limiter) Shared() string { return l.kind }

// Charge is one attempt against one subject's bucket of a rule.
type Charge struct {
	Rule    Rule
	Subject string
}

// Take charges one attempt to every bucket named, all or none: zero when all were
// charged, else how long until every one holds a token again (the ones that were charged
// are given back then).
//
// It reads the buckets first and writes nothing when one is empty: an attempt refused by
// one bucket (a login from a throttled address) would otherwise create and charge a bucket
// for every other subject it names (the email the attacker typed) and then refund it, two
// writes per refused attempt. Reading costs one round trip more for an attempt that goes
// through; the charge that follows still checks, and refunds what it took when a racing
// attempt emptied a bucket in between.
func (l *Limiter) Take(ctx context.Context, charges ...Charge) time.Duration {
	if wait := l.Wait(ctx, charges...); wait > 0 {
		return wait
	}
	res := l.step(ctx, charges, 1)
	var wait time.Duration
	var taken []Charge
	for i, r := range res {
		if r.Taken {
			taken = append(taken, charges[i])
		} else {
			wait = max(wait, Wait(r.Tokens, 1, charges[i].Rule.Every))
		}
	}
	if wait > 0 && len(taken) > 0 {
		l.Give(ctx, taken...)
	}
	return wait
}

// Wait reads the buckets named and reports how long until every one holds a token; it
// charges nothing. With Spend it is the check-then-charge-failures pattern, for attempts
// that succeed in parallel by the dozen (client authentication): charging at the start
// would throttle a client's concurrent good requests.
func (l *Limiter) Wait(ctx context.Context, charges ...Charge) time.Duration {
	var wait time.Duration
	for i, r := range l.step(ctx, charges, 0) {
		wait = max(wait, Wait(r.Tokens, 1, charges[i].Rule.Every))
	}
	return wait
}

// Spend charges one failed attempt to every bucket named that holds a token.
func (l *Limiter) Spend(ctx context.Context, charges ...Charge) {
	l.step(ctx, charges, 1)
}

// Give returns one attempt to every bucket named (the attempt did no harm).
func (l *Limiter) Give(ctx context.Context, charges ...Charge) {
	l.step(ctx, charges, -1)
}

func (l *Limiter) step(ctx context.Context, charges []Charge, cost float64) []Result {
	steps := make([]Step, len(charges))
	for i, c := range charges {
		steps[i] = Step{Key: Key(c.Rule.Name, c.Subject), Burst: c.Rule.Burst, Every: c.Rule.Every, Cost: cost}
	}
	now := l.now()
	if l.shared != nil && cost == 0 && l.allFull(steps) {
		res := make([]Result, len(steps))
		for i, st := range steps {
			res[i] = Result{Tokens: float64(st.Burst), Taken: true}
		}
		return res
	}
	if l.shared != nil && cost != 0 {
		for _, st := range steps {
			if _, had := l.full.LoadAndDelete(st.Key); had {
				l.fullCount.Add(-1)
			}
		}
	}
	if l.shared != nil && time.Now().UnixNano() >= l.downUntil.Load() {
		// A charge or a read spends the request's own time, within its deadline; a refund
		// is owed whatever became of the request.
		sctx := ctx
		if cost < 0 {
			sctx = context.WithoutCancel(ctx)
		}
		sctx, cancel := context.WithTimeout(sctx, l.timeout)
		res, err := l.shared.Take(sctx, steps, now)
		cancel()
		if err == nil && len(res) == len(steps) {
			if cost == 0 {
				l.rememberFull(steps, res)
			}
			return res
		}
		if ctx.Err() == nil || cost < 0 {
			// The store failed, not the request: leave it alone for a while.
			l.downUntil.Store(time.Now().Add(l.retry).UnixNano())
		}
		// Once per 10 s at most: during an outage every request comes through here.
		if last := l.warned.Load(); now.UnixNano()-last > int64(10*time.Second) && l.warned.CompareAndSwap(last, now.UnixNano()) {
			l.log.WarnContext(ctx, "shared limit unavailable; counting in this process", "store", l.kind, "limit", charges[0].Rule.Name, "err", err)
		}
	}
	res, _ := l.local.Take(ctx, steps, now)
	return res
}

// allFull reports whether every bucket of steps was read full less than fullFor ago.
func (l *Limiter) allFull(steps []Step) bool {
	now := time.Now().UnixNano()
	for _, st := range steps {
		until, ok := l.full.Load(st.Key)
		if !ok || now >= until.(int64) {
			return false
		}
	}
	return true
}

// rememberFull notes the buckets of a read when every one was full.
func (l *Limiter) rememberFull(steps []Step, res []Result) {
	for i, st := range steps {
		if res[i].Tokens < float64(st.Burst) {
			return
		}
	}
	if l.fullCount.Load() >= maxFull {
		l.full.Range(func(k, _ any) bool { l.full.Delete(k); return true })
		l.fullCount.Store(0)
	}
	until := time.Now().Add(fullFor).UnixNano()
	for _, st := range steps {
		if _, had := l.full.Swap(st.Key, until); !had {
			l.fullCount.Add(1)
		}
	}
}

// Wait is how long a bucket holding tokens, refilled one per every, takes to hold cost.
func Wait(tokens, cost float64, every time.Duration) time.Duration {
	if tokens >= cost {
		return 0
	}
	return max(time.Duration(math.Ceil((cost-tokens)*float64(every))), time.Nanosecond)
}

// Key is the stored key of subject's bucket of the named rule. The subject (an email, an
// address, a client_id: anything a caller typed) is hashed: keys have a fixed length
// whatever was sent, and no email address sits in Redis or the counter table.
func Key(name, subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return name + ":" + hex.EncodeToString(sum[:16])
}

// maxTracked bounds the in-process buckets under a flood of distinct subjects.
const maxTracked = 10000

// Memory is the in-process Counter: the limits of one replica.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	full   time.Time // when the bucket is full again if nothing is taken
}

// NewMemory returns an empty in-process Counter.
func NewMemory() *Memory { return &Memory{buckets: map[string]*bucket{}} }

// Take implements Counter; it never fails.
func (m *Memory) Take(_ context.Context, steps []Step, now time.Time) ([]Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Result, len(steps))
	for i, st := range steps {
		b, ok := m.buckets[st.Key]
		if !ok && st.Cost == 0 {
			out[i] = Result{Tokens: float64(st.Burst), Taken: true} // a read of a full bucket
			continue
		}
		if !ok {
			m.makeRoom(now)
			b = &bucket{tokens: float64(st.Burst), last: now}
			m.buckets[st.Key] = b
		}
		tokens, taken := refillTake(b.tokens, b.last, float64(st.Burst), st.Every, st.Cost, now)
		b.tokens = tokens
		if now.After(b.last) {
			b.last = now
		}
		b.full = b.last.Add(time.Duration((float64(st.Burst) - tokens) * float64(st.Every)))
		out[i] = Result{Tokens: tokens, Taken: taken}
	}
	return out, nil
}

// makeRoom forgets buckets that are full again (they hold no information), and under a
// flood of distinct keys arbitrary ones.
func (m *Memory) makeRoom(now time.Time) {
	if len(m.buckets) < maxTracked {
		return
	}
	for k, b := range m.buckets {
		if !now.Before(b.full) {
			delete(m.buckets, k)
		}
	}
	for k := range m.buckets {
		if len(m.buckets) < maxTracked/2 {
			break
		}
		delete(m.buckets, k)
	}
}

// Len is how many buckets are tracked (for tests of the memory bound).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

// refillTake is the one token-bucket step every backend implements: refill since last (a
// clock that went back refills nothing), then take cost if there is enough.
func refillTake(tokens float64, last time.Time, burst float64, every time.Duration, cost float64, now time.Time) (float64, bool) {
	if now.After(last) {
		tokens += float64(now.Sub(last)) / float64(every)
	}
	tokens = min(burst, tokens)
	if tokens >= cost {
		return min(burst, tokens-cost), true
	}
	return tokens, false
}
