// Package testreport reads the output of `go test -json` and prints a readable report: a
// line per package as it finishes, then the output of failed tests, failed builds and the
// skipped tests, and a closing verdict. Its last line is always
// "N passed, N failed, N skipped".
//
// It has two users with one difference. In CI (.ci/skipcheck) a skipped test is a failure:
// CI must test everything. On a person's machine (internal/tools/gotest, the README's test
// command) a skip is allowed, but said once at the end of the run, grouped by its message,
// which names the variable or command that enables the skipped suite; plain `go test`
// shows nothing of a passing package's skips.
package testreport

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

type event struct {
	Time        time.Time
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string
	FailedBuild string
}

type testState struct {
	name   string
	status string // "run", "pass", "fail", "skip"
	output []string
}

type pkgState struct {
	name        string
	tests       map[string]*testState
	order       []string // tests in the order they started
	output      []string // package-level output
	result      string   // "", "pass", "fail", "skip"
	elapsed     float64
	failedBuild string
	printed     bool
}

// Options says how the report treats skips.
type Options struct {
	// AllowSkips reports skipped tests as a notice instead of failing the run.
	AllowSkips bool
}

// Checker accumulates go test's events. Build it with New, feed it with Read, end with
// Finish.
type Checker struct {
	opts       Options
	out        *bufio.Writer
	pkgs       map[string]*pkgState
	pkgOrder   []string
	buildOut   map[string][]string // by ImportPath
	buildOrder []string
	buildFail  map[string]bool
}

// New returns a Checker that writes its report to w.
func New(w io.Writer, opts Options) *Checker {
	return &Checker{
		opts:      opts,
		out:       bufio.NewWriter(w),
		pkgs:      map[string]*pkgState{},
		buildOut:  map[string][]string{},
		buildFail: map[string]bool{},
	}
}

func (c *Checker) pkg(name string) *pkgState {
	p := c.pkgs[name]
	if p == nil {
		p = &pkgState{name: name, tests: map[string]*testState{}}
		c.pkgs[name] = p
		c.pkgOrder = append(c.pkgOrder, name)
	}
	return p
}

func (p *pkgState) test(name string) *testState {
	t := p.tests[name]
	if t == nil {
		t = &testState{name: name, status: "run"}
		p.tests[name] = t
		p.order = append(p.order, name)
	}
	return t
}

func (p *pkgState) counts() (passed, failed, skipped int) {
	for _, t := range p.tests {
		switch t.status {
		case "pass":
			passed++
		case "skip":
			skipped++
		default: // "fail", or started and never finished
			failed++
		}
	}
	return
}

func (c *Checker) line(raw []byte) {
	trimmed := strings.TrimSpace(string(raw))
	if trimmed == "" {
		return
	}
	var e event
	if !strings.HasPrefix(trimmed, "{") || json.Unmarshal([]byte(trimmed), &e) != nil || e.Action == "" {
		// Not an event: print it as it is (build errors of older toolchains,
		// stray output).
		fmt.Fprintln(c.out, strings.TrimRight(string(raw), "\r\n"))
		c.out.Flush()
		return
	}
	c.handle(e)
}

func (c *Checker) handle(e event) {
	switch e.Action {
	case "build-output":
		if _, ok := c.buildOut[e.ImportPath]; !ok {
			c.buildOrder = append(c.buildOrder, e.ImportPath)
		}
		c.buildOut[e.ImportPath] = append(c.buildOut[e.ImportPath], e.Output)
		return
	case "build-fail":
		if _, ok := c.buildOut[e.ImportPath]; !ok {
			c.buildOrder = append(c.buildOrder, e.ImportPath)
			c.buildOut[e.ImportPath] = nil
		}
		c.buildFail[e.ImportPath] = true
		return
	}
	if e.Package == "" {
		return
	}
	p := c.pkg(e.Package)
	if e.Test == "" {
		switch e.Action {
		case "output":
			p.output = append(p.output, e.Output)
		case "pass", "fail", "skip":
			p.result = e.Action
			p.elapsed = e.Elapsed
			p.failedBuild = e.FailedBuild
			c.printPackage(p)
		}
		return
	}
	t := p.test(e.Test)
	switch e.Action {
	case "output":
		t.output = append(t.output, e.Output)
	case "pass":
		t.status = "pass"
		t.output = nil // keep memory bounded; nobody reads passing output
	case "fail", "skip":
		t.status = e.Action
	}
}

