package evaluator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedDocuments adds the test documents as fuzz seeds.
func seedDocuments(f *testing.F, exts ...string) {
	paths, _ := filepath.Glob("testdata/problems/*")
	more, _ := filepath.Glob("testdata/*.json")
	for _, p := range append(paths, more...) {
		if !slices.Contains(exts, filepath.Ext(p)) {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// valuePointers lists the pointers of every value in v, at most max, with
// the values.
func valuePointers(v any, prefix string, out map[string]any, max int) {
	if len(out) >= max {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := prefix + "/" + escapeToken(k)
			out[p] = e
			valuePointers(e, p, out, max)
		}
	case []any:
		for i, e := range x {
			p := prefix + "/" + strconv.Itoa(i)
			out[p] = e
			valuePointers(e, p, out, max)
		}
	}
}

// FuzzLocateJSON: in any JSON text that decodes, every pointer of the
// decoded value is located, at the name of the member (the last of that
// name, whose value decoding keeps) or at the element; and positions are
// lines and columns in characters.
func FuzzLocateJSON(f *testing.F) {
	seedDocuments(f, ".json")
	f.Add([]byte(`{"a~b": {"c/d": [1, {"e": "\u00e9"}]}, "a~b": {"c/d": [2]}}`))
	f.Add([]byte("\ufeff {\"x\": [[], {}, \"\\\"\"]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if json.Unmarshal(data, &v) != nil {
			Locate(data, FormatJSON, []string{"/a", "/0", "/flags/x/y"}) // no panic
			return
		}
		want := map[string]any{}
		valuePointers(v, "", want, 200)
		trie := &ptrTrie{}
		var ptrs []string
		for p := range want {
			trie.add(p)
			ptrs = append(ptrs, p)
		}
		offsets := map[string]int{}
		s := &jsonScanner{d: data}
		s.ws()
		if bytes.HasPrefix(data[s.i:], []byte("\ufeff")) {
			s.i += 3
		}
		s.locate(trie, offsets, 0)
		for p, val := range want {
			off, ok := offsets[p]
			if !ok {
				t.Fatalf("%s not located in %q", p, data)
			}
			toks := ptrTokens(p)
			parent := p[:strings.LastIndexByte(p, '/')]
			_, parentIsArray := want[parent].([]any)
			if parent == "" {
				_, parentIsArray = v.([]any)
			}
			dec := json.NewDecoder(bytes.NewReader(data[off:]))
			if !parentIsArray {
				var name string
				if err := dec.Decode(&name); err != nil || name != toks[len(toks)-1] {
					t.Fatalf("%s located at %d, where the name is %q (%v)", p, off, name, err)
				}
				rest := bytes.TrimLeft(data[off+int(dec.InputOffset()):], " \t\r\n")
				if len(rest) == 0 || rest[0] != ':' {
					t.Fatalf("%s: no ':' after the name", p)
				}
				dec = json.NewDecoder(bytes.NewReader(rest[1:]))
			}
			var got any
			if err := dec.Decode(&got); err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("%s located at %d: %v", p, off, err)
			}
			if !reflect.DeepEqual(got, val) {
				t.Fatalf("%s located at %d: value %v, want %v", p, off, got, val)
			}
		}
		positions := Locate(data, FormatJSON, ptrs)
		for p, off := range offsets {
			line := 1 + bytes.Count(data[:off], []byte{'\n'})
			col := utf8.RuneCount(data[bytes.LastIndexByte(data[:off], '\n')+1:off]) + 1
			if got := positions[p]; got != (Position{line, col}) {
				t.Fatalf("%s at offset %d: %+v, want %d:%d", p, off, got, line, col)
			}
		}
	})
}

// duplicatesByTokens is duplicateMembers written with encoding/json's
// tokenizer, for the fuzz test to compare with.
func duplicatesByTokens(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		seen   map[string]bool
		index  int
		path   string
		key    string // the member whose value comes next
		hasKey bool
	}
	var stack []*frame
	var out []string
	child := func() string {
		if len(stack) == 0 {
			return ""
		}
		top := stack[len(stack)-1]
		if top.object {
			return top.path + "/" + escapeToken(top.key)
		}
		return top.path + "/" + strconv.Itoa(top.index)
	}
	afterValue := func() {
		if len(stack) == 0 {
			return
		}
		top := stack[len(stack)-1]
		if top.object {
			top.hasKey = false
		} else {
			top.index++
		}
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.object && !top.hasKey {
				if k, ok := tok.(string); ok {
					if top.seen[k] {
						out = append(out, top.path+"/"+escapeToken(k))
					}
					top.seen[k], top.key, top.hasKey = true, k, true
					continue
				}
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, seen: map[string]bool{}, path: child()})
		case json.Delim('['):
			stack = append(stack, &frame{path: child()})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			afterValue()
		default:
			afterValue()
		}
	}
}

// FuzzDuplicateMembers: the members a JSON text repeats are those
// encoding/json's tokenizer sees repeated, in order, each at its name.
func FuzzDuplicateMembers(f *testing.F) {
	seedDocuments(f, ".json")
	f.Add([]byte(`{"a": 1, "a": {"b": [{"c": 1, "c": 2}], "\u0062": 3, "b": 4}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			duplicateMembers(data) // no panic
			return
		}
		want, err := duplicatesByTokens(data)
		if err != nil {
			t.Skip()
		}
		got := duplicateMembers(data)
		var ptrs []string
		for _, d := range got {
			ptrs = append(ptrs, d.ptr)
			if d.first >= d.again || data[d.first] != '"' || data[d.again] != '"' {
				t.Fatalf("%s: offsets %d, %d", d.ptr, d.first, d.again)
			}
		}
		if !slices.Equal(ptrs, want) {
			t.Fatalf("duplicates %q, want %q in %q", ptrs, want, data)
		}
	})
}

// FuzzLocateYAML: locating in any YAML text does not fail, and in a
// mapping of string keys every pointer is found.
func FuzzLocateYAML(f *testing.F) {
	seedDocuments(f, ".yaml")
	f.Add([]byte("flags:\n  a: &x {state: ENABLED}\n  b: *x\n  c: [1, {d: 2}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pos := Locate(data, FormatYAML, []string{"/flags", "/flags/a/state", "/flags/c/1/d", "/0"})
		for p, at := range pos {
			if at.Line < 1 || at.Column < 1 {
				t.Fatalf("%s at %+v", p, at)
			}
		}
		b := &builder{source: "fuzz"}
		b.yamlDuplicates(data)
	})
}

func TestLocateYAML(t *testing.T) {
	doc := []byte("flags:\n  a: &x {state: ENABLED}\n  b: *x\n  c:\n    - 1\n    - d: 2\n")
	got := Locate(doc, FormatYAML, []string{"/flags/a", "/flags/b/state", "/flags/c/1", "/flags/c/1/d", "/none", ""})
	want := map[string]Position{
		"/flags/a": {2, 3}, "/flags/b/state": {2, 10}, "/flags/c/1": {6, 7}, "/flags/c/1/d": {6, 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
