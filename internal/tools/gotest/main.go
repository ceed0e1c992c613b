// Command gotest is the README's test command: it runs `go test -json` with its arguments
// (./... when there are none) and prints internal/testreport's report, whose end says, once,
// which suites were skipped on this machine and what enables each. Plain `go test ./...`
// prints only "ok" for a package whose Postgres, browser or TypeScript SDK tests skipped,
// so a newcomer would believe everything was tested.
//
// Usage:
//
//	go run ./internal/tools/gotest            # go test ./...
//	go run ./internal/tools/gotest -race ./consent/...
//
// With CI=true a skip fails the run, as in .ci/run. The exit status is non-zero when any
// test or build failed or go test itself did.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/conexor/conexor/internal/testreport"
)

func main() {
	os.Exit(run("", os.Args[1:], os.Stdout, os.Stderr, os.Getenv("CI") == "true"))
}

// run runs go test -json args in dir ("" is the current directory), reporting to stdout
// (go test's own stderr to stderr), and returns the exit status.
func run(dir string, args []string, stdout, stderr io.Writer, ci bool) int {
	if len(args) == 0 {
		args = []string{"./..."}
	}
	cmd := exec.Command(goTool(), append([]string{"test", "-json"}, args...)...)
	cmd.Dir, cmd.Stderr = dir, stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(stderr, "gotest: %v\n", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "gotest: start go test: %v\n", err)
		return 2
	}
	c := testreport.New(stdout, testreport.Options{AllowSkips: !ci})
	readErr := c.Read(out)
	code := 0
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			fmt.Fprintf(stderr, "gotest: go test: %v\n", err)
		}
		code = -1
		if exit != nil {
			code = exit.ExitCode()
		}
	}
	if readErr != nil {
		fmt.Fprintf(stderr, "gotest: reading go test's output: %v\n", readErr)
		code = -1
	}
	return c.Finish(code, true)
}

// goTool is the go command that runs this program (go run puts its GOROOT first), or the
// one on PATH.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}
