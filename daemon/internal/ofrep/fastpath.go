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
	"github.com/vexilhq/vexil/daemon/internal/strictjson"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/internal/jsonenc"
)

// decodeFastContext reads an OFREP request body that is exactly one JSON
// object with at most the member "context", an object or null, and
// nothing else, into ctx, an empty map (null or absent leave it empty,
// which evaluates as readContext's nil). ok is false for anything else
// (other or duplicate members, members encoding/json matches
// case-insensitively, invalid UTF-8, unpaired surrogates, numbers out of
// range, duplicate keys, nesting deeper than strictjson.MaxDepth,
// trailing data...).
func decodeFastContext(b []byte, ctx map[string]any) (ok bool) {
	d := strictjson.New(b)
	d.Space()
	if !d.Consume('{') {
		return false
	}
	d.Space()
	if !d.Consume('}') {
		d.Space()
		name, ok := d.Name()
		if !ok || string(name) != "context" {
			return false
		}
		d.Space()
		if !d.Consume(':') {
			return false
		}
		d.Space()
		if !d.Literal("null") {
			if !d.Consume('{') {
				return false
			}
			if !d.ObjectInto(ctx, 1) {
				return false
			}
		}
		d.Space()
		if !d.Consume('}') {
			return false
		}
	}
	return d.Done()
}

// appendSuccess appends out, a success answer, as json.Marshal does; ok is
// false when some value is not one it knows to encode exactly so.
func appendSuccess(b []byte, out success) ([]byte, bool) {
	ok := true
	b = append(b, '{')
	if out.Value != nil {
		b = append(b, `"value":`...)
		if b, ok = appendAny(b, out.Value); !ok {
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
	} else if b, ok = appendAny(b, out.Metadata); !ok {
		return b, false
	}
	return append(b, '}'), true
}

// fastMaxOutDepth bounds the nesting the encoder follows.
const fastMaxOutDepth = 64

// appendAny appends the JSON values the evaluator gives, as encoding/json
// does (jsonenc), a flag set's metadata too; it declines what jsonenc
// declines.
func appendAny(b []byte, v any) ([]byte, bool) {
	if m, ok := v.(evaluator.Metadata); ok {
		v = map[string]any(m)
	}
	return jsonenc.Append(b, v, fastMaxOutDepth)
}

func appendString(b []byte, s string) []byte { return jsonenc.AppendString(b, s) }

// fastDecoder is a strict JSON reader over b.
