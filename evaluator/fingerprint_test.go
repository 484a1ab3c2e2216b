package evaluator_test

import (
	"strings"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

func fingerprintOf(t *testing.T, p *evaluator.Parser, doc, key string) evaluator.Fingerprint {
	t.Helper()
	set, _, err := p.Parse("fp", []byte(doc), evaluator.FormatAuto)
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	f, ok := set.Flag(key)
	if !ok {
		t.Fatalf("%s: no flag %s", doc, key)
	}
	return f.Fingerprint()
}

// TestFingerprint: the fingerprint changes with each part of a definition
// that changes how the flag evaluates or how it is reported, and with
// nothing else.
func TestFingerprint(t *testing.T) {
	const base = `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"identical", base, base, true},
		{"members reordered", base, `{"flags": {"f": {"defaultVariant": "on", "variants": {"off": false, "on": true}, "state": "ENABLED"}}}`, true},
		{"whitespace", base, `{"flags":{"f":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}}}`, true},
		{"other flags around it", base, `{"flags": {"a": {"state": "DISABLED"}, "f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}, "z": {}}}`, true},
		{"flags as an array", base, `{"flags": [{"key": "f", "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}]}`, true},
		{"YAML", base, "flags:\n  f:\n    state: ENABLED\n    variants: {'on': true, 'off': false}\n    defaultVariant: 'on'\n", true},
		{"same number written differently", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1.0, "b": 2e0}, "defaultVariant": "a"}}}`, true},
		{"nested objects reordered", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": {"x": 1, "y": [1, 2]}}, "defaultVariant": "a"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"a": {"y": [1, 2], "x": 1}}, "defaultVariant": "a"}}}`, true},
		{"targeting members reordered", `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"==": [{"var": "a"}, {"x": 1, "y": 2}]}, "on", "off"]}}}}`,
			`{"flags": {"f": {"targeting": {"if": [{"==": [{"var": "a"}, {"y": 2, "x": 1}]}, "on", "off"]}, "defaultVariant": "on", "variants": {"on": true, "off": false}, "state": "ENABLED"}}}`, true},
		{"metadata reordered", `{"metadata": {"a": 1, "b": 2}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"c": 3, "d": 4}}}}`,
			`{"flags": {"f": {"metadata": {"d": 4, "c": 3}, "state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}, "metadata": {"b": 2, "a": 1}}`, true},
		{"default variant", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}}}`, false},
		{"no default variant", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}}}}`, false},
		{"state", base, `{"flags": {"f": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`, false},
		{"state missing", base, `{"flags": {"f": {"variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`, false},
		{"values swapped between variants", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": false, "off": true}, "defaultVariant": "on"}}}`, false},
		{"variant renamed", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "of": false}, "defaultVariant": "on"}}}`, false},
		{"variant added", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false, "x": false}, "defaultVariant": "on"}}}`, false},
		{"value type", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"a": "1"}, "defaultVariant": "a"}}}`, false},
		{"number", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1.5}, "defaultVariant": "a"}}}`, false},
		{"array order", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": {"l": [1, 2]}}, "defaultVariant": "a"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"a": {"l": [2, 1]}}, "defaultVariant": "a"}}}`, false},
		{"nested member renamed", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": {"x": 1}}, "defaultVariant": "a"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"a": {"y": 1}}, "defaultVariant": "a"}}}`, false},
		{"targeting absent or empty", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {}}}}`, false},
		{"targeting empty or null", `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": null}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {}}}}`, false},
		{"targeting", `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"var": "a"}, "on", "off"]}}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"var": "a"}, "off", "on"]}}}}`, false},
		{"targeting through $ref, same rule", `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"var": "a"}, "on", "off"]}}}}`,
			`{"$evaluators": {"r": {"var": "a"}}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"$ref": "r"}, "on", "off"]}}}}`, true},
		{"evaluator changed", `{"$evaluators": {"r": {"var": "a"}}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"$ref": "r"}, "on", "off"]}}}}`,
			`{"$evaluators": {"r": {"var": "b"}}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"$ref": "r"}, "on", "off"]}}}}`, false},
		{"an unused evaluator changed", `{"$evaluators": {"r": {"var": "a"}, "u": {"var": "x"}}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"$ref": "r"}, "on", "off"]}}}}`,
			`{"$evaluators": {"r": {"var": "a"}, "u": {"var": "y"}}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"$ref": "r"}, "on", "off"]}}}}`, true},
		{"document metadata", base, `{"metadata": {"team": "a"}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`, false},
		{"flag set", `{"metadata": {"flagSetId": "a"}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}}`,
			`{"metadata": {"flagSetId": "b"}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}}`, false},
		{"metadata on the document or the flag", `{"metadata": {"team": "a"}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"team": "a"}}}}`, false},
		{"document metadata the flag's own hides", `{"metadata": {"team": "a"}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"team": "c"}}}}`,
			`{"metadata": {"team": "b"}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"team": "c"}}}}`, true},
		{"flag metadata", `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"v": 1}}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"v": 2}}}}`, false},
		{"metadata value type", `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"v": 1}}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"v": true}}}}`, false},
	}
	p := newParser(t, evaluator.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := fingerprintOf(t, p, tt.a, "f"), fingerprintOf(t, p, tt.b, "f")
			if (a == b) != tt.same {
				t.Errorf("same fingerprint = %v, want %v", a == b, tt.same)
			}
		})
	}
	// The key: it seeds fractional bucketing and is $flagd.flagKey.
	if fingerprintOf(t, p, base, "f") == fingerprintOf(t, p, strings.Replace(base, `"f"`, `"g"`, 1), "g") {
		t.Error("same fingerprint for another key")
	}
	// The fractional bucketing changes evaluation.
	const fractional = `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"fractional": [["on", 50], ["off", 50]]}}}}`
	if fingerprintOf(t, p, fractional, "f") == fingerprintOf(t, newParser(t, evaluator.Options{FractionalCBOR: true}), fractional, "f") {
		t.Error("same fingerprint with and without FractionalCBOR")
	}
}

