package ops

import (
	"testing"
)

func TestSemVer(t *testing.T) {
	tests := []struct {
		v, op, target any
		want          any
	}{
		{"2.0.0", "=", "2.0.0", true},
		{"2.1.0", ">", "2.0.0", true},
		{"1.9.0", "<", "2.0.0", true},
		{"2.0.0-alpha", "<", "2.0.0", true},
		{"2.0.0-alpha", "=", "2.0.0", false},
		{"2.0.0-alpha.1", ">", "2.0.0-alpha", true},
		{"2.0.0-alpha.beta", ">", "2.0.0-alpha.1", true},
		{"2.0.0-rc.11", ">", "2.0.0-rc.2", true},
		{"2.0.0", "!=", "2.0.1", true},
		{"2.0.0", "!=", "2.0.0", false},
		{"2.0.0", "<=", "2.0.0", true},
		{"2.0.1", "<=", "2.0.0", false},
		{"2.0.0", ">=", "2.0.0", true},
		{"1.9.9", ">=", "2.0.0", false},
		{"3.0.1", "~", "3.0.0", true},
		{"3.1.0", "~", "3.0.0", false},
		{"3.1.0", "^", "3.0.0", true},
		{"4.0.0", "^", "3.0.0", false},
		{"0.2.0", "^", "0.1.0", true}, // no special case for 0.x
		{"3.0.1-rc.1", "~", "3.0.0", true},
		// v prefix
		{"v1.0.0", "=", "1.0.0", true},
		{"V1.0.0", "=", "v1.0.0", true},
		{"1.0.0", "=", "V1.0.0", true},
		{"vV1.0.0", "=", "1.0.0", nil},
		{"VV1.0.0", "=", "1.0.0", nil},
		{"v", "=", "1.0.0", nil},
		// partial versions are padded with zeros
		{"1", "=", "1.0.0", true},
		{"1.0", "=", "1.0.0", true},
		{"1.5.0", "^", "1", true},
		{"1.2", ">", "1.1", true},
		{"1-rc.1", "=", "1.0.0-rc.1", nil},
		{"1.2-rc.1", "=", "1.2.0-rc.1", nil},
		// numbers are formatted with %v
		{1.0, "^", "1", true},
		{1.2, ">", "1.1", true},
		{1.1, ">", "1.1", false},
		{2.0, ">", "1.1", true},
		{1, "=", "1.0.0", true},
		{1.2, "=", 1.2, true},
		{1e21, "=", "1.0.0", nil}, // "1e+21"
		{-1.0, "=", "1.0.0", nil},
		// build metadata is ignored
		{"1.0.0+other", "=", "1.0.0+build", true},
		{"1.0.0", "=", "1.0.0+build", true},
		{"1.0.0+a", ">", "1.0.0+b", false},
		// invalid input -> nil
		{"2.0.0.0", "=", "2.0.0.0", nil},
		{"2.0.0.0", "=", "2.0.0", nil},
		{"not-a-version", "=", "1.0.0", nil},
		{"01.0.0", "=", "1.0.0", nil},
		{"", "=", "1.0.0", nil},
		{"1.0.0", "===", "1.0.0", nil},
		{"1.0.0", "==", "1.0.0", nil},
		{"1.0.0", "", "1.0.0", nil},
		{"1.0.0", 1.0, "1.0.0", nil},
		{"1.0.0", nil, "1.0.0", nil},
		{nil, "=", "1.0.0", nil},
		{"1.0.0", "=", nil, nil},
		{true, "=", "1.0.0", nil},
		{[]any{"1.0.0"}, "=", "1.0.0", nil},
		{map[string]any{}, "=", "1.0.0", nil},
		{" 1.0.0", "=", "1.0.0", nil},
	}
	for _, tt := range tests {
		if got := SemVer([]any{tt.v, tt.op, tt.target}); got != tt.want {
			t.Errorf("SemVer(%#v, %#v, %#v) = %#v, want %#v", tt.v, tt.op, tt.target, got, tt.want)
		}
	}
	for _, args := range [][]any{nil, {}, {"1.0.0"}, {"1.0.0", "="}, {"1.0.0", "=", "1.0.0", "x"}} {
		if got := SemVer(args); got != nil {
			t.Errorf("SemVer(%#v) = %#v, want nil", args, got)
		}
	}
}

func FuzzSemVer(f *testing.F) {
	for _, s := range [][3]string{
		{"1.0.0", "=", "1.0.0"}, {"v2.0.0-alpha", "<", "2"}, {"V1.2", "~", "1.2.9"},
		{"1.0.0+b", ">=", "1.0.0"}, {"2.0.0.0", "^", "x"}, {"1.0.0", "===", "1"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	ops := []string{"=", "!=", "<", "<=", ">", ">=", "^", "~"}
	f.Fuzz(func(t *testing.T, a, op, b string) {
		got := SemVer([]any{a, op, b})
		if got2 := SemVer([]any{a, op, b}); got != got2 {
			t.Fatalf("non-deterministic: %v vs %v", got, got2)
		}
		if got != nil {
			if _, ok := got.(bool); !ok {
				t.Fatalf("result %#v is neither bool nor nil", got)
			}
		}
		// Either both versions are valid (every operator answers) or none does.
		res := make(map[string]any, len(ops))
		for _, o := range ops {
			res[o] = SemVer([]any{a, o, b})
		}
		if res["="] == nil {
			for o, r := range res {
				if r != nil {
					t.Fatalf("%q %s %q = %v but = is nil", a, o, b, r)
				}
			}
			return
		}
		eq, lt, gt := res["="].(bool), res["<"].(bool), res[">"].(bool)
		if btoi(eq)+btoi(lt)+btoi(gt) != 1 ||
			res["!="] != !eq || res["<="] != (lt || eq) || res[">="] != (gt || eq) {
			t.Fatalf("inconsistent results for %q vs %q: %v", a, b, res)
		}
		if eq && (res["^"] != true || res["~"] != true) {
			t.Fatalf("%q = %q but ^/~ false", a, b)
		}
		if SemVer([]any{b, "<", a}) != gt || SemVer([]any{a, "=", a}) != true {
			t.Fatalf("asymmetric comparison for %q vs %q", a, b)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestStartsEndsWith(t *testing.T) {
	tests := []struct {
		args       []any
		start, end any
	}{
		{[]any{"abcdef", "abc"}, true, false},
		{[]any{"uvwxyz", "xyz"}, false, true},
		{[]any{"abc", "abc"}, true, true},
		{[]any{"abc", ""}, true, true},
		{[]any{"", "a"}, false, false},
		{[]any{"ABCdef", "abc"}, false, false},
		{[]any{"café", "é"}, false, true},
		{[]any{123.0, "1"}, nil, nil},
		{[]any{"3", 3.0}, nil, nil},
		{[]any{nil, "a"}, nil, nil},
		{[]any{"a", nil}, nil, nil},
		{[]any{true, "t"}, nil, nil},
		{[]any{"abc"}, nil, nil},
		{[]any{"abc", "a", "b"}, nil, nil},
		{[]any{}, nil, nil},
		{nil, nil, nil},
	}
	for _, tt := range tests {
		if got := StartsWith(tt.args); got != tt.start {
			t.Errorf("StartsWith(%#v) = %#v, want %#v", tt.args, got, tt.start)
		}
		if got := EndsWith(tt.args); got != tt.end {
			t.Errorf("EndsWith(%#v) = %#v, want %#v", tt.args, got, tt.end)
		}
	}
}
