// Package ofrep serves the OpenFeature Remote Evaluation Protocol (OFREP)
// from the daemon's flag store, as flagd's OFREP service does
// (flagd/pkg/service/flag-evaluation/ofrep, core/pkg/service/ofrep):
//
//   - POST /ofrep/v1/evaluate/flags/{key} evaluates one flag;
//   - POST /ofrep/v1/evaluate/flags (or .../flags/) evaluates every flag the
//     request's selection sees, one entry per flag (flag set, key), in
//     flagd's order (daemon/internal/store's Snapshot.Flags).
//
// Any other method on those paths is answered 405, any other path 404. As
// flagd's router does, the handler first cleans the decoded path (dot
// segments, repeated slashes) and redirects (301) a request whose path
// cleaning changes; "flags%2Fbool-flag" is the path ".../flags/flags/bool-flag",
// answered 404 as flagd answers it, so a key with "/" is reached through
// bulk evaluation only.
//
// The request body is {"context": {...}}. An empty body, a null one, or a
// context that is not an object evaluates with no request context; a body
// that is not JSON, or whose first JSON value is not an object, is answered
// 400 INVALID_CONTEXT; a body over Config.MaxBodyBytes is answered 413, and
// one whose reading fails with os.ErrDeadlineExceeded (a body that did not
// arrive in time) 408, unless its first value was complete before (flagd
// reads no further, and answers it). The evaluation context is the request's, overlaid
// with the static context, overlaid with the mapped request headers. The Flagd-Selector header
// selects a flag set or a source; an invalid one is answered 400 GENERAL.
//
// A flag that resolves is answered 200 with its value, key, reason, variant
// and metadata; a disabled flag with reason DISABLED, and a flag with no
// default variant that targeting did not resolve with reason DEFAULT, both
// without value or variant. Evaluation errors are mapped in one place
// ([errorOf]): FLAG_NOT_FOUND is 404, PARSE_ERROR 400, anything else 400
// GENERAL; bulk evaluation lists them as per-flag error entries.
//
// The handlers only decode requests and encode answers: every evaluation
// happens in daemon/internal/resolve, which reads the selector, merges the
// context and tells the observers (metrics among them) of it.
//
// With Config.ETags, bulk responses carry a strong ETag, a hash of the
// response body: the same flags evaluated for the same context give the
// same ETag, any change of what is answered a new one. A request whose
// If-None-Match matches it is answered 304 with no body. flagd implements
// neither: without the option, bulk responses are flagd's (no ETag, and
// 200 whatever If-None-Match says).
//
// With Config.EventStreams, GET /ofrep/v1/event-stream streams change
// events as server-sent events, and bulk responses list that stream in
// "eventStreams" (events.go).
package ofrep

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/streams"
	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
)

// The paths served. Prefix is where to mount [Service.Handler] on a mux;
// BulkPath is the bulk endpoint, and BulkPath + "/{key}" the single one.
const (
	Prefix     = "/ofrep/"
	BulkPath   = "/ofrep/v1/evaluate/flags"
	singlePath = BulkPath + "/"
)

// Config configures a Service.
type Config struct {
	// Resolver evaluates every request (single, and each flag of a bulk
	// evaluation): it reads the selector, merges the request's context
	// with the static context and the mapped headers, and tells its
	// observers (metrics among them) of each evaluation. Required.
	Resolver *resolve.Resolver
	// MaxBodyBytes, when positive, limits the request body; a larger one is
	// answered 413 {"errorDetails": "request body too large"}, as flagd
	// answers when its http.MaxBytesHandler limit is hit.
	MaxBodyBytes int64
	// ETags turns on OFREP's caching of bulk evaluation: an ETag on bulk
	// responses, and 304 to a request whose If-None-Match matches it.
	// flagd has neither; off, bulk responses are flagd's.
	ETags bool
	// DisableFastPath turns off the fast path of single-flag evaluation
	// (fastpath.go): a strict reader of plain request bodies and an encoder
	// of success answers that give what encoding/json gives, and leave
	// everything else to it.
	DisableFastPath bool
	// EventStreams serves OFREP's change events over server-sent events
	// at EventStreamPath, and lists that stream in bulk responses (see
	// events.go). flagd has none; off, bulk responses are flagd's.
	EventStreams bool
	// StreamDeadline, when positive, ends each event stream this long
	// after it opened (flagd's --stream-deadline).
	StreamDeadline time.Duration
	// KeepAlive is how long an event stream may stay idle before a
	// comment is sent on it; 0 means KeepAliveInterval.
	KeepAlive time.Duration
}

