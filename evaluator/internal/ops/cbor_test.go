package ops

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func TestAppendCBORVectors(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		// RFC 8949 Appendix A, where the value survives number normalisation.
		{0.0, "00"},
		{1.0, "01"},
		{10.0, "0a"},
		{23.0, "17"},
		{24.0, "1818"},
		{25.0, "1819"},
		{100.0, "1864"},
		{1000.0, "1903e8"},
		{1000000.0, "1a000f4240"},
		{1000000000000.0, "1b000000e8d4a51000"},
		{-1.0, "20"},
		{-10.0, "29"},
		{-100.0, "3863"},
		{-1000.0, "3903e7"},
		{1.1, "fb3ff199999999999a"},
		{1.5, "f93e00"},
		{5.960464477539063e-8, "f90001"}, // smallest float16 subnormal
		{0.00006103515625, "f90400"},     // smallest float16 normal
		{-4.1, "fbc010666666666666"},
		{1.0e+300, "fb7e37e43c8800759c"},
		{3.4028234663852886e+38, "fa7f7fffff"},
		{100000.5, "fa47c35040"},
		{math.Inf(1), "f97c00"},
		{math.Inf(-1), "f9fc00"},
		{math.NaN(), "f97e00"},
		{false, "f4"},
		{true, "f5"},
		{nil, "f6"},
		{"", "60"},
		{"a", "6161"},
		{"IETF", "6449455446"},
		{"\"\\", "62225c"},
		{"\u00fc", "62c3bc"},
		{"\u6c34", "63e6b0b4"},
		{[]any{}, "80"},
		{[]any{1.0, 2.0, 3.0}, "83010203"},
		{[]any{1.0, []any{2.0, 3.0}, []any{4.0, 5.0}}, "8301820203820405"},
		{map[string]any{}, "a0"},
		{map[string]any{"a": 1.0, "b": []any{2.0, 3.0}}, "a26161016162820203"},
		{[]any{"a", map[string]any{"b": "c"}}, "826161a161626163"},
		// flagd normalisation: whole floats become integers.
		{-0.0, "00"},
		{65504.0, "19ffe0"},
		{65505.0, "19ffe1"},
		{4294967296.0, "1b0000000100000000"},
		{9007199254740992.0, "1b0020000000000000"},
		{-9223372036854775808.0, "3b7fffffffffffffff"},            // -2^63: still an integer
		{-9223372036854777856.0, "fbc3e0000000000001"},            // next float below -2^63
		{9223372036854775808.0, "1b8000000000000000"},             // 2^63
		{18446744073709549568.0, "1bfffffffffffff800"},            // largest float below 2^64
		{18446744073709551616.0, "fa5f800000"},                    // 2^64: float
		{1e20, "fb4415af1d78b58c40"},                              // out of integer range, float64
		{map[string]any{"key": -0.0}, "a1636b657900"},             // -0.0 -> 0 inside maps too
		{map[string]any{"z": 1.0, "aa": 2.0}, "a2617a0162616102"}, // shorter key first
		{map[string]any{"b": 1.0, "a": 2.0}, "a2616102616201"},    // then bytewise
		{map[string]any{"\u00ff": 2.0, "aaa": 1.0}, "a262c3bf02636161610" + "1"},
		{[]any(nil), "f6"},
		{map[string]any(nil), "f6"},
		// Non-JSON Go numbers are normalised the same way.
		{3, "03"},
		{int64(-1), "20"},
		{int64(math.MinInt64), "3b7fffffffffffffff"},
		{uint64(math.MaxUint64), "1bffffffffffffffff"},
		{float32(1.5), "f93e00"},
		{float32(2), "02"},
		{json.Number("2.0"), "02"},
		{json.Number("1.1"), "fb3ff199999999999a"},
	}
	for _, tt := range tests {
		got, err := AppendCBOR(nil, tt.in)
		if err != nil {
			t.Errorf("AppendCBOR(%#v): %v", tt.in, err)
			continue
		}
		if hex.EncodeToString(got) != tt.want {
			t.Errorf("AppendCBOR(%#v) = %x, want %s", tt.in, got, tt.want)
		}
	}
}

func TestAppendCBORErrors(t *testing.T) {
	for _, v := range []any{struct{}{}, []string{"a"}, map[string]string{}, json.Number("x"), []any{1.0, make(chan int)}} {
		if _, err := AppendCBOR(nil, v); err == nil {
			t.Errorf("AppendCBOR(%T) succeeded, want error", v)
		}
		if _, err := HashV3(v); err == nil {
			t.Errorf("HashV3(%T) succeeded, want error", v)
		}
	}
	deep := any(1.0)
	for range maxCBORDepth + 1 {
		deep = []any{deep}
	}
	if _, err := AppendCBOR(nil, deep); err == nil {
		t.Error("AppendCBOR of a too deeply nested value succeeded")
	}
}

func TestAppendCBORAppends(t *testing.T) {
	got, err := AppendCBOR([]byte{0xaa}, "a")
	if err != nil || !bytes.Equal(got, []byte{0xaa, 0x61, 0x61}) {
		t.Errorf("AppendCBOR(prefix, \"a\") = %x, %v", got, err)
	}
}

