package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/testenv"
)

// bench token --floor drives the server, then both floors with the same load, and reports
// the server's throughput as a fraction of each, all without errors.
func TestBenchTokenFloor(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	out := mustRun(t, "", "bench", "token", "--url", e.URL, "--client-id", e.ClientID, "--client-secret", e.ClientSecret,
		"--duration", "300ms", "--concurrency", "4", "--floor")
	if n := strings.Count(out, "(0 errors, 0.00%)"); n != 3 {
		t.Errorf("%d runs without errors, want 3 (server and two floors):\n%s", n, out)
	}
	for _, want := range []string{"floor (parse, HMAC, ES256):", "floor + one SQLite insert per token:"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if ratios := regexp.MustCompile(`server / floor: \d+% of the throughput, p99 \S+ against \S+`).FindAllString(out, -1); len(ratios) != 2 {
		t.Errorf("%d ratio lines, want 2:\n%s", len(ratios), out)
	}
}

// bench introspect obtains its tokens from the server and has every introspection answered
// active, and a wrong secret fails before any load.
func TestBenchIntrospect(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	out := mustRun(t, "", "bench", "introspect", "--url", e.URL, "--client-id", e.ClientID, "--client-secret", e.ClientSecret,
		"--tokens", "5", "--duration", "300ms", "--concurrency", "4")
	if !strings.Contains(out, "(0 errors, 0.00%)") || !strings.Contains(out, "status:      200=") {
		t.Errorf("want a run of 200s without errors:\n%s", out)
	}
	if _, _, err := run(t, "", "bench", "introspect", "--url", e.URL, "--client-id", e.ClientID, "--client-secret", "wrong",
		"--tokens", "5", "--duration", "300ms"); err == nil || !strings.Contains(err.Error(), "obtaining token 1 of 5") {
		t.Errorf("wrong secret: %v, want the first token refused", err)
	}
}

// bench soak prints a table row per window with the database size and the RSS (the server
// runs in this process), then a summary; a wrong secret makes every request fail, and the
// command with it.
func TestBenchSoak(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	args := []string{"bench", "soak", "--url", e.URL, "--client-id", e.ClientID, "--minutes", "2", "--window", "300ms",
		"--concurrency", "4", "--pid", strconv.Itoa(os.Getpid()), "--database-url", e.Config.DatabaseURL}
	out := mustRun(t, "", append(args, "--client-secret", e.ClientSecret)...)
	rows := regexp.MustCompile(`(?m)^\| [12] \| [1-9]\d* \| \S+ \| \S+ \| 0 \| \d+\.\d \| \d+\.\d \|$`).FindAllString(out, -1)
	if len(rows) != 2 || !strings.HasPrefix(out, "| minute | tokens/s | p99 | max | errors | db MB | rss MB |") ||
		!regexp.MustCompile(`(?m)^2 windows: [1-9]\d* tokens, 0 errors, `).MatchString(out) {
		t.Errorf("want the header, two rows without errors and a summary:\n%s", out)
	}
	out, _, err := run(t, "", append(args, "--client-secret", "wrong")...)
	if err == nil || !strings.Contains(out, "first error: status 401") {
		t.Errorf("wrong secret: err %v, want an error and the rows saying why:\n%s", err, out)
	}
}