// Service serves OFREP. It is safe for concurrent use.
type Service struct {
	resolver *resolve.Resolver
	maxBody  int64
	etags    bool
	fast     bool

	events    bool
	deadline  time.Duration
	keepAlive time.Duration
	streams   *streams.Tracker
}

// New returns a service over cfg.Resolver. It panics if cfg.Resolver is
// nil.
func New(cfg Config) *Service {
	if cfg.Resolver == nil {
		panic("ofrep: Config.Resolver is nil")
	}
	s := &Service{
		resolver: cfg.Resolver,
		maxBody:  cfg.MaxBodyBytes,
		etags:    cfg.ETags,
		fast:     !cfg.DisableFastPath,

		events:    cfg.EventStreams,
		deadline:  cfg.StreamDeadline,
		keepAlive: cfg.KeepAlive,
		streams:   streams.New(),
	}
	if s.keepAlive <= 0 {
		s.keepAlive = KeepAliveInterval
	}
	return s
}

// Handler returns the handler of both endpoints. It answers 404 for any
// other path, so it can be mounted on [Prefix]. CORS, metrics and tracing
// are the caller's to wrap it in.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Service) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if clean := cleanPath(p); clean != p {
		// As gorilla/mux's router in front of flagd's OFREP service: the
		// decoded path is cleaned, and a request whose path changes is
		// redirected there (301, for any method), so "flags/a%2F..%2Fb"
		// goes to "flags/b" and "flags/a%2F%2Fb" to "flags/a/b".
		u := *r.URL
		u.Path = clean
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	if s.events && p == EventStreamPath {
		s.serveEvents(w, r)
		return
	}
	var key string
	bulk := p == BulkPath || p == singlePath
	if !bulk {
		// As gorilla/mux's {key}: one non-empty segment of the decoded path.
		rest, ok := strings.CutPrefix(p, singlePath)
		if !ok || rest == "" || strings.Contains(rest, "/") {
			http.NotFound(w, r)
			return
		}
		key = rest
	}
	if r.Method != http.MethodPost {
		// As gorilla/mux answers a route's other methods: 405 with no
		// body and no Allow header.
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if bulk {
		s.bulk(w, r)
	} else {
		s.single(w, r, key)
	}
}

// cleanPath is p with its dot segments and repeated slashes removed
// (path.Clean), rooted, and keeping its trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	clean := path.Clean(p)
	if p[len(p)-1] == '/' && clean != "/" {
		clean += "/"
	}
	return clean
}

// Response bodies, as flagd's core/pkg/service/ofrep/models.go writes them
// (field order included).
type (
	success struct {
		Value    any                `json:"value,omitempty"`
		Key      string             `json:"key"`
		Reason   string             `json:"reason"`
		Variant  string             `json:"variant,omitempty"`
		Metadata evaluator.Metadata `json:"metadata"`
	}
	evalError struct {
		Key          string             `json:"key"`
		ErrorCode    string             `json:"errorCode"`
		ErrorDetails string             `json:"errorDetails"`
		Metadata     evaluator.Metadata `json:"metadata"`
	}
	bulkResponse struct {
		Flags    []any              `json:"flags"`
		Metadata evaluator.Metadata `json:"metadata"`
		// EventStreams is listed with Config.EventStreams only.
		EventStreams []eventStream `json:"eventStreams,omitempty"`
	}
	bulkError struct {
		ErrorCode    string             `json:"errorCode"`
		ErrorDetails string             `json:"errorDetails"`
		Metadata     evaluator.Metadata `json:"metadata"`
	}
	internalError struct {
		ErrorDetails string `json:"errorDetails"`
	}
)

// The messages flagd answers request errors with.
const (
	detailsInvalidContext = "Provider context is not valid"
	detailsTooLarge       = "request body too large"
	detailsTimeout        = "request body not received in time"
)

// errorOf is the one mapping of an evaluation error code to an OFREP
// status, error code and details (flagd's EvaluationErrorResponseFrom):
// FLAG_NOT_FOUND is 404, PARSE_ERROR 400, and every other code (type
// mismatch, a targeting rule choosing an unknown variant, ...) 400 GENERAL.
// INVALID_CONTEXT is what an unreadable request body is answered with.
func errorOf(code evaluator.ErrorCode, key string) (status int, errorCode, details string) {
	switch code {
	case evaluator.CodeFlagNotFound:
		return http.StatusNotFound, code.String(), fmt.Sprintf("flag `%s` does not exist", key)
	case evaluator.CodeParseError:
		return http.StatusBadRequest, code.String(), fmt.Sprintf("error parsing the flag `%s`", key)
	case evaluator.CodeInvalidContext:
		return http.StatusBadRequest, code.String(), detailsInvalidContext
	}
	return http.StatusBadRequest, evaluator.CodeGeneral.String(), "error processing the flag for evaluation"
}

