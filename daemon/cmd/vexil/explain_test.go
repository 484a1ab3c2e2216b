package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon"
)

const explainFlags = "testdata/explain/flags.json"

// explainCases are vexil explain's golden cases, in testdata/explain.
var explainCases = []struct {
	name string
	args []string
}{
	{"if-ref", []string{"explain", "-f", explainFlags, "--flag", "welcome", "--context", `{"email":"eve@vexil.example"}`}},
	{"if-else-if", []string{"explain", "-f", explainFlags, "--flag", "welcome", "--context", `{"email":"kid@example.com","age":12}`}},
	{"if-else-if-json", []string{"explain", "-f", explainFlags, "--flag", "welcome", "--context", `{"email":"kid@example.com","age":12}`, "--output", "json"}},
	{"fractional", []string{"explain", "-f", explainFlags, "--flag", "rollout", "--context", `{"email":"ana@example.com"}`}},
	{"fractional-json", []string{"explain", "-f", explainFlags, "--flag", "rollout", "--context", `{"email":"ana@example.com"}`, "-o", "json"}},
	{"sem-ver", []string{"explain", "-f", explainFlags, "--flag", "checkout", "--context", `{"appVersion":"1.9"}`}},
	{"shadowed", []string{"explain", "-f", explainFlags, "-f", "testdata/explain/override.json", "--flag", "limit", "--context", `{"tier":"free"}`, "--type", "integer"}},
	{"error-variant", []string{"explain", "-f", explainFlags, "--flag", "broken", "--context", `{"email":"ana@example.com"}`}},
	{"disabled", []string{"explain", "-f", explainFlags, "--flag", "retired"}},
	{"static", []string{"explain", "-f", explainFlags, "--flag", "limit"}},
	{"selector", []string{"explain", "-f", explainFlags, "-f", "testdata/explain/override.json", "--flag", "limit", "--selector", "source=" + explainFlags}},
	{"not-found", []string{"explain", "-f", explainFlags, "--flag", "nope", "-o", "json"}},
	{"bundled-example", []string{"explain", "--flag", "new-checkout", "--context", `{"email":"ana@vexil.example"}`}},
	{"no-flag", []string{"explain", "-f", explainFlags}},
	{"bad-output", []string{"explain", "-f", explainFlags, "--flag", "limit", "-o", "yaml"}},
	{"bad-context", []string{"explain", "-f", explainFlags, "--flag", "limit", "--context", "[1]"}},
	{"bad-selector", []string{"explain", "-f", explainFlags, "--flag", "limit", "--selector", "color=red"}},
	{"bad-daemon-url", []string{"explain", "--daemon", "localhost:8014", "--flag", "limit"}},
	{"daemon-and-flags", []string{"explain", "--daemon", "http://localhost:8014", "-f", explainFlags, "--flag", "limit"}},
}

// TestExplainCLI: vexil explain's output and exit code, against
// testdata/explain/NAME.golden (go test -run TestExplainCLI -update
// rewrites them).
func TestExplainCLI(t *testing.T) {
	names := map[string]bool{}
	for _, tc := range explainCases {
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := execute(context.Background(), tc.args, noEnv, strings.NewReader(""), &stdout, &stderr)
			got := formatGolden(tc.args, code, stdout.String(), stderr.String())
			path := filepath.Join("testdata", "explain", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestExplainCLI -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (go test -run TestExplainCLI -update rewrites it)\n--- got ---\n%s--- want ---\n%s", path, got, want)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "explain", "*.golden"))
	for _, f := range files {
		if !names[strings.TrimSuffix(filepath.Base(f), ".golden")] {
			t.Errorf("%s belongs to no test case", f)
		}
	}
}

// TestExplainDaemonAnswersAsCLI: a running daemon's POST /api/v1/explain
// answers, for the same flag files, flag, context and selector, the JSON
// `vexil explain --flags ... --output json` prints, and `vexil explain
// --daemon` prints what it prints from the files, in both outputs.
func TestExplainDaemonAnswersAsCLI(t *testing.T) {
	base, err := filepath.Abs(explainFlags)
	if err != nil {
		t.Fatal(err)
	}
	override, _ := filepath.Abs("testdata/explain/override.json")
	a := startDaemon(t, base, override)
	mgmt := "http://" + a.Management
	client := &http.Client{Timeout: 10 * time.Second}

	for _, c := range []struct {
		key, ctx, selector string
		status             int
	}{
		{"welcome", `{"email":"eve@vexil.example"}`, "", 200},
		{"welcome", `{"age":12}`, "", 200},
		{"rollout", `{"email":"ana@example.com"}`, "", 200},
		{"checkout", `{"appVersion":"2.0.1"}`, "", 200},
		{"limit", `{"tier":"free"}`, "", 200},
		{"limit", `{"tier":"free"}`, "source=" + base, 200},
		{"limit", `{}`, "flagSetId=shop", 200},
		{"broken", `{"email":"ana@example.com"}`, "", 200},
		{"retired", `{}`, "", 200},
		{"nope", `{}`, "", 404},
	} {
		name := c.key + " " + c.ctx + " " + c.selector
		body := `{"flagKey":"` + c.key + `","context":` + c.ctx + `}`
		req, _ := http.NewRequest(http.MethodPost, mgmt+daemon.ExplainPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if c.selector != "" {
			req.Header.Set("Flagd-Selector", c.selector)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		served, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %s %q %s, want %d", name, resp.Status, resp.Header.Get("Content-Type"), served, c.status)
		}
		args := []string{"explain", "-f", base, "-f", override, "--flag", c.key, "--context", c.ctx}
		remote := []string{"explain", "--daemon", mgmt, "--flag", c.key, "--context", c.ctx}
		if c.selector != "" {
			args = append(args, "--selector", c.selector)
			remote = append(remote, "--selector", c.selector)
		}
		local := runCLI(t, append(args, "-o", "json"))
		if !sameJSON(t, served, []byte(local)) {
			t.Errorf("%s: the daemon answers\n%s\nthe command prints\n%s", name, served, local)
		}
		for _, output := range []string{"json", "text"} {
			if got, want := runCLI(t, append(remote, "-o", output)), runCLI(t, append(args, "-o", output)); got != want {
				t.Errorf("%s: vexil explain --daemon -o %s prints\n%s\nfrom the files\n%s", name, output, got, want)
			}
		}
	}
}

// runCLI runs the command line and returns its stdout (exit codes 0 and
// 1, an evaluation error, are both fine here).
func runCLI(t *testing.T, args []string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := execute(context.Background(), args, noEnv, strings.NewReader(""), &stdout, &stderr); code > 1 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
	}
	return stdout.String()
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
