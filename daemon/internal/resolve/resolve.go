// Package resolve is where an evaluation happens. Every protocol the daemon
// evaluates flags for (flagd.evaluation.v1, v2 and schema.v1 over Connect,
// gRPC and gRPC-Web, evalsvc's fast path and its grpc-go server; OFREP
// single and bulk) decodes its request, hands it to a [Resolver], and
// encodes what the resolver gives back. The resolver's steps, in order:
//
//  1. The selector: the Flagd-Selector header ([SelectorHeader]), read
//     once per request ([Resolver.Selector]); an invalid one is an
//     [*Error] with [CodeInvalidSelector].
//  2. The evaluation context ([Resolver.Context]): the request's, overlaid
//     with the static context (flagd's --context-value), overlaid with the
//     values of the mapped request headers (--context-from-header), which
//     schema.v1 does not apply.
//  3. The evaluation, against one snapshot of the store ([Resolver.Scope]):
//     of one flag ([Scope.Evaluate]) or of each flag the selection sees
//     ([Scope.Flags]).
//  4. The observers ([Observer]): each is told of every evaluation, with
//     the request's context.Context. Metrics are one, OpenTelemetry
//     another, and [ErrorLog], which logs failed evaluations with their
//     cause, rate-limited per flag; evaluation events and access
//     decisions are the next.
//
// What is answered, and how, stays the protocols': the wire messages are
// daemon/internal/wire's, OFREP's bodies daemon/internal/ofrep's.
package resolve

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/evaluator"
)

// SelectorHeader is the request header that carries a selector
// (flagd/pkg/service/constants.go, FLAGD_SELECTOR_HEADER).
const SelectorHeader = "Flagd-Selector"

// Code says why a request could not be resolved.
type Code int

// The codes of [Error].
const (
	// CodeInvalidSelector: the selector does not parse
	// ([store.ParseSelector]).
	CodeInvalidSelector Code = iota + 1
)

