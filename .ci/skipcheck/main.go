// Command skipcheck reads the output of `go test -json` on standard input,
// prints a readable summary as packages finish, then the output of failed
// tests, failed builds and the names of skipped tests, and exits non-zero
// if any test failed or was skipped, if a package or build failed, if no
// test ran at all, or if go test itself reported failure through
// -exit-code-file. Its last line is always "N passed, N failed, N skipped".
// The report is internal/testreport's, with skips not allowed: CI tests
// everything.
//
// Usage:
//
//	{ go test -json ./...; echo $? > rc; } | go run ./.ci/skipcheck -exit-code-file rc
//	go run ./.ci/skipcheck < test.json
//
// Lines on standard input that are not JSON events are printed as they are.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/conexor/conexor/internal/testreport"
)

func main() {
	exitFile := flag.String("exit-code-file", "", "file holding go test's exit status, read after the input ends; missing or non-zero fails the run")
	flag.Parse()

	c := testreport.New(os.Stdout, testreport.Options{})
	if err := c.Read(os.Stdin); err != nil {
		fmt.Printf("skipcheck: reading input: %v\n", err)
	}
	code, known := 0, false
	if *exitFile != "" {
		known = true
		b, err := os.ReadFile(*exitFile)
		if err == nil {
			code, err = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if err != nil {
			fmt.Printf("skipcheck: no exit status from go test (%v)\n", err)
			code = -1
		}
	}
	os.Exit(c.Finish(code, known))
}
