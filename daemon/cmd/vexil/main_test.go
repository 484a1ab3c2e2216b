package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files with the current output")

// cliCases run the command line in-process; each one's stdout, stderr and
// exit code are compared with testdata/NAME.golden. Paths are relative to
// this package's folder, where tests run.
var cliCases = []struct {
	name  string
	args  []string
	stdin string
}{
	// eval: one flag.
	{name: "eval-bool-static", args: []string{"eval", "--flags", "testdata/flags.json", "--flag", "bool-static"}},
	{name: "eval-targeting-match", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "welcome", "--context", `{"email":"ann@example.com"}`}},
	{name: "eval-targeting-default", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "welcome", "--context", `{"email":"bob@elsewhere.org"}`}},
	{name: "eval-int", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "limit", "--context", `{"tier":"gold"}`}},
	{name: "eval-int-context-file", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "limit", "--context", "@testdata/context.json"}},
	{name: "eval-int-context-stdin", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "limit", "--context", "@-"}, stdin: `{"tier":"gold"}`},
	{name: "eval-float", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "ratio"}},
	{name: "eval-float-as-int", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "ratio", "--type", "integer"}},
	{name: "eval-object", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "theme"}},
	{name: "eval-disabled", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "retired"}},
	{name: "eval-disabled-as-object", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "retired", "--type", "object"}},
	{name: "eval-no-default", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "no-default"}},
	{name: "eval-no-default-targeted", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "no-default", "--context", `{"beta":true}`}},
	{name: "eval-unknown-flag", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "nope"}},
	{name: "eval-type-mismatch", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "bool-static", "--type", "string"}},
	{name: "eval-general-error", args: []string{"eval", "-f", "testdata/errors.json", "--flag", "unknown-variant"}},
	{name: "eval-parse-error", args: []string{"eval", "-f", "testdata/errors.json", "--flag", "bad-operator"}},
	{name: "eval-mixed-inferred", args: []string{"eval", "-f", "testdata/errors.json", "--flag", "wrong-type"}},
	{name: "eval-merge-later-wins", args: []string{"eval", "-f", "testdata/flags.json", "-f", "testdata/override.yaml", "--flag", "limit"}},
	// eval: all flags.
	{name: "eval-all", args: []string{"eval", "-f", "testdata/flags.json"}},
	{name: "eval-all-context", args: []string{"eval", "-f", "testdata/flags.json", "--context", "@testdata/context.json"}},
	{name: "eval-all-errors", args: []string{"eval", "-f", "testdata/errors.json"}},
	// eval: files that do not load, and wrong calls.
	{name: "eval-missing-file", args: []string{"eval", "-f", "testdata/flags.json", "-f", "testdata/missing.json", "--flag", "bool-static"}},
	{name: "eval-invalid-json", args: []string{"eval", "-f", "testdata/invalid.json"}},
	{name: "eval-bad-type", args: []string{"eval", "-f", "testdata/flags.json", "--flag", "ratio", "--type", "decimal"}},
	{name: "eval-bad-context", args: []string{"eval", "-f", "testdata/flags.json", "--context", "[1,2]"}},
	{name: "eval-bundled-example", args: []string{"eval", "--flag", "new-checkout", "--context", `{"email":"ana@vexil.example"}`}},
	{name: "eval-bundled-example-all", args: []string{"eval"}},
	// validate.
	{name: "validate-ok", args: []string{"validate", "testdata/flags.json", "testdata/override.yaml"}},
	{name: "validate-strict", args: []string{"validate", "testdata/strict-only.json"}},
	{name: "validate-lax", args: []string{"validate", "--lax", "testdata/strict-only.json"}},
	{name: "validate-invalid-json", args: []string{"validate", "testdata/invalid.json"}},
	{name: "validate-ref-bomb", args: []string{"validate", "testdata/ref-bomb.json"}},
	{name: "validate-missing-file", args: []string{"validate", "testdata/missing.json", "testdata/flags.json"}},
	{name: "validate-output-json", args: []string{"validate", "--output", "json", "testdata/flags.json", "testdata/strict-only.json", "testdata/invalid.json", "testdata/missing.json"}},
	{name: "validate-output-json-lax", args: []string{"validate", "--lax", "-o", "json", "testdata/strict-only.json"}},
	{name: "validate-no-files", args: []string{"validate"}},
	{name: "validate-directory", args: []string{"validate", "testdata/lint"}},
	{name: "validate-directory-lax", args: []string{"validate", "--lax", "testdata/lint"}},
	{name: "validate-directory-json", args: []string{"validate", "-o", "json", "testdata/lint/team-b"}},
	{name: "validate-bad-output", args: []string{"validate", "--output", "xml", "testdata/flags.json"}},
	// start: only what ends before serving.
	{name: "start-help", args: []string{"start", "--help"}},
	{name: "start-bad-log-format", args: []string{"start", "--log-format", "xml"}},
	{name: "start-unknown-scheme", args: []string{"start", "-z", "json", "--bind-address", "127.0.0.1", "-p", "0", "-m", "0", "-g", "0", "-r", "0", "--uri", "gopher://bucket/flags.json"}},
	{name: "start-no-scheme", args: []string{"start", "-f", "flags.json"}},
	{name: "start-args", args: []string{"start", "flags.json"}},
	{name: "start-unknown-flag", args: []string{"start", "--frob"}},
	{name: "start-port-range", args: []string{"start", "-p", "65536"}},
	{name: "start-same-port", args: []string{"start", "-m", "8013"}},
	{name: "start-otel", args: []string{"start", "-t", "otel", "-o", "collector:4317", "--otel-cert-path", "c.pem"}},
	{name: "start-sources-unknown-field", args: []string{"start", "--strict", "-s", `[{"uri":"flags.json","provider":"file","pollInterval":5}]`}},
	{name: "start-config-unknown-key", args: []string{"start", "--config", "testdata/config/unknown-keys.yaml"}},
	{name: "start-sources-unsupported-provider", args: []string{"start", "--bind-address", "127.0.0.1", "-p", "0", "-m", "0", "-g", "0", "-r", "0", "-s", `[{"uri":"flags.json","provider":"ftp"}]`}},
	{name: "start-envoy-no-service", args: []string{"start", "--bind-address", "127.0.0.1", "-p", "0", "-m", "0", "-g", "0", "-r", "0", "--uri", "envoy://localhost:9211"}},
	// The command tree.
	{name: "unknown-command", args: []string{"frobnicate"}},
	{name: "version", args: []string{"version"}},
	{name: "version-flag", args: []string{"--version"}},
	{name: "version-args", args: []string{"version", "now"}},
	{name: "unknown-option", args: []string{"eval", "--frob"}},
}

