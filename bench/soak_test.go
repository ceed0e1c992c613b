package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/pgtest"
)

const soakWindow = 200 * time.Millisecond

// soakServer answers every token request with a token, or with a 500 while fail is set.
func soakServer(t *testing.T, fail *atomic.Bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if fail.Load() {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"fake-token","token_type":"bearer","expires_in":60}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// selfRSS is this process's PID on Linux, where its RSS can be read, else 0 (not sampled).
func selfRSS() int {
	if runtime.GOOS == "linux" {
		return os.Getpid()
	}
	return 0
}

// Three windows, each measured on its own and reported as it ends; the second one's
// errors are its own, and the samples are taken after every window.
func TestRunSoakWindows(t *testing.T) {
	var fail atomic.Bool
	srv := soakServer(t, &fail)
	dbPath := filepath.Join(t.TempDir(), "conexor.db")
	if err := os.WriteFile(dbPath, make([]byte, 12345), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dbPath+"-wal", make([]byte, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	var progress []int
	ms, err := RunSoak(context.Background(), SoakOptions{
		TokenURL: srv.URL, ClientID: "id", ClientSecret: "secret",
		Concurrency: 4, Minutes: 3, Window: soakWindow,
		PID: selfRSS(), DatabaseURL: "sqlite://" + dbPath + "?_pragma=foo",
		Progress: func(m SoakMinute) {
			progress = append(progress, m.Minute)
			fail.Store(m.Minute == 1) // the second window fails
		},
	})
	if err != nil {
		t.Fatalf("RunSoak: %v", err)
	}
	if len(ms) != 3 || fmt.Sprint(progress) != "[1 2 3]" {
		t.Fatalf("%d windows, progress %v, want 3 and [1 2 3]", len(ms), progress)
	}
	for i, m := range ms {
		t.Log(m.Row())
		if m.Minute != i+1 || m.Load.Requests == 0 {
			t.Errorf("window %d: Minute %d, %d requests", i+1, m.Minute, m.Load.Requests)
		}
		failed := i == 1
		if got := m.Load.Errors > 0; got != failed {
			t.Errorf("window %d: %d errors (first: %q), want errors %v", m.Minute, m.Load.Errors, m.Load.FirstError, failed)
		}
		if failed && (!strings.Contains(m.Load.FirstError, "status 500") || m.Tokens != 0) {
			t.Errorf("failing window: first error %q, %d tokens", m.Load.FirstError, m.Tokens)
		}
		if !failed && (m.Tokens != m.Load.Requests || m.TokensPerSec <= 0) {
			t.Errorf("window %d: %d tokens of %d requests, %.0f/s", m.Minute, m.Tokens, m.Load.Requests, m.TokensPerSec)
		}
		if m.DBBytes != 12345+100 {
			t.Errorf("window %d: DBBytes %d, want the file and its WAL, %d", m.Minute, m.DBBytes, 12345+100)
		}
		if runtime.GOOS == "linux" && m.RSSBytes <= 0 {
			t.Errorf("window %d: RSSBytes %d, want this process's", m.Minute, m.RSSBytes)
		}
		if m.SampleError != "" {
			t.Errorf("window %d: sampling: %s", m.Minute, m.SampleError)
		}
	}
	if !strings.Contains(ms[1].Row(), "first error: status 500") {
		t.Errorf("the failing window's row does not say why:\n%s", ms[1].Row())
	}
	sum := SoakSummary(ms)
	t.Log(sum)
	if !strings.Contains(sum, fmt.Sprintf("3 windows: %d tokens, %d errors", ms[0].Tokens+ms[2].Tokens, ms[1].Load.Errors)) ||
		!strings.Contains(sum, "db 0.0 → 0.0 MB") {
		t.Errorf("summary: %s", sum)
	}
}

// A sampler that cannot work fails the run before any load; so do bad options.
func TestRunSoakChecksFirst(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	missing := filepath.Join(t.TempDir(), "missing.db")
	for name, o := range map[string]SoakOptions{
		"no minutes":     {Window: soakWindow},
		"missing file":   {Minutes: 1, Window: soakWindow, DatabaseURL: "sqlite://" + missing},
		"memory":         {Minutes: 1, Window: soakWindow, DatabaseURL: "sqlite://:memory:"},
		"other database": {Minutes: 1, Window: soakWindow, DatabaseURL: "mysql://x"},
		"no process":     {Minutes: 1, Window: soakWindow, PID: 1 << 30},
	} {
		o.TokenURL = srv.URL
		if ms, err := RunSoak(context.Background(), o); err == nil || len(ms) != 0 {
			t.Errorf("%s: %d windows, err %v; want an error and no window", name, len(ms), err)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests reached the server", hits.Load())
	}
}

// Cancelling the run returns the windows completed so far with the context's error.
func TestRunSoakCancel(t *testing.T) {
	var fail atomic.Bool
	srv := soakServer(t, &fail)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ms, err := RunSoak(ctx, SoakOptions{TokenURL: srv.URL, Concurrency: 2, Minutes: 3, Window: soakWindow,
		Progress: func(SoakMinute) { cancel() }})
	if !errors.Is(err, context.Canceled) || len(ms) != 1 {
		t.Errorf("%d windows, err %v; want 1 and context.Canceled", len(ms), err)
	}
	if ms[0].DBBytes != -1 || ms[0].RSSBytes != -1 || !strings.HasSuffix(ms[0].Row(), "| - | - |") {
		t.Errorf("not sampled, yet DBBytes %d RSSBytes %d: %s", ms[0].DBBytes, ms[0].RSSBytes, ms[0].Row())
	}
}

// The Postgres size is that of the DSN's schema: nothing in a fresh one, something once a
// table has rows.
func TestSoakPostgresSchemaSize(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	d, err := openDBSizer(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if n, err := d.size(ctx); err != nil || n != 0 {
		t.Fatalf("fresh schema: %d bytes, err %v; want 0", n, err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE soak (id bigint PRIMARY KEY, v text); INSERT INTO soak SELECT g, 'row' FROM generate_series(1, 1000) g"); err != nil {
		t.Fatal(err)
	}
	if n, err := d.size(ctx); err != nil || n <= 0 {
		t.Errorf("schema with a table: %d bytes, err %v; want more than 0", n, err)
	}
}

// A window's end lets the requests in flight complete: the server sees none cancelled, and
// the next window goes on over the same connections.
func TestRunSoakDrainsWindows(t *testing.T) {
	var cancelled, conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(150 * time.Millisecond): // longer than a window: every window ends mid-request
			fmt.Fprint(w, `{"access_token":"fake-token"}`)
		case <-r.Context().Done():
			cancelled.Add(1)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	ms, err := RunSoak(context.Background(), SoakOptions{TokenURL: srv.URL, Concurrency: 2, Minutes: 3, Window: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Load.Requests != 2 || m.Load.Errors != 0 {
			t.Errorf("window %d: %d requests, %d errors (%s); want each client's request completed", m.Minute, m.Load.Requests, m.Load.Errors, m.Load.FirstError)
		}
	}
	if cancelled.Load() != 0 || conns.Load() != 2 {
		t.Errorf("%d requests cancelled, %d connections; want none cancelled and the 2 clients' connections kept", cancelled.Load(), conns.Load())
	}
}
