package logic

import (
	"encoding/json"
	"testing"
)

func TestDiagPointers(t *testing.T) {
	var rule any
	json.Unmarshal([]byte(`{"if":[{"and":[true,{"x~y/z":[1]}]},{"map":[[1],{"nope":1}]},"a"]}`), &rule)
	_, d := Compile(rule, Config{})
	want := []Diagnostic{{"/if/0/and/1/x~0y~1z", `unknown operator "x~y/z"`}, {"/if/1/map/1/nope", `unknown operator "nope"`}}
	if len(d) != len(want) || d[0] != want[0] || d[1] != want[1] {
		t.Fatalf("%v", d)
	}
}

func TestNeedsClock(t *testing.T) {
	cases := map[string]bool{
		`{"var":"email"}`:                            false,
		`{"==":[{"var":"a.b"},1]}`:                   false,
		`{"var":"$flagd.flagKey"}`:                   false,
		`{"var":"$flagd"}`:                           true,
		`{"var":"$flagd..timestamp"}`:                true,
		`{"var":"$flagd.timestamp"}`:                 true,
		`{"var":""}`:                                 true,
		`{"var":{"cat":["a","b"]}}`:                  true,
		`{"some":[[1],{"var":"x"}]}`:                 true,
		`{"missing":["a"]}`:                          true,
		`{"fractional":[["a",1]]}`:                   false,
		`{"if":[true,{"var":".."},{"var":"plain"}]}`: true,
	}
	for text, want := range cases {
		var rule any
		if err := json.Unmarshal([]byte(text), &rule); err != nil {
			t.Fatal(err)
		}
		p, _ := Compile(rule, Config{})
		if p.NeedsClock() != want {
			t.Errorf("%s: NeedsClock() = %v, want %v", text, p.NeedsClock(), want)
		}
	}
}

func TestNormalizeContext(t *testing.T) {
	native := map[string]any{"a": 1.5, "b": []any{"x", nil, true}, "c": map[string]any{"d": "e"}}
	got, err := NormalizeContext(native)
	if err != nil || &got == nil || len(got) != 3 {
		t.Fatal(err)
	}
	got["zz"] = 1.0 // the same map, not a copy
	if _, ok := native["zz"]; !ok {
		t.Error("a native context was copied")
	}
	type point struct{ X, Y int }
	got, err = NormalizeContext(map[string]any{"n": 3, "s": []string{"a"}, "p": point{1, 2}, "bad": "\xff"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"n": 3.0, "s": []any{"a"}, "p": map[string]any{"X": 1.0, "Y": 2.0}, "bad": "\ufffd"}
	if !sameValue(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	if _, err := NormalizeContext(map[string]any{"f": func() {}}); err == nil {
		t.Error("a function in the context was accepted")
	}
}
