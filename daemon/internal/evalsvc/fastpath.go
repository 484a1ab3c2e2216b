package evalsvc

// The fast path.
//
// Most evaluation calls are the Connect protocol's unary HTTP/JSON form of
// flagd.evaluation.v1 or v2 Resolve<Type>: a POST of a small JSON object
// with a flag key and a flat context. connect-go spends most of the time of
// such a call in protojson (decoding the Struct context, encoding and
// compacting the answer) and in its own machinery. The handler below
// answers those calls itself, and only those it can answer exactly as
// connect-go would: the same status, headers and body bytes. Everything
// else goes to connect-go unchanged (with the body bytes it read put back
// in front of the rest): other methods, paths (schema.v1, ResolveAll,
// EventStream), query strings, content types, any Content-Encoding header
// (identity too), timeouts, a protocol version other than 1, bodies over
// fastMaxBody, any JSON that is not plainly {"flagKey": string,
// "context": object or null} (unknown or duplicate keys, numbers out of
// float64 range, invalid UTF-8 or escapes, nesting deeper than
// wire.MaxContextDepth, trailing data...), an invalid selector, every
// evaluation error, values protojson would refuse to encode (non-finite
// numbers, invalid UTF-8, types structpb does not know), and answers of
// compressMinBytes or more when the client accepts some compression.
//
// The evaluation itself is the connect handlers': the same selector
// parsing, context merging (mergeContext), depth check, store lookup,
// message building (wire.ResolveV1, resolveV2Message) and metrics. Only the
// decoding of the request and the encoding of the message are hand-written,
// and FuzzFastPathEqualsConnect checks them against connect-go.

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/strictjson"
	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
)

// fastMaxBody is the largest request body the fast path reads; a larger
// one goes to connect-go.
const fastMaxBody = 64 << 10

// fastRPC is an RPC the fast path answers.
type fastRPC struct {
	kind evaluator.Kind
	v2   bool
}

var fastRPCs = map[string]fastRPC{
	evaluationv1connect.ServiceResolveBooleanProcedure: {evaluator.KindBool, false},
	evaluationv1connect.ServiceResolveStringProcedure:  {evaluator.KindString, false},
	evaluationv1connect.ServiceResolveIntProcedure:     {evaluator.KindInt, false},
	evaluationv1connect.ServiceResolveFloatProcedure:   {evaluator.KindFloat, false},
	evaluationv1connect.ServiceResolveObjectProcedure:  {evaluator.KindObject, false},
	evaluationv2connect.ServiceResolveBooleanProcedure: {evaluator.KindBool, true},
	evaluationv2connect.ServiceResolveStringProcedure:  {evaluator.KindString, true},
	evaluationv2connect.ServiceResolveIntProcedure:     {evaluator.KindInt, true},
	evaluationv2connect.ServiceResolveFloatProcedure:   {evaluator.KindFloat, true},
	evaluationv2connect.ServiceResolveObjectProcedure:  {evaluator.KindObject, true},
}

// The content types connect-go accepts for the JSON codecs of
// wire.JSONCodec, and answers with unchanged.
const (
	fastContentTypeJSON        = "application/json"
	fastContentTypeJSONCharset = "application/json; charset=utf-8"
)

// fastAcceptEncoding is the Accept-Encoding header connect-go sets on unary
// answers: the names of its compressors (gzip only, by default).
const fastAcceptEncoding = "gzip"

// fastBuffers holds request and response buffers.
var fastBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// withFastPath puts the fast path in front of next, a connect handler of
// flagd.evaluation.v1 or v2, unless it is disabled.
func (s *Service) withFastPath(next http.Handler) http.Handler {
	if !s.fastPath {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rpc, ok := fastRPCs[r.URL.Path]
		var ct string
		if ok {
			ct, ok = fastRequestOK(r)
		}
		if r.ContentLength > fastMaxBody {
			ok = false
		}
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		bp := fastBuffers.Get().(*[]byte)
		defer fastBuffers.Put(bp)
		body, complete := readCapped(r.Body, (*bp)[:0])
		*bp = body[:0]
		if complete && s.serveFast(w, r, rpc, ct, body) {
			return
		}
		// Hand the request to connect-go with the bytes read put back.
		rest := r.Body
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), rest), rest}
		next.ServeHTTP(w, r)
	})
}

