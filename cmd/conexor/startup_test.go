package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/pgtest"
	"github.com/conexor/conexor/internal/testenv"
)

// The concurrent-start tests run the real binary, as a deployment does: several processes of
// one build against one database.
var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// conexorBinary builds ./cmd/conexor once per test run.
func conexorBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "conexor-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "conexor")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// binaryEnv is the environment of a child conexor: the machine's without its CONEXOR_*
// variables, plus kv.
func binaryEnv(kv ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "CONEXOR_") {
			env = append(env, e)
		}
	}
	return append(env, kv...)
}

// conexorProcess is one running `conexor serve`.
type conexorProcess struct {
	cmd  *exec.Cmd
	addr chan string // the address it listens on, once it logged it
	mu   sync.Mutex
	logs strings.Builder
	done chan struct{} // closed when stderr is drained, i.e. the process ended
}

var listeningAddr = regexp.MustCompile(`msg="conexor listening" addr=(\S+)`)

func startConexor(t *testing.T, env []string, args ...string) *conexorProcess {
	t.Helper()
	p := &conexorProcess{addr: make(chan string, 1), done: make(chan struct{})}
	p.cmd = exec.Command(conexorBinary(t), args...)
	p.cmd.Env = env
	p.cmd.Dir = t.TempDir() // no stray conexor.yaml
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listeningAddr.FindStringSubmatch(line); m != nil {
				p.addr <- m[1]
			}
		}
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *conexorProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// stop ends the process (gracefully, then for good) and waits for it.
func (p *conexorProcess) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	t := time.AfterFunc(20*time.Second, func() { _ = p.cmd.Process.Kill() })
	defer t.Stop()
	<-p.done
	_ = p.cmd.Wait()
}

// wait returns the process's exit error once it ended by itself.
func (p *conexorProcess) wait(timeout time.Duration) (exited bool, err error) {
	select {
	case <-p.done:
		return true, p.cmd.Wait()
	case <-time.After(timeout):
		return false, nil
	}
}

// ready waits for the process to listen and answer /readyz 200, and returns its address.
func (p *conexorProcess) ready(t *testing.T, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var addr string
	select {
	case addr = <-p.addr:
	case <-p.done:
		t.Fatalf("conexor exited before listening:\n%s", p.output())
	case <-time.After(timeout):
		t.Fatalf("conexor did not listen within %s:\n%s", timeout, p.output())
	}
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("conexor at %s not ready within %s (last: %v):\n%s", addr, timeout, err, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConcurrentStartPostgres: three replicas started together on a fresh Postgres schema
// all come up, and the demo data exists exactly once (issue 12, item 3: without the startup
// lock about half the rounds lost a replica to "duplicated key ... pg_type_typname_nsp_index"
// and could seed twice). Ten rounds, each on a new schema.
func TestConcurrentStartPostgres(t *testing.T) {
	const replicas, rounds = 3, 10
	conexorBinary(t)
	for round := range rounds {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			dsn := pgtest.Schema(t)
			env := binaryEnv("CONEXOR_DATABASE_URL="+dsn, "CONEXOR_SECRET="+testenv.NewSecret(), "CONEXOR_ADDR=127.0.0.1:0")
			procs := make([]*conexorProcess, replicas)
			for i := range procs {
				procs[i] = startConexor(t, env, "serve")
			}
			for _, p := range procs {
				p.ready(t, 60*time.Second)
			}
			assertSeededOnce(t, dsn)
			keys := countSigningKeys(t, dsn)
			if keys != 1 {
				t.Errorf("%d signing keys after a concurrent first start, want 1 (every replica made its own)", keys)
			}
		})
	}
}