// oracleCBOR is an independent rendering of flagd's v3 encoding: the number
// normalisation from the ADR, then fxamacker/cbor's Core Deterministic
// encoding, as in flagd's implementation (open-feature/flagd PR #2011).
func oracleCBOR(t testing.TB, v any) []byte {
	t.Helper()
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := em.Marshal(oracleNormalize(v))
	if err != nil {
		t.Fatalf("oracle encode %#v: %v", v, err)
	}
	return b
}

func oracleNormalize(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || x != math.Trunc(x) {
			return x
		}
		if x >= 0 && x <= 18446744073709549568.0 { // largest float64 below 2^64
			return uint64(x)
		}
		if x < 0 && x >= math.MinInt64 {
			return int64(x)
		}
		return x
	case []any:
		if x == nil {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = oracleNormalize(e)
		}
		return out
	case map[string]any:
		if x == nil {
			return x
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = oracleNormalize(e)
		}
		return out
	default:
		return v
	}
}

func TestAppendCBORMatchesOracle(t *testing.T) {
	floats := []float64{
		0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 1.1, 65504, 65504.5, 65519.99, 65520, 1e-7, 1e-8,
		5.960464477539063e-8, 2.9802322387695312e-8, 8.940696716308594e-8, 6.097555160522461e-05,
		6.103515625e-05, 1.1754943508222875e-38, 1.401298464324817e-45, 3.4028234663852886e+38,
		3.4028235677973366e+38, 3.5e38, math.MaxFloat64, math.SmallestNonzeroFloat64, 1e20, -1e20,
		9007199254740993, 1 << 63, -(1 << 63), 18446744073709549568.0, 123.456, 1.0 / 3,
		math.Inf(1), math.Inf(-1), math.NaN(),
	}
	for _, f := range floats {
		for _, v := range []any{f, -f, []any{f}, map[string]any{"k": f}} {
			got, err := AppendCBOR(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			if want := oracleCBOR(t, v); !bytes.Equal(got, want) {
				t.Errorf("AppendCBOR(%#v) = %x, oracle %x", v, got, want)
			}
		}
	}
	// Every float16 bit pattern, as float32 and float64 inputs.
	for h := range 1 << 16 {
		f := float64(float16ToFloat32(uint16(h)))
		if math.IsNaN(f) {
			continue
		}
		got, _ := AppendCBOR(nil, f)
		if want := oracleCBOR(t, f); !bytes.Equal(got, want) {
			t.Errorf("float16 %#04x: AppendCBOR(%v) = %x, oracle %x", h, f, got, want)
		}
	}
}

// float16ToFloat32 decodes IEEE 754 binary16 bits (test helper).
func float16ToFloat32(h uint16) float32 {
	sign := float32(1)
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * float32(math.Ldexp(frac, -24))
	case 31:
		if frac == 0 {
			return sign * float32(math.Inf(1))
		}
		return float32(math.NaN())
	default:
		return sign * float32(math.Ldexp(1024+frac, exp-25))
	}
}

// FuzzHashV3 decodes arbitrary JSON and checks that the encoding is
// deterministic, matches the fxamacker/cbor oracle byte for byte, and that
// HashV3 is the murmur3 hash of it.
func FuzzHashV3(f *testing.F) {
	for _, s := range []string{
		`null`, `true`, `0`, `-0.0`, `1.5`, `1e20`, `"user1"`, `[]`, `{}`,
		`{"a": 1, "b": 2}`, `{"c": 0.0, "b": -0.0, "a": {"b": []}}`,
		`{"café": "façade", "b": {"résumé": {"ÿ": true}}}`, `[1, "two", true, [], null]`,
		`65504.0`, `4.9406564584124654e-324`, `-2147483649`, `18446744073709551615`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return
		}
		a, err := AppendCBOR(nil, v)
		if err != nil {
			t.Fatalf("AppendCBOR: %v", err)
		}
		b, _ := AppendCBOR(nil, v)
		if !bytes.Equal(a, b) {
			t.Fatalf("non-deterministic encoding: %x vs %x", a, b)
		}
		if want := oracleCBOR(t, v); !bytes.Equal(a, want) {
			t.Fatalf("AppendCBOR(%s) = %x, oracle %x", data, a, want)
		}
		h1, err1 := HashV3(v)
		h2, err2 := HashV3(v)
		if err1 != nil || err2 != nil || h1 != h2 || h1 != murmur3Sum32(a) {
			t.Fatalf("HashV3 not deterministic or inconsistent: %d %d %v %v", h1, h2, err1, err2)
		}
	})
}

// FuzzAppendCBORFloat compares every float64 bit pattern the fuzzer finds
// with the oracle.
func FuzzAppendCBORFloat(f *testing.F) {
	for _, x := range []float64{0, 1.5, 65504, 5.960464477539063e-8, 3.4028234663852886e+38, 1e20, -1e300} {
		f.Add(math.Float64bits(x))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		x := math.Float64frombits(bits)
		got, err := AppendCBOR(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		if want := oracleCBOR(t, x); !bytes.Equal(got, want) {
			t.Fatalf("AppendCBOR(%v [%#x]) = %x, oracle %x", x, bits, got, want)
		}
	})
}
