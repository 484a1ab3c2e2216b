package ops

import (
	"math"

	"github.com/twmb/murmur3"
)

// MaxTotalWeight is the largest accepted weight, both for a single bucket
// and for the sum of all buckets of one fractional rule (math.MaxInt32).
const MaxTotalWeight = math.MaxInt32

// HashString returns the 32-bit MurmurHash3 (x86_32 variant, seed 0) of the
// UTF-8 bytes of s. This is the fractional v2 hash.
func HashString(s string) uint32 {
	return murmur3.StringSum32(s)
}

// bucketValue maps a 32-bit hash onto [0, total) with integer arithmetic:
// (hash * total) >> 32. total must be at most MaxTotalWeight.
func bucketValue(hash uint32, total int64) uint64 {
	return (uint64(hash) * uint64(total)) >> 32
}

// BucketV2 returns the index of the bucket that hash falls into, given the
// bucket weights in rule order. The hash is scaled onto [0, total) with
// (uint64(hash) * total) >> 32 and the first bucket whose cumulative weight
// is strictly greater than that value wins, so zero-weight buckets are never
// chosen. Negative weights count as 0. It returns -1 when the total weight is
// 0 (including an empty slice) or when a weight or the total exceeds
// MaxTotalWeight; flagd treats all of these as "no result".
//
// The same walk is used by fractional v3; only the hash differs.
func BucketV2(hash uint32, weights []int64) int {
	var total int64
	for _, w := range weights {
		if w > MaxTotalWeight {
			return -1
		}
		if w > 0 {
			total += w
		}
	}
	if total == 0 || total > MaxTotalWeight {
		return -1
	}
	b := bucketValue(hash, total)
	var end uint64
	for i, w := range weights {
		if w > 0 {
			end += uint64(w)
		}
		if b < end {
			return i
		}
	}
	return -1 // unreachable: b < total == end after the loop
}

// DistributionEntry interprets one bucket entry of a fractional rule, after
// JSONLogic has evaluated any rules nested inside it. An entry is an array
// [variant] or [variant, weight, ...ignored]:
//
//   - variant must be a string, bool, float64 or nil and is returned as is;
//     any other type (array, object) makes the whole rule invalid.
//   - weight defaults to 1 when absent or null; otherwise it must be a
//     float64 holding a whole number (1.5, NaN, ±Inf, or a magnitude of 2^63
//     or more are invalid), not above MaxTotalWeight. Negative weights are
//     clamped to 0. Strings, bools, arrays and objects are invalid.
//
// ok is false when the entry is not a non-empty []any or violates the above.
func DistributionEntry(entry any) (variant any, weight int64, ok bool) {
	arr, isArr := entry.([]any)
	if !isArr || len(arr) == 0 {
		return nil, 0, false
	}
	switch v := arr[0].(type) {
	case string, bool, float64, nil:
		variant = v
	default:
		return nil, 0, false
	}
	weight = 1
	if len(arr) >= 2 && arr[1] != nil {
		f, isNum := arr[1].(float64)
		if !isNum {
			return nil, 0, false
		}
		// flagd checks float64(int64(f)) == f; the only values that pass are
		// whole numbers in [-2^63, 2^63).
		if !(f >= -(1<<63) && f < 1<<63) || f != math.Trunc(f) {
			return nil, 0, false
		}
		weight = int64(f)
		if weight > MaxTotalWeight {
			return nil, 0, false
		}
		if weight < 0 {
			weight = 0
		}
	}
	return variant, weight, true
}

// pickVariant validates all bucket entries, then returns the variant of the
// bucket the hash selects, or nil if any entry is invalid or the total weight
// is 0 or above MaxTotalWeight. It does not allocate.
func pickVariant(hash uint32, entries []any) any {
	var total int64
	for _, e := range entries {
		_, w, ok := DistributionEntry(e)
		if !ok {
			return nil
		}
		total += w // cannot overflow: each w <= MaxInt32, len(entries) is small
	}
	if total == 0 || total > MaxTotalWeight {
		return nil
	}
	b := bucketValue(hash, total)
	var end uint64
	for _, e := range entries {
		v, w, _ := DistributionEntry(e)
		end += uint64(w)
		if b < end {
			return v
		}
	}
	return nil
}

