package evalsvc

// The fast path.
//
// Most evaluation calls are the Connect protocol's unary HTTP/JSON form of
// flagd.evaluation.v1 or v2 Resolve<Type>: a POST of a small JSON object
// with a flag key and a flat context. connect-go spends most of the time of
// such a call in protojson (decoding the Struct context, encoding and
// compacting the answer) and in its own machinery. The handler below
// decodes those calls itself, evaluates them once (daemon/internal/resolve,
// as the Connect handlers do), and then chooses the encoder: its own when
// it can answer exactly as connect-go would (the same status, headers and
// body bytes), otherwise connect-go's, handed the evaluated answer
// (answered) with the request. connect-go encodes evaluation errors, an
// invalid selector, values protojson would refuse to encode (non-finite
// numbers, invalid UTF-8, types structpb does not know), and answers to a
// request whose Accept-Encoding is anything but one "gzip" header. With
// that one, the fast path compresses the answer with gzip as connect-go
// does (it compresses every answer when the client accepts gzip, as
// flagd's does).
//
// Requests the fast path does not decode go to connect-go unchanged (with
// the body bytes it read put back in front of the rest), which decodes and
// evaluates them: other methods, paths (schema.v1, ResolveAll,
// EventStream), query strings, content types, any Content-Encoding header
// (identity too), timeouts, a protocol version other than 1, bodies over
// fastMaxBody, any JSON that is not plainly {"flagKey": string,
// "context": object or null} (unknown or duplicate keys, numbers out of
// float64 range, invalid UTF-8 or escapes, nesting deeper than
// strictjson.MaxDepth, trailing data...).
//
// Only the decoding of the request and the encoding of the message are
// hand-written, and FuzzFastPathEqualsConnect checks them against
// connect-go.

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/strictjson"
	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
)

// fastMaxBody is the largest request body the fast path reads; a larger
// one goes to connect-go. It is above the daemon's default body limit
// (1 MB), so that a large context is decoded here too: connect-go's
// protojson and structpb cost about five times the fast path's CPU on a
// 1 MB context (issue 17, defect 6).
const fastMaxBody = 4 << 20

// fastPooledMax is the largest buffer put back in fastBuffers: a large
// request's buffer is left to the collector rather than kept.
const fastPooledMax = 64 << 10

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

// fastGzip holds gzip writers at connect-go's default level (its gzip
// compressor, and the daemon's, is gzip.NewWriter's).
var fastGzip = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// fastBuffers holds request and response buffers.
var fastBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// answered is a Resolve<Type> answer the fast path evaluated: the message
// or the error to send. It hands it to connect-go to encode, in the
// request's context under answeredKey; resolveRPC sends it.
type answered struct {
	msg proto.Message
	err error
}

type answeredKey struct{}

// testHookFastAnswered, when set (by tests), is called for every answer
// the fast path writes.
var testHookFastAnswered func(*Service)

// withFastPath puts the fast path in front of next, a connect handler of
// flagd.evaluation.v1 or v2.
func (s *Service) withFastPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rpc, ok := fastRPCs[r.URL.Path]; ok {
			s.serveFast(w, r, rpc, next)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serveFast serves a call of rpc: it decodes, evaluates and answers it if
// it can, and hands it to next, its connect handler, otherwise.
func (s *Service) serveFast(w http.ResponseWriter, r *http.Request, rpc fastRPC, next http.Handler) {
	ct, ok := fastRequestOK(r)
	if !ok || r.ContentLength > fastMaxBody {
		next.ServeHTTP(w, r)
		return
	}
	bp := fastBuffers.Get().(*[]byte)
	defer fastBuffers.Put(bp)
	body, complete := readCapped(r.Body, (*bp)[:0])
	if cap(body) <= fastPooledMax {
		*bp = body[:0]
	}
	if complete {
		reqCtx := resolve.NewContextMap()
		defer resolve.ReleaseContextMap(reqCtx)
		if key, ok := decodeFastRequest(body, reqCtx); ok {
			a, done := s.serveDecoded(w, r, rpc, ct, key, reqCtx)
			if done {
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), answeredKey{}, a))
		}
	}
	// Hand the request to connect-go with the bytes read put back.
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), rest), rest}
	next.ServeHTTP(w, r)
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

