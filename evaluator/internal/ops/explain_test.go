package ops

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzExplainFractional: ExplainFractional chooses what FractionalV2 and
// FractionalV3 choose, for any arguments.
func FuzzExplainFractional(f *testing.F) {
	for _, seed := range []string{
		`["user-1", ["a", 50], ["b", 50]]`,
		`[null, ["a", 10], ["b", 90]]`,
		`[["a"], ["b"]]`,
		`[{"k": 1}, ["a", 1], ["b", 0]]`,
		`[1.5, ["a", 1]]`,
		`["x", ["a", 0]]`,
		`["x", ["a", 2147483647], ["b", 1]]`,
		`[]`,
		`["x", ["a", "1"]]`,
	} {
		f.Add(seed, "flag", "tk")
		f.Add(seed, "", "")
	}
	f.Fuzz(func(t *testing.T, argsJSON, flagKey, tk string) {
		var args []any
		if json.Unmarshal([]byte(argsJSON), &args) != nil {
			return
		}
		var tkv any = tk
		if tk == "" {
			tkv = nil
		}
		for _, cbor := range []bool{false, true} {
			want := FractionalV2(args, flagKey, tkv)
			if cbor {
				want = FractionalV3(args, flagKey, tkv)
			}
			d := ExplainFractional(args, flagKey, tkv, cbor)
			if !reflect.DeepEqual(d.Variant, want) {
				t.Fatalf("cbor %v: %s: explain chose %#v, evaluation %#v (%+v)", cbor, argsJSON, d.Variant, want, d)
			}
		}
	})
}
