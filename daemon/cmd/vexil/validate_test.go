package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/internal/testenv"
)

// validateJSON runs `vexil validate -o json` on the paths.
func runValidateJSON(t *testing.T, paths ...string) (int, validateJSON) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := execute(context.Background(), append([]string{"validate", "-o", "json"}, paths...), noEnv, strings.NewReader(""), &stdout, &stderr)
	var out validateJSON
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("validate %v: %v\n%s%s", paths, err, stdout.String(), stderr.String())
	}
	return code, out
}

// TestValidateReferenceDocuments: `vexil validate` (strict) accepts every
// positive document of the flagd-schemas tests and rejects every negative
// one, each judged by the schema its $schema names (flags.json forbids the
// array form that flagd.json allows). The targeting documents are rules,
// not flag documents: `vexil validate --rules` judges them, and must
// likewise accept every positive one and reject every negative one.
func TestValidateReferenceDocuments(t *testing.T) {
	dir := filepath.Join(testenv.Schemas.Path(t), "json", "test")
	count := 0
	for _, sub := range []string{"flags", "flagd"} {
		for _, kind := range []string{"positive", "negative"} {
			paths, _ := filepath.Glob(filepath.Join(dir, sub, kind, "*.json"))
			for _, path := range paths {
				count++
				code, out := runValidateJSON(t, path)
				if kind == "positive" && code != 0 {
					t.Errorf("%s: positive document rejected: %+v", path, out.Files[0].Problems)
				}
				if kind == "negative" && code != 1 {
					t.Errorf("%s: negative document accepted (exit %d)", path, code)
				}
			}
		}
	}
	for _, kind := range []string{"positive", "negative"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "targeting", kind, "*.json"))
		for _, path := range paths {
			count++
			var stdout, stderr bytes.Buffer
			code := execute(context.Background(), []string{"validate", "--rules", "-o", "json", path}, noEnv, strings.NewReader(""), &stdout, &stderr)
			if kind == "positive" && code != 0 {
				t.Errorf("%s: positive rule rejected (exit %d): %s%s", path, code, stdout.String(), stderr.String())
			}
			if kind == "negative" && code != 1 {
				t.Errorf("%s: negative rule accepted (exit %d): %s%s", path, code, stdout.String(), stderr.String())
			}
		}
	}
	if count < 30 {
		t.Errorf("only %d reference documents in %s", count, dir)
	}
}

// TestValidateRules: a rule alone is judged as a flag's targeting, with
// its problems' pointers, lines and columns in the rule's own text, in
// JSON and YAML, and without the checks that need the flag.
func TestValidateRules(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cases := []struct {
		name, file, text string
		code             int
		pointer          string
		line, column     int
	}{
		{name: "constant branches are not judged", file: "ok.json", text: `{"if": [true, "yes", "no"]}`, code: 0},
		{name: "unknown sem_ver operator", file: "semver.json", text: "{\n  \"sem_ver\": [\"1.0.0\", \"~~\", \"1.0.0\"]\n}", code: 1, pointer: "/sem_ver/1", line: 2, column: 24},
		{name: "yaml", file: "semver.yaml", text: "sem_ver:\n  - 1.0.0\n  - \"~~\"\n  - 1.0.0\n", code: 1, pointer: "/sem_ver/1", line: 3, column: 5},
		{name: "not json", file: "bad.json", text: `{"if": [`, code: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := write(c.file, c.text)
			var stdout, stderr bytes.Buffer
			code := execute(context.Background(), []string{"validate", "--rules", "-o", "json", path}, noEnv, strings.NewReader(""), &stdout, &stderr)
			if code != c.code {
				t.Fatalf("exit %d, want %d: %s%s", code, c.code, stdout.String(), stderr.String())
			}
			var out validateJSON
			if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			if c.pointer == "" {
				return
			}
			for _, p := range out.Files[0].Problems {
				if p.Pointer == c.pointer && p.Line == c.line && p.Column == c.column {
					return
				}
			}
			t.Errorf("no problem at %s (%d:%d): %+v", c.pointer, c.line, c.column, out.Files[0].Problems)
		})
	}
}
