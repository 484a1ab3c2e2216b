package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// modesEnv selects the provider modes to run, comma-separated, or "all";
// unset means defaultModes.
const modesEnv = "VEXIL_CONFORMANCE_MODES"

// defaultModes are the modes that run when modesEnv is unset: all of
// them, or only file (the quickest) with -short.
var defaultModes = []string{"file", "in-process", "rpc"}

// TestProviderConformance runs the testbed's provider features
// (gherkin/*.feature) once per provider mode, against our daemon run
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
				selected = []string{"file", "in-process", "rpc"}
			} else if m != "" {
				selected = append(selected, m)
			}
		}
	}
	// The launchpad's configs name their sources by paths relative to its
	// working directory: so does the harness, in its own.
	h := newHarness(t, dir)
	t.Chdir(h.dir)
	for _, m := range providerModes {
		t.Run(m.tag, func(t *testing.T) {
			if !slices.Contains(selected, m.tag) {
				t.Skipf("mode %s not selected (%s=%q)", m.tag, modesEnv, os.Getenv(modesEnv))
			}
			h.setT(t)
			runProviderMode(t, h, features, m.mode, m.tag, m.want)
		})
	}
}

func runProviderMode(t *testing.T, h *harness, features []string, mode provider.Resolver, tag string, want int) {
	var (
		out                       bytes.Buffer
		passed, failed, undefined int
		failures                  []string
	)
	tags := "@" + tag + " && ~@deprecated && ~@fractional-v1 && ~@fractional-v3"
	start := time.Now()
	suite := godog.TestSuite{
		Name: "provider-" + tag,
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			s := &pscenario{h: h, mode: mode}
			s.register(sc)
			sc.After(func(ctx context.Context, p *godog.Scenario, err error) (context.Context, error) {
				switch {
				case err == nil:
					passed++
				case errors.Is(err, godog.ErrUndefined), errors.Is(err, godog.ErrPending):
					undefined++
					failures = append(failures, fmt.Sprintf("%s: %s: %v", p.Uri, p.Name, err))
				default:
					failed++
					failures = append(failures, fmt.Sprintf("%s: %s: %v", p.Uri, p.Name, err))
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

	t.Logf("provider %s: %d passed, %d failed, %d undefined or pending, in %v", tag, passed, failed, undefined, elapsed)
	fmt.Printf("conformance provider %s: %d passed, %d failed, %d undefined, %v\n", tag, passed, failed, undefined, elapsed)
	for _, f := range failures {
		t.Errorf("failed: %s", f)
	}
	if status != 0 {
		t.Errorf("godog exit status %d", status)
	}
	if passed < want {
		t.Errorf("%d scenarios passed, want at least %d", passed, want)
	}
	if t.Failed() {
		t.Logf("godog output:\n%s", out.String())
	}
}
