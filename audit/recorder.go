package audit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conexor/conexor/storage"
)

// Sink is where recorded events and counters go (storage.Store).
type Sink interface {
	InsertAuditEvents(ctx context.Context, events []storage.AuditEvent) error
	AddUsage(ctx context.Context, counts []storage.UsageCount) error
}

// maxPending bounds the events waiting to be written. When the database is down for long
// enough to fill it, newer events are dropped (and counted) rather than memory growing
// without end.
const maxPending = 10000

// maxBackoff is the longest wait between tries while writes fail.
const maxBackoff = 30 * time.Second

// writeTimeout bounds one background write, so a hung database cannot hold the writer.
const writeTimeout = 5 * time.Second

// Recorder queues events and counts and writes them in the background (Run), in batches:
// one insert for the events and one transaction for the counters per round, at most once
// a second. A nil *Recorder records nothing, so a component built without one still works.
type Recorder struct {
	sink Sink
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	events  []storage.AuditEvent
	counts  map[usageKey]int64
	wake    chan struct{}
	flushMu sync.Mutex // one write round at a time

	failures prometheus.Counter
	dropped  prometheus.Counter
}

type usageKey struct {
	hour               time.Time
	server, client, kd string
}

// New builds a Recorder writing to sink. reg may be nil (no metrics); now nil means
// time.Now.
func New(sink Sink, log *slog.Logger, reg prometheus.Registerer, now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	r := &Recorder{
		sink: sink, log: log, now: now,
		counts: make(map[usageKey]int64),
		wake:   make(chan struct{}, 1),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conexor_audit_write_failures_total",
			Help: "Background writes of audit events or usage counters that failed; the actions they record stood.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conexor_audit_events_dropped_total",
			Help: "Audit events dropped because too many were waiting for a database that did not answer.",
		}),
	}
	if reg != nil {
		reg.MustRegister(r.failures, r.dropped)
	}
	return r
}

// Record queues e. It never blocks on the database and never fails: the caller's action
// stands whatever happens to its record.
func (r *Recorder) Record(ctx context.Context, e Event) {
	if r == nil {
		return
	}
	a := e.Actor
	if a == (Actor{}) {
		a, _ = ActorFrom(ctx)
	}
	if a.Kind == "" {
		a.Kind = KindAnonymous
	}
	result := e.Result
	if result == "" {
		result = OK
	}
	row := storage.AuditEvent{
		At: r.now().UTC(), OrgID: e.OrgID, ServerPath: e.ServerPath,
		ActorKind: a.Kind, ActorID: clip(a.ID, 2100), ActorName: clip(a.Name, 320),
		Action: e.Action, Target: clip(e.Target, 2100), TargetName: clip(e.TargetName, 320),
		IP: clip(a.IP, 64), UserAgent: clip(a.UserAgent, 512), Result: result, Detail: clip(e.Detail, 1000),
	}
	r.mu.Lock()
	if len(r.events) >= maxPending {
		r.mu.Unlock()
		r.dropped.Inc()
		r.log.WarnContext(ctx, "audit event dropped: too many waiting to be written", "action", e.Action)
		return
	}
	r.events = append(r.events, row)
	r.mu.Unlock()
	r.signal()
}

// CountToken counts one access token issued to clientID for the server at serverPath.
func (r *Recorder) CountToken(serverPath, clientID string) {
	r.count(serverPath, clientID, storage.UsageTokens)
}

// CountMCP counts one MCP request of clientID ("" when no valid token named one) to the
// server at serverPath, allowed through the gate or refused there.
func (r *Recorder) CountMCP(serverPath, clientID string, allowed bool) {
	kind := storage.UsageMCPRefused
	if allowed {
		kind = storage.UsageMCPAllowed
	}
	r.count(serverPath, clientID, kind)
}

func (r *Recorder) count(serverPath, clientID, kind string) {
	if r == nil || serverPath == "" {
		return
	}
	k := usageKey{hour: r.now().UTC().Truncate(time.Hour), server: serverPath, client: clientID, kd: kind}
	r.mu.Lock()
	r.counts[k]++
	r.mu.Unlock()
}

func (r *Recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run writes what is queued until ctx ends, then once more: events soon after they are
// recorded (batched while a write is under way), counters once a second. After a failed
// write it waits before the next try, twice as long each time up to maxBackoff, so a
// database that is down is not sent the whole queue again for every new event.
func (r *Recorder) Run(ctx context.Context) {
	if r == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var (
		backoff time.Duration
		retryAt time.Time
	)
	write := func(w func(context.Context) error) {
		if time.Now().Before(retryAt) {
			return
		}
		if err := w(ctx); err != nil {
			backoff = min(max(2*backoff, time.Second), maxBackoff)
			retryAt = time.Now().Add(backoff)
			return
		}
		backoff, retryAt = 0, time.Time{}
	}
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), writeTimeout)
			_ = r.Flush(final)
			cancel()
			return
		case <-r.wake:
			write(r.writeEvents)
		case <-t.C:
			write(r.Flush)
		}
	}
}

// Flush writes everything queued now and returns the first error. What could not be
// written stays queued for the next round (within maxPending).
func (r *Recorder) Flush(ctx context.Context) error {
	if r == nil {
		return nil
	}
	err := r.writeEvents(ctx)
	if cerr := r.writeCounts(ctx); err == nil {
		err = cerr
	}
	return err
}

func (r *Recorder) writeEvents(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := r.events
	r.events = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	err := r.sink.InsertAuditEvents(wctx, batch)
	if err == nil {
		return nil
	}
	r.failures.Inc()
	r.log.ErrorContext(ctx, "audit events not written; keeping them for the next try", "events", len(batch), "err", err)
	r.mu.Lock()
	keep := min(len(batch), maxPending-len(r.events))
	if keep < len(batch) {
		r.dropped.Add(float64(len(batch) - keep))
	}
	// Keep the oldest; what arrived meanwhile follows.
	r.events = append(batch[:keep:keep], r.events...)
	r.mu.Unlock()
	return err
}

func (r *Recorder) writeCounts(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	if len(r.counts) == 0 {
		r.mu.Unlock()
		return nil
	}
	pending := r.counts
	r.counts = make(map[usageKey]int64, len(pending))
	r.mu.Unlock()
	rows := make([]storage.UsageCount, 0, len(pending))
	for k, n := range pending {
		rows = append(rows, storage.UsageCount{Hour: k.hour, ServerPath: k.server, ClientID: k.client, Kind: k.kd, Count: n})
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	err := r.sink.AddUsage(wctx, rows)
	if err == nil {
		return nil
	}
	r.failures.Inc()
	r.log.ErrorContext(ctx, "usage counters not written; keeping them for the next try", "counters", len(rows), "err", err)
	// The transaction added nothing: put the counts back, merged with what came meanwhile.
	r.mu.Lock()
	for k, n := range pending {
		r.counts[k] += n
	}
	r.mu.Unlock()
	return err
}
