// Package jsonenc encodes decoded JSON values (nil, bool, float64, int64,
// string, []any and map[string]any) exactly as encoding/json's Marshal
// does, without reflection: object keys sorted, strings with HTML-safe
// escapes, numbers as ECMAScript writes them. The OFREP answers and the
// targeting rules the evaluator keeps for the sync service are encoded
// with it; its fuzz test holds it to Marshal.
package jsonenc

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Append appends v, encoded as encoding/json encodes it. It reports false,
// having appended part of it, for a type it does not know, a number JSON
// cannot hold (NaN, infinities), or nesting deeper than maxDepth; the
// caller then uses encoding/json.
func Append(b []byte, v any, maxDepth int) ([]byte, bool) {
	return appendValue(b, v, 0, maxDepth)
}

func appendValue(b []byte, v any, depth, maxDepth int) ([]byte, bool) {
	if depth > maxDepth {
		return b, false
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, x), true
	case string:
		return AppendString(b, x), true
	case float64:
		return AppendFloat(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case map[string]any:
		if x == nil {
			return append(b, "null"...), true
		}
		return appendObject(b, x, depth+1, maxDepth)
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
			if b, ok = appendValue(b, e, depth+1, maxDepth); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	return b, false
}

// appendObject appends m with its keys sorted, as encoding/json does.
func appendObject(b []byte, m map[string]any, depth, maxDepth int) ([]byte, bool) {
	if depth > maxDepth {
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
		b = AppendString(b, k)
		b = append(b, ':')
		if b, ok = appendValue(b, m[k], depth, maxDepth); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// AppendFloat appends a finite float64 as encoding/json does: plain
// decimal, or an exponent below 1e-6 and from 1e21 up, with no leading
// zero in a negative exponent. It declines NaN and infinities.
func AppendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// "1e-07" is written "1e-7".
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// AppendString appends s quoted as encoding/json does with HTML escaping:
// '"' and '\\' escaped, \b \f \n \r \t short, other control characters
// and < > & as \u00XX, U+2028 and U+2029 as \u2028 \u2029, and each byte
// of invalid UTF-8 as \ufffd.
func AppendString(b []byte, s string) []byte {
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
