package bench

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, to measure a Postgres schema
)

// SoakOptions configures RunSoak.
type SoakOptions struct {
	// TokenURL, ClientID, ClientSecret, Scope and BasicAuth are as in TokenOptions.
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scope        string
	BasicAuth    bool
	// Concurrency is the number of clients (default 64).
	Concurrency int
	// Minutes is how many windows are run, back to back (required).
	Minutes int
	// Window is the length of one window (default one minute): its throughput and
	// latencies are measured on their own, and the samples are taken at its end.
	Window time.Duration
	// PID is the server's process, whose VmRSS is sampled after each window (0: not
	// sampled; Linux only, it is read from /proc).
	PID int
	// DatabaseURL is the server's database, whose size is sampled after each window:
	// sqlite://PATH (the file with its -wal and -shm) or postgres://... (the tables of
	// the schema its search_path names, indexes and TOAST included). Empty: not sampled.
	DatabaseURL string
	// HTTPClient is shared by all windows; when nil one is built for the run, so that
	// the keep-alive connections persist from one window to the next either way and a
	// window's numbers do not include reconnecting. (A window lets its requests in
	// flight complete, see HTTPOptions.Drain, so that none is cut at its end.)
	HTTPClient *http.Client
	// Progress, when set, is called with each window as soon as it is measured, so that
	// a 30-minute run shows its table as it goes.
	Progress func(SoakMinute)
}

// SoakMinute is one window of a soak: its load, then the state of the server right after.
type SoakMinute struct {
	// Minute counts the windows from 1.
	Minute int
	// Load is the window's result (requests, errors, latencies, first error).
	Load Result
	// Tokens is the number of tokens issued in the window (requests without error),
	// TokensPerSec that over the window's duration.
	Tokens       int
	TokensPerSec float64
	// DBBytes and RSSBytes are the samples taken after the window; -1 when not
	// sampled (no DatabaseURL or PID) or when sampling failed (SampleError says why).
	DBBytes, RSSBytes int64
	SampleError       string
}

// RunSoak drives o.TokenURL with client-credentials grants for o.Minutes windows of
// o.Window and samples the database size and the server's RSS after each. The samplers
// are checked before the first window, so a wrong PID or database URL fails at once
// rather than after the load; a sample that fails later is recorded in its window and
// the run goes on. Errors of the load are counted, never fatal. If ctx ends, the windows
// completed so far are returned with ctx's error.
func RunSoak(ctx context.Context, o SoakOptions) ([]SoakMinute, error) {
	if o.Minutes <= 0 {
		return nil, errors.New("bench: Minutes must be positive")
	}
	if o.Concurrency < 0 || o.Window < 0 {
		return nil, errors.New("bench: Concurrency and Window must not be negative")
	}
	if o.Concurrency == 0 {
		o.Concurrency = 64
	}
	if o.Window == 0 {
		o.Window = time.Minute
	}
	client := o.HTTPClient
	if client == nil {
		tr := newTransport(o.Concurrency)
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	db, err := openDBSizer(o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer db.close()
	if _, err := db.size(ctx); err != nil {
		return nil, err
	}
	if o.PID != 0 {
		if _, err := ProcessRSS(o.PID); err != nil {
			return nil, err
		}
	}

	var minutes []SoakMinute
	for i := 1; i <= o.Minutes; i++ {
		res, err := RunToken(ctx, TokenOptions{
			TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scope: o.Scope,
			BasicAuth: o.BasicAuth, Concurrency: o.Concurrency, Duration: o.Window, HTTPClient: client,
			Drain: true, // the windows follow one another on the same connections
		})
		if err != nil {
			return minutes, err
		}
		m := SoakMinute{Minute: i, Load: res, Tokens: res.Requests - res.Errors, DBBytes: -1, RSSBytes: -1}
		if res.Duration > 0 {
			m.TokensPerSec = float64(m.Tokens) / res.Duration.Seconds()
		}
		var problems []string
		if db.kind != "" {
			if m.DBBytes, err = db.size(ctx); err != nil {
				m.DBBytes = -1
				problems = append(problems, err.Error())
			}
		}
		if o.PID != 0 {
			if m.RSSBytes, err = ProcessRSS(o.PID); err != nil {
				m.RSSBytes = -1
				problems = append(problems, err.Error())
			}
		}
		m.SampleError = strings.Join(problems, "; ")
		minutes = append(minutes, m)
		if o.Progress != nil {
			o.Progress(m)
		}
	}
	return minutes, nil
}

// dbSizer measures a database: a SQLite file with its WAL and shared-memory files, or the
// tables of one Postgres schema. The zero value (no URL) measures nothing.
type dbSizer struct {
	kind string // "", "sqlite" or "postgres"
	path string // SQLite
	db   *sql.DB
}

func openDBSizer(databaseURL string) (*dbSizer, error) {
	switch {
	case databaseURL == "":
		return &dbSizer{}, nil
	case strings.HasPrefix(databaseURL, "sqlite://"):
		path, _, _ := strings.Cut(strings.TrimPrefix(databaseURL, "sqlite://"), "?")
		if path == "" || path == ":memory:" {
			return nil, fmt.Errorf("bench: %s has no file to measure", databaseURL)
		}
		return &dbSizer{kind: "sqlite", path: path}, nil
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		db, err := sql.Open("pgx", databaseURL)
		if err != nil {
			return nil, fmt.Errorf("bench: database URL: %w", err)
		}
		// One connection: the sampler must not add load of its own to the server's database.
		db.SetMaxOpenConns(1)
		return &dbSizer{kind: "postgres", db: db}, nil
	default:
		return nil, errors.New("bench: database URL must be sqlite://PATH or postgres://...")
	}
}

func (d *dbSizer) close() {
	if d.db != nil {
		d.db.Close()
	}
}

// schemaSizeQuery is the size of the tables of the current schema (the DSN's search_path),
// with their indexes and TOAST: what the server's rows occupy on disk.
const schemaSizeQuery = `SELECT coalesce(sum(pg_total_relation_size(c.oid)),0) FROM pg_class c
JOIN pg_namespace n ON n.oid=c.relnamespace WHERE n.nspname=current_schema() AND c.relkind='r'`

// size returns the database's size in bytes (0 when there is nothing to measure).
func (d *dbSizer) size(ctx context.Context) (int64, error) {
	switch d.kind {
	case "sqlite":
		return SQLiteSize(d.path)
	case "postgres":
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var n int64
		if err := d.db.QueryRowContext(ctx, schemaSizeQuery).Scan(&n); err != nil {
			return 0, fmt.Errorf("bench: Postgres schema size: %w", err)
		}
		return n, nil
	}
	return 0, nil
}

// SQLiteSize is the size of the database file path plus its -wal and -shm files (which
// may be absent): the WAL holds the rows not yet checkpointed, so the file alone would
// understate a database under load.
func SQLiteSize(path string) (int64, error) {
	var total int64
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) && p != path {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("bench: SQLite size: %w", err)
		}
		total += fi.Size()
	}
	return total, nil
}

