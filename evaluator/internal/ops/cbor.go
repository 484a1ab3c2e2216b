package ops

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/murmur3"
)

// CBOR major types (RFC 8949 section 3.1), already shifted into the top three
// bits of the initial byte.
const (
	majorUint   = 0 << 5
	majorNegInt = 1 << 5
	majorText   = 3 << 5
	majorArray  = 4 << 5
	majorMap    = 5 << 5
	majorSimple = 7 << 5
)

const (
	cborFalse   = 0xf4
	cborTrue    = 0xf5
	cborNull    = 0xf6
	cborFloat16 = 0xf9
	cborFloat32 = 0xfa
	cborFloat64 = 0xfb
)

// maxCBORDepth bounds nesting so that hostile input cannot exhaust the stack.
// encoding/json refuses documents nested deeper than 10000 levels.
const maxCBORDepth = 10000

// HashV3 returns the fractional v3 hash of a bucketing value: MurmurHash3
// x86_32 with seed 0 over the value's deterministic CBOR encoding (see
// AppendCBOR). It fails only for Go types AppendCBOR does not support (none
// of which encoding/json produces), a malformed json.Number, or nesting
// deeper than 10000 levels.
func HashV3(v any) (uint32, error) {
	var buf [128]byte
	b, err := AppendCBOR(buf[:0], v)
	if err != nil {
		return 0, err
	}
	return murmur3.Sum32(b), nil
}

// HashV3Implicit returns the fractional v3 hash used when no explicit
// bucketing value is given: the hash of the CBOR array [flagKey, targetingKey].
func HashV3Implicit(flagKey, targetingKey string) uint32 {
	var buf [128]byte
	b := append(buf[:0], majorArray|2)
	b = appendHead(b, majorText, uint64(len(flagKey)))
	b = append(b, flagKey...)
	b = appendHead(b, majorText, uint64(len(targetingKey)))
	b = append(b, targetingKey...)
	return murmur3.Sum32(b)
}

// AppendCBOR appends the deterministic CBOR encoding of v that fractional v3
// hashes, and returns the extended buffer. The encoding is RFC 8949 section
// 4.2.1 "Core Deterministic Encoding" after flagd's number normalisation,
// byte-for-byte what github.com/fxamacker/cbor/v2 produces with
// CoreDetEncOptions for the normalised value:
//
//   - nil: null (0xf6); bool: false/true (0xf4/0xf5).
//   - string: text string (major type 3), bytes copied verbatim (not checked
//     for valid UTF-8).
//   - number (float64, float32, any Go integer type, json.Number): a value
//     with no fractional part in [-2^63, 2^64) becomes an integer (major type
//     0 when >= 0, including -0.0, major type 1 when < 0) in its shortest
//     form; any other value is a float in the shortest of float16, float32
//     and float64 that keeps it exactly (float16 subnormals included). NaN is
//     0xf97e00 and ±Inf 0xf97c00/0xf9fc00. json.Number is parsed as float64,
//     i.e. like encoding/json would without UseNumber.
//   - []any: array (major type 4); a nil slice encodes as null.
//   - map[string]any: map (major type 5) with keys ordered by their encoded
//     bytes, which for text keys means shorter keys first, then bytewise; a
//     nil map encodes as null.
//
// Other Go types give an error.
func AppendCBOR(dst []byte, v any) ([]byte, error) {
	return appendCBOR(dst, v, 0)
}

