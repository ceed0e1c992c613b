package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// module writes a module with one passing test, one that skips naming what enables it and,
// when failing, one that fails.
func module(t *testing.T, failing bool) string {
	t.Helper()
	dir := t.TempDir()
	src := `package m

import (
	"os"
	"testing"
)

func TestPasses(t *testing.T) {}

func TestNeedsDatabase(t *testing.T) { t.Skip("set M_DSN to run the database tests") }
`
	if failing {
		src += "\nfunc TestFails(t *testing.T) { if os.Getenv(\"NEVER\") == \"\" { t.Fatal(\"broken\") } }\n"
	} else {
		src = strings.Replace(src, "\t\"os\"\n", "", 1)
	}
	for name, body := range map[string]string{"go.mod": "module example.com/m\n\ngo 1.26\n", "m_test.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRunReportsSkipsOnce: the README's command passes with a skip outside CI and says at
// the end, once, what was skipped and what enables it; in CI the skip fails the run; a
// failing test fails it everywhere.
func TestRunReportsSkipsOnce(t *testing.T) {
	dir := module(t, false)
	var out, errOut strings.Builder
	if status := run(dir, []string{"-count=1", "./..."}, &out, &errOut, false); status != 0 {
		t.Fatalf("status %d\n%s%s", status, out.String(), errOut.String())
	}
	want := "SKIPPED 1: set M_DSN to run the database tests\n"
	if strings.Count(out.String(), want) != 1 || !strings.HasSuffix(out.String(), "1 passed, 0 failed, 1 skipped\n") {
		t.Errorf("report:\n%s", out.String())
	}

	out.Reset()
	if status := run(dir, []string{"-count=1", "./..."}, &out, &errOut, true); status != 1 || !strings.Contains(out.String(), "CI FAILED: 1 test(s) skipped") {
		t.Errorf("CI: status %d, report:\n%s", status, out.String())
	}

	out.Reset()
	if status := run(module(t, true), nil, &out, &errOut, false); status != 1 || !strings.Contains(out.String(), "FAIL example.com/m TestFails") {
		t.Errorf("failing test: status %d, report:\n%s", status, out.String())
	}
}