func (c *Checker) printPackage(p *pkgState) {
	p.printed = true
	passed, failed, skipped := p.counts()
	switch {
	case p.result == "skip" || (p.result == "pass" && len(p.tests) == 0 && noTestFiles(p)):
		fmt.Fprintf(c.out, "?    %s\t[no test files]\n", p.name)
	case p.result == "pass":
		fmt.Fprintf(c.out, "ok   %s\t%.2fs\t%d passed, %d skipped\n", p.name, p.elapsed, passed, skipped)
	default:
		extra := ""
		if p.failedBuild != "" {
			extra = " [build failed]"
		}
		fmt.Fprintf(c.out, "FAIL %s\t%.2fs\t%d passed, %d failed, %d skipped%s\n", p.name, p.elapsed, passed, failed, skipped, extra)
	}
	c.out.Flush()
}

func noTestFiles(p *pkgState) bool {
	for _, o := range p.output {
		if strings.Contains(o, "[no test files]") {
			return true
		}
	}
	return false
}

// reason extracts the message of a skipped test from its output.
func reason(t *testState) string {
	var parts []string
	for _, o := range t.output {
		s := strings.TrimSpace(o)
		if s == "" || strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- ") {
			continue
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

// finish prints the closing sections and returns the exit status.
func (c *Checker) Finish(goTestExit int, goTestExitKnown bool) int {
	w := c.out
	var passed, failed, skipped int
	var failedTests, skippedTests []string
	skipReasons := map[string][]string{} // message -> "package Test" that skipped with it
	var failedPkgs []*pkgState

	for _, name := range c.pkgOrder {
		p := c.pkgs[name]
		if !p.printed {
			// The stream ended before the package reported a result.
			if p.result == "" {
				p.result = "fail"
			}
			c.printPackage(p)
		}
		a, b, s := p.counts()
		passed, failed, skipped = passed+a, failed+b, skipped+s
		if p.result == "fail" {
			failedPkgs = append(failedPkgs, p)
		}
		for _, tn := range p.order {
			t := p.tests[tn]
			switch t.status {
			case "skip":
				msg := reason(t)
				skipReasons[skipMessage(msg)] = append(skipReasons[skipMessage(msg)], p.name+" "+tn)
				if msg != "" {
					msg = ": " + msg
				}
				skippedTests = append(skippedTests, fmt.Sprintf("%s %s%s", p.name, tn, msg))
			case "pass":
			default:
				label := ""
				if t.status == "run" {
					label = " (no result: the test binary stopped while it ran)"
				}
				failedTests = append(failedTests, fmt.Sprintf("%s %s%s", p.name, tn, label))
			}
		}
	}

	var problems []string

	// Build output: always shown, it only exists when the compiler or vet
	// had something to say.
	if len(c.buildOrder) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "==== build output ====")
		for _, ip := range c.buildOrder {
			status := ""
			if c.buildFail[ip] {
				status = " (build failed)"
			}
			fmt.Fprintf(w, "--- %s%s\n", ip, status)
			for _, o := range c.buildOut[ip] {
				fmt.Fprint(w, o)
				if !strings.HasSuffix(o, "\n") {
					fmt.Fprintln(w)
				}
			}
		}
	}
	builds := 0
	for _, f := range c.buildFail {
		if f {
			builds++
		}
	}
	if builds > 0 {
		problems = append(problems, fmt.Sprintf("%d build(s) failed", builds))
	}

	if len(failedPkgs) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "==== failures ====")
		for _, p := range failedPkgs {
			for _, tn := range p.order {
				t := p.tests[tn]
				if t.status == "pass" || t.status == "skip" {
					continue
				}
				fmt.Fprintf(w, "--- FAIL %s %s\n", p.name, tn)
				for _, o := range t.output {
					fmt.Fprint(w, o)
				}
			}
			if len(p.output) > 0 {
				fmt.Fprintf(w, "--- package %s output\n", p.name)
				for _, o := range p.output {
					fmt.Fprint(w, o)
				}
			}
		}
		problems = append(problems, fmt.Sprintf("%d package(s) failed", len(failedPkgs)))
	}

	if len(failedTests) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "==== %d failed test(s) ====\n", len(failedTests))
		for _, s := range failedTests {
			fmt.Fprintln(w, "FAIL", s)
		}
	}
	if len(skippedTests) > 0 && c.opts.AllowSkips {
		c.skipNotice(len(skippedTests), skipReasons)
	} else if len(skippedTests) > 0 {
		sort.Strings(skippedTests)
		fmt.Fprintln(w)
		fmt.Fprintf(w, "==== %d skipped test(s): skips are not allowed in CI ====\n", len(skippedTests))
		for _, s := range skippedTests {
			fmt.Fprintln(w, "SKIP", s)
		}
		problems = append(problems, fmt.Sprintf("%d test(s) skipped", len(skippedTests)))
	}
	if failed > 0 {
		problems = append(problems, fmt.Sprintf("%d test(s) failed", failed))
	}
	if passed+failed == 0 {
		problems = append(problems, "no test ran")
	}
	switch {
	case goTestExitKnown && goTestExit < 0:
		problems = append(problems, "go test's exit status is unknown")
	case goTestExitKnown && goTestExit != 0:
		problems = append(problems, fmt.Sprintf("go test exited with status %d", goTestExit))
	}

	fmt.Fprintln(w)
	verdict := "CI "
	if c.opts.AllowSkips {
		verdict = ""
	}
	status := 0
	switch {
	case len(problems) > 0:
		status = 1
		fmt.Fprintln(w, verdict+"FAILED: "+strings.Join(problems, "; "))
	case len(skippedTests) > 0:
		fmt.Fprintf(w, "%sOK, but %d test(s) skipped: see SKIPPED above for what enables them\n", verdict, len(skippedTests))
	default:
		fmt.Fprintln(w, verdict+"OK")
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	w.Flush()
	return status
}

