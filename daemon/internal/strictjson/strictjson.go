// Package strictjson reads JSON strictly, for the daemon's fast paths: a
// reader that accepts only what the slower, standard decoders accept the
// same way (valid UTF-8, paired surrogates, numbers strconv.ParseFloat
// takes, no duplicate keys, bounded nesting), and reports anything else so
// that the caller can hand the input to the standard path. Values decode as
// encoding/json decodes them into any: map[string]any, []any, string,
// float64, bool and nil.
package strictjson

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is how deeply objects and arrays may nest: the fast paths hand
// deeper documents to the general decoders (protojson, encoding/json),
// whose own limits are flagd's.
const MaxDepth = 64

// New returns a Decoder over b.
func New(b []byte) *Decoder { return &Decoder{b: b} }

// Done reports whether only whitespace is left.
func (d *Decoder) Done() bool {
	d.Space()
	return d.i == len(d.b)
}

type Decoder struct {
	b []byte
	i int
}

func (d *Decoder) Space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *Decoder) Consume(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// literal consumes lit (null, true, false) if it comes next, followed by
// a delimiter or the end.
func (d *Decoder) Literal(lit string) bool {
	if !bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
		return false
	}
	if j := d.i + len(lit); j < len(d.b) && !isDelim(d.b[j]) {
		return false
	}
	d.i += len(lit)
	return true
}

func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', '}', ']', ':':
		return true
	}
	return false
}

// object reads the members of an object whose '{' has been consumed, at
// the given depth (the context is at depth 1).
func (d *Decoder) Object(depth int) (map[string]any, bool) {
	m := map[string]any{}
	if !d.ObjectInto(m, depth) {
		return nil, false
	}
	return m, true
}

// ObjectInto is Object into m, which must be empty; on failure m holds
// what was read.
func (d *Decoder) ObjectInto(m map[string]any, depth int) bool {
	if depth > MaxDepth {
		return false
	}
	d.Space()
	if d.Consume('}') {
		return true
	}
	for {
		d.Space()
		k, ok := d.Str()
		if !ok {
			return false
		}
		if _, dup := m[k]; dup {
			return false
		}
		d.Space()
		if !d.Consume(':') {
			return false
		}
		d.Space()
		v, ok := d.Value(depth + 1)
		if !ok {
			return false
		}
		m[k] = v
		d.Space()
		if d.Consume('}') {
			return true
		}
		if !d.Consume(',') {
			return false
		}
	}
}

// array reads the elements of an array whose '[' has been consumed.
func (d *Decoder) Array(depth int) ([]any, bool) {
	if depth > MaxDepth {
		return nil, false
	}
	l := []any{}
	d.Space()
	if d.Consume(']') {
		return l, true
	}
	for {
		d.Space()
		v, ok := d.Value(depth + 1)
		if !ok {
			return nil, false
		}
		l = append(l, v)
		d.Space()
		if d.Consume(']') {
			return l, true
		}
		if !d.Consume(',') {
			return nil, false
		}
	}
}

// value reads a JSON value as structpb's AsMap gives it.
func (d *Decoder) Value(depth int) (any, bool) {
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.Str()
	case c == '{':
		d.i++
		return d.Object(depth)
	case c == '[':
		d.i++
		return d.Array(depth)
	case c == 't':
		return true, d.Literal("true")
	case c == 'f':
		return false, d.Literal("false")
	case c == 'n':
		return nil, d.Literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.Number()
	}
	return nil, false
}

// number reads a number in JSON's strict grammar that strconv.ParseFloat
// (protojson's reader) takes without error.
func (d *Decoder) Number() (float64, bool) {
	b, i := d.b, d.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == j {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == j {
			return 0, false
		}
	}
	if i < len(b) && !isDelim(b[i]) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b[start:i]), 64)
	if err != nil {
		return 0, false
	}
	d.i = i
	return f, true
}

// Name reads a string as Str does, without copying it when it is
// printable ASCII without escapes (a member name, say): the bytes are then
// the input's.
func (d *Decoder) Name() ([]byte, bool) {
	if b := d.b; d.i < len(b) && b[d.i] == '"' {
		start := d.i + 1
		for i := start; i < len(b); i++ {
			c := b[i]
			if c == '"' {
				d.i = i + 1
				return b[start:i], true
			}
			if c < ' ' || c == '\\' || c >= utf8.RuneSelf {
				break
			}
		}
	}
	s, ok := d.Str()
	return []byte(s), ok
}

// str reads a string as protojson does; invalid UTF-8, control
// characters, unknown escapes and unpaired surrogates are refused.
func (d *Decoder) Str() (string, bool) {
	if !d.Consume('"') {
		return "", false
	}
	b := d.b
	start := d.i
	i := start
	// The common case: printable ASCII, no escapes.
	for i < len(b) {
		c := b[i]
		if c == '"' {
			d.i = i + 1
			return string(b[start:i]), true
		}
		if c < ' ' || c == '\\' || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	out := make([]byte, 0, i-start+16)
	out = append(out, b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			d.i = i + 1
			return string(out), true
		case c < ' ':
			return "", false
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return "", false
			}
			out = append(out, b[i:i+n]...)
			i += n
		case c != '\\':
			out = append(out, c)
			i++
		default:
			if i+1 >= len(b) {
				return "", false
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(b[i+2:])
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(r) {
					if i+12 > len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
						return "", false
					}
					r2, ok := hex4(b[i+8:])
					if !ok {
						return "", false
					}
					if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
						return "", false
					}
					i += 6
				}
				out = utf8.AppendRune(out, r)
				i += 4
			default:
				return "", false
			}
			i += 2
		}
	}
	return "", false
}

// hex4 reads four hexadecimal digits.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