// noMetadata is the metadata of answers whose result has none: encoded,
// never modified.
var noMetadata = evaluator.Metadata{}

// result turns an evaluation result into a success or error entry, with
// the status a single evaluation answers it with.
func result(key string, r evaluator.Result) (int, any) {
	if r.Err != nil {
		meta := r.Metadata
		if meta == nil {
			meta = noMetadata
		}
		status, code, details := errorOf(r.Err.Code, key)
		return status, evalError{Key: key, ErrorCode: code, ErrorDetails: details, Metadata: meta}
	}
	return http.StatusOK, successOf(key, r)
}

// successOf is the success entry of a result without error.
func successOf(key string, r evaluator.Result) success {
	out := success{Key: key, Reason: string(r.Reason), Metadata: r.Metadata}
	if out.Metadata == nil {
		out.Metadata = noMetadata
	}
	if !r.NoValue && r.Reason != evaluator.ReasonDisabled {
		out.Value, out.Variant = r.Value, r.Variant
	}
	return out
}

// buffers recycles request and answer buffers; nothing keeps a reference
// into one past the request (the decoders copy what they keep, and the
// server copies what is written).
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBuffer is the largest buffer put back in the pool: one large
// request should not pin its size.
const maxPooledBuffer = 64 << 10

func putBuffer(bp *[]byte) {
	if cap(*bp) <= maxPooledBuffer {
		buffers.Put(bp)
	}
}

// readAll reads r to its end into b, as io.ReadAll does into a new slice.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}

// errBodyTooLarge reports a body over the limit.
var errBodyTooLarge = errors.New("request body too large")

