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
)

// TestDiffAPIAgreesWithCLI: a running daemon's POST /api/v1/diff, given a
// proposed document for one of its sources, answers what `vexil diff
// --output json` prints for the same flags before and after and the same
// contexts (the names of the sources apart).
func TestDiffAPIAgreesWithCLI(t *testing.T) {
	read := func(path string) string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	oldDoc, newDoc := read("testdata/diff/old.json"), read("testdata/diff/new.json")
	override := read("testdata/diff/olddir/20-override.yaml")
	contextsFile := "testdata/diff/contexts.jsonl"
	var contexts []json.RawMessage
	for line := range strings.Lines(read(contextsFile)) {
		if line = strings.TrimSpace(line); line != "" {
			contexts = append(contexts, json.RawMessage(line))
		}
	}

	// The daemon serves old.json overridden by the YAML file, as
	// testdata/diff/olddir holds them.
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	base, over := write("10-base.json", oldDoc), write("20-override.yaml", override)
	addr := startDaemon(t, base, over).Management

	quote := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	cases := []struct {
		name     string
		source   string          // the source proposed
		document json.RawMessage // its proposed document
		format   string
		examples *int
		newFiles map[string]string // NEW for the CLI: the directory's files
	}{
		{"the base replaced", base, json.RawMessage(newDoc), "", nil,
			map[string]string{"10-base.json": newDoc, "20-override.yaml": override}},
		{"the override emptied, as a string", over, quote("flags: {}\n"), "", intPtr(1),
			map[string]string{"10-base.json": oldDoc, "20-override.yaml": "flags: {}\n"}},
		{"no change", base, quote(oldDoc), "json", intPtr(0),
			map[string]string{"10-base.json": oldDoc, "20-override.yaml": override}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			newDir := t.TempDir()
			for name, content := range tc.newFiles {
				if err := os.WriteFile(filepath.Join(newDir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"diff", "testdata/diff/olddir", newDir, "--contexts", contextsFile, "--output", "json"}
			if tc.examples != nil {
				args = append(args, "--examples", jsonInt(*tc.examples))
			}
			var stdout, stderr bytes.Buffer
			if code := execute(context.Background(), args, noEnv, strings.NewReader(""), &stdout, &stderr); code != 0 {
				t.Fatalf("vexil diff: exit %d: %s", code, stderr.String())
			}
			cli := withoutSources(t, stdout.Bytes())

			req, _ := json.Marshal(map[string]any{
				"source": tc.source, "document": tc.document, "format": tc.format, "contexts": contexts, "examples": tc.examples,
			})
			resp, err := http.Post("http://"+addr+"/api/v1/diff", "application/json", bytes.NewReader(req))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /api/v1/diff: %d %s", resp.StatusCode, body)
			}
			api := withoutSources(t, body)
			if !reflect.DeepEqual(api, cli) {
				a, _ := json.MarshalIndent(api, "", " ")
				c, _ := json.MarshalIndent(cli, "", " ")
				t.Errorf("the API answers\n%s\nthe CLI prints\n%s", a, c)
			}
		})
	}
}

func intPtr(n int) *int { return &n }

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

// withoutSources decodes a diff report and drops what names sources (the
// daemon names them by path, the CLI by its arguments) and the document's
// warnings.
func withoutSources(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var rep map[string]any
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	delete(rep, "problems")
	flags, _ := rep["flags"].([]any)
	for _, f := range flags {
		delete(f.(map[string]any), "oldSource")
		delete(f.(map[string]any), "newSource")
	}
	return rep
}