// fastRequestOK reports whether r's method and headers are those of an
// ordinary Connect unary JSON call, and returns its content type.
func fastRequestOK(r *http.Request) (string, bool) {
	if r.Method != http.MethodPost || r.URL.RawQuery != "" {
		return "", false
	}
	h := r.Header
	var ct string
	switch v := h["Content-Type"]; {
	case len(v) != 1:
		return "", false
	case v[0] == fastContentTypeJSON:
		ct = fastContentTypeJSON
	case v[0] == fastContentTypeJSONCharset:
		ct = fastContentTypeJSONCharset
	default:
		return "", false
	}
	if len(h["Content-Encoding"]) != 0 || len(h["Connect-Timeout-Ms"]) != 0 {
		return "", false
	}
	if v := h["Connect-Protocol-Version"]; len(v) > 1 || len(v) == 1 && v[0] != "1" {
		return "", false
	}
	return ct, true
}

// readCapped reads body into buf until EOF; complete is false when it
// failed or there was more than fastMaxBody. It returns what it read
// either way.
func readCapped(body io.Reader, buf []byte) (read []byte, complete bool) {
	for {
		if len(buf) == cap(buf) {
			if len(buf) > fastMaxBody {
				return buf, false
			}
			buf = slices.Grow(buf, min(max(cap(buf), 512), fastMaxBody+1-len(buf)))
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > fastMaxBody {
			return buf, false
		}
		if err == io.EOF {
			return buf, true
		}
		if err != nil {
			return buf, false
		}
	}
}

// serveFast answers the request if it can, and reports whether it did;
// when it did not, it has written nothing and recorded nothing.
func (s *Service) serveFast(w http.ResponseWriter, r *http.Request, rpc fastRPC, ct string, body []byte) bool {
	key, reqCtx, ok := decodeFastRequest(body)
	if !ok || wire.CheckValueDepth(reqCtx) != nil {
		return false
	}
	sel, err := selector(r.Header)
	if err != nil {
		return false
	}
	ctx := s.mergeContext(reqCtx, r.Header, true)
	res := s.store.Current().Evaluate(sel, key, rpc.kind, ctx)
	var msg proto.Message
	var cerr *connect.Error
	if rpc.v2 {
		msg, cerr = resolveV2Message(rpc.kind, res)
	} else {
		msg, cerr = wire.ResolveV1(rpc.kind, res)
	}
	if cerr != nil || msg == nil {
		return false
	}
	bp := fastBuffers.Get().(*[]byte)
	defer fastBuffers.Put(bp)
	out, ok := appendResponse((*bp)[:0], msg)
	*bp = out[:0]
	if !ok || len(out) >= compressMinBytes && len(r.Header["Accept-Encoding"]) != 0 {
		return false
	}
	s.metrics.Evaluation(&res)
	// Fresh slices, as connect-go sets: whoever holds the header may
	// change them.
	hv := []string{ct, fastAcceptEncoding}
	h := w.Header()
	h["Content-Type"] = hv[0:1:1]
	h["Accept-Encoding"] = hv[1:2:2]
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	s.fastHits.Add(1)
	return true
}

// appendResponse appends msg as wire.MarshalJSON renders it. ok is false
// for a message it does not know, or a value protojson would refuse.
func appendResponse(out []byte, msg proto.Message) ([]byte, bool) {
	ok := true
	switch m := msg.(type) {
	case *evaluationv1.ResolveBooleanResponse:
		out = append(out, `{"value":`...)
		out = strconv.AppendBool(out, m.Value)
		return appendTail(out, m.Reason, &m.Variant, m.Metadata)
	case *evaluationv1.ResolveStringResponse:
		out = append(out, `{"value":`...)
		if out, ok = appendString(out, m.Value); !ok {
			return out, false
		}
		return appendTail(out, m.Reason, &m.Variant, m.Metadata)
	case *evaluationv1.ResolveIntResponse:
		out = append(out, `{"value":"`...)
		out = strconv.AppendInt(out, m.Value, 10)
		out = append(out, '"')
		return appendTail(out, m.Reason, &m.Variant, m.Metadata)
	case *evaluationv1.ResolveFloatResponse:
		out = append(out, `{"value":`...)
		if out, ok = appendFloat(out, m.Value); !ok {
			return out, false
		}
		return appendTail(out, m.Reason, &m.Variant, m.Metadata)
	case *evaluationv1.ResolveObjectResponse:
		out = append(out, `{"value":`...)
		if out, ok = appendStruct(out, m.Value, 0); !ok {
			return out, false
		}
		return appendTail(out, m.Reason, &m.Variant, m.Metadata)
	case *evaluationv2.ResolveBooleanResponse:
		out = append(out, '{')
		if m.Value != nil {
			out = append(out, `"value":`...)
			out = strconv.AppendBool(out, *m.Value)
			out = append(out, ',')
		}
		return appendTailV2(out, m.Reason, m.Variant, m.Metadata)
	case *evaluationv2.ResolveStringResponse:
		out = append(out, '{')
		if m.Value != nil {
			out = append(out, `"value":`...)
			if out, ok = appendString(out, *m.Value); !ok {
				return out, false
			}
			out = append(out, ',')
		}
		return appendTailV2(out, m.Reason, m.Variant, m.Metadata)
	case *evaluationv2.ResolveIntResponse:
		out = append(out, '{')
		if m.Value != nil {
			out = append(out, `"value":"`...)
			out = strconv.AppendInt(out, *m.Value, 10)
			out = append(out, `",`...)
		}
		return appendTailV2(out, m.Reason, m.Variant, m.Metadata)
	case *evaluationv2.ResolveFloatResponse:
		out = append(out, '{')
		if m.Value != nil {
			out = append(out, `"value":`...)
			if out, ok = appendFloat(out, *m.Value); !ok {
				return out, false
			}
			out = append(out, ',')
		}
		return appendTailV2(out, m.Reason, m.Variant, m.Metadata)
	case *evaluationv2.ResolveObjectResponse:
		out = append(out, '{')
		if m.Value != nil {
			out = append(out, `"value":`...)
			if out, ok = appendStruct(out, m.Value, 0); !ok {
				return out, false
			}
			out = append(out, ',')
		}
		return appendTailV2(out, m.Reason, m.Variant, m.Metadata)
	}
	return out, false
}

// appendTail appends the reason, variant and metadata fields of a version
// 1 answer, after its value, and closes it.
func appendTail(out []byte, reason string, variant *string, meta *structpb.Struct) ([]byte, bool) {
	out = append(out, ',')
	return appendTailV2(out, reason, variant, meta)
}

// appendTailV2 appends the reason, the variant when not nil, and the
// metadata, and closes the object.
func appendTailV2(out []byte, reason string, variant *string, meta *structpb.Struct) ([]byte, bool) {
	ok := true
	out = append(out, `"reason":`...)
	if out, ok = appendString(out, reason); !ok {
		return out, false
	}
	if variant != nil {
		out = append(out, `,"variant":`...)
		if out, ok = appendString(out, *variant); !ok {
			return out, false
		}
	}
	out = append(out, `,"metadata":`...)
	if meta == nil {
		out = append(out, "null"...)
	} else if out, ok = appendStruct(out, meta, 0); !ok {
		return out, false
	}
	return append(out, '}'), true
}

// fastMaxOutDepth bounds the nesting of the values the fast path encodes;
// deeper ones go to connect-go.
const fastMaxOutDepth = 64

// appendStruct appends s as protojson does: its fields sorted by key.
func appendStruct(out []byte, s *structpb.Struct, depth int) ([]byte, bool) {
	if s == nil || depth > fastMaxOutDepth {
		return out, false
	}
	out = append(out, '{')
	var keysBuf [16]string
	keys := keysBuf[:0]
	for k := range s.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ok := true
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		if out, ok = appendString(out, k); !ok {
			return out, false
		}
		out = append(out, ':')
		if out, ok = appendValue(out, s.Fields[k], depth+1); !ok {
			return out, false
		}
	}
	return append(out, '}'), true
}

