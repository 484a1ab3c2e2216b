package blast_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/blast"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// snapshotOf loads documents into a store, one source each, later ones
// winning, as the daemon does.
func snapshotOf(t testing.TB, docs ...string) *store.Snapshot {
	t.Helper()
	names := make([]string, len(docs))
	for i := range docs {
		names[i] = fmt.Sprintf("source-%d", i)
	}
	st := store.New(store.Config{Sources: names})
	for i, doc := range docs {
		if _, err := st.Apply(syncsources.Update{Source: names[i], Data: []byte(doc), Format: evaluator.FormatAuto}); err != nil {
			t.Fatal(err)
		}
	}
	return st.Current()
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// contextLines returns n contexts as JSON lines.
func contextLines(n int) []byte {
	var b bytes.Buffer
	countries := []string{"de", "fr", "it", "es", "us"}
	for i := range n {
		fmt.Fprintf(&b, `{"targetingKey":"user-%d","country":%q,"plan":%q,"email":"u%d@%s"}`+"\n",
			i, countries[i%5], []string{"free", "pro"}[i%2], i, []string{"example.com", "vexil.example"}[i%3%2])
	}
	return b.Bytes()
}

// TestReportIndependentOfWorkers: the report is the same whatever the
// number of workers and the chunk size, examples included.
func TestReportIndependentOfWorkers(t *testing.T) {
	diffs := blast.Compare(snapshotOf(t, readFile(t, "testdata/old.json")), snapshotOf(t, readFile(t, "testdata/new.json")))
	if len(diffs) == 0 {
		t.Fatal("no flag differs")
	}
	lines := contextLines(3000)
	now := time.Unix(1700000000, 0)
	var want []byte
	for _, cfg := range []blast.Config{
		{Workers: 1, ChunkSize: 1000000},
		{Workers: 1, ChunkSize: 1},
		{Workers: 2, ChunkSize: 7},
		{Workers: 5, ChunkSize: 64},
		{Workers: 16, ChunkSize: 3},
		{},
	} {
		cfg.Now = now
		rep, err := blast.Run(context.Background(), diffs, blast.NewLineReader(bytes.NewReader(lines)), cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = got
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("workers %d, chunks of %d: the report differs\n got %s\nwant %s", cfg.Workers, cfg.ChunkSize, got, want)
		}
	}
}

// TestCompare: which flags differ, by fingerprint, with flagd's merge of
// sources and flag sets.
func TestCompare(t *testing.T) {
	flag := func(key, set, def string) string {
		meta := ""
		if set != "" {
			meta = `"metadata":{"flagSetId":"` + set + `"},`
		}
		return `"` + key + `":{` + meta + `"state":"ENABLED","variants":{"a":1,"b":2},"defaultVariant":"` + def + `"}`
	}
	old := snapshotOf(t,
		`{"flags":{`+flag("same", "", "a")+`,`+flag("shadowed", "", "a")+`,`+flag("gone", "", "a")+`}}`,
		`{"flags":{`+flag("shadowed", "", "b")+`,`+flag("set", "x", "a")+`}}`)
	// The override changes only in a lower source: the served definition
	// stays the same. In flag set x, "set" changes; in flag set y it is new.
	new := snapshotOf(t,
		`{"flags":{`+flag("same", "", "a")+`,`+flag("shadowed", "", "a")+`,`+flag("added", "", "b")+`}}`,
		`{"flags":{`+flag("shadowed", "", "b")+`,`+flag("set", "x", "b")+`}}`,
		`{"flags":{`+flag("set", "y", "a")+`}}`)
	var got []string
	for _, d := range blast.Compare(old, new) {
		got = append(got, fmt.Sprintf("%s/%s %s %s>%s", d.FlagSetID, d.Key, d.Change(), d.OldSource, d.NewSource))
	}
	want := []string{"/added added >source-0", "/gone removed source-0>", "x/set changed source-1>source-1", "y/set added >source-2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Compare =\n%q\nwant\n%q", got, want)
	}
}

// TestFirstBadContext: the error names the first bad context in input
// order, whichever worker meets it first.
func TestFirstBadContext(t *testing.T) {
	diffs := blast.Compare(snapshotOf(t, readFile(t, "testdata/old.json")), snapshotOf(t, readFile(t, "testdata/new.json")))
	lines := bytes.Split(contextLines(2000), []byte("\n"))
	lines[1500] = []byte(`"late"`)
	lines[700] = []byte(`{"broken":`)
	lines[1999] = []byte(`[]`)
	input := bytes.Join(lines, []byte("\n"))
	for _, workers := range []int{1, 2, 8} {
		for range 5 {
			_, err := blast.Run(context.Background(), diffs, blast.NewLineReader(bytes.NewReader(input)), blast.Config{Workers: workers, ChunkSize: 3})
			var ce *blast.ContextError
			if !errors.As(err, &ce) || ce.Where != "line 701" {
				t.Fatalf("workers %d: error %v, want one at line 701", workers, err)
			}
		}
	}
}

// TestInputError: an error of the input itself ends the run with it.
func TestInputError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(bytes.NewReader(contextLines(1000)), &failingReader{boom})
	_, err := blast.Run(context.Background(), nil, blast.NewLineReader(r), blast.Config{})
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "line 1001: ") {
		t.Errorf("error %v, want %v at line 1001", err, boom)
	}
}

type failingReader struct{ err error }

func (f *failingReader) Read([]byte) (int, error) { return 0, f.err }