// skipNotice says, once, that the run did not test everything: one line per skip message
// (which names what enables the suite), with how many tests gave it and in which packages.
func (c *Checker) skipNotice(n int, byMessage map[string][]string) {
	w := c.out
	msgs := make([]string, 0, len(byMessage))
	for m := range byMessage {
		msgs = append(msgs, m)
	}
	// Most tests first: the suite that hides the most comes first.
	sort.Slice(msgs, func(i, j int) bool {
		if a, b := len(byMessage[msgs[i]]), len(byMessage[msgs[j]]); a != b {
			return a > b
		}
		return msgs[i] < msgs[j]
	})
	fmt.Fprintln(w)
	fmt.Fprintf(w, "==== SKIPPED: %d test(s) did not run on this machine ====\n", n)
	for _, m := range msgs {
		tests := byMessage[m]
		if m == "" {
			m = "(no message)"
		}
		fmt.Fprintf(w, "SKIPPED %d: %s\n", len(tests), m)
		fmt.Fprintf(w, "        in %s\n", strings.Join(packages(tests), ", "))
	}
}

// packages returns the distinct packages of "package Test" entries, sorted.
func packages(tests []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range tests {
		p, _, _ := strings.Cut(t, " ")
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// location is the "file_test.go:33: " go test puts before a message.
var location = regexp.MustCompile(`^[\w.-]+\.go:\d+: `)

// skipMessage is a skip's reason without its source location, so the same skip from
// several tests or places is one group.
func skipMessage(reason string) string {
	return location.ReplaceAllString(reason, "")
}

// Read feeds the checker every line of r (go test -json output; other lines are printed as
// they are) until r ends.
func (c *Checker) Read(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		raw, err := br.ReadBytes('\n')
		if len(raw) > 0 {
			c.line(raw)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