// Error is a request the resolver refuses; each protocol maps Code to its
// own answer in one place. Err is the cause, whose message the answers
// carry.
type Error struct {
	Code Code
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Evaluation is one flag evaluation, as observers see it. Its maps are
// shared with the request: observers must not modify them, nor keep them
// past the call.
type Evaluation struct {
	// Selector is the request's selection.
	Selector store.Selector
	// Kind is the type the flag was evaluated as.
	Kind evaluator.Kind
	// Context is the merged evaluation context.
	Context map[string]any
	// Result is the evaluator's result; Result.FlagKey the key asked for.
	Result evaluator.Result
}

// Observer sees every evaluation, as it happens, on the request's
// goroutine: it must be quick, and safe for concurrent use. The evaluation
// is passed by value so that telling an observer allocates nothing.
type Observer interface {
	Evaluated(ctx context.Context, e Evaluation)
}

// Config configures a Resolver.
type Config struct {
	// Store holds the flags. Required.
	Store *store.Store
	// StaticContext is set over every request's context (flagd's
	// --context-value). It is not modified.
	StaticContext map[string]any
	// ContextFromHeaders maps request header names (matched
	// case-insensitively) to evaluation context keys (flagd's
	// --context-from-header). A header's value, when not empty, is set over
	// the request's and the static context.
	ContextFromHeaders map[string]string
	// Observers are told of every evaluation, in order.
	Observers []Observer
}

// Resolver resolves requests against a store. It is safe for concurrent
// use.
type Resolver struct {
	store     *store.Store
	static    []staticValue
	headers   []headerMapping
	observers []Observer
}

// staticValue is one value of the static context: a slice ranges faster
// than a map, on every request.
type staticValue struct {
	key   string
	value any
}

// headerMapping is one --context-from-header mapping.
type headerMapping struct {
	header string // canonical
	key    string
}

// New returns a resolver over cfg.Store. It panics if cfg.Store is nil.
func New(cfg Config) *Resolver {
	if cfg.Store == nil {
		panic("resolve: Config.Store is nil")
	}
	r := &Resolver{store: cfg.Store, observers: slices.Clone(cfg.Observers)}
	for k, v := range cfg.StaticContext {
		r.static = append(r.static, staticValue{k, v})
	}
	for h, key := range cfg.ContextFromHeaders {
		r.headers = append(r.headers, headerMapping{header: http.CanonicalHeaderKey(h), key: key})
	}
	// A fixed order, so that two headers mapped to one key always resolve
	// the same way.
	slices.SortFunc(r.headers, func(a, b headerMapping) int { return strings.Compare(a.header, b.header) })
	return r
}

// Store is the store the resolver evaluates against.
func (r *Resolver) Store() *store.Store { return r.store }

// ParseSelector parses a selector expression; an invalid one is an *Error
// with CodeInvalidSelector.
func ParseSelector(expr string) (store.Selector, error) {
	sel, err := store.ParseSelector(expr)
	if err != nil {
		return store.Selector{}, &Error{Code: CodeInvalidSelector, Err: err}
	}
	return sel, nil
}

// Selector reads a request's selector from its first Flagd-Selector
// header, as flagd's selectorFromHeader does (none selects everything).
func (r *Resolver) Selector(h http.Header) (store.Selector, error) {
	var expr string
	if v := h[SelectorHeader]; len(v) > 0 {
		expr = v[0]
	}
	return ParseSelector(expr)
}

// Context merges the evaluation context as flagd's
// MergeContextsAndHeaders does: reqCtx, the request's, then the static
// context, then (when withHeaders) the mapped headers of h, each over the
// previous. reqCtx becomes the merged context: the caller hands it over.
// A nil reqCtx is an empty one; the result is never nil.
func (r *Resolver) Context(reqCtx map[string]any, h http.Header, withHeaders bool) map[string]any {
	if reqCtx == nil {
		reqCtx = make(map[string]any, len(r.static)+len(r.headers))
	}
	for _, sv := range r.static {
		reqCtx[sv.key] = sv.value
	}
	if withHeaders {
		for _, m := range r.headers {
			// h.Get, without canonicalizing a canonical name again.
			if v := h[m.header]; len(v) > 0 && v[0] != "" {
				reqCtx[m.key] = v[0]
			}
		}
	}
	return reqCtx
}

// Scope is one request's evaluations: its selection and merged context
// over the store's current snapshot, which every evaluation of the
// request sees.
type Scope struct {
	r *Resolver
	// Snapshot is the store's snapshot the request evaluates against.
	Snapshot *store.Snapshot
	// Selector is the request's selection.
	Selector store.Selector
	// Context is the merged evaluation context.
	Context map[string]any
}

// Scope returns the evaluations of a request with selector sel and the
// request context reqCtx, merged with the static and header context as
// [Resolver.Context] does (which takes reqCtx over).
func (r *Resolver) Scope(sel store.Selector, reqCtx map[string]any, h http.Header, withHeaders bool) Scope {
	return Scope{r: r, Snapshot: r.store.Current(), Selector: sel, Context: r.Context(reqCtx, h, withHeaders)}
}

// Evaluate evaluates the flag key as kind, and tells the observers.
func (s *Scope) Evaluate(ctx context.Context, key string, kind evaluator.Kind) evaluator.Result {
	res := s.Snapshot.Evaluate(s.Selector, key, kind, s.Context)
	if len(s.r.observers) > 0 {
		e := Evaluation{Selector: s.Selector, Kind: kind, Context: s.Context, Result: res}
		for _, o := range s.r.observers {
			o.Evaluated(ctx, e)
		}
	}
	return res
}

// Flags returns the flags bulk evaluation evaluates for the selection, in
// flagd's order ([store.Snapshot.Flags]).
func (s *Scope) Flags() []*evaluator.Flag { return s.Snapshot.Flags(s.Selector) }

// Metadata returns the selection's metadata, which bulk answers carry.
func (s *Scope) Metadata() evaluator.Metadata { return s.Snapshot.Metadata(s.Selector) }

// Resolve is the whole of a single evaluation: the selector of h, the
// context reqCtx merged (taken over), the flag key evaluated as kind, the
// observers told. Its error is an *Error, and then nothing was evaluated.
func (r *Resolver) Resolve(ctx context.Context, h http.Header, reqCtx map[string]any, withHeaders bool, key string, kind evaluator.Kind) (evaluator.Result, error) {
	sel, err := r.Selector(h)
	if err != nil {
		return evaluator.Result{}, err
	}
	s := r.Scope(sel, reqCtx, h, withHeaders)
	return s.Evaluate(ctx, key, kind), nil
}

// contextMaps recycles request context maps.
var contextMaps = sync.Pool{New: func() any { return map[string]any{} }}

// maxPooledContext is the most keys a recycled context map may have held:
// one large request should not pin its size.
const maxPooledContext = 64

// NewContextMap returns an empty map for a request's context, which
// ReleaseContextMap may recycle once the request is answered.
func NewContextMap() map[string]any { return contextMaps.Get().(map[string]any) }

// ReleaseContextMap recycles m, a request's context map (from
// NewContextMap or not), once nothing refers to it: the request is
// answered (the evaluator keeps no reference to a context, nor do
// observers). nil is ignored.
func ReleaseContextMap(m map[string]any) {
	if m == nil || len(m) > maxPooledContext {
		return
	}
	clear(m)
	contextMaps.Put(m)
}

// Explain explains the evaluation Evaluate(ctx, key, kind) makes, without
// telling the observers (an explanation is not a served evaluation).
func (s *Scope) Explain(key string, kind evaluator.Kind) evaluator.Explanation {
	return s.Snapshot.Explain(s.Selector, key, kind, s.Context)
}
