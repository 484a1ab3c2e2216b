package history

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type diffCase struct {
	Name   string          `json:"name"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

func loadDiffCases(t testing.TB) []diffCase {
	b, err := os.ReadFile(filepath.Join("testdata", "diff-cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs []diffCase
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// docOrNil maps a JSON null (a flag that is not there) to no document.
func docOrNil(m json.RawMessage) []byte {
	if string(m) == "null" {
		return nil
	}
	return m
}

// TestDiff checks each case of testdata/diff-cases.json against
// testdata/diff.golden.json (go test -run TestDiff -update rewrites it) and
// that applying the diff to before gives after.
func TestDiff(t *testing.T) {
	type result struct {
		Name string   `json:"name"`
		Diff []DiffOp `json:"diff"`
	}
	var got []result
	for _, c := range loadDiffCases(t) {
		ops, err := Diff(docOrNil(c.Before), docOrNil(c.After))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		checkApply(t, docOrNil(c.Before), docOrNil(c.After), ops)
		got = append(got, result{c.Name, ops})
	}
	out, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	golden := filepath.Join("testdata", "diff.golden.json")
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestDiff -update)", err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("diffs differ from %s (go test -run TestDiff -update rewrites it):\n%s", golden, out)
	}
}

func TestDiffErrors(t *testing.T) {
	for _, tc := range [][2]string{{`{`, `{}`}, {`{}`, `[1,`}, {`{} {}`, `{}`}, {`{}`, `tru`}} {
		if _, err := Diff([]byte(tc[0]), []byte(tc[1])); err == nil {
			t.Errorf("Diff(%q, %q) succeeded, want an error", tc[0], tc[1])
		}
	}
}

// FuzzDiff: for any two JSON documents, Diff's operations applied to the
// first give the second.
func FuzzDiff(f *testing.F) {
	for _, c := range loadDiffCases(f) {
		f.Add([]byte(docOrNil(c.Before)), []byte(docOrNil(c.After)))
	}
	f.Fuzz(func(t *testing.T, before, after []byte) {
		ops, err := Diff(before, after)
		if err != nil {
			return
		}
		checkApply(t, before, after, ops)
	})
}

// checkApply applies ops to before and compares the result with after.
func checkApply(t *testing.T, before, after []byte, ops []DiffOp) {
	t.Helper()
	doc, _ := decodeDoc(before, "before")
	want, _ := decodeDoc(after, "after")
	for _, op := range ops {
		var v any = absent
		if op.Op != "remove" {
			var err error
			if v, err = decodeDoc(op.Value, "value"); err != nil {
				t.Fatalf("op %+v: %v", op, err)
			}
		}
		var err error
		if doc, err = applyAt(doc, op.Path, v); err != nil {
			t.Fatalf("applying %+v: %v", op, err)
		}
	}
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("before + diff = %v, want %v (diff %+v)", doc, want, ops)
	}
}

// applyAt sets (or, with absent, removes) the value at a JSON pointer.
func applyAt(doc any, pointer string, v any) (any, error) {
	if pointer == "" {
		return v, nil
	}
	tok, rest, _ := strings.Cut(pointer[1:], "/")
	var next string
	if rest != "" || strings.Contains(pointer[1:], "/") {
		next = "/" + rest
	}
	tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
	switch d := doc.(type) {
	case map[string]any:
		if next == "" {
			if v == absent {
				delete(d, tok)
			} else {
				d[tok] = v
			}
			return d, nil
		}
		child, err := applyAt(d[tok], next, v)
		d[tok] = child
		return d, err
	case []any:
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(d) {
			return nil, &json.UnsupportedValueError{Str: "index " + tok}
		}
		if next == "" {
			d[i] = v
			return d, nil
		}
		d[i], err = applyAt(d[i], next, v)
		return d, err
	}
	return nil, &json.UnsupportedValueError{Str: "path into a scalar: " + pointer}
}
