package evaluator_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

// previousOf looks flags up in a set, as the daemon's store looks them up
// in what a source serves.
func previousOf(set *evaluator.FlagSet) func(string) *evaluator.Flag {
	if set == nil {
		return nil
	}
	return func(key string) *evaluator.Flag {
		f, _ := set.Flag(key)
		return f
	}
}

// flagView is what can be observed of a flag.
type flagView struct {
	Key, Set, State, DefaultVariant string
	HasDefault, Disabled            bool
	Variants                        map[string]any
	Targeting                       string
	HasTargeting                    bool
	Metadata, Own                   evaluator.Metadata
	Result                          evaluator.Result
}

func viewOf(s *evaluator.FlagSet) []flagView {
	if s == nil {
		return nil
	}
	ctx := map[string]any{"email": "a@example.com", "targetingKey": "k", "version": "2.2.0"}
	var out []flagView
	for _, f := range s.Flags() {
		dv, has := f.DefaultVariant()
		tj, tp := f.TargetingJSON()
		r := s.Evaluate(f.Key(), evaluator.KindAny, ctx)
		if r.Err != nil {
			r.Err = &evaluator.Error{Code: r.Err.Code, Message: r.Err.Message}
		}
		out = append(out, flagView{f.Key(), f.FlagSetID(), f.State(), dv, has, f.Disabled(), f.Variants(), string(tj), tp, f.Metadata(), f.OwnMetadata(), r})
	}
	return out
}

// checkReuse parses b reusing the flags of a, and checks the answer is
// Parse's.
func checkReuse(t *testing.T, p *evaluator.Parser, a, b []byte, format evaluator.Format) (prev, got *evaluator.FlagSet) {
	t.Helper()
	prev, _, _ = p.Parse("s", a, format)
	got, gotProb, gotErr := p.ParseReusing("s", b, format, previousOf(prev))
	want, wantProb, wantErr := p.Parse("s", b, format)
	if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(gotProb, wantProb) {
		t.Fatalf("reusing: %v %v; parsing: %v %v", gotErr, gotProb, wantErr, wantProb)
	}
	if g, w := viewOf(got), viewOf(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("reusing gives\n%+v\nparsing gives\n%+v", g, w)
	}
	return prev, got
}

func TestParseReusingOneEdit(t *testing.T) {
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := generatedDoc(200)
	b := bytes.Replace(a, []byte(`"defaultVariant":"off"`), []byte(`"defaultVariant":"of"`), 1) // no such variant
	checkReuse(t, p, a, b, evaluator.FormatJSON)
	c := bytes.Replace(a, []byte(`"defaultVariant":"off"`), []byte(`"defaultVariant":"on"`), 1)
	prev, got := checkReuse(t, p, a, c, evaluator.FormatJSON)
	same := 0
	for _, f := range got.Flags() {
		if pf, _ := prev.Flag(f.Key()); pf == f {
			same++
		}
	}
	if same != got.Len()-1 {
		t.Errorf("%d of %d flags reused, want all but the edited one", same, got.Len())
	}
	// A change of the document's metadata or evaluators reuses nothing.
	d := bytes.Replace(a, []byte(`"in":["@example.com"`), []byte(`"in":["@example.org"`), 1)
	prev, got = checkReuse(t, p, a, d, evaluator.FormatJSON)
	for _, f := range got.Flags() {
		if pf, _ := prev.Flag(f.Key()); pf == f {
			t.Fatalf("flag %q reused after its document's evaluators changed", f.Key())
		}
	}
	// Another parser's flags are not reused.
	q, _ := evaluator.NewParser(evaluator.Options{Strict: true})
	other, _, _ := q.Parse("s", a, evaluator.FormatJSON)
	got, _, _ = p.ParseReusing("s", a, evaluator.FormatJSON, previousOf(other))
	for _, f := range got.Flags() {
		if pf, _ := other.Flag(f.Key()); pf == f {
			t.Fatalf("flag %q of another parser reused", f.Key())
		}
	}
}

func TestParseReusingTestdata(t *testing.T) {
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob("testdata/problems/*")
	paths = append(paths, "testdata/flags.json")
	var docs [][]byte
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, data)
	}
	for i, a := range docs {
		for j, b := range docs {
			t.Run(filepath.Base(paths[i])+"→"+filepath.Base(paths[j]), func(t *testing.T) {
				checkReuse(t, p, a, b, evaluator.FormatAuto)
				checkReuse(t, p, b, b, evaluator.FormatAuto)
			})
		}
	}
}

// FuzzParseReusing: parsing a document reusing the flags of another gives
// what parsing it alone gives.
func FuzzParseReusing(f *testing.F) {
	flags, _ := os.ReadFile("testdata/flags.json")
	f.Add(flags, flags)
	f.Add([]byte(benchDoc), []byte(benchDoc))
	f.Add(generatedDoc(5), generatedDoc(6))
	f.Add(refChainDoc(40, map[string]int{"fine": 3}, false), refChainDoc(40, map[string]int{"bomb": 40}, false))
	f.Add([]byte(`{"flags":{"a":{"state":"ENABLED","variants":{"x":1},"defaultVariant":"x"}}}`),
		[]byte(`{"flags":{"a":{"state":"ENABLED","variants":{"x":1},"defaultVariant":"x"},"a":{"state":"DISABLED","variants":{"x":1},"defaultVariant":"x"}}}`))
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if !json.Valid(a) && !json.Valid(b) && len(a)%2 == 0 {
			return // keep most of the effort on documents
		}
		checkReuse(t, p, a, b, evaluator.FormatAuto)
	})
}
