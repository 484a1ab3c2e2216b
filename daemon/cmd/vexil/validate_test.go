package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
// not flag documents: each is validated as the targeting of a flag
// (variant "a"); a positive rule must then have no problem but the
// wrapping's (names that are no variant of that flag) and constant
// conditions (unreachable branches, which some positive rules hold on
// purpose), and a negative one some other problem (of the schema, or the
// lint's finding of the same mistake).
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
	tmp := t.TempDir()
	for _, kind := range []string{"positive", "negative"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "targeting", kind, "*.json"))
		for _, path := range paths {
			count++
			rule, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			doc := fmt.Sprintf(`{"flags": {"f": {"state": "ENABLED", "variants": {"a": "a"}, "defaultVariant": "a", "targeting": %s}}}`, rule)
			wrapped := filepath.Join(tmp, kind+"-"+filepath.Base(path))
			if err := os.WriteFile(wrapped, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			_, out := runValidateJSON(t, wrapped)
			var others []problemJSON
			for _, p := range out.Files[0].Problems {
				if p.Check != "variant" && p.Check != "unreachable" {
					others = append(others, p)
				}
			}
			if kind == "positive" && len(others) > 0 {
				t.Errorf("%s: positive rule reported %+v", path, others)
			}
			if kind == "negative" && len(others) == 0 {
				t.Errorf("%s: negative rule accepted: %+v", path, out.Files[0].Problems)
			}
		}
	}
	if count < 30 {
		t.Errorf("only %d reference documents in %s", count, dir)
	}
}