// serveDecoded evaluates a decoded request and answers it if it can
// encode the answer exactly as connect-go would; otherwise it returns the
// answer for connect-go to encode.
func (s *Service) serveDecoded(w http.ResponseWriter, r *http.Request, rpc fastRPC, ct, key string, reqCtx map[string]any) (*answered, bool) {
	res, err := s.resolver.Resolve(r.Context(), r.Header, reqCtx, true, key, rpc.kind)
	if err != nil {
		return &answered{err: connect.NewError(connect.CodeInvalidArgument, errors.Unwrap(err))}, false
	}
	build := wire.ResolveV1
	if rpc.v2 {
		build = wire.ResolveV2
	}
	var gz bool
	if ae := r.Header["Accept-Encoding"]; len(ae) == 1 && ae[0] == fastAcceptEncoding {
		gz = true
	} else if len(ae) != 0 {
		// connect-go chooses the encoding.
		msg, cerr := build(rpc.kind, res)
		if cerr != nil {
			return &answered{err: cerr}, false
		}
		return &answered{msg: msg}, false
	}
	bp := fastBuffers.Get().(*[]byte)
	defer fastBuffers.Put(bp)
	// Straight from the result, else from the message, which also says
	// what connect-go is to send when the fast path cannot. (When the
	// first succeeds, building the message does too.)
	out, ok := wire.AppendResolve((*bp)[:0], rpc.kind, rpc.v2, &res)
	if !ok {
		msg, cerr := build(rpc.kind, res)
		if cerr != nil {
			return &answered{err: cerr}, false
		}
		if out, ok = wire.AppendJSON((*bp)[:0], msg); !ok {
			return &answered{msg: msg}, false
		}
	}
	*bp = out[:0]
	if gz {
		zbp := fastBuffers.Get().(*[]byte)
		defer fastBuffers.Put(zbp)
		zb := bytes.NewBuffer((*zbp)[:0])
		zw := fastGzip.Get().(*gzip.Writer)
		zw.Reset(zb)
		_, _ = zw.Write(out) // a bytes.Buffer does not fail
		_ = zw.Close()
		fastGzip.Put(zw)
		out = zb.Bytes()
		*zbp = out[:0]
	}
	// Fresh slices, as connect-go sets: whoever holds the header may
	// change them.
	hv := []string{ct, fastAcceptEncoding, fastAcceptEncoding}
	h := w.Header()
	h["Content-Type"] = hv[0:1:1]
	h["Accept-Encoding"] = hv[1:2:2]
	if gz {
		h["Content-Encoding"] = hv[2:3:3]
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	if testHookFastAnswered != nil {
		testHookFastAnswered(s)
	}
	return nil, true
}

// decodeFastRequest decodes a Resolve request body: a JSON object with at
// most the keys flagKey (or flag_key), a string, and context, an object
// or null, read into ctx, an empty map (an absent or null context leaves
// it empty, as structpb's AsMap of a nil Struct gives). ok is false for
// anything else, or anything protojson might read differently.
func decodeFastRequest(b []byte, ctx map[string]any) (key string, ok bool) {
	d := strictjson.New(b)
	d.Space()
	if !d.Consume('{') {
		return "", false
	}
	var seenKey, seenCtx bool
	d.Space()
	if !d.Consume('}') {
		for {
			d.Space()
			name, ok := d.Name()
			if !ok {
				return "", false
			}
			d.Space()
			if !d.Consume(':') {
				return "", false
			}
			d.Space()
			switch string(name) {
			case "flagKey", "flag_key":
				if seenKey {
					return "", false
				}
				seenKey = true
				if key, ok = d.Str(); !ok {
					return "", false
				}
			case "context":
				if seenCtx {
					return "", false
				}
				seenCtx = true
				if d.Literal("null") {
					break
				}
				if !d.Consume('{') {
					return "", false
				}
				if !d.ObjectInto(ctx, 1) {
					return "", false
				}
			default:
				return "", false
			}
			d.Space()
			if d.Consume('}') {
				break
			}
			if !d.Consume(',') {
				return "", false
			}
		}
	}
	if !d.Done() {
		return "", false
	}
	return key, true
}

// fastDecoder is a strict JSON reader over b.
