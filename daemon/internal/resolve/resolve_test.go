package resolve_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"reflect"
	"sync"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/evaluator"
)

// recorder is an observer that keeps what it is told.
type recorder struct {
	mu   sync.Mutex
	seen []seen
}

type seen struct {
	key     string
	kind    evaluator.Kind
	reason  evaluator.Reason
	context map[string]any
	marked  bool // the request's context.Context reached the observer
}

type markKey struct{}

func (r *recorder) Evaluated(ctx context.Context, e resolve.Evaluation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, seen{e.Result.FlagKey, e.Kind, e.Result.Reason, maps.Clone(e.Context), ctx.Value(markKey{}) != nil})
}

func (r *recorder) take() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

func newStore(t testing.TB) *store.Store { return storetest.New(t, "flags.json") }

// TestContext: the request's context, then the static context, then the
// mapped headers (not empty ones, and only when asked), each over the
// previous; a nil request context is an empty one.
func TestContext(t *testing.T) {
	r := resolve.New(resolve.Config{
		Store:              newStore(t),
		StaticContext:      map[string]any{"tier": "gold", "user": "static"},
		ContextFromHeaders: map[string]string{"x-user": "user", "X-Tier": "tier", "x-a": "dup", "x-b": "dup"},
	})
	header := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	for _, c := range []struct {
		name        string
		req         map[string]any
		h           http.Header
		withHeaders bool
		want        map[string]any
	}{
		{"nil request context", nil, nil, true, map[string]any{"tier": "gold", "user": "static"}},
		{"static over request", map[string]any{"tier": "x", "a": 1.0}, nil, true, map[string]any{"tier": "gold", "user": "static", "a": 1.0}},
		{"headers over static", nil, header("X-User", "ana", "x-tier", "silver"), true, map[string]any{"tier": "silver", "user": "ana"}},
		{"first header value", nil, header("X-User", "ana", "X-User", "bob"), true, map[string]any{"tier": "gold", "user": "ana"}},
		{"empty header ignored", nil, header("X-User", ""), true, map[string]any{"tier": "gold", "user": "static"}},
		{"headers not applied", map[string]any{"k": "v"}, header("X-User", "ana"), false, map[string]any{"tier": "gold", "user": "static", "k": "v"}},
		{"two headers, one key: the later name wins", nil, header("X-A", "a", "X-B", "b"), true, map[string]any{"tier": "gold", "user": "static", "dup": "b"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := c.h
			if h == nil {
				h = http.Header{}
			}
			if got := r.Context(c.req, h, c.withHeaders); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

// TestSelector: the first Flagd-Selector header; none selects all; an
// invalid one is an *Error with CodeInvalidSelector.
func TestSelector(t *testing.T) {
	r := resolve.New(resolve.Config{Store: newStore(t)})
	for _, c := range []struct {
		name    string
		values  []string
		want    string // the expression it must equal
		invalid bool
	}{
		{"none", nil, "", false},
		{"flag set", []string{"flagSetId=set-a"}, "flagSetId=set-a", false},
		{"first value", []string{"source=flags.json", "bad=1"}, "source=flags.json", false},
		{"invalid", []string{"bad=1"}, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{resolve.SelectorHeader: c.values}
			sel, err := r.Selector(h)
			var rerr *resolve.Error
			if c.invalid {
				if !errors.As(err, &rerr) || rerr.Code != resolve.CodeInvalidSelector || !errors.Is(err, store.ErrInvalidSelector) {
					t.Fatalf("err %v, want CodeInvalidSelector", err)
				}
				return
			}
			want, _ := store.ParseSelector(c.want)
			if err != nil || sel != want {
				t.Fatalf("got %v, %v; want %v", sel, err, want)
			}
		})
	}
}

// TestEvaluateTellsObservers: every evaluation of a scope is seen by every
// observer, in order, with the request's context.Context, the kind and the
// merged context; Resolve is the same in one call.
func TestEvaluateTellsObservers(t *testing.T) {
	a, b := &recorder{}, &recorder{}
	r := resolve.New(resolve.Config{
		Store:              newStore(t),
		StaticContext:      map[string]any{"s": 1.0},
		ContextFromHeaders: map[string]string{"X-User": "user"},
		Observers:          []resolve.Observer{a, b},
	})
	ctx := context.WithValue(context.Background(), markKey{}, true)
	h := http.Header{"X-User": {"ana"}}
	sc := r.Scope(store.Selector{}, map[string]any{"q": "v"}, h, true)
	want := []seen{}
	for _, f := range sc.Flags() {
		kind := evaluator.KindAny
		res := sc.Evaluate(ctx, f.Key(), kind)
		want = append(want, seen{f.Key(), kind, res.Reason, map[string]any{"q": "v", "s": 1.0, "user": "ana"}, true})
	}
	res, err := r.Resolve(ctx, h, nil, false, "who", evaluator.KindString)
	if err != nil || res.Value != "none" {
		t.Fatalf("Resolve = %+v, %v", res, err)
	}
	want = append(want, seen{"who", evaluator.KindString, evaluator.ReasonDefault, map[string]any{"s": 1.0}, true})
	if _, err := r.Resolve(ctx, http.Header{resolve.SelectorHeader: {"bad=1"}}, nil, true, "who", evaluator.KindString); err == nil {
		t.Fatal("Resolve with an invalid selector succeeded")
	}
	if len(want) != 4 {
		t.Fatalf("%d flags evaluated, want 3 and one Resolve", len(want))
	}
	for _, o := range []*recorder{a, b} {
		if got := o.take(); !reflect.DeepEqual(got, want) {
			t.Errorf("observer saw\n%+v\nwant\n%+v", got, want)
		}
	}
}

// TestNoObservers: a resolver without observers evaluates all the same.
func TestNoObservers(t *testing.T) {
	r := resolve.New(resolve.Config{Store: newStore(t)})
	res, err := r.Resolve(context.Background(), http.Header{}, map[string]any{"user": "ana"}, true, "who", evaluator.KindString)
	if err != nil || res.Value != "ctx" || res.Reason != evaluator.ReasonTargetingMatch {
		t.Fatalf("Resolve = %+v, %v", res, err)
	}
}

// TestContextMaps: a context map comes empty, recycled or not; nil and
// large maps are not recycled.
func TestContextMaps(t *testing.T) {
	for _, n := range []int{0, 3, 1000} {
		m := resolve.NewContextMap()
		if len(m) != 0 {
			t.Fatalf("new context map holds %v", m)
		}
		for i := range n {
			m[string(rune('a'+i%26))+string(rune(i))] = i
		}
		resolve.ReleaseContextMap(m)
		if m := resolve.NewContextMap(); len(m) != 0 {
			t.Fatalf("after releasing %d keys, a new context map holds %d", n, len(m))
		}
	}
	resolve.ReleaseContextMap(nil)
	resolve.NewContextMap()["k"] = 1 // never a nil map
}
