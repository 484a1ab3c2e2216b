// Command record records the oracle's corpus from upstream flagd: it
// generates the scenarios (package oracle's Generate), starts flagd once per
// scenario on free 127.0.0.1 ports with the scenario's directory as its
// working directory (so that file URIs are relative, as at replay), sends
// every request and writes the documents and golden.jsonl under
// conformance/oracle/testdata/SCENARIO/.
//
//	go run ./conformance/oracle/cmd/record -flagd $FLAGD_BIN
//	go run ./conformance/oracle/cmd/record -flagd $FLAGD_BIN -run '^007-'
//
// -run re-records only the scenarios whose names match; without it, the
// whole testdata directory is replaced. Build flagd with
// conformance/oracle/build-flagd.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/vexilhq/vexil/conformance/oracle"
)

func main() {
	flagd := flag.String("flagd", os.Getenv("FLAGD_BIN"), "the flagd binary (default $FLAGD_BIN)")
	out := flag.String("out", "conformance/oracle/testdata", "the corpus directory")
	seed := flag.Uint64("seed", oracle.DefaultSeed, "generator seed")
	n := flag.Int("n", oracle.DefaultScenarios, "number of scenarios")
	run := flag.String("run", "", "record only the scenarios whose names match this regular expression")
	jobs := flag.Int("j", 2, "scenarios recorded at once")
	flag.Parse()
	if *flagd == "" {
		fmt.Fprintln(os.Stderr, "record: -flagd (or $FLAGD_BIN) is required")
		os.Exit(2)
	}
	bin, err := filepath.Abs(*flagd)
	check(err)
	var re *regexp.Regexp
	if *run != "" {
		re, err = regexp.Compile(*run)
		check(err)
	} else {
		check(os.RemoveAll(*out))
	}
	check(os.MkdirAll(*out, 0o755))
	ctx := context.Background()
	sem := make(chan struct{}, *jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total, failed := 0, 0
	start := time.Now()
	for i := range *n {
		name := oracle.ScenarioName(i)
		if re != nil && !re.MatchString(name) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			k, err := record(ctx, bin, *out, *seed, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
				return
			}
			total += k
			fmt.Printf("%s: %d requests\n", name, k)
		}()
	}
	wg.Wait()
	fmt.Printf("recorded %d requests in %s\n", total, time.Since(start).Round(time.Millisecond))
	if failed > 0 {
		os.Exit(1)
	}
}

func record(ctx context.Context, bin, out string, seed uint64, i int) (int, error) {
	s := oracle.Generate(seed, i)
	dir, err := filepath.Abs(filepath.Join(out, s.Name))
	if err != nil {
		return 0, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return 0, err
	}
	if err := oracle.WriteScenarioFiles(dir, s); err != nil {
		return 0, err
	}
	d, c, stop, err := oracle.Open(ctx, bin, dir, s.URIs)
	if err != nil {
		return 0, err
	}
	defer stop()
	ex := make([]oracle.Exchange, 0, len(s.Requests))
	for _, r := range s.Requests {
		ex = append(ex, oracle.Exchange{Req: r, Ans: c.Do(ctx, r)})
	}
	h := oracle.Header{Scenario: s.Name, Flagd: oracle.FlagdCommit, Seed: s.Seed, URIs: s.URIs, Requests: len(ex), Ready: d.Ready}
	for _, f := range s.Files {
		h.Files = append(h.Files, f.Path)
	}
	return len(ex), oracle.WriteGolden(dir, h, ex)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		os.Exit(1)
	}
}
