package evaluator

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeMatchesEncodingJSON holds the fast decoder to encoding/json:
// the same documents are accepted and decode to the same values.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, "{\"a\":\"\xff\"}", `{"a":1,"a":2}`, `[1e400]`, `"\ud800"`, `{"a":[1,2,{"b":null}]}`,
		`1.0000000000000001`, `-0`, `"\u0000"`, `{"a":"\ud83d\ude00"}`, `{"\u00e9":1}`, ` {} `, `[]`, `tru`,
		`{"a":01}`, `{"flags":{}} x`, `{"a":"<>&\u2028"}`, `[[[[[[[[[[]]]]]]]]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want any
		wantErr := json.Unmarshal(data, &want)
		got, gotErr := decode(data, FormatJSON)
		if len(data) == 0 || isBlank(data) {
			return // decode reports emptiness itself
		}
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%q: encoding/json error %v, decode error %v", data, wantErr, gotErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: encoding/json %#v, decode %#v", data, want, got)
		}
	})
}

func isBlank(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}