// FractionalV2 evaluates flagd's current (v2) "fractional" operator on its
// already-evaluated arguments. flagKey is the evaluated flag's key
// ($flagd.flagKey) and targetingKey is the context's "targetingKey" value
// (nil when absent or null).
//
// If args[0] is a string it is the bucketing value and the remaining
// arguments are the bucket entries. Otherwise args[0] is dropped if it is nil
// and kept as the first bucket entry if not (so a number, bool or object
// there makes the rule invalid), and the bucketing value is flagKey
// immediately followed by targetingKey, which must be a non-empty string.
// The bucketing value is hashed with HashString and the bucket chosen as in
// BucketV2; entries are interpreted by DistributionEntry.
//
// The result is the chosen entry's variant (string, bool, float64 or nil),
// or nil when the arguments are invalid, the targeting key is missing, not a
// string or empty, or the total weight is 0.
func FractionalV2(args []any, flagKey string, targetingKey any) any {
	if len(args) == 0 {
		return nil
	}
	if s, ok := args[0].(string); ok {
		return pickVariant(HashString(s), args[1:])
	}
	entries := args
	if args[0] == nil {
		entries = args[1:]
	}
	tk, ok := targetingKey.(string)
	if !ok || tk == "" {
		return nil
	}
	return pickVariant(hashConcat(flagKey, tk), entries)
}

// Buckets are the bucket entries of a fractional rule, read once, for rules
// whose entries are constants.
type Buckets struct {
	variants []any
	weights  []int64
	valid    bool
}

// ParseBuckets reads entries as FractionalV2 does.
func ParseBuckets(entries []any) Buckets {
	b := Buckets{variants: make([]any, len(entries)), weights: make([]int64, len(entries)), valid: true}
	for i, e := range entries {
		v, w, ok := DistributionEntry(e)
		if !ok {
			return Buckets{}
		}
		b.variants[i], b.weights[i] = v, w
	}
	return b
}

// Pick returns the variant the hash falls on, or nil when the entries are
// invalid or weigh nothing: what pickVariant gives for the same entries.
func (b *Buckets) Pick(hash uint32) any {
	if !b.valid {
		return nil
	}
	i := BucketV2(hash, b.weights)
	if i < 0 {
		return nil
	}
	return b.variants[i]
}

// HashBytes is HashString(string(b)).
func HashBytes(b []byte) uint32 { return murmur3.Sum32(b) }

// HashConcat is HashString(a + b), without building the string when it
// fits a small stack buffer.
func HashConcat(a, b string) uint32 { return hashConcat(a, b) }

// hashConcat is HashString(a + b) without building the string when the
// result fits a small stack buffer.
func hashConcat(a, b string) uint32 {
	var buf [128]byte
	if len(a)+len(b) <= len(buf) {
		n := copy(buf[:], a)
		n += copy(buf[n:], b)
		return murmur3.Sum32(buf[:n])
	}
	return murmur3.StringSum32(a + b)
}

// FractionalV3 evaluates the "fractional" operator with v3 (CBOR) hashing,
// as specified by flagd's ADR "fractional-non-string-rand-units" and tested
// by the flagd-testbed @fractional-v3 scenarios, on already-evaluated
// arguments. flagKey and targetingKey are as for FractionalV2.
//
//   - args[0] nil: invalid, the result is nil (a missing variable is an
//     error, it does not fall back to the targeting key).
//   - args[0] any non-array value (string, number, bool, object): it is the
//     bucketing value, hashed with HashV3; the remaining arguments are the
//     bucket entries.
//   - args[0] an array: all arguments are bucket entries and the bucketing
//     value is the array [flagKey, targetingKey] (HashV3Implicit); the
//     targeting key must be a non-empty string, otherwise the result is nil.
//
// Bucket entries and the bucket walk are exactly as in FractionalV2.
func FractionalV3(args []any, flagKey string, targetingKey any) any {
	if len(args) == 0 || args[0] == nil {
		return nil
	}
	if _, isArr := args[0].([]any); !isArr {
		h, err := HashV3(args[0])
		if err != nil {
			return nil
		}
		return pickVariant(h, args[1:])
	}
	tk, ok := targetingKey.(string)
	if !ok || tk == "" {
		return nil
	}
	return pickVariant(HashV3Implicit(flagKey, tk), args)
}