// TestFingerprintStable: the fingerprint is the same whoever computes it
// (another parser, a parse that reuses the flag), and the flags that share
// their document's metadata, among flags that have their own, have the
// fingerprint they have alone.
func TestFingerprintStable(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"metadata": {"team": "a"}, "flags": {`)
	for i := range 20 {
		if i > 0 {
			b.WriteByte(',')
		}
		own := ""
		if i%3 == 0 {
			own = `, "metadata": {"owner": "x"}`
		}
		b.WriteString(`"f` + string(rune('a'+i)) + `": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"` + own + `}`)
	}
	b.WriteString(`}}`)
	doc := b.String()
	p, q := newParser(t, evaluator.Options{}), newParser(t, evaluator.Options{Strict: true})
	first, _, err := p.Parse("s", []byte(doc), evaluator.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := q.Parse("s", []byte(doc), evaluator.FormatJSON)
	reused, _, _ := p.ParseReusing("s", []byte(doc), evaluator.FormatJSON, previousOf(first))
	for _, f := range first.Flags() {
		for name, set := range map[string]*evaluator.FlagSet{"another parser": other, "reusing": reused} {
			if g, _ := set.Flag(f.Key()); g.Fingerprint() != f.Fingerprint() {
				t.Errorf("%s: %s: %v, want %v", name, f.Key(), g.Fingerprint(), f.Fingerprint())
			}
		}
		own := ""
		if len(f.OwnMetadata()) > 0 {
			own = `, "metadata": {"owner": "x"}`
		}
		alone := `{"metadata": {"team": "a"}, "flags": {"` + f.Key() + `": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"` + own + `}}}`
		if got := fingerprintOf(t, p, alone, f.Key()); got != f.Fingerprint() {
			t.Errorf("%s alone: %v, want %v", f.Key(), got, f.Fingerprint())
		}
	}
}

func newParser(t *testing.T, opts evaluator.Options) *evaluator.Parser {
	t.Helper()
	p, err := evaluator.NewParser(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
