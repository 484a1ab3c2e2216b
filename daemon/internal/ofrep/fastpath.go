package ofrep

// The fast path of single-flag evaluation: a strict reader of the request
// body and a hand-written encoder of the success answer, each of which
// declines (ok false) anything it cannot handle exactly as encoding/json
// does, which then handles it as before (readContext's json.Decoder,
// writeJSON). FuzzFastPathEqualsOracle checks them against those.
//
// The reader is a copy of daemon/internal/evalsvc's (fastpath.go), which
// reads the same values for protojson.

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/vexilhq/vexil/daemon/internal/strictjson"
	"github.com/vexilhq/vexil/evaluator"
)

// decodeFastContext reads an OFREP request body that is exactly one JSON
// object with at most the member "context", an object or null, and
// nothing else; ctx is nil for null or absent, as readContext gives it.
// ok is false for anything else (other or duplicate members, members
// encoding/json matches case-insensitively, invalid UTF-8, unpaired
// surrogates, numbers out of range, duplicate keys, nesting deeper than
// wire.MaxContextDepth, trailing data...).
func decodeFastContext(b []byte) (ctx map[string]any, ok bool) {
	d := strictjson.New(b)
	d.Space()
	if !d.Consume('{') {
		return nil, false
	}
	d.Space()
	if !d.Consume('}') {
		d.Space()
		name, ok := d.Str()
		if !ok || name != "context" {
			return nil, false
		}
		d.Space()
		if !d.Consume(':') {
			return nil, false
		}
		d.Space()
		if !d.Literal("null") {
			if !d.Consume('{') {
				return nil, false
			}
			if ctx, ok = d.Object(1); !ok {
				return nil, false
			}
		}
		d.Space()
		if !d.Consume('}') {
			return nil, false
		}
	}
	if !d.Done() {
		return nil, false
	}
	return ctx, true
}

// appendSuccess appends out, a success answer, as json.Marshal does; ok is
// false when some value is not one it knows to encode exactly so.
func appendSuccess(b []byte, out success) ([]byte, bool) {
	ok := true
	b = append(b, '{')
	if out.Value != nil {
		b = append(b, `"value":`...)
		if b, ok = appendAny(b, out.Value, 0); !ok {
			return b, false
		}
		b = append(b, ',')
	}
	b = append(b, `"key":`...)
	b = appendString(b, out.Key)
	b = append(b, `,"reason":`...)
	b = appendString(b, out.Reason)
	if out.Variant != "" {
		b = append(b, `,"variant":`...)
		b = appendString(b, out.Variant)
	}
	b = append(b, `,"metadata":`...)
	if out.Metadata == nil {
		b = append(b, "null"...)
	} else if b, ok = appendMap(b, out.Metadata, 0); !ok {
		return b, false
	}
	return append(b, '}'), true
}

// fastMaxOutDepth bounds the nesting the encoder follows.
const fastMaxOutDepth = 64

// appendAny appends the JSON values the evaluator gives (those
// encoding/json decodes into any, and int64).
func appendAny(b []byte, v any, depth int) ([]byte, bool) {
	if depth > fastMaxOutDepth {
		return b, false
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, x), true
	case string:
		return appendString(b, x), true
	case float64:
		return appendFloat(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case map[string]any:
		if x == nil {
			return append(b, "null"...), true
		}
		return appendMap(b, x, depth+1)
	case evaluator.Metadata:
		if x == nil {
			return append(b, "null"...), true
		}
		return appendMap(b, x, depth+1)
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		ok := true
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendAny(b, e, depth+1); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	return b, false
}

// appendMap appends m with its keys sorted, as encoding/json does.
func appendMap(b []byte, m map[string]any, depth int) ([]byte, bool) {
	if depth > fastMaxOutDepth {
		return b, false
	}
	var keysBuf [16]string
	keys := keysBuf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	ok := true
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		if b, ok = appendAny(b, m[k], depth); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendFloat appends a finite float64 as encoding/json does; it declines
// NaN and infinities (an error there).
func appendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// appendString appends s quoted as encoding/json does with HTML escaping:
// '"' and '\\' escaped, \b \f \n \r \t short, other control characters
// and < > & as \u00XX, U+2028 and U+2029 as \u2028 \u2029, and each byte
// of invalid UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += n
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += n
			start = i
			continue
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// fastDecoder is a strict JSON reader over b.