// ProcessRSS returns the resident set size (VmRSS) of process pid, read from
// /proc/PID/status: Linux only.
func ProcessRSS(pid int) (int64, error) {
	if runtime.GOOS != "linux" {
		return 0, fmt.Errorf("bench: RSS of a process is read from /proc, which %s does not have", runtime.GOOS)
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("bench: RSS of process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// VmRSS:	   12345 kB
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: RSS of process %d: %q: %w", pid, sc.Text(), err)
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("bench: RSS of process %d: %w", pid, err)
	}
	return 0, fmt.Errorf("bench: RSS of process %d: no VmRSS line (a zombie?)", pid)
}

// SoakHeader is the head of the Markdown table whose rows are SoakMinute.Row.
const SoakHeader = "| minute | tokens/s | p99 | max | errors | db MB | rss MB |\n|---|---|---|---|---|---|---|"

// Row renders m as a row of the SoakHeader table; a value not sampled is "-", and a
// window's first error and sampling problem follow the row as indented lines.
func (m SoakMinute) Row() string {
	row := fmt.Sprintf("| %d | %.0f | %s | %s | %d | %s | %s |", m.Minute, m.TokensPerSec,
		fmtLatency(m.Load.P99), fmtLatency(m.Load.Max), m.Load.Errors, megabytes(m.DBBytes), megabytes(m.RSSBytes))
	if m.Load.FirstError != "" {
		row += "\n    first error: " + m.Load.FirstError
	}
	if m.SampleError != "" {
		row += "\n    sampling: " + m.SampleError
	}
	return row
}

func megabytes(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(n)/(1<<20))
}

// SoakSummary totals the windows in one line: tokens, errors, the worst latency, the
// range of the windows' p99s, and the first and last samples (flat is the goal).
func SoakSummary(ms []SoakMinute) string {
	if len(ms) == 0 {
		return "no window completed"
	}
	var tokens, errs int
	var maxLat time.Duration
	p99s := make([]time.Duration, len(ms))
	for i, m := range ms {
		tokens += m.Tokens
		errs += m.Load.Errors
		maxLat = max(maxLat, m.Load.Max)
		p99s[i] = m.Load.P99
	}
	first, last := ms[0], ms[len(ms)-1]
	return fmt.Sprintf("%d windows: %d tokens, %d errors, max %s, p99 per window %s to %s, db %s → %s MB, rss %s → %s MB",
		len(ms), tokens, errs, fmtLatency(maxLat), fmtLatency(slices.Min(p99s)), fmtLatency(slices.Max(p99s)),
		megabytes(first.DBBytes), megabytes(last.DBBytes), megabytes(first.RSSBytes), megabytes(last.RSSBytes))
}
