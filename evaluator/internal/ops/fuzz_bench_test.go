package ops

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzBucketV2 decodes a list of weights from the fuzzer's bytes and checks
// BucketV2 against a straightforward reference walk.
func FuzzBucketV2(f *testing.F) {
	le := func(ws ...int64) []byte {
		var b []byte
		for _, w := range ws {
			b = binary.LittleEndian.AppendUint64(b, uint64(w))
		}
		return b
	}
	f.Add(uint32(0), le(25, 25, 25, 25))
	f.Add(uint32(math.MaxUint32), le(50, 50))
	f.Add(uint32(1<<31), le(-50, 100, 0))
	f.Add(uint32(7), le(math.MaxInt32, 1))
	f.Add(uint32(7), le(math.MinInt64, math.MaxInt64))
	f.Add(uint32(7), []byte{})
	f.Fuzz(func(t *testing.T, hash uint32, raw []byte) {
		weights := make([]int64, 0, len(raw)/8)
		for len(raw) >= 8 {
			w := int64(binary.LittleEndian.Uint64(raw))
			if len(raw)%3 == 0 { // keep many inputs in the valid range
				w %= 1 << 20
			}
			weights = append(weights, w)
			raw = raw[8:]
		}
		got := BucketV2(hash, weights)
		if again := BucketV2(hash, weights); again != got {
			t.Fatalf("non-deterministic: %d vs %d", got, again)
		}
		// Reference: big-enough arithmetic with explicit validation.
		var total int64
		valid := true
		for _, w := range weights {
			if w > MaxTotalWeight {
				valid = false
				break
			}
			total += max(w, 0)
		}
		if !valid || total == 0 || total > MaxTotalWeight {
			if got != -1 {
				t.Fatalf("BucketV2(%d, %v) = %d, want -1", hash, weights, got)
			}
			return
		}
		target := int64((uint64(hash) * uint64(total)) >> 32)
		want := -1
		var end int64
		for i, w := range weights {
			end += max(w, 0)
			if target < end {
				want = i
				break
			}
		}
		if got != want || want == -1 || weights[want] <= 0 {
			t.Fatalf("BucketV2(%d, %v) = %d, want %d", hash, weights, got, want)
		}
	})
}

var sink any

func BenchmarkHashStringBucketV2(b *testing.B) {
	weights := []int64{25, 25, 25, 25}
	keys := []string{"headerColorrachel@faas.com", "headerColormonica@faas.com", "headerColorjoey@faas.com"}
	n := 0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n += BucketV2(HashString(keys[i%len(keys)]), weights)
	}
	sink = n
}

func BenchmarkFractionalV2(b *testing.B) {
	args := []any{
		[]any{"red", 25.0}, []any{"blue", 25.0}, []any{"green", 25.0}, []any{"yellow", 25.0},
	}
	b.ReportAllocs()
	for b.Loop() {
		sink = FractionalV2(args, "headerColor", "rachel@faas.com")
	}
}

func BenchmarkFractionalV3(b *testing.B) {
	args := []any{
		[]any{"red", 25.0}, []any{"blue", 25.0}, []any{"green", 25.0}, []any{"yellow", 25.0},
	}
	b.ReportAllocs()
	for b.Loop() {
		sink = FractionalV3(args, "headerColor", "rachel@faas.com")
	}
}

func BenchmarkHashV3(b *testing.B) {
	for _, bc := range []struct {
		name string
		v    any
	}{
		{"string", "rachel@faas.com"},
		{"float", 1.23},
		{"map", map[string]any{"c": "text", "bbb": 1.0, "a": true, "dddd": 2.5}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h, _ := HashV3(bc.v)
				sink = h
			}
		})
	}
}

func BenchmarkSemVer(b *testing.B) {
	for _, bc := range []struct {
		name string
		args []any
	}{
		{"string", []any{"2.1.0-rc.1", ">=", "2.0.0"}},
		{"v-prefix", []any{"v1.2.3", "~", "v1.2.0"}},
		{"number", []any{1.2, ">", "1.1"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = SemVer(bc.args)
			}
		})
	}
}

func BenchmarkStartsWith(b *testing.B) {
	args := []any{"user@faas.com", "user@"}
	b.ReportAllocs()
	for b.Loop() {
		sink = StartsWith(args)
	}
}
