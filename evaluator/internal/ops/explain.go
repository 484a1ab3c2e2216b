package ops

// What explain shows of the custom operators: the same steps as
// FractionalV2, FractionalV3 and SemVer, each kept. A fuzz test holds
// FractionalDetail's variant to FractionalV2's and FractionalV3's.

// Bucket is one bucket entry of a fractional rule, as read.
type Bucket struct {
	Variant any
	Weight  int64
}

// FractionalDetail is how a fractional rule chose its variant.
type FractionalDetail struct {
	// BucketBy is the value hashed: the bucketing string (v2), or the
	// value whose CBOR encoding is hashed (v3; [flagKey, targetingKey]
	// when the rule names none). Nil when nothing was hashed.
	BucketBy any
	// Hashed says that Hash is set.
	Hashed bool
	Hash   uint32
	// Buckets are the entries read, in rule order, up to the first
	// invalid one.
	Buckets []Bucket
	// TotalWeight is the sum of the weights; Bucket the hash scaled onto
	// [0, TotalWeight), set when the rule picked a bucket (Index >= 0).
	TotalWeight int64
	Bucket      uint64
	Index       int
	// Variant is the result: what FractionalV2 (or V3) returns.
	Variant any
	// Problem says why the result is null, when it is.
	Problem string
}

// ExplainFractional is FractionalV2 (cbor false) or FractionalV3 (cbor
// true) on the same arguments, with the steps taken.
func ExplainFractional(args []any, flagKey string, targetingKey any, cbor bool) FractionalDetail {
	d := FractionalDetail{Index: -1}
	if len(args) == 0 {
		d.Problem = "fractional has no arguments"
		return d
	}
	var entries []any
	if cbor {
		switch first := args[0].(type) {
		case nil:
			d.Problem = "the bucketing value is null"
			return d
		case []any:
			tk, ok := targetingKey.(string)
			if !ok || tk == "" {
				d.Problem = "no bucketing value and no targetingKey (a non-empty string) in the context"
				return d
			}
			d.BucketBy = []any{flagKey, tk}
			d.Hash, d.Hashed = HashV3Implicit(flagKey, tk), true
			entries = args
		default:
			h, err := HashV3(first)
			if err != nil {
				d.Problem = "the bucketing value cannot be hashed: " + err.Error()
				return d
			}
			d.BucketBy, d.Hash, d.Hashed = first, h, true
			entries = args[1:]
		}
	} else {
		if s, ok := args[0].(string); ok {
			d.BucketBy, d.Hash, d.Hashed = s, HashString(s), true
			entries = args[1:]
		} else {
			entries = args
			if args[0] == nil {
				entries = args[1:]
			}
			tk, ok := targetingKey.(string)
			if !ok || tk == "" {
				d.Problem = "no bucketing string and no targetingKey (a non-empty string) in the context"
				return d
			}
			d.BucketBy = flagKey + tk
			d.Hash, d.Hashed = hashConcat(flagKey, tk), true
		}
	}
	for _, e := range entries {
		v, w, ok := DistributionEntry(e)
		if !ok {
			d.Problem = "a bucket entry is not [variant] or [variant, weight] with a whole weight up to 2147483647"
			return d
		}
		d.Buckets = append(d.Buckets, Bucket{Variant: v, Weight: w})
		d.TotalWeight += w
	}
	switch {
	case d.TotalWeight == 0:
		d.Problem = "the weights sum to 0"
		return d
	case d.TotalWeight > MaxTotalWeight:
		d.Problem = "the weights sum to more than 2147483647"
		return d
	}
	d.Bucket = bucketValue(d.Hash, d.TotalWeight)
	var end uint64
	for i, b := range d.Buckets {
		end += uint64(b.Weight)
		if d.Bucket < end {
			d.Index, d.Variant = i, b.Variant
			return d
		}
	}
	return d
}

// SemVerVersion is how sem_ver reads a version operand: the version in
// golang.org/x/mod/semver's "v"-prefixed form, and whether it is valid.
func SemVerVersion(v any) (string, bool) { return semverArg(v) }
