package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvalKeyInSeveralFlagSets: eval serves the definition of a key that
// the daemon's store serves (store.Snapshot): of the flag sets of one
// source that define the key, the greatest flag set id; of several sources,
// the one listed last; a source listed twice counts at its first place.
func TestEvalKeyInSeveralFlagSets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	color := func(set, value string) string {
		meta := ""
		if set != "" {
			meta = `"metadata":{"flagSetId":"` + set + `"},`
		}
		return `{"key":"color",` + meta + `"state":"ENABLED","variants":{"v":"` + value + `"},"defaultVariant":"v"}`
	}
	// web is the greatest flag set id, defined first.
	sets := write("sets.json", `{"flags":[`+color("web", "web")+`,`+color("mobile", "mobile")+`,`+color("", "none")+`]}`)
	mobile := write("mobile.json", `{"flags":[`+color("mobile", "mobile file")+`]}`)

	cases := []struct {
		name   string
		files  []string
		want   string
		stderr string
	}{
		{"one file: the greatest flag set id", []string{sets}, "web", ""},
		{"the later file, whatever its flag set", []string{sets, mobile}, "mobile file", ""},
		{"the later file, whatever its flag set (reversed)", []string{mobile, sets}, "web", ""},
		{"a file listed twice counts at its first place", []string{sets, mobile, sets}, "mobile file",
			"warning: " + sets + " is listed twice; its first place counts\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			for _, f := range tc.files {
				args = append(args, "-f", f)
			}
			one, stderr := evalJSON(t, append(append([]string{"eval"}, args...), "--flag", "color"))
			if one["value"] != tc.want {
				t.Errorf("eval --flag color = %v, want %q", one["value"], tc.want)
			}
			if stderr != tc.stderr {
				t.Errorf("stderr %q, want %q", stderr, tc.stderr)
			}
			all, _ := evalJSON(t, append([]string{"eval"}, args...))
			flags, _ := all["flags"].(map[string]any)
			got, _ := flags["color"].(map[string]any)
			if got["stringValue"] != tc.want {
				t.Errorf("eval (all flags): color = %v, want %q", got["stringValue"], tc.want)
			}
		})
	}
}

// evalJSON runs the command line, which must succeed, decodes its output
// and returns its stderr.
func evalJSON(t *testing.T, args []string) (map[string]any, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := execute(context.Background(), args, noEnv, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
	}

	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v: %v: %s", args, err, stdout.String())
	}
	return out, stderr.String()
}