// TestCanceled: a run ends when its context does.
func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := blast.Run(ctx, nil, blast.NewLineReader(bytes.NewReader(contextLines(100000))), blast.Config{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

// TestLineReader: what a line is.
func TestLineReader(t *testing.T) {
	long := `{"k":"` + strings.Repeat("x", 200<<10) + `"}`
	cases := []struct {
		name, in string
		want     []string // "LINE:TEXT"
		err      string
	}{
		{"empty", "", nil, ""},
		{"no final newline", "{}\n{\"a\":1}", []string{"1:{}", `2:{"a":1}`}, ""},
		{"blank lines and CRLF", "\r\n{}\r\n\n \t\n{}\n\n", []string{"2:{}", "5:{}"}, ""},
		{"spaces kept inside", `  { "a" : 1 }  `, []string{`1:{ "a" : 1 }`}, ""},
		{"a line longer than the buffer", "{}\n" + long + "\n{}", []string{"1:{}", "2:" + long, "3:{}"}, ""},
		{"a long last line", long, []string{"1:" + long}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := blast.NewLineReader(strings.NewReader(tc.in))
			var got []string
			for {
				text, pos, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%d:%s", pos, text))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %.80q, want %.80q", got, tc.want)
			}
		})
	}
}

// TestLineTooLong: a line past MaxLineBytes is an error naming it.
func TestLineTooLong(t *testing.T) {
	huge := io.MultiReader(strings.NewReader("{}\n\n"), strings.NewReader(strings.Repeat(" ", blast.MaxLineBytes+1)))
	r := blast.NewLineReader(huge)
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, _, err := r.Next()
	if err == nil || !strings.HasPrefix(err.Error(), "line 3: longer than") {
		t.Errorf("error %v, want line 3 too long", err)
	}
}

// TestDecodeContext: contexts decode as encoding/json decodes them, and
// only objects are contexts.
func TestDecodeContext(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{`{"a":[1,{"b":null}],"c":"\u00e9"}`, ""},
		{`{"a":1,"a":2}`, ""},    // duplicate keys: the last wins, as in encoding/json
		{"{\"a\":\"\xff\"}", ""}, // invalid UTF-8: replaced, as in encoding/json
		{`[1]`, "not a JSON object"},
		{`null`, "not a JSON object"},
		{`{"a":`, "not valid JSON: unexpected end of JSON input (at byte 5)"},
		{`{} {}`, "not valid JSON: invalid character '{' after top-level value (at byte 4)"},
	} {
		m, err := blast.DecodeContext([]byte(tc.in))
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		var want map[string]any
		if err := json.Unmarshal([]byte(tc.in), &want); err != nil {
			t.Fatal(err)
		}
		if err != nil || !reflect.DeepEqual(m, want) {
			t.Errorf("%s: %v, %v; want %v", tc.in, m, err, want)
		}
	}
}

// TestDocuments: contexts held in memory, as the daemon's API takes them.
func TestDocuments(t *testing.T) {
	in := &blast.Documents{Name: "contexts", Docs: []json.RawMessage{[]byte(`{}`), []byte(`{"a":1}`), []byte(`7`)}}
	_, err := blast.Run(context.Background(), nil, in, blast.Config{})
	if err == nil || err.Error() != "contexts[2]: not a JSON object" {
		t.Errorf("error %v", err)
	}
}

// TestNoVariant: a flag that is absent, disabled, has no variant to answer
// or errs answers no variant (null); a variant whose value changed is a
// change from the variant to itself.
func TestNoVariant(t *testing.T) {
	flag := func(key, body string) string {
		return `"` + key + `":{"state":"ENABLED","variants":{"a":1,"b":2},` + body + `}`
	}
	old := snapshotOf(t, `{"flags":{`+
		flag("errs", `"defaultVariant":"a"`)+`,`+
		flag("no-default", `"defaultVariant":"a"`)+`,`+
		flag("disabled", `"defaultVariant":"b"`)+`,`+
		flag("value", `"defaultVariant":"a"`)+`}}`)
	new := snapshotOf(t, `{"flags":{`+
		flag("errs", `"defaultVariant":"a","targeting":{"if":[{"var":"x"},"nope","b"]}`)+`,`+
		flag("no-default", `"defaultVariant":null,"targeting":{"if":[{"var":"x"},"b",null]}`)+`,`+
		strings.Replace(flag("disabled", `"defaultVariant":"b"`), "ENABLED", "DISABLED", 1)+`,`+
		`"value":{"state":"ENABLED","variants":{"a":10,"b":2},"defaultVariant":"a"}}}`)
	in := &blast.Documents{Name: "contexts", Docs: []json.RawMessage{[]byte(`{"x":true}`), []byte(`{}`)}}
	rep, err := blast.Run(context.Background(), blast.Compare(old, new), in, blast.Config{})
	if err != nil {
		t.Fatal(err)
	}
	name := func(v *string) string {
		if v == nil {
			return "null"
		}
		return *v
	}
	got := map[string][]string{}
	for _, f := range rep.Flags {
		for _, tr := range f.Transitions {
			got[f.Key] = append(got[f.Key], fmt.Sprintf("%s->%s:%d:%t", name(tr.From), name(tr.To), tr.Count, tr.ValueChanged))
		}
		for _, u := range f.Unchanged {
			got[f.Key] = append(got[f.Key], fmt.Sprintf("%s:%d", name(u.Variant), u.Count))
		}
	}
	want := map[string][]string{
		"errs":       {"a->null:1:false", "a->b:1:false"}, // equal counts: no variant first
		"no-default": {"a->null:1:false", "a->b:1:false"},
		"disabled":   {"b->null:2:false"},
		"value":      {"a->a:2:true"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}
