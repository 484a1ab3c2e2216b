package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"github.com/vexilhq/vexil/provider"
)

// providerModes are the provider conformance runs: the mode, and how many
// scenarios must pass (the testbed's selection for the mode).
var providerModes = []struct {
	mode provider.Resolver
	tag  string
	want int
}{
	{provider.ResolverFile, "file", 160},
	{provider.ResolverInProcess, "in-process", 229},
	{provider.ResolverRPC, "rpc", 219},
}

// cborModes are the runs with CBOR fractional bucketing ("fractional v3":
// the daemon's FractionalCBOR for rpc, provider.WithFractionalCBOR for
// in-process and file), selected as "@MODE && ~@deprecated &&
// ~@fractional-v1 && ~@fractional-v2", and how many scenarios must pass.
// The counts are the default runs' minus the mode's @fractional-v2
// scenarios plus its @fractional-v3 ones, counted with godog (a suite
// whose Before hook counts the scenarios, over the testbed's features,
// with those tag expressions, outlines' examples counted one by one):
//
//	file:       160 - 21 + 132 = 271
//	in-process: 229 - 21 + 132 = 340
//	rpc:        219 - 21 + 132 = 330
//
// By default each runs the 149 of them tagged @fractional or @fractional-v3
// and counts the rest (122, 191, 181) without running them: see cborFullEnv.
var cborModes = []struct {
	mode provider.Resolver
	tag  string
	want int
}{
	{provider.ResolverFile, "file", 271},
	{provider.ResolverInProcess, "in-process", 340},
	{provider.ResolverRPC, "rpc", 330},
}

// cborFullEnv, set to 1, makes the CBOR runs run every scenario of their
// selection. By default they run only the scenarios whose outcome the
// bucketing can change, tagged @fractional or @fractional-v3 (those with
// neither tag run, unchanged, in the default runs); the others are
// counted without running, and the count check covers both.
const cborFullEnv = "VEXIL_CONFORMANCE_CBOR_FULL"

// cborOnly narrows a CBOR run to the scenarios the bucketing can change,
// in godog's tag syntax ("," is or); cborOthers selects the rest.
const (
	cborOnly   = "@fractional,@fractional-v3"
	cborOthers = "~@fractional && ~@fractional-v3"
)

// cborSuffix names the CBOR runs: "file-cbor", "in-process-cbor",
// "rpc-cbor", both as subtests and in modesEnv.
const cborSuffix = "-cbor"

// modesEnv selects the provider runs, comma-separated: file, in-process,
// rpc, their CBOR variants file-cbor, in-process-cbor, rpc-cbor, or "all";
// unset means defaultModes.
const modesEnv = "VEXIL_CONFORMANCE_MODES"

// allModes are every run's name.
var allModes = []string{"file", "in-process", "rpc", "file-cbor", "in-process-cbor", "rpc-cbor"}

// defaultModes are the runs when modesEnv is unset: all of them, or only
// file (the quickest) with -short.
var defaultModes = allModes

// TestProviderConformance runs the testbed's provider features
// (gherkin/*.feature) once per provider mode, with the default fractional
// bucketing (v2) and again with the CBOR one (v3), against our daemon run
// in-process by a harness that plays the launchpad's part.
func TestProviderConformance(t *testing.T) {
	dir := testbedDir(t)
	features := glob(t, filepath.Join(dir, "gherkin", "*.feature"))
	selected := defaultModes
	if testing.Short() {
		selected = []string{"file"}
	}
	if v := strings.TrimSpace(os.Getenv(modesEnv)); v != "" {
		selected = nil
		for m := range strings.SplitSeq(v, ",") {
			if m = strings.TrimSpace(m); m == "all" {
				selected = allModes
			} else if m != "" {
				selected = append(selected, m)
			}
		}
	}
	// The launchpad's configs name their sources by paths relative to its
	// working directory: so does the harness, in its own.
	h := newHarness(t, dir)
	t.Chdir(h.dir)
	type run struct {
		mode provider.Resolver
		tag  string
		want int
		cbor bool
	}
	var runs []run
	for _, m := range providerModes {
		runs = append(runs, run{m.mode, m.tag, m.want, false})
	}
	for _, m := range cborModes {
		runs = append(runs, run{m.mode, m.tag, m.want, true})
	}
	for _, r := range runs {
		name := r.tag
		if r.cbor {
			name += cborSuffix
		}
		t.Run(name, func(t *testing.T) {
			if !slices.Contains(selected, name) {
				t.Skipf("run %s not selected (%s=%q)", name, modesEnv, os.Getenv(modesEnv))
			}
			h.setT(t)
			h.setCBOR(r.cbor)
			runProviderMode(t, h, features, r.mode, r.tag, r.cbor, r.want)
		})
	}
}