// TestConcurrentStartSQLite: the same on one SQLite file, whose BEGIN IMMEDIATE transactions
// serialize migration and seeding across processes without a lock of ours.
func TestConcurrentStartSQLite(t *testing.T) {
	const replicas, rounds = 3, 3
	for round := range rounds {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			dbURL := "sqlite://" + filepath.Join(t.TempDir(), "c.db")
			env := binaryEnv("CONEXOR_DATABASE_URL="+dbURL, "CONEXOR_SECRET="+testenv.NewSecret(), "CONEXOR_ADDR=127.0.0.1:0")
			procs := make([]*conexorProcess, replicas)
			for i := range procs {
				procs[i] = startConexor(t, env, "serve")
			}
			for _, p := range procs {
				p.ready(t, 60*time.Second)
			}
			assertSeededOnce(t, dbURL)
		})
	}
}

func assertSeededOnce(t *testing.T, dbURL string) {
	t.Helper()
	s := openStore(t, dbURL)
	ctx := context.Background()
	orgs, err := s.CountOrgs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users, err := s.CountUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if orgs != 1 || users != 1 {
		t.Errorf("after a concurrent first start: %d orgs and %d users, want the demo org and its admin once", orgs, users)
	}
	if _, err := s.OrgBySlug(ctx, app.DemoOrg); err != nil {
		t.Errorf("org %s: %v", app.DemoOrg, err)
	}
	if _, err := s.UserByEmail(ctx, app.DemoAdminEmail); err != nil {
		t.Errorf("user %s: %v", app.DemoAdminEmail, err)
	}
}

func countSigningKeys(t *testing.T, dbURL string) int {
	t.Helper()
	keys, err := openStore(t, dbURL).SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// TestMigrateThenServeNoMigrate: the deployment order of the README. `conexor migrate`
// creates the tables and seeds nothing; `serve --no-migrate` then starts (and seeds).
func TestMigrateThenServeNoMigrate(t *testing.T) {
	dsn := pgtest.Schema(t)
	env := binaryEnv("CONEXOR_DATABASE_URL="+dsn, "CONEXOR_SECRET="+testenv.NewSecret(), "CONEXOR_ADDR=127.0.0.1:0")
	out := runBinary(t, env, "migrate")
	if !strings.Contains(out, "database migrated: postgres") || !strings.Contains(out, "table orgs") {
		t.Errorf("first migrate printed %q, want the tables it created", out)
	}
	if orgs, err := openStore(t, dsn).CountOrgs(context.Background()); err != nil || orgs != 0 {
		t.Errorf("after migrate: %d orgs (%v), want none: migrate does not seed", orgs, err)
	}
	if out := runBinary(t, env, "migrate"); !strings.Contains(out, "schema already up to date") {
		t.Errorf("second migrate printed %q, want it to say nothing was missing", out)
	}
	p := startConexor(t, env, "serve", "--no-migrate")
	p.ready(t, 60*time.Second)
	assertSeededOnce(t, dsn)
}

// TestServeNoMigrateOnEmptyDatabase: `serve --no-migrate` on a database nobody migrated
// exits at start with a message that says what to run, and creates no table.
func TestServeNoMigrateOnEmptyDatabase(t *testing.T) {
	for _, tc := range []struct{ name, dbURL string }{
		{"postgres", pgtest.Schema(t)},
		{"sqlite", "sqlite://" + filepath.Join(t.TempDir(), "empty.db")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := binaryEnv("CONEXOR_DATABASE_URL="+tc.dbURL, "CONEXOR_SECRET="+testenv.NewSecret(), "CONEXOR_ADDR=127.0.0.1:0")
			p := startConexor(t, env, "serve", "--no-migrate")
			exited, err := p.wait(60 * time.Second)
			if !exited {
				t.Fatalf("serve --no-migrate kept running on an empty database:\n%s", p.output())
			}
			if err == nil {
				t.Errorf("serve --no-migrate exited 0 on an empty database")
			}
			const want = "database schema is not migrated: run `conexor migrate`"
			if out := p.output(); !strings.Contains(out, want) {
				t.Errorf("output does not say %q:\n%s", want, out)
			}
			err = openStore(t, tc.dbURL).CheckSchema(context.Background())
			if err == nil {
				t.Errorf("serve --no-migrate created the schema")
			}
		})
	}
}

// runBinary runs the binary to completion and returns what it printed.
func runBinary(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(conexorBinary(t), args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("conexor %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