// readContext reads the request body as flagd's extractOfrepRequest does:
// the first JSON value must be an object (or null, or absent); its
// "context" member, matched case-insensitively as encoding/json does, is
// the request context when it is an object. Anything after the first value
// is ignored, also when reading it fails (see readFailed).
func (s *Service) readContext(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	body := r.Body
	if s.maxBody > 0 {
		body = http.MaxBytesReader(w, body, s.maxBody)
	}
	bp := buffers.Get().(*[]byte)
	defer putBuffer(bp)
	data, err := readAll(body, (*bp)[:0])
	*bp = data[:0]
	if err != nil {
		return s.readFailed(data, err)
	}
	if s.fast {
		ctx := resolve.NewContextMap()
		if decodeFastContext(data, ctx) {
			if testHookFastRead != nil {
				testHookFastRead(s)
			}
			return ctx, nil
		}
		resolve.ReleaseContextMap(ctx)
	}
	var req struct {
		Context any `json:"context"`
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	ctx, _ := req.Context.(map[string]any)
	return ctx, nil
}

// readFailed is the request context of a body whose reading failed with
// err after data: as flagd's json.Decoder, which stops reading once it has
// the first value, a first value complete in data is the request, whatever
// follows (more than the body limit, a broken chunked encoding, a body
// that stops arriving), and one that is not an object, or a syntax error
// in data, is INVALID_CONTEXT; else (the first value is incomplete) the
// failure is the answer (413 for the body limit).
func (s *Service) readFailed(data []byte, err error) (map[string]any, error) {
	var req struct {
		Context any `json:"context"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	derr := dec.Decode(&req)
	complete := !errors.Is(derr, io.EOF) && !errors.Is(derr, io.ErrUnexpectedEOF)
	if complete && dec.InputOffset() == int64(len(data)) {
		// A number that ends the data might go on: json.Decoder reads on
		// to know, and meets the failure.
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		if len(trimmed) > 0 && (trimmed[0] == '-' || '0' <= trimmed[0] && trimmed[0] <= '9') {
			complete = false
		}
	}
	switch {
	case !complete:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge
		}
		return nil, err
	case derr != nil:
		return nil, derr
	}
	ctx, _ := req.Context.(map[string]any)
	return ctx, nil
}

// The tests' hooks: when set, called for every request body the fast path
// reads and every answer it writes.
var testHookFastRead, testHookFastWritten func(*Service)

// scope reads the body and the selector, in flagd's order, into the
// request's evaluations; on failure it has answered the request with the
// payload badRequest builds (given the error code and details) and
// returns false.
func (s *Service) scope(w http.ResponseWriter, r *http.Request, badRequest func(code, details string) any) (resolve.Scope, bool) {
	reqCtx, err := s.readContext(w, r)
	if err != nil {
		switch {
		case errors.Is(err, errBodyTooLarge):
			writeJSON(w, http.StatusRequestEntityTooLarge, internalError{ErrorDetails: detailsTooLarge})
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The body did not arrive in time (the daemon's body timeout).
			writeJSON(w, http.StatusRequestTimeout, internalError{ErrorDetails: detailsTimeout})
		default:
			_, code, details := errorOf(evaluator.CodeInvalidContext, "")
			writeJSON(w, http.StatusBadRequest, badRequest(code, details))
		}
		return resolve.Scope{}, false
	}
	sel, err := s.resolver.Selector(r.Header)
	if err != nil {
		// flagd's OFREP service details the parser's message (flagd's
		// own, see store.ParseSelector) after "invalid selector: ".
		writeJSON(w, http.StatusBadRequest, badRequest(evaluator.CodeGeneral.String(), "invalid selector: "+err.Error()))
		return resolve.Scope{}, false
	}
	return s.resolver.Scope(sel, reqCtx, r.Header, true), true
}

func (s *Service) single(w http.ResponseWriter, r *http.Request, key string) {
	sc, ok := s.scope(w, r, func(code, details string) any {
		return evalError{Key: key, ErrorCode: code, ErrorDetails: details}
	})
	if !ok {
		return
	}
	defer resolve.ReleaseContextMap(sc.Context)
	res := sc.Evaluate(r.Context(), key, evaluator.KindAny)
	if s.fast && res.Err == nil {
		succ := successOf(key, res)
		bp := buffers.Get().(*[]byte)
		defer putBuffer(bp)
		body, ok := appendSuccess((*bp)[:0], succ)
		*bp = body[:0]
		if !ok {
			writeJSON(w, http.StatusOK, succ)
			return
		}
		if testHookFastWritten != nil {
			testHookFastWritten(s)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}
	status, out := result(key, res)
	writeJSON(w, status, out)
}

func (s *Service) bulk(w http.ResponseWriter, r *http.Request) {
	sc, ok := s.scope(w, r, func(code, details string) any {
		return bulkError{ErrorCode: code, ErrorDetails: details}
	})
	if !ok {
		return
	}
	defer resolve.ReleaseContextMap(sc.Context)
	flags := sc.Flags()
	resp := bulkResponse{Flags: make([]any, 0, len(flags)), Metadata: sc.Metadata()}
	if s.events {
		resp.EventStreams = advertised
	}
	for _, f := range flags {
		// flagd's ResolveAllValues evaluates each flag as the type of its
		// default variant's value, and as any type when that is not a
		// boolean, string, number or object (OFREP lists every flag).
		kind, _ := wire.DefaultKind(f)
		_, entry := result(f.Key(), sc.Evaluate(r.Context(), f.Key(), kind))
		resp.Flags = append(resp.Flags, entry)
	}
	body, err := json.Marshal(resp)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, internalError{ErrorDetails: "encoding the response: " + err.Error()})
		return
	}
	h := w.Header()
	if s.etags {
		etag := etagOf(body)
		h.Set("ETag", etag)
		if noneMatch := r.Header.Values("If-None-Match"); len(noneMatch) > 0 && etagMatches(noneMatch, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// etagOf returns the strong entity tag of a bulk response body: the first
// 128 bits of its SHA-256, quoted.
func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	var b [2 + 2*16]byte
	b[0] = '"'
	hex.Encode(b[1:33], sum[:16])
	b[33] = '"'
	return string(b[:])
}

// etagMatches reports whether an If-None-Match header matches etag, with
// the weak comparison RFC 9110 prescribes for it ("W/" is ignored); "*"
// matches any. Tags sent without their quotes are accepted too.
func etagMatches(values []string, etag string) bool {
	opaque := strings.Trim(etag, `"`)
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" {
				return true
			}
			if strings.Trim(strings.TrimPrefix(t, "W/"), `"`) == opaque {
				return true
			}
		}
	}
	return false
}

// writeJSON answers with a JSON body, as flagd's writeJSONToResponse does
// (encoding/json, HTML characters escaped).
func writeJSON(w http.ResponseWriter, status int, payload any) {
	body, err := json.Marshal(payload)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// IsEvaluation reports whether a request of method to path is a single or
// bulk evaluation (POST to BulkPath or BulkPath/{key}), whose answer
// Handler writes once and never flushes: the requests the daemon's
// HTTP/1.1 fast path (http1fast) may serve. The event stream is not.
func IsEvaluation(method, path string) bool {
	if method != http.MethodPost {
		return false
	}
	rest, ok := strings.CutPrefix(path, BulkPath)
	return ok && (rest == "" || rest[0] == '/' && !strings.Contains(rest[1:], "/"))
}
