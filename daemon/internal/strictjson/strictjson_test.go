package strictjson_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/strictjson"
)

// decode reads one whole value, as the fast paths do.
func decode(b []byte) (any, bool) {
	d := strictjson.New(b)
	d.Space()
	v, ok := d.Value(1)
	if !ok || !d.Done() {
		return nil, false
	}
	return v, true
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"a":[1,2.5,-0,1e21,"x\u00e9\ud83d\ude00",true,false,null,{}]}`, true},
		{`  "s"  `, true},
		{`{"a":1,"a":2}`, false}, // a duplicate key
		{`"\ud800"`, false},      // an unpaired surrogate
		{"\"\xff\"", false},      // invalid UTF-8
		{`1e400`, false},         // out of range
		{`01`, false},            // not JSON
		{`{"a":1} x`, false},     // trailing data
		{`[1,]`, false},          // a trailing comma
		{`{"a":1,}`, false},      // a trailing comma
		{`tru`, false},           // a truncated literal
		{`"a\x"`, false},         // a bad escape
		{"\"tab\there\"", false}, // a control character
		{`NaN`, false},           // not JSON
		{`[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]`, true},
	} {
		v, ok := decode([]byte(tc.in))
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.in, ok, tc.ok)
			continue
		}
		if ok {
			var want any
			if err := json.Unmarshal([]byte(tc.in), &want); err != nil || !reflect.DeepEqual(v, want) {
				t.Errorf("%q: %#v, encoding/json gives %#v (%v)", tc.in, v, want, err)
			}
		}
	}
}

// FuzzAgreesWithEncodingJSON: whatever the decoder accepts, encoding/json
// accepts too and decodes to the same value.
func FuzzAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,"b",null]}`, `"\u00e9"`, `1.5e3`, `{"a":{"b":{}}}`, `[true,false]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := decode(b)
		if !ok {
			return
		}
		var want any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", b, err)
		}
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("%q: %#v, encoding/json gives %#v", b, v, want)
		}
	})
}
