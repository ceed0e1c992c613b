package audit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/storage"
)

func openStore(t *testing.T) *storage.Store {
	t.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// breakable is the real store, except that it fails every write while broken is set:
// the database going away under the recorder.
type breakable struct {
	*storage.Store
	broken atomic.Bool
	tries  atomic.Int64 // event writes tried while broken
}

var errDown = errors.New("database down")

func (b *breakable) InsertAuditEvents(ctx context.Context, ev []storage.AuditEvent) error {
	if b.broken.Load() {
		b.tries.Add(1)
		return errDown
	}
	return b.Store.InsertAuditEvents(ctx, ev)
}

func (b *breakable) AddUsage(ctx context.Context, c []storage.UsageCount) error {
	if b.broken.Load() {
		return errDown
	}
	return b.Store.AddUsage(ctx, c)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestRecordTakesTheContextsActor: an event without an actor is the context's; with
// neither it is anonymous; the result defaults to ok; over-long text is cut on a rune
// boundary.
func TestRecordTakesTheContextsActor(t *testing.T) {
	s := openStore(t)
	rec := audit.New(s, quiet(), nil, nil)
	req := httptest.NewRequest("POST", "/x", nil)
	req.RemoteAddr = "203.0.113.9:4711"
	req.Header.Set("User-Agent", "test-agent")
	ctx := audit.WithActor(context.Background(), audit.FromRequest(req, audit.KindUser, "usr_1", "a@example.com"))
	rec.Record(ctx, audit.Event{Action: audit.ClientCreated, Target: "c1", OrgID: "org_1"})
	rec.Record(context.Background(), audit.Event{Action: audit.RegistrationRefused, Result: audit.Refused,
		Detail: strings.Repeat("x", 999) + "ééé"})
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := s.AuditEvents(context.Background(), storage.AuditFilter{AfterID: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d events, want 2", len(got))
	}
	first := got[1]
	if first.ActorKind != audit.KindUser || first.ActorID != "usr_1" || first.ActorName != "a@example.com" ||
		first.IP != "203.0.113.9" || first.UserAgent != "test-agent" || first.Result != audit.OK || first.Target != "c1" {
		t.Errorf("first event = %+v", first)
	}
	second := got[0]
	if second.ActorKind != audit.KindAnonymous || second.Result != audit.Refused || second.Detail != strings.Repeat("x", 999) {
		t.Errorf("second event = kind %q result %q detail %q", second.ActorKind, second.Result, second.Detail)
	}
}

// TestCountsAreExactUnderConcurrency: 64 goroutines counting at once, with flushes in
// between, lose nothing; a nil recorder records nothing and does not panic.
func TestCountsAreExactUnderConcurrency(t *testing.T) {
	s := openStore(t)
	hour := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var minute atomic.Int64
	rec := audit.New(s, quiet(), nil, func() time.Time { return hour.Add(time.Duration(minute.Load()%60) * time.Minute) })
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				minute.Add(1)
				rec.CountToken("acme/files", "c1")
				rec.CountMCP("acme/files", "", g%2 == 0)
				if i%10 == 0 {
					_ = rec.Flush(context.Background())
				}
			}
		}()
	}
	wg.Wait()
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Usage(context.Background(), []string{"acme/files"}, hour)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{storage.UsageTokens: 3200, storage.UsageMCPAllowed: 1600, storage.UsageMCPRefused: 1600}
	sum := map[string]int64{}
	for _, c := range got {
		sum[c.Kind] += c.Count
	}
	for k, n := range want {
		if sum[k] != n {
			t.Errorf("%s = %d, want %d", k, sum[k], n)
		}
	}
	var none *audit.Recorder
	none.Record(context.Background(), audit.Event{Action: audit.Logout})
	none.CountToken("a/b", "c")
	if err := none.Flush(context.Background()); err != nil {
		t.Errorf("nil recorder Flush = %v", err)
	}
}

// TestFailedWritesAreCountedAndKept: while the database fails, Record still returns at
// once, the failure is counted in the metric, and nothing is lost: the next write after
// recovery stores the events and counters that waited.
func TestFailedWritesAreCountedAndKept(t *testing.T) {
	sink := &breakable{Store: openStore(t)}
	reg := prometheus.NewRegistry()
	rec := audit.New(sink, quiet(), reg, nil)
	sink.broken.Store(true)
	rec.Record(context.Background(), audit.Event{Action: audit.LoginFailed, Result: audit.Refused})
	rec.CountToken("acme/files", "c1")
	if err := rec.Flush(context.Background()); !errors.Is(err, errDown) {
		t.Fatalf("Flush while down = %v, want %v", err, errDown)
	}
	if v := counterValue(t, reg, "conexor_audit_write_failures_total"); v != 2 {
		t.Errorf("write failures = %v, want 2 (events and counters)", v)
	}
	rec.CountToken("acme/files", "c1")
	sink.broken.Store(false)
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	events, err := sink.AuditEvents(context.Background(), storage.AuditFilter{})
	if err != nil || len(events) != 1 || events[0].Action != audit.LoginFailed {
		t.Errorf("events after recovery = %+v (%v), want the one login failure", events, err)
	}
	usage, err := sink.Usage(context.Background(), []string{"acme/files"}, time.Now().Add(-2*time.Hour))
	if err != nil || len(usage) != 1 || usage[0].Count != 2 {
		t.Errorf("usage after recovery = %+v (%v), want one counter of 2", usage, err)
	}
}

// TestRunWritesInTheBackgroundAndOnStop: Run writes soon after Record without a Flush,
// and writes what is left when its context ends.
func TestRunWritesInTheBackgroundAndOnStop(t *testing.T) {
	s := openStore(t)
	rec := audit.New(s, quiet(), nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()
	rec.Record(context.Background(), audit.Event{Action: audit.KeyRotated, Actor: audit.Operator()})
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.AuditEvents(context.Background(), storage.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 {
			if got[0].ActorKind != audit.KindOperator {
				t.Errorf("actor = %q, want operator", got[0].ActorKind)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background writer did not write the event")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rec.CountToken("acme/files", "c1")
	cancel()
	<-done
	usage, err := s.Usage(context.Background(), []string{"acme/files"}, time.Now().Add(-2*time.Hour))
	if err != nil || len(usage) != 1 {
		t.Errorf("usage after stop = %+v (%v), want the last count written", usage, err)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRunBacksOffWhileTheDatabaseFails: while writes fail, new events do not each send the
// whole queue again (the writer waits before the next try), and once the database is back
// every event that waited is written.
func TestRunBacksOffWhileTheDatabaseFails(t *testing.T) {
	sink := &breakable{Store: openStore(t)}
	sink.broken.Store(true)
	rec := audit.New(sink, quiet(), nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 100 {
		rec.Record(context.Background(), audit.Event{Action: audit.LoginFailed, Target: strings.Repeat("t", i%5)})
		time.Sleep(time.Millisecond)
	}
	// 100 events over ~100 ms: without a backoff that is dozens of failed writes.
	if n := sink.tries.Load(); n > 3 {
		t.Errorf("%d writes tried while the database failed, want at most 3", n)
	}
	sink.broken.Store(false)
	deadline := time.Now().Add(40 * time.Second)
	for {
		got, err := sink.AuditEvents(context.Background(), storage.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 100 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 100 events written after the database came back", len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