// appendValue appends v as protojson does.
func appendValue(out []byte, v *structpb.Value, depth int) ([]byte, bool) {
	if v == nil || depth > fastMaxOutDepth {
		return out, false
	}
	switch k := v.Kind.(type) {
	case *structpb.Value_NullValue:
		return append(out, "null"...), true
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(out, k.BoolValue), true
	case *structpb.Value_NumberValue:
		return appendFloat(out, k.NumberValue)
	case *structpb.Value_StringValue:
		return appendString(out, k.StringValue)
	case *structpb.Value_StructValue:
		return appendStruct(out, k.StructValue, depth)
	case *structpb.Value_ListValue:
		if k.ListValue == nil {
			return out, false
		}
		out = append(out, '[')
		ok := true
		for i, e := range k.ListValue.Values {
			if i > 0 {
				out = append(out, ',')
			}
			if out, ok = appendValue(out, e, depth+1); !ok {
				return out, false
			}
		}
		return append(out, ']'), true
	}
	return out, false
}

// appendFloat appends a finite double as protojson does (like
// encoding/json: 'f' format, 'e' below 1e-6 and from 1e21, with a
// one-digit negative exponent unpadded). Non-finite numbers are refused.
func appendFloat(out []byte, n float64) ([]byte, bool) {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return out, false
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	out = strconv.AppendFloat(out, n, format, -1, 64)
	if format == 'e' {
		l := len(out)
		if l >= 4 && out[l-4] == 'e' && out[l-3] == '-' && out[l-2] == '0' {
			out[l-2] = out[l-1]
			out = out[:l-1]
		}
	}
	return out, true
}

