// Command gauntlet runs the reliability gauntlet (package gauntlet) in
// long mode against a vexil binary: thousands of hostile connections and
// streams, every hostile document, source faults, a rollback across every
// stream and SIGTERM with them open. It prints each check's outcome and
// the daemon's figures after it, then each hostile document's load time and
// resident memory against the budgets the README states, and exits 1 if a
// check failed or a budget was exceeded.
//
//	go run ./conformance/gauntlet/cmd/gauntlet                 # builds vexil
//	go run ./conformance/gauntlet/cmd/gauntlet -vexil ./vexil -run 'documents|SIGTERM'
//	go run ./conformance/gauntlet/cmd/gauntlet -short          # the go test scale
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	"github.com/vexilhq/vexil/conformance/gauntlet"
)

// The budgets for a hostile document (README, "Reliability"): rejected or
// loaded within docTimeBudget, with the daemon's resident memory under
// docRSSBudget afterwards.
const (
	docTimeBudget = 30 * time.Second
	docRSSBudget  = 512 << 20
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gauntlet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vexil := fs.String("vexil", "", "the vexil binary (default: go build it into a temporary directory)")
	short := fs.Bool("short", false, "run at go test's scale instead of the long one")
	only := fs.String("run", "", "run only the checks whose names match this regular expression")
	streams := fs.Int("streams", 0, "streams held open (default: the scale's)")
	conns := fs.Int("conns", 0, "hostile connections per port and kind (default: the scale's)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	scale := gauntlet.Long
	if *short {
		scale = gauntlet.Short
	}
	if *streams > 0 {
		scale.Streams = *streams
	}
	if *conns > 0 {
		scale.Conns = *conns
	}
	var match func(string) bool
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			fmt.Fprintf(stderr, "gauntlet: -run: %v\n", err)
			return 2
		}
		match = re.MatchString
	}
	dir, err := os.MkdirTemp("", "gauntlet-")
	if err != nil {
		fmt.Fprintln(stderr, "gauntlet:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := *vexil
	if bin == "" {
		bin = filepath.Join(dir, "vexil")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/vexilhq/vexil/daemon/cmd/vexil").CombinedOutput()
		if err != nil {
			fmt.Fprintf(stderr, "gauntlet: go build vexil: %v\n%s", err, out)
			return 1
		}
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stdout, time.Now().Format("15:04:05 ")+format+"\n", a...) }
	e, err := gauntlet.Start(gauntlet.Config{Binary: bin, Dir: dir, Scale: scale, Logf: logf, Timeout: 5 * time.Minute})
	if err != nil {
		fmt.Fprintln(stderr, "gauntlet:", err)
		return 1
	}
	defer e.Close()
	failed := 0
	fmt.Fprintf(stdout, "scale: %+v\n", scale)
	for _, c := range gauntlet.Checks() {
		if match != nil && !match(c.Name) {
			continue
		}
		if err := e.Daemon.Alive(); err != nil {
			fmt.Fprintf(stdout, "FAIL %s: not run: %v\n", c.Name, err)
			failed++
			continue
		}
		logf("check: %s", c.Name)
		r := e.Run(c)
		status := "ok  "
		if r.Err != nil {
			status = "FAIL"
			failed++
		}
		fmt.Fprintf(stdout, "%s %-40s %8v  RSS %4d MiB  %5d goroutines  %5d fds\n", status, c.Name, r.Took.Round(time.Millisecond),
			r.After.RSS>>20, r.After.Goroutines, r.After.FDs)
		if r.Err != nil {
			fmt.Fprintf(stdout, "     %v\n", r.Err)
		}
	}
	if docs := e.DocResults(); len(docs) > 0 {
		fmt.Fprintf(stdout, "\nhostile documents (budget: %v, %d MiB resident):\n", docTimeBudget, docRSSBudget>>20)
		for _, d := range docs {
			over := ""
			if d.Took > docTimeBudget || d.RSS > docRSSBudget {
				over = "  OVER BUDGET"
				failed++
			}
			fmt.Fprintf(stdout, "  %-70s %-8s %9d bytes %8v  RSS %4d MiB%s\n", d.Name, d.State, d.Size, d.Took.Round(time.Millisecond), d.RSS>>20, over)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "\n%d failed\n", failed)
		return 1
	}
	fmt.Fprintln(stdout, "\nall passed")
	return 0
}