func appendCBOR(b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, cborNull), nil
	case bool:
		if x {
			return append(b, cborTrue), nil
		}
		return append(b, cborFalse), nil
	case string:
		b = appendHead(b, majorText, uint64(len(x)))
		return append(b, x...), nil
	case float64:
		return appendNumber(b, x), nil
	case float32:
		return appendNumber(b, float64(x)), nil
	case int:
		return appendInt(b, int64(x)), nil
	case int8:
		return appendInt(b, int64(x)), nil
	case int16:
		return appendInt(b, int64(x)), nil
	case int32:
		return appendInt(b, int64(x)), nil
	case int64:
		return appendInt(b, x), nil
	case uint:
		return appendHead(b, majorUint, uint64(x)), nil
	case uint8:
		return appendHead(b, majorUint, uint64(x)), nil
	case uint16:
		return appendHead(b, majorUint, uint64(x)), nil
	case uint32:
		return appendHead(b, majorUint, uint64(x)), nil
	case uint64:
		return appendHead(b, majorUint, x), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return b, fmt.Errorf("ops: cannot encode json.Number %q: %w", string(x), err)
		}
		return appendNumber(b, f), nil
	case []any:
		if x == nil {
			return append(b, cborNull), nil
		}
		if depth >= maxCBORDepth {
			return b, errors.New("ops: value nested too deeply for CBOR encoding")
		}
		b = appendHead(b, majorArray, uint64(len(x)))
		var err error
		for _, e := range x {
			if b, err = appendCBOR(b, e, depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	case map[string]any:
		if x == nil {
			return append(b, cborNull), nil
		}
		if depth >= maxCBORDepth {
			return b, errors.New("ops: value nested too deeply for CBOR encoding")
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareEncodedText)
		b = appendHead(b, majorMap, uint64(len(x)))
		var err error
		for _, k := range keys {
			b = appendHead(b, majorText, uint64(len(k)))
			b = append(b, k...)
			if b, err = appendCBOR(b, x[k], depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	default:
		return b, fmt.Errorf("ops: cannot CBOR-encode value of type %T", v)
	}
}

// compareEncodedText orders two map keys by the bytes of their CBOR text
// string encodings. The head grows monotonically with the length, so this
// is "shorter first, then bytewise".
func compareEncodedText(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// appendHead appends a CBOR initial byte plus argument in its shortest form.
func appendHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= math.MaxUint8:
		return append(b, major|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, major|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, major|26), uint32(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, major|27), n)
	}
}

func appendInt(b []byte, n int64) []byte {
	if n >= 0 {
		return appendHead(b, majorUint, uint64(n))
	}
	// -1 - n, computed without overflow for math.MinInt64.
	return appendHead(b, majorNegInt, uint64(^n))
}

// appendNumber applies flagd's v3 number normalisation and appends the
// result: whole numbers in [-2^63, 2^64) become integers, everything else is
// a float in its shortest exact width.
func appendNumber(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, cborFloat16, 0x7e, 0x00)
	case math.IsInf(f, 1):
		return append(b, cborFloat16, 0x7c, 0x00)
	case math.IsInf(f, -1):
		return append(b, cborFloat16, 0xfc, 0x00)
	}
	if f == math.Trunc(f) {
		if f >= 0 && f < 1<<64 { // also -0.0, which compares equal to 0
			return appendHead(b, majorUint, uint64(f))
		}
		if f < 0 && f >= -(1<<63) {
			return appendInt(b, int64(f))
		}
	}
	f32 := float32(f)
	if float64(f32) != f {
		return binary.BigEndian.AppendUint64(append(b, cborFloat64), math.Float64bits(f))
	}
	if h, ok := float16Exact(f32); ok {
		return binary.BigEndian.AppendUint16(append(b, cborFloat16), h)
	}
	return binary.BigEndian.AppendUint32(append(b, cborFloat32), math.Float32bits(f32))
}

// float16Exact returns the IEEE 754 binary16 bits of f when f (finite) is
// exactly representable as a half-precision float, subnormals included.
func float16Exact(f float32) (uint16, bool) {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int((bits>>23)&0xff) - 127
	mant := bits & 0x7fffff
	if bits&0x7fffffff == 0 {
		return sign, true // ±0
	}
	if exp == -127 {
		return 0, false // float32 subnormal: far below the float16 range
	}
	switch {
	case exp >= -14 && exp <= 15: // float16 normal range
		if mant&0x1fff != 0 {
			return 0, false
		}
		return sign | uint16(exp+15)<<10 | uint16(mant>>13), true
	case exp >= -24 && exp < -14: // float16 subnormal: value = k * 2^-24
		sig := mant | 1<<23
		shift := uint(-(exp + 1)) // k = sig * 2^(exp+1)
		if sig&(1<<shift-1) != 0 {
			return 0, false
		}
		return sign | uint16(sig>>shift), true
	default:
		return 0, false
	}
}
