package provider

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
)

// fractionalDoc splits a flag's users evenly between two variants.
const fractionalDoc = `{"flags": {"split": {
  "state": "ENABLED",
  "variants": {"a": "a", "b": "b"},
  "defaultVariant": "a",
  "targeting": {"fractional": [["a", 50], ["b", 50]]}
}}}`

// cborKey is a targeting key that the default bucketing (fractional v2)
// puts in "b" and the CBOR one (v3) in "a", found by trying keys.
const cborKey = "user-0"

// TestFractionalCBOR: WithFractionalCBOR changes the local resolvers'
// fractional bucketing.
func TestFractionalCBOR(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	writeFile(t, path, fractionalDoc)
	ctx := context.Background()
	eval := func(p *Provider, key string) string {
		d := p.StringEvaluation(ctx, "split", "?", openfeature.FlattenedContext{"targetingKey": key})
		if d.Error() != nil || d.Reason != openfeature.TargetingMatchReason {
			t.Fatalf("%s: %+v", key, d)
		}
		return d.Value
	}
	v2 := newTestProvider(t, WithResolver(ResolverFile), WithOfflineFlagSourcePath(path))
	v3 := newTestProvider(t, WithResolver(ResolverFile), WithOfflineFlagSourcePath(path), WithFractionalCBOR(true))
	if got := eval(v2, cborKey); got != "b" {
		t.Errorf("default bucketing: %s in %q, want b", cborKey, got)
	}
	if got := eval(v3, cborKey); got != "a" {
		t.Errorf("CBOR bucketing: %s in %q, want a", cborKey, got)
	}
	// The default is off, and no environment variable turns it on.
	cfg, err := ResolveConfig(WithLookupEnv(nil))
	if err != nil || cfg.FractionalCBOR {
		t.Errorf("default: FractionalCBOR %v (%v), want false", cfg.FractionalCBOR, err)
	}
}
