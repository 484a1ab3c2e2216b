package store

import (
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"reflect"
	"unsafe"

	"github.com/vexilhq/vexil/evaluator"
)

// fingerprint identifies a flag's definition: two lanes of 64 bits, each
// keyed with its own random seed, so that two different definitions share
// a fingerprint with a probability of about 2^-128. The store reuses the
// compiled flag of a definition whose fingerprint did not change, and leaves
// it out of the change it reports.
//
// It covers what flagd compares to tell an updated flag
// (core/pkg/notifications, flagsEqual) except the source, which the store
// compares on its own: state, default variant, variants, targeting (with
// $refs resolved, and whether it is present) and metadata (the document's
// overlaid with the flag's, so that it covers the flag set too, and the
// flag's own).
type fingerprint struct{ a, b uint64 }

var (
	seedA, seedB = maphash.MakeSeed(), maphash.MakeSeed()
	keyA         = maphash.String(seedA, "vexil/store")
	keyB         = maphash.String(seedB, "vexil/store")
)

// Type tags, so that values of different types hash apart.
const (
	tagNil uint64 = iota + 0x9e3779b97f4a7c15
	tagFalse
	tagTrue
	tagNumber
	tagString
	tagArray
	tagObject
	tagOther
	tagField
)

// mix is wyhash's multiply-and-fold.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^0xa0761d6478bd642f, b^0xe7037ed1a0b428db)
	return hi ^ lo
}

func leaf(tag, x uint64) fingerprint {
	return fingerprint{mix(x^keyA, tag), mix(x^keyB, tag)}
}

func hashString(tag uint64, s string) fingerprint {
	return fingerprint{mix(maphash.String(seedA, s), tag), mix(maphash.String(seedB, s), tag)}
}

// then combines in order.
func (h fingerprint) then(x fingerprint) fingerprint {
	return fingerprint{mix(h.a, x.a^keyB), mix(h.b, x.b^keyA)}
}

func hashValue(v any) fingerprint {
	switch x := v.(type) {
	case nil:
		return leaf(tagNil, 0)
	case bool:
		if x {
			return leaf(tagTrue, 0)
		}
		return leaf(tagFalse, 0)
	case float64:
		return leaf(tagNumber, math.Float64bits(x))
	case string:
		return hashString(tagString, x)
	case []any:
		h := leaf(tagArray, uint64(len(x)))
		for _, e := range x {
			h = h.then(hashValue(e))
		}
		return h
	case map[string]any:
		return hashObject(x)
	case evaluator.Metadata:
		return hashObject(x)
	}
	// The evaluator hands out JSON values only; anything else is hashed by
	// its formatting rather than ignored.
	return hashString(tagOther, fmt.Sprintf("%T:%v", v, v))
}

// hashObject combines the members in any order: the sum of each member's
// hash does not depend on the order of iteration.
func hashObject(m map[string]any) fingerprint {
	var sum fingerprint
	for k, e := range m {
		p := hashString(tagField, k).then(hashValue(e))
		sum.a += p.a
		sum.b += p.b
	}
	return leaf(tagObject, uint64(len(m))).then(sum)
}

// metaCache remembers the hashes of the last two metadata maps hashed: the
// flags of a document without metadata of their own share their document's
// map, and stay in one of the slots whatever the flags in between hold.
type metaCache struct {
	m [2]unsafe.Pointer
	h [2]fingerprint
}

func (c *metaCache) hash(m evaluator.Metadata) fingerprint {
	p := reflect.ValueOf(m).UnsafePointer()
	switch {
	case p == nil:
		return hashObject(m)
	case p == c.m[0]:
	case p == c.m[1]:
		c.m[0], c.m[1], c.h[0], c.h[1] = c.m[1], c.m[0], c.h[1], c.h[0]
	default:
		c.m[1], c.h[1] = c.m[0], c.h[0]
		c.m[0], c.h[0] = p, hashObject(m)
	}
	return c.h[0]
}

func flagFingerprint(f *evaluator.Flag, mc *metaCache) fingerprint {
	h := hashString(tagString, f.State())
	dv, hasDefault := f.DefaultVariant()
	h = h.then(hashValue(hasDefault)).then(hashString(tagString, dv))
	h = h.then(hashObject(f.Variants()))
	rule, present := f.TargetingJSON()
	h = h.then(hashValue(present)).then(hashString(tagString, string(rule)))
	return h.then(mc.hash(f.Metadata())).then(hashObject(f.OwnMetadata()))
}