// noEnv is an empty environment: the tests do not depend on the real one.
func noEnv(string) (string, bool) { return "", false }

func TestCLI(t *testing.T) {
	for _, tc := range cliCases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := execute(context.Background(), tc.args, noEnv, strings.NewReader(tc.stdin), &stdout, &stderr)
			got := formatGolden(tc.args, code, stdout.String(), stderr.String())
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (go test -update rewrites it)\n--- got ---\n%s--- want ---\n%s", path, got, want)
			}
		})
	}
}

func formatGolden(args []string, code int, stdout, stderr string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, ` "{}[]@`) {
			a = "'" + a + "'"
		}
		quoted[i] = a
	}
	return fmt.Sprintf("$ vexil %s\nexit: %d\n-- stdout --\n%s-- stderr --\n%s",
		strings.Join(quoted, " "), code, stdout, stderr)
}

// TestGoldenFilesUsed keeps testdata free of golden files no case writes.
func TestGoldenFilesUsed(t *testing.T) {
	names := map[string]bool{}
	for _, tc := range cliCases {
		if names[tc.name] {
			t.Errorf("two cases are named %s", tc.name)
		}
		names[tc.name] = true
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".golden"); !names[name] {
			t.Errorf("%s belongs to no test case", f)
		}
	}
}

func TestBuildVersion(t *testing.T) {
	for _, tt := range []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "vexil: dev (HEAD), built at: unknown"},
		{"devel, no VCS", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "vexil: dev (HEAD), built at: unknown"},
		{"release", &debug.BuildInfo{
			Main: debug.Module{Version: "v1.4.0"},
			Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"},
			},
		}, true, "vexil: v1.4.0 (0123abcd), built at: 2026-12-01T10:00:00Z"},
		{"local changes", &debug.BuildInfo{
			Main:     debug.Module{Version: "v1.4.1-0.20261201100000-0123abcd+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}},
		}, true, "vexil: v1.4.1-0.20261201100000-0123abcd+dirty (0123abcd-dirty), built at: unknown"},
	} {
		if got := buildVersion(tt.info, tt.ok); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