func runProviderMode(t *testing.T, h *harness, features []string, mode provider.Resolver, tag string, cbor bool, want int) {
	var (
		out                       bytes.Buffer
		passed, failed, undefined int
		failures                  []string
	)
	tags := "@" + tag + " && ~@deprecated && ~@fractional-v1 && ~@fractional-v3"
	name := tag
	if cbor {
		tags = "@" + tag + " && ~@deprecated && ~@fractional-v1 && ~@fractional-v2"
		name += cborSuffix
	}
	var timeline timelines
	skipped := 0 // scenarios of the selection not run (CBOR runs)
	selection := tags
	if cbor && os.Getenv(cborFullEnv) != "1" {
		skipped = countScenarios(features, tags+" && "+cborOthers)
		tags += " && " + cborOnly
	}
	start := time.Now()
	suite := godog.TestSuite{
		Name: "provider-" + name,
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			s := &pscenario{h: h, mode: mode, cbor: cbor}
			s.register(sc)
			tl := timeline.scenario(sc)
			sc.After(func(ctx context.Context, p *godog.Scenario, err error) (context.Context, error) {
				switch {
				case err == nil:
					passed++
				case errors.Is(err, godog.ErrUndefined), errors.Is(err, godog.ErrPending):
					undefined++
					failures = append(failures, fmt.Sprintf("%s: %s: %v\n%s", p.Uri, p.Name, err, tl))
				default:
					failed++
					failures = append(failures, fmt.Sprintf("%s: %s: %v\n%s", p.Uri, p.Name, err, tl))
				}
				return ctx, nil
			})
		},
		Options: &godog.Options{
			Format:      "progress",
			Output:      &out,
			NoColors:    true,
			Strict:      true,
			Randomize:   0,
			Concurrency: 1, // one daemon, and the hooks count without locking
			Tags:        tags,
			Paths:       features,
		},
	}
	status := suite.Run()
	elapsed := time.Since(start).Round(time.Millisecond)

	t.Logf("provider %s: %d passed, %d failed, %d undefined or pending, in %v (%d goroutines at the end)", name, passed, failed, undefined, elapsed, runtime.NumGoroutine())
	fmt.Printf("conformance provider %s: %d passed, %d failed, %d undefined, %v\n", name, passed, failed, undefined, elapsed)
	for _, f := range failures {
		t.Errorf("failed: %s", f)
	}
	if status != 0 {
		t.Errorf("godog exit status %d", status)
	}
	// The slowest scenarios, step by step: where a run's time went.
	for _, tl := range timeline.slowest(3) {
		t.Logf("slow scenario %s", tl)
	}
	if skipped > 0 {
		t.Logf("provider %s: %d scenarios of %q not run (they run in the default run)", name, skipped, selection)
	}
	if passed+skipped < want {
		t.Errorf("%d scenarios passed and %d not run, want at least %d", passed, skipped, want)
	}
	if t.Failed() {
		t.Logf("godog output:\n%s", out.String())
	}
}

// countScenarios counts the scenarios (each example of an outline) of
// features that tags selects, without running them.
func countScenarios(features []string, tags string) int {
	n := 0
	godog.TestSuite{
		Name: "count",
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			sc.Before(func(ctx context.Context, _ *godog.Scenario) (context.Context, error) {
				n++
				return ctx, godog.ErrSkip
			})
		},
		Options: &godog.Options{Format: "progress", Output: io.Discard, Tags: tags, Paths: features},
	}.Run()
	return n
}
