package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// diffCases run `vexil diff` in-process; each one's stdout, stderr and exit
// code are compared with testdata/diff/NAME.golden (go test -update
// rewrites them).
var diffCases = []struct {
	name  string
	args  []string
	stdin string
}{
	{name: "text", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/new.json", "--contexts", "testdata/diff/contexts.jsonl"}},
	{name: "json", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/new.json", "--contexts", "testdata/diff/contexts.jsonl", "--output", "json", "--examples", "1"}},
	{name: "directories", args: []string{"diff", "testdata/diff/olddir", "testdata/diff/newdir", "-c", "testdata/diff/contexts.jsonl", "--examples", "0"}},
	{name: "from-nothing", args: []string{"diff", "testdata/diff/nodocs", "testdata/diff/new.json", "-c", "testdata/diff/contexts.jsonl", "--examples", "0"}},
	{name: "stdin", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/new.json", "-c", "-", "-o", "json"}, stdin: `{"targetingKey":"user-2","country":"it","plan":"pro"}` + "\n"},
	{name: "same", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/old.json", "-c", "testdata/diff/contexts.jsonl"}},
	{name: "no-contexts", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/new.json", "-c", "-", "--examples", "0"}},
	{name: "bad-line", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/new.json", "-c", "testdata/diff/bad-line.jsonl"}},
	{name: "bad-json", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/new.json", "-c", "testdata/diff/bad-json.jsonl"}},
	{name: "bad-stdin", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/new.json", "-c", "-"}, stdin: "{}\n\"x\"\n"},
	{name: "missing-contexts-file", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/new.json", "-c", "testdata/diff/missing.jsonl"}},
	{name: "missing-old", args: []string{"diff", "testdata/diff/missing.json", "testdata/diff/new.json", "-c", "testdata/diff/contexts.jsonl"}},
	{name: "invalid-new", args: []string{"diff", "testdata/diff/old.json", "testdata/invalid.json", "-c", "testdata/diff/contexts.jsonl"}},
	{name: "no-contexts-flag", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/new.json"}},
	{name: "one-argument", args: []string{"diff", "testdata/diff/old.json", "-c", "testdata/diff/contexts.jsonl"}},
	{name: "bad-output", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/new.json", "-c", "testdata/diff/contexts.jsonl", "-o", "yaml"}},
	{name: "bad-examples", args: []string{"diff", "testdata/diff/old.json", "testdata/diff/new.json", "-c", "testdata/diff/contexts.jsonl", "--examples", "101"}},
	{name: "help", args: []string{"diff", "--help"}},
}

func TestDiffCLI(t *testing.T) {
	for _, tc := range diffCases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := execute(context.Background(), tc.args, noEnv, strings.NewReader(tc.stdin), &stdout, &stderr)
			got := formatGolden(tc.args, code, stdout.String(), stderr.String())
			path := filepath.Join("testdata", "diff", tc.name+".golden")
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

// TestDiffGoldenFilesUsed keeps testdata/diff free of golden files no case
// writes.
func TestDiffGoldenFilesUsed(t *testing.T) {
	names := map[string]bool{}
	for _, tc := range diffCases {
		if names[tc.name] {
			t.Errorf("two cases are named %s", tc.name)
		}
		names[tc.name] = true
	}
	files, err := filepath.Glob(filepath.Join("testdata", "diff", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".golden"); !names[name] {
			t.Errorf("%s belongs to no test case", f)
		}
	}
}
