package testreport

import (
	"strings"
	"testing"
)

// events is go test -json output of two packages: storage with a pass and two Postgres
// skips (the same message from two places), consent with a pass and a browser skip.
const events = `{"Action":"start","Package":"example.com/storage"}
{"Action":"run","Package":"example.com/storage","Test":"TestSQLite"}
{"Action":"pass","Package":"example.com/storage","Test":"TestSQLite","Elapsed":0.1}
{"Action":"run","Package":"example.com/storage","Test":"TestPostgres"}
{"Action":"output","Package":"example.com/storage","Test":"TestPostgres","Output":"=== RUN   TestPostgres\n"}
{"Action":"output","Package":"example.com/storage","Test":"TestPostgres","Output":"    pgtest.go:33: set PG_DSN to run\n"}
{"Action":"output","Package":"example.com/storage","Test":"TestPostgres","Output":"--- SKIP: TestPostgres (0.00s)\n"}
{"Action":"skip","Package":"example.com/storage","Test":"TestPostgres","Elapsed":0}
{"Action":"run","Package":"example.com/storage","Test":"TestPostgresMigrate"}
{"Action":"output","Package":"example.com/storage","Test":"TestPostgresMigrate","Output":"    postgres_test.go:12: set PG_DSN to run\n"}
{"Action":"skip","Package":"example.com/storage","Test":"TestPostgresMigrate","Elapsed":0}
{"Action":"pass","Package":"example.com/storage","Elapsed":0.2}
{"Action":"start","Package":"example.com/consent"}
{"Action":"run","Package":"example.com/consent","Test":"TestFlow"}
{"Action":"pass","Package":"example.com/consent","Test":"TestFlow","Elapsed":0.1}
{"Action":"run","Package":"example.com/consent","Test":"TestBrowser"}
{"Action":"output","Package":"example.com/consent","Test":"TestBrowser","Output":"    browser_test.go:49: install chromium\n"}
{"Action":"skip","Package":"example.com/consent","Test":"TestBrowser","Elapsed":0}
{"Action":"pass","Package":"example.com/consent","Elapsed":0.3}
`

const failing = `{"Action":"run","Package":"example.com/x","Test":"TestBroken"}
{"Action":"output","Package":"example.com/x","Test":"TestBroken","Output":"    x_test.go:9: got 1, want 2\n"}
{"Action":"fail","Package":"example.com/x","Test":"TestBroken","Elapsed":0}
{"Action":"fail","Package":"example.com/x","Elapsed":0.1}
`

func report(t *testing.T, input string, opts Options, exit int) (string, int) {
	t.Helper()
	var b strings.Builder
	c := New(&b, opts)
	if err := c.Read(strings.NewReader(input)); err != nil {
		t.Fatal(err)
	}
	status := c.Finish(exit, true)
	return b.String(), status
}

func lastLines(out string, n int) []string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-n:]
}

// TestSkipsFailCI: in CI a skip fails the run and every skipped test is named.
func TestSkipsFailCI(t *testing.T) {
	out, status := report(t, events, Options{}, 0)
	if status != 1 {
		t.Errorf("status %d, want 1", status)
	}
	for _, want := range []string{
		"SKIP example.com/storage TestPostgres: pgtest.go:33: set PG_DSN to run\n",
		"SKIP example.com/consent TestBrowser: browser_test.go:49: install chromium\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	got := lastLines(out, 2)
	if got[0] != "CI FAILED: 3 test(s) skipped" || got[1] != "2 passed, 0 failed, 3 skipped" {
		t.Errorf("closing lines %q", got)
	}
}

// TestSkipsNoticedLocally: on a person's machine skips pass, and the end of the report says
// so once, a line per skip message (without its source location), most tests first.
func TestSkipsNoticedLocally(t *testing.T) {
	out, status := report(t, events, Options{AllowSkips: true}, 0)
	if status != 0 {
		t.Errorf("status %d, want 0", status)
	}
	want := `
==== SKIPPED: 3 test(s) did not run on this machine ====
SKIPPED 2: set PG_DSN to run
        in example.com/storage
SKIPPED 1: install chromium
        in example.com/consent

OK, but 3 test(s) skipped: see SKIPPED above for what enables them
2 passed, 0 failed, 3 skipped
`
	if !strings.HasSuffix(out, want) {
		t.Errorf("report ends\n%s\nwant it to end\n%s", out, want)
	}
	if strings.Count(out, "SKIPPED 2:") != 1 {
		t.Error("a skip message is reported more than once")
	}
}

// TestAllPassLocally: nothing skipped, nothing said about skips.
func TestAllPassLocally(t *testing.T) {
	in := `{"Action":"run","Package":"example.com/x","Test":"TestA"}
{"Action":"pass","Package":"example.com/x","Test":"TestA","Elapsed":0}
{"Action":"pass","Package":"example.com/x","Elapsed":0.1}
`
	out, status := report(t, in, Options{AllowSkips: true}, 0)
	if status != 0 || strings.Contains(out, "SKIP") {
		t.Errorf("status %d, report:\n%s", status, out)
	}
	if got := lastLines(out, 2); got[0] != "OK" || got[1] != "1 passed, 0 failed, 0 skipped" {
		t.Errorf("closing lines %q", got)
	}
}

// TestFailuresFailEverywhere: a failing test, a failing go test or no test at all fails
// the run in both modes.
func TestFailuresFailEverywhere(t *testing.T) {
	for _, opts := range []Options{{}, {AllowSkips: true}} {
		out, status := report(t, events+failing, opts, 1)
		if status != 1 || !strings.Contains(out, "x_test.go:9: got 1, want 2") || !strings.Contains(out, "FAIL example.com/x TestBroken") {
			t.Errorf("AllowSkips=%v: status %d, report:\n%s", opts.AllowSkips, status, out)
		}
		if _, status := report(t, events, opts, 2); status != 1 {
			t.Errorf("AllowSkips=%v: go test exited 2 and the report passed", opts.AllowSkips)
		}
		if out, status := report(t, "", opts, 0); status != 1 || !strings.Contains(out, "no test ran") {
			t.Errorf("AllowSkips=%v: no test ran: status %d, report:\n%s", opts.AllowSkips, status, out)
		}
	}
}
