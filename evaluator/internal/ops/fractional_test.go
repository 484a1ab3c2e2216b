package ops

import (
	"math"
	"reflect"
	"testing"
)

func TestHashStringEdgeVectors(t *testing.T) {
	// Preimages published in the flagd-testbed "hash edge cases" scenario.
	tests := []struct {
		in   string
		want uint32
	}{
		{"ejOoVL", 0},
		{"bY9fO-", 1},
		{"SI7p-", 2147483647},
		{"6LvT0", 2147483648},
		{"ceQdGm", 4294967295},
		{"", 0}, // murmur3 x86_32 of no bytes with seed 0
	}
	for _, tt := range tests {
		if got := HashString(tt.in); got != tt.want {
			t.Errorf("HashString(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestBucketV2EdgeVectors(t *testing.T) {
	// fractional-hash-edge-flag: [lower 50, upper 50]; hash h -> (h*100)>>32.
	w := []int64{50, 50}
	tests := []struct {
		key  string
		want int
	}{
		{"ejOoVL", 0}, // bucket value 0
		{"bY9fO-", 0}, // 0
		{"SI7p-", 0},  // 49
		{"6LvT0", 1},  // 50
		{"ceQdGm", 1}, // 99
	}
	for _, tt := range tests {
		if got := BucketV2(HashString(tt.key), w); got != tt.want {
			t.Errorf("BucketV2(HashString(%q)) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestBucketV2Pinned(t *testing.T) {
	colors := []string{"red", "blue", "green", "yellow"}
	weights := []int64{25, 25, 25, 25}
	suits := []string{"clubs", "diamonds", "hearts", "spades"}
	tests := []struct {
		seed string
		want string
		vars []string
	}{
		// flagKey "headerColor" + email, no separator.
		{"headerColor" + "rachel@faas.com", "blue", colors},
		{"headerColor" + "monica@faas.com", "yellow", colors},
		{"headerColor" + "joey@faas.com", "red", colors},
		{"headerColor" + "ross@faas.com", "blue", colors},
		// flagd-testbed @fractional-v2 rows, "fractional-flag" + user.name.
		{"fractional-flag" + "jack", "hearts", suits},
		{"fractional-flag" + "queen", "spades", suits},
		{"fractional-flag" + "ten", "clubs", suits},
		{"fractional-flag" + "nine", "diamonds", suits},
		{"fractional-flag" + "3", "clubs", suits},
		// shared seed rows: "shared-seed" + user.name.
		{"shared-seed" + "seven", "hearts", suits},
		{"shared-seed" + "eight", "diamonds", suits},
		{"shared-seed" + "nine", "clubs", suits},
		{"shared-seed" + "two", "spades", suits},
	}
	for _, tt := range tests {
		i := BucketV2(HashString(tt.seed), weights)
		if i < 0 || tt.vars[i] != tt.want {
			t.Errorf("BucketV2(%q) = %d, want %s", tt.seed, i, tt.want)
		}
	}
}

func TestBucketV2(t *testing.T) {
	const maxU = math.MaxUint32
	tests := []struct {
		name    string
		hash    uint32
		weights []int64
		want    int
	}{
		{"nil weights", 123, nil, -1},
		{"all zero", 123, []int64{0, 0}, -1},
		{"all negative", 123, []int64{-5, -1}, -1},
		{"single", maxU, []int64{1}, 0},
		{"single zero hash", 0, []int64{7}, 0},
		{"zero hash picks first non-zero", 0, []int64{0, -3, 5, 5}, 2},
		{"max hash picks last non-zero", maxU, []int64{5, 5, 0, 0}, 1},
		{"negative clamped", maxU, []int64{-50, 100}, 1},
		{"negative clamped low", 0, []int64{-50, 100}, 1},
		{"half boundary low", 1<<31 - 1, []int64{1, 1}, 0},
		{"half boundary high", 1 << 31, []int64{1, 1}, 1},
		{"max total", maxU, []int64{math.MaxInt32}, 0},
		{"max total split", maxU, []int64{math.MaxInt32 - 1, 1}, 1},
		{"weight above max", 5, []int64{math.MaxInt32 + 1}, -1},
		{"sum above max", 5, []int64{math.MaxInt32, 1}, -1},
		{"huge weights do not overflow", 5, []int64{math.MaxInt64, math.MaxInt64}, -1},
		{"huge negative ignored", 5, []int64{math.MinInt64, 3}, 1},
	}
	for _, tt := range tests {
		if got := BucketV2(tt.hash, tt.weights); got != tt.want {
			t.Errorf("%s: BucketV2(%d, %v) = %d, want %d", tt.name, tt.hash, tt.weights, got, tt.want)
		}
	}
}

func TestDistributionEntry(t *testing.T) {
	tests := []struct {
		name    string
		entry   any
		variant any
		weight  int64
		ok      bool
	}{
		{"variant only", []any{"a"}, "a", 1, true},
		{"null weight defaults to 1", []any{"a", nil}, "a", 1, true},
		{"weight", []any{"a", 25.0}, "a", 25, true},
		{"zero weight", []any{"a", 0.0}, "a", 0, true},
		{"negative clamped", []any{"a", -50.0}, "a", 0, true},
		{"min int64 clamped", []any{"a", -9223372036854775808.0}, "a", 0, true},
		{"extra elements ignored", []any{"a", 2.0, "x", nil}, "a", 2, true},
		{"bool variant", []any{true, 3.0}, true, 3, true},
		{"number variant", []any{1.5, 3.0}, 1.5, 3, true},
		{"null variant", []any{nil, 3.0}, nil, 3, true},
		{"max weight", []any{"a", float64(math.MaxInt32)}, "a", math.MaxInt32, true},
		{"weight above max", []any{"a", float64(math.MaxInt32) + 1}, nil, 0, false},
		{"fractional weight", []any{"a", 1.5}, nil, 0, false},
		{"negative fractional weight", []any{"a", -1.5}, nil, 0, false},
		{"huge weight", []any{"a", 1e30}, nil, 0, false},
		{"huge negative weight", []any{"a", -1e30}, nil, 0, false},
		{"NaN weight", []any{"a", math.NaN()}, nil, 0, false},
		{"Inf weight", []any{"a", math.Inf(1)}, nil, 0, false},
		{"string weight", []any{"a", "50"}, nil, 0, false},
		{"bool weight", []any{"a", true}, nil, 0, false},
		{"array variant", []any{[]any{"a"}, 1.0}, nil, 0, false},
		{"object variant", []any{map[string]any{"a": 1.0}, 1.0}, nil, 0, false},
		{"int variant is not JSON", []any{1, 1.0}, nil, 0, false},
		{"empty entry", []any{}, nil, 0, false},
		{"not an array", "a", nil, 0, false},
		{"nil", nil, nil, 0, false},
	}
	for _, tt := range tests {
		v, w, ok := DistributionEntry(tt.entry)
		if ok != tt.ok || w != tt.weight || !reflect.DeepEqual(v, tt.variant) {
			t.Errorf("%s: DistributionEntry(%#v) = (%#v, %d, %v), want (%#v, %d, %v)",
				tt.name, tt.entry, v, w, ok, tt.variant, tt.weight, tt.ok)
		}
	}
}

func suitEntries() []any {
	return []any{
		[]any{"clubs", 25.0}, []any{"diamonds", 25.0},
		[]any{"hearts", 25.0}, []any{"spades", 25.0},
	}
}

func TestFractionalV2(t *testing.T) {
	with := func(first any, entries ...any) []any { return append([]any{first}, entries...) }
	tests := []struct {
		name    string
		args    []any
		flagKey string
		tk      any
		want    any
	}{
		{"explicit seed", with("fractional-flagjack", suitEntries()...), "ignored", nil, "hearts"},
		{"explicit seed ignores targeting key", with("fractional-flagqueen", suitEntries()...), "x", "y", "spades"},
		{"implicit flagKey+targetingKey", suitEntries(), "fractional-flag", "ten", "clubs"},
		{"null seed falls back to targeting key", with(nil, suitEntries()...), "fractional-flag", "nine", "diamonds"},
		{"shorthand heads", []any{[]any{"heads"}, []any{"tails", 1.0}}, "fractional-flag-shorthand", "jon@company.com", "heads"},
		{"shorthand tails", []any{[]any{"heads"}, []any{"tails", 1.0}}, "fractional-flag-shorthand", "jane@company.com", "tails"},
		{"null seed, no targeting key", with(nil, []any{"one", 50.0}), "f", nil, nil},
		{"no targeting key", suitEntries(), "f", nil, nil},
		{"empty targeting key", suitEntries(), "f", "", nil},
		{"numeric targeting key", suitEntries(), "f", 12345.0, nil},
		{"bool targeting key", suitEntries(), "f", true, nil},
		{"numeric seed is not a bucket", with(42.0, suitEntries()...), "f", "user", nil},
		{"bool seed is not a bucket", with(true, suitEntries()...), "f", "user", nil},
		{"object seed is not a bucket", with(map[string]any{"a": 1.0}, suitEntries()...), "f", "user", nil},
		{"seed only", []any{"seed"}, "f", "user", nil},
		{"no args", nil, "f", "user", nil},
		{"single entry", []any{[]any{"single", 1.0}}, "f", "some-targeting-key", "single"},
		{"zero weights", with("any", []any{"one", 0.0}, []any{"two", 0.0}), "f", nil, nil},
		{"negative weight clamped", with("any-user", []any{"one", -50.0}, []any{"two", 100.0}), "f", nil, "two"},
		{"fraction as condition true", []any{[]any{false, 0.0}, []any{true, 100.0}}, "f", "k", true},
		{"fraction as condition false", []any{[]any{false, 100.0}, []any{true, 0.0}}, "f", "k", false},
		{"number variant", with("s", []any{7.5, 1.0}), "f", nil, 7.5},
		{"null variant", with("s", []any{nil, 1.0}), "f", nil, nil},
		{"bad entry invalidates rule", with("s", []any{"a", 1.0}, "b"), "f", nil, nil},
		{"fractional weight invalidates rule", with("s", []any{"a", 1.0}, []any{"b", 0.5}), "f", nil, nil},
		{"sum above max", with("s", []any{"a", float64(math.MaxInt32)}, []any{"b", 1.0}), "f", nil, nil},
		{"sum at max", with("s", []any{"a", float64(math.MaxInt32 - 1)}, []any{"b", 1.0}), "f", nil, "a"},
		{"long implicit seed", suitEntries(), string(make([]byte, 200)), "k", "hearts"},
	}
	for _, tt := range tests {
		if got := FractionalV2(tt.args, tt.flagKey, tt.tk); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: FractionalV2 = %#v, want %#v", tt.name, got, tt.want)
		}
	}
	// The long implicit seed goes through the allocating path; check it
	// agrees with plain concatenation.
	long := string(make([]byte, 200))
	if hashConcat(long, "k") != HashString(long+"k") || hashConcat("a", "b") != HashString("ab") {
		t.Error("hashConcat disagrees with HashString of the concatenation")
	}
}

func TestFractionalV3(t *testing.T) {
	with := func(first any, entries ...any) []any { return append([]any{first}, entries...) }
	shorthand := []any{[]any{"heads"}, []any{"tails", 1.0}}
	tests := []struct {
		name    string
		args    []any
		flagKey string
		tk      any
		want    any
	}{
		// flagd-testbed @fractional-v3 rows.
		{"cat seed jack", with("fractional-flagjack", suitEntries()...), "fractional-flag", nil, "diamonds"},
		{"cat seed 3", with("fractional-flag3", suitEntries()...), "fractional-flag", nil, "spades"},
		{"shared seed seven", with("shared-seedseven", suitEntries()...), "x", nil, "hearts"},
		{"shared seed two", with("shared-seedtwo", suitEntries()...), "x", nil, "diamonds"},
		{"implicit jon", shorthand, "fractional-flag-shorthand", "jon@company.com", "tails"},
		{"implicit jane", shorthand, "fractional-flag-shorthand", "jane@company.com", "tails"},
		{"implicit user-1", shorthand, "fractional-flag-shorthand", "user-1", "heads"},
		{"implicit user-2", shorthand, "fractional-flag-shorthand", "user-2", "tails"},
		{"implicit user-3", shorthand, "fractional-flag-shorthand", "user-3", "heads"},
		{"implicit, no targeting key", shorthand, "fractional-flag-shorthand", nil, nil},
		{"implicit, integer targeting key", shorthand, "fractional-flag-shorthand", 12345.0, nil},
		{"implicit, bool targeting key", shorthand, "fractional-flag-shorthand", true, nil},
		{"implicit, empty targeting key", shorthand, "fractional-flag-shorthand", "", nil},
		// Rules specific to v3.
		{"null seed does not fall back", with(nil, shorthand...), "f", "user-1", nil},
		{"numeric seed is hashed", with(42.0, []any{"only", 1.0}), "f", nil, "only"},
		{"object seed is hashed", with(map[string]any{"a": 1.0}, []any{"only", 1.0}), "f", nil, "only"},
		{"unencodable seed", with(struct{}{}, []any{"only", 1.0}), "f", nil, nil},
		{"no args", nil, "f", "k", nil},
		{"zero weights", with("any-user", []any{"one", 0.0}, []any{"two", 0.0}), "f", nil, nil},
		{"negative weight clamped", with("any-user", []any{"one", -50.0}, []any{"two", 100.0}), "f", nil, "two"},
		{"condition", []any{[]any{false, 0.0}, []any{true, 100.0}}, "f", "some-targeting-key", true},
	}
	for _, tt := range tests {
		if got := FractionalV3(tt.args, tt.flagKey, tt.tk); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: FractionalV3 = %#v, want %#v", tt.name, got, tt.want)
		}
	}
	h1 := HashV3Implicit("flag", "user")
	h2, err := HashV3([]any{"flag", "user"})
	if err != nil || h1 != h2 {
		t.Errorf("HashV3Implicit = %d, HashV3([flag user]) = %d, %v", h1, h2, err)
	}
}

func murmur3Sum32(b []byte) uint32 { return HashString(string(b)) }
