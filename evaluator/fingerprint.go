package evaluator

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Fingerprint identifies a flag's definition: two flags with the same
// fingerprint evaluate alike and are reported alike. It is computed when
// the flag is compiled, is the same in every process (though not promised
// across versions of this package), and is what the daemon's store and the
// provider compare to tell whether a flag changed.
//
// It covers the flag's key, state, default variant (and whether it has
// one), variants, targeting rule with its $refs resolved (and whether the
// flag has a "targeting" member, even null or {}), metadata (its
// document's overlaid with its own, so the flag set too) and own metadata,
// and the parser option that changes evaluation (Options.FractionalCBOR).
// Formatting, member order, YAML or JSON, the way a number is written and
// whether a rule's parts come from $evaluators do not count. No variants
// and "variants": {} count alike, as do no metadata and {}.
//
// It is 128 bits: two xxhash64 digests, with different seeds, of the
// flag's canonical encoding.
type Fingerprint [16]byte

// String returns the fingerprint in hexadecimal.
func (fp Fingerprint) String() string { return hex.EncodeToString(fp[:]) }

// Fingerprint returns the fingerprint of the flag's definition.
func (f *Flag) Fingerprint() Fingerprint { return f.fingerprint }

// fingerprintSeed seeds the second lane; the first is xxhash's unseeded
// digest.
const fingerprintSeed = 0x766578696c2f6670 // "vexil/fp"

// Tags of the canonical encoding, so that values of different types, and
// members present or not, encode apart.
const (
	tagNull byte = iota + 1
	tagFalse
	tagTrue
	tagNumber
	tagString
	tagArray
	tagObject
	tagOther
)

// fingerprint computes f's fingerprint once f is compiled. setMeta is its
// document's metadata: the flags that have no metadata of their own share
// its encoding.
func (b *builder) fingerprint(f *Flag, setMeta Metadata) Fingerprint {
	e := b.fpScratch[:0]
	e = append(e, boolByte(b.parser.opts.FractionalCBOR))
	e = appendString(e, f.key)
	e = appendString(e, f.state)
	e = append(e, boolByte(f.hasDefault))
	e = appendString(e, f.defaultVariant)
	e = binary.AppendUvarint(e, uint64(len(f.variants)))
	for _, v := range f.variants { // sorted by name
		e = appendString(e, v.name)
		e = appendValue(e, v.value)
	}
	e = append(e, boolByte(f.hasTargetingKey))
	e = binary.AppendUvarint(e, uint64(len(f.targetingJSON)))
	e = append(e, f.targetingJSON...)
	if len(f.ownMetadata) == 0 {
		// The flag's metadata is its document's.
		if b.setMetaEncoding == nil {
			b.setMetaEncoding = appendObject(nil, setMeta)
		}
		e = append(e, b.setMetaEncoding...)
	} else {
		e = appendObject(e, f.metadata)
	}
	e = appendObject(e, f.ownMetadata)
	b.fpScratch = e[:0]

	var fp Fingerprint
	binary.LittleEndian.PutUint64(fp[:8], xxhash.Sum64(e))
	var d xxhash.Digest
	d.ResetWithSeed(fingerprintSeed)
	d.Write(e)
	binary.LittleEndian.PutUint64(fp[8:], d.Sum64())
	return fp
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendString(e []byte, s string) []byte {
	e = binary.AppendUvarint(e, uint64(len(s)))
	return append(e, s...)
}

// appendValue appends the canonical encoding of a JSON value: objects with
// their members sorted by name, numbers as their float64 bits.
func appendValue(e []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(e, tagNull)
	case bool:
		if x {
			return append(e, tagTrue)
		}
		return append(e, tagFalse)
	case float64:
		return binary.LittleEndian.AppendUint64(append(e, tagNumber), math.Float64bits(x))
	case string:
		return appendString(append(e, tagString), x)
	case []any:
		e = binary.AppendUvarint(append(e, tagArray), uint64(len(x)))
		for _, el := range x {
			e = appendValue(e, el)
		}
		return e
	case map[string]any:
		return appendObject(e, x)
	case Metadata:
		return appendObject(e, x)
	}
	// Parsed documents hold JSON values only; anything else counts by its
	// formatting rather than not at all.
	return appendString(append(e, tagOther), fmt.Sprintf("%T:%v", v, v))
}

func appendObject(e []byte, m map[string]any) []byte {
	e = binary.AppendUvarint(append(e, tagObject), uint64(len(m)))
	var small [8]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e = appendString(e, k)
		e = appendValue(e, m[k])
	}
	return e
}
