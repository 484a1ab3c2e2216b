package oracle

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

func TestJSONEqual(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, true},
		{`1`, `1.0`, true},
		{`100`, `1e2`, true},
		{`12345678901234567890`, `12345678901234567891`, false},
		{`[1,2]`, `[2,1]`, false},
		{`{"a":null}`, `{}`, false},
		{`"1"`, `1`, false},
		{`{"a":{"b":true}}`, `{"a":{"b":false}}`, false},
	} {
		if got := JSONEqual([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("JSONEqual(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestJSONDiff(t *testing.T) {
	for _, c := range []struct{ want, got, diff string }{
		{`{"a":{"b":1}}`, `{"a":{"b":1.0}}`, ""},
		{`{"a":{"b":1}}`, `{"a":{"b":2}}`, "at /a/b: 2, want 1"},
		{`{"a":{"b":1}}`, `{"a":{}}`, "at /a/b: absent, want 1"},
		{`{"a/b":[1]}`, `{"a/b":[1,2]}`, "at /a~1b: 2 elements, want 1"},
		{`[1]`, `{}`, "at /: {}, want an array"},
	} {
		if d := JSONDiff([]byte(c.want), []byte(c.got)); d != c.diff {
			t.Errorf("JSONDiff(%s, %s) = %q, want %q", c.want, c.got, d, c.diff)
		}
	}
}

func TestCompare(t *testing.T) {
	text := "404 page not found\n"
	want := Answer{Status: 404, Header: map[string]string{"Content-Type": "text/plain; charset=utf-8"}, Text: &text}
	if ms := Compare(want, want); len(ms) != 0 {
		t.Errorf("Compare(a, a) = %v", ms)
	}
	got := Answer{Status: 301, Header: map[string]string{"Location": "/x"}}
	aspects := map[string]int{}
	for _, m := range Compare(want, got) {
		aspects[m.Aspect]++
	}
	if !reflect.DeepEqual(aspects, map[string]int{"status": 1, "header": 2, "body": 1}) {
		t.Errorf("Compare aspects = %v", aspects)
	}
}

func TestRequestJSONRoundTrip(t *testing.T) {
	for _, r := range []Request{
		{Cat: "c", Port: PortEval, Method: "POST", Path: "/p", Body: `{"flagKey":"b"}`},
		{Cat: "c", Port: PortEval, Method: "POST", Path: "/p", Body: `{ "flagKey": "b" }`},
		{Cat: "c", Port: PortEval, Method: "POST", Path: "/p", Body: "{"},
		{Cat: "c", Port: PortSync, Method: "SyncFlags", Selector: "flagSetId=a", ProviderID: "p"},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Request
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Errorf("round trip of %s: %+v, want %+v", b, back, r)
		}
	}
}

// TestGenerateDeterministic checks that a scenario is the same whenever it
// is generated, and that its paths are sent as they are.
func TestGenerateDeterministic(t *testing.T) {
	for i := range len(families) {
		a, b := Generate(DefaultSeed, i), Generate(DefaultSeed, i)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("scenario %d differs between two generations", i)
		}
		for _, r := range a.Requests {
			if r.Port != PortSync && r.Port != PortEvalGRPC {
				if _, err := requestURL(1, r.Path); err != nil {
					t.Errorf("%s: %v", a.Name, err)
				}
			}
		}
	}
}

// TestCorpusMatchesGenerator checks that the recorded corpus is what the
// generator makes now (a generator change needs a re-recording).
func TestCorpusMatchesGenerator(t *testing.T) {
	dirs, err := ScenarioDirs("testdata")
	if err != nil || len(dirs) == 0 {
		t.Skip("no corpus")
	}
	for i := range DefaultScenarios {
		s := Generate(DefaultSeed, i)
		h, ex, err := ReadGolden("testdata/" + s.Name)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		if h.Flagd != FlagdCommit {
			t.Errorf("%s: recorded from flagd %s, want %s", s.Name, h.Flagd, FlagdCommit)
		}
		if !reflect.DeepEqual(h.URIs, s.URIs) || len(ex) != len(s.Requests) {
			t.Errorf("%s: the corpus is not what the generator makes; re-record it (cmd/record)", s.Name)
			continue
		}
		for j, e := range ex {
			if !reflect.DeepEqual(e.Req, s.Requests[j]) {
				t.Errorf("%s: request %d differs from the generator's; re-record it (cmd/record)", s.Name, j)
				break
			}
		}
		for _, f := range s.Files {
			b, err := os.ReadFile("testdata/" + s.Name + "/" + f.Path)
			if err != nil || string(b) != string(f.Content) {
				t.Errorf("%s: document %s differs from the generator's; re-record it", s.Name, f.Path)
			}
		}
	}
}

func TestNormalise(t *testing.T) {
	text := "proto:\u00a0syntax error"
	a := normalise(Answer{
		JSON: json.RawMessage(`{"message":"unmarshal message: proto:` + "\u00a0" + `x","m2":"proto:\u00a0y","flagSetId":"e499822a-bd04-4541-8317-e4733dbf98b6"}`),
		Text: &text,
	})
	if want := `{"message":"unmarshal message: proto: x","m2":"proto: y","flagSetId":"<uuid>"}`; string(a.JSON) != want {
		t.Errorf("normalised JSON %s, want %s", a.JSON, want)
	}
	if *a.Text != "proto: syntax error" {
		t.Errorf("normalised text %q", *a.Text)
	}
}