// appendString appends s quoted as protojson does: only '"', '\\' and
// control characters are escaped (\b \f \n \r \t, else \u00XX). Invalid
// UTF-8 is refused.
func appendString(out []byte, s string) ([]byte, bool) {
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return out, false
			}
			i += n
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	out = append(out, s[start:]...)
	return append(out, '"'), true
}

// decodeFastRequest decodes a Resolve request body: a JSON object with at
// most the keys flagKey (or flag_key), a string, and context, an object
// or null. ctx is never nil (an absent or null context is empty, as
// structpb's AsMap of a nil Struct). ok is false for anything else, or
// anything protojson might read differently.
func decodeFastRequest(b []byte) (key string, ctx map[string]any, ok bool) {
	d := strictjson.New(b)
	d.Space()
	if !d.Consume('{') {
		return "", nil, false
	}
	var seenKey, seenCtx bool
	d.Space()
	if !d.Consume('}') {
		for {
			d.Space()
			name, ok := d.Str()
			if !ok {
				return "", nil, false
			}
			d.Space()
			if !d.Consume(':') {
				return "", nil, false
			}
			d.Space()
			switch name {
			case "flagKey", "flag_key":
				if seenKey {
					return "", nil, false
				}
				seenKey = true
				if key, ok = d.Str(); !ok {
					return "", nil, false
				}
			case "context":
				if seenCtx {
					return "", nil, false
				}
				seenCtx = true
				if d.Literal("null") {
					break
				}
				if !d.Consume('{') {
					return "", nil, false
				}
				if ctx, ok = d.Object(1); !ok {
					return "", nil, false
				}
			default:
				return "", nil, false
			}
			d.Space()
			if d.Consume('}') {
				break
			}
			if !d.Consume(',') {
				return "", nil, false
			}
		}
	}
	if !d.Done() {
		return "", nil, false
	}
	if ctx == nil {
		ctx = map[string]any{}
	}
	return key, ctx, true
}

// fastDecoder is a strict JSON reader over b.
