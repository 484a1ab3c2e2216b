package store

import (
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

func fingerprintOf(t *testing.T, doc string) fingerprint {
	t.Helper()
	set, _, err := testParser().Parse("fp", []byte(doc), evaluator.FormatAuto)
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	f, ok := set.Flag("f")
	if !ok {
		t.Fatalf("%s: no flag f", doc)
	}
	var mc metaCache
	return flagFingerprint(f, &mc)
}

func TestFingerprint(t *testing.T) {
	const base = `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"identical", base, base, true},
		{"members reordered", base, `{"flags": {"f": {"defaultVariant": "on", "variants": {"off": false, "on": true}, "state": "ENABLED"}}}`, true},
		{"YAML", base, "flags:\n  f:\n    state: ENABLED\n    variants: {'on': true, 'off': false}\n    defaultVariant: 'on'\n", true},
		{"same number written differently", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1.0, "b": 2e0}, "defaultVariant": "a"}}}`, true},
		{"nested objects reordered", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": {"x": 1, "y": [1, 2]}}, "defaultVariant": "a"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"a": {"y": [1, 2], "x": 1}}, "defaultVariant": "a"}}}`, true},
		{"default variant", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}}}`, false},
		{"no default variant", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}}}}`, false},
		{"state", base, `{"flags": {"f": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`, false},
		{"state missing", base, `{"flags": {"f": {"variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`, false},
		{"values swapped between variants", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": false, "off": true}, "defaultVariant": "on"}}}`, false},
		{"variant renamed", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "of": false}, "defaultVariant": "on"}}}`, false},
		{"variant added", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false, "x": false}, "defaultVariant": "on"}}}`, false},
		{"value type", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"a": "1"}, "defaultVariant": "a"}}}`, false},
		{"array order", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": {"l": [1, 2]}}, "defaultVariant": "a"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"a": {"l": [2, 1]}}, "defaultVariant": "a"}}}`, false},
		{"targeting absent or empty", base, `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {}}}}`, false},
		{"targeting empty or null", `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": null}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {}}}}`, false},
		{"targeting", `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"var": "a"}, "on", "off"]}}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"var": "a"}, "off", "on"]}}}}`, false},
		{"targeting through $ref, same rule", `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"var": "a"}, "on", "off"]}}}}`,
			`{"$evaluators": {"r": {"var": "a"}}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"$ref": "r"}, "on", "off"]}}}}`, true},
		{"evaluator changed", `{"$evaluators": {"r": {"var": "a"}}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"$ref": "r"}, "on", "off"]}}}}`,
			`{"$evaluators": {"r": {"var": "b"}}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "targeting": {"if": [{"$ref": "r"}, "on", "off"]}}}}`, false},
		{"document metadata", base, `{"metadata": {"team": "a"}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`, false},
		{"flag set", `{"metadata": {"flagSetId": "a"}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}}`,
			`{"metadata": {"flagSetId": "b"}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}}`, false},
		{"metadata on the document or the flag", `{"metadata": {"team": "a"}, "flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"team": "a"}}}}`, false},
		{"metadata value type", `{"flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"v": 1}}}}`,
			`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"v": true}}}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := fingerprintOf(t, tt.a), fingerprintOf(t, tt.b)
			if (a == b) != tt.same {
				t.Errorf("same fingerprint = %v, want %v", a == b, tt.same)
			}
		})
	}
}

func TestMetaCache(t *testing.T) {
	shared := evaluator.Metadata{"a": "x"}
	own := evaluator.Metadata{"b": "y"}
	want := map[*evaluator.Metadata]fingerprint{&shared: hashObject(shared), &own: hashObject(own)}
	var mc metaCache
	for _, m := range []*evaluator.Metadata{&shared, &own, &shared, &shared, &own, &own, &shared} {
		if got := mc.hash(*m); got != want[m] {
			t.Fatalf("cached hash of %v differs", *m)
		}
	}
	if mc.hash(nil) != hashObject(nil) {
		t.Error("nil metadata")
	}
}

// TestFingerprintsParallel: the parallel path gives what the sequential
// one does.
func TestFingerprintsParallel(t *testing.T) {
	set, _, err := testParser().Parse("big", bigDoc(20_000, "on", "off"), evaluator.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	got := fingerprints(set.Flags())
	var mc metaCache
	for i, f := range set.Flags() {
		if want := flagFingerprint(f, &mc); got[i] != want {
			t.Fatalf("flag %d: %v, want %v", i, got[i], want)
		}
	}
}
