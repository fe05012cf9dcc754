// Command testcount reads `go test -json` on standard input and prints a
// readable run: each package's result line, the whole output of every test
// that failed (and of packages that failed to build or run), and at the
// end how many tests ran, in the plain form CI reads:
//
//	1234 passed, 0 failed, 5 skipped
//
// It exits 1 when a test or a package failed, or when no test ran.
// scripts/test.sh pipes `go test -json ./...` through it (`make test`).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type counts struct {
	passed, failed, skipped int
	pkgFailed               bool
}

func main() {
	c, err := count(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testcount:", err)
		os.Exit(1)
	}
	if c.failed > 0 || c.pkgFailed || c.passed == 0 {
		os.Exit(1)
	}
}

// count reads events from r and writes the readable run to w.
func count(r io.Reader, w io.Writer) (counts, error) {
	var c counts
	output := map[string][]string{} // package/test -> output lines
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintln(w, string(line)) // not an event: go's own messages
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output", "build-output":
			if len(output[key]) < 2000 {
				output[key] = append(output[key], e.Output)
			}
		case "pass", "fail", "skip":
			if e.Test == "" {
				if e.Action == "fail" {
					c.pkgFailed = true
					fmt.Fprint(w, strings.Join(output[key], ""))
				}
				fmt.Fprintf(w, "%-4s %s (%.1fs)\n", e.Action, e.Package, e.Elapsed)
				delete(output, key)
				continue
			}
			switch e.Action {
			case "pass":
				c.passed++
			case "fail":
				c.failed++
				fmt.Fprintf(w, "--- FAIL %s %s\n%s", e.Package, e.Test, strings.Join(output[key], ""))
			case "skip":
				c.skipped++
			}
			delete(output, key)
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	// Build failures have no package event with a test.
	for key, lines := range output {
		if strings.HasSuffix(key, " ") && len(lines) > 0 && c.pkgFailed {
			fmt.Fprint(w, strings.Join(lines, ""))
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", c.passed, c.failed, c.skipped)
	return c, nil
}
