package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vexilhq/vexil/internal/testenv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cucumber/godog"

	"github.com/vexilhq/vexil/evaluator"
)

// testbedDir returns the flagd testbed directory (see package testenv).
func testbedDir(t *testing.T) string {
	t.Helper()
	return testenv.Testbed.Path(t)
}

// suiteRun is one godog run of testbed features against the evaluator.
type suiteRun struct {
	name      string
	features  []string           // feature files
	flagFiles []string           // flag documents, merged (see load)
	tags      string             // godog tag expression
	opts      evaluator.Options  // parser options
	provider  bool               // accept the provider-level Background steps
	want      int                // scenarios that must pass; 0: all selected, at least one
	flags     *evaluator.FlagSet // loaded from flagFiles
}

func TestEvaluatorConformance(t *testing.T) {
	dir := testbedDir(t)
	evalFeatures := glob(t, filepath.Join(dir, "evaluator", "gherkin", "*.feature"))
	testkit := []string{filepath.Join(dir, "evaluator", "flags", "testkit-flags.json")}

	// The provider's flags: every file in flags/ not named selector*, merged.
	var providerFlags []string
	for _, f := range glob(t, filepath.Join(dir, "flags", "*.json")) {
		if !strings.HasPrefix(filepath.Base(f), "selector") {
			providerFlags = append(providerFlags, f)
		}
	}

	runs := []*suiteRun{
		{
			name:      "v2",
			features:  evalFeatures,
			flagFiles: testkit,
			tags:      "~@fractional-v1 && ~@fractional-v3",
			want:      125,
		},
		{
			name:      "cbor",
			features:  evalFeatures,
			flagFiles: testkit,
			tags:      "~@fractional-v1 && ~@fractional-v2",
			opts:      evaluator.Options{FractionalCBOR: true},
		},
		{
			// The evaluator features have no @fractional-v3 rows; the
			// provider-level targeting feature does.
			name:      "cbor-provider-rows",
			features:  []string{filepath.Join(dir, "gherkin", "targeting.feature")},
			flagFiles: providerFlags,
			tags:      "@fractional-v3",
			opts:      evaluator.Options{FractionalCBOR: true},
			provider:  true,
		},
	}
	for _, r := range runs {
		t.Run(r.name, r.run)
	}
}

func (r *suiteRun) run(t *testing.T) {
	r.load(t)

	var (
		out                       bytes.Buffer
		passed, failed, undefined int
		failures                  []string
	)
	suite := godog.TestSuite{
		Name: "evaluator-" + r.name,
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			s := &scenario{flags: r.flags}
			s.register(sc, r.provider)
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
			Concurrency: 1, // the hooks count without locking
			Tags:        r.tags,
			Paths:       r.features,
		},
	}
	status := suite.Run()

	t.Logf("%s: %d passed, %d failed, %d undefined or pending", r.name, passed, failed, undefined)
	fmt.Printf("conformance evaluator %s: %d passed, %d failed\n", r.name, passed, failed+undefined)

	ok := status == 0 && failed == 0 && undefined == 0 && passed > 0
	if r.want != 0 && passed != r.want {
		t.Errorf("%d scenarios passed, want %d", passed, r.want)
		ok = false
	}
	if !ok {
		for _, f := range failures {
			t.Errorf("failed: %s", f)
		}
		if status != 0 {
			t.Errorf("godog exit status %d", status)
		}
		if passed == 0 && len(failures) == 0 {
			t.Errorf("no scenario ran (tags %q)", r.tags)
		}
		t.Logf("godog output:\n%s", out.String())
	}
}

// load parses the run's flag documents: one as it is, several as their
// deep merge, which is how the testbed's provider suites serve them
// (allFlags.json: see harness.layout). Their flag keys and $evaluators do
// not collide.
func (r *suiteRun) load(t *testing.T) {
	t.Helper()
	p, err := evaluator.NewParser(r.opts)
	if err != nil {
		t.Fatalf("NewParser: %v", err)
	}
	var data []byte
	merged := map[string]any{}
	for _, f := range r.flagFiles {
		if data, err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		deepMerge(merged, doc)
	}
	name := r.flagFiles[0]
	if len(r.flagFiles) > 1 {
		name = "the merge of " + strings.Join(r.flagFiles, ", ")
		if data, err = json.Marshal(merged); err != nil {
			t.Fatal(err)
		}
	}
	set, warnings, err := p.Parse(name, data, evaluator.FormatJSON)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	// Some testbed flags are deliberately schema-invalid: flagd only warns
	// about them, and so does the evaluator.
	t.Logf("%s: %d flags, %d warnings", name, set.Len(), len(warnings))
	r.flags = set
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s (err %v)", pattern, err)
	}
	return files
}
