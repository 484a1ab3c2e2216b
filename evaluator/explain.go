package evaluator

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vexilhq/vexil/evaluator/internal/logic"
)

// Explanation is why a flag resolves as it does for a context: the result
// evaluation gives (Result is exactly what Evaluate answers), the flag's
// definition, and the trace of its targeting rule, operator by operator.
//
// Its JSON encoding (MarshalJSON) is what `vexil explain --output json`
// prints and the daemon's POST /api/v1/explain answers.
type Explanation struct {
	// Result is what Evaluate gives for the same flag, kind and context.
	Result Result
	// Kind is the kind of value asked for.
	Kind Kind
	// Found is false when there is no such flag (Result then says so).
	Found bool
	// FlagSetID, State and DefaultVariant are the flag's ("" when none).
	FlagSetID      string
	State          string
	DefaultVariant string
	// Source names where the flag comes from, and Shadowed the definitions
	// of the same key that lower-priority sources hold and this one hides.
	// The evaluator knows no sources: the daemon's store fills them.
	Source   string
	Shadowed []Definition
	// Context is the evaluation context the rule saw.
	Context map[string]any
	// Trace is the targeting rule's trace; nil when no rule was applied
	// (no targeting, a disabled flag, an unusable context).
	Trace *TraceNode
	// Refs names the evaluators the rule's $refs brought in, in the order
	// the trace reaches them, each once.
	Refs []string
}

// Definition is one definition of a flag key: where it is, and its state.
type Definition struct {
	Source         string `json:"source"`
	FlagSetID      string `json:"flagSetId,omitempty"`
	State          string `json:"state"`
	DefaultVariant string `json:"defaultVariant,omitempty"`
}

// TraceNode is one operator of a targeting rule as explain reached it, in
// evaluation order. Values (Args, Result, BucketBy, Variant) are
// shortened: strings past 80 characters, arrays and objects past 10
// members, and nesting past 4 levels are cut, marked with "…".
type TraceNode struct {
	// Op is the JSONLogic operator, or "$ref" for where a {"$ref": name}
	// stood (Ref names it; its child is the evaluator's operator).
	Op string `json:"op"`
	// Pointer is the operator's JSON pointer in the targeting rule, as the
	// rule is served ($refs replaced); "" for rules built at evaluation
	// time (an object an if branch yields, the logic of filter/some/...).
	Pointer string `json:"pointer,omitempty"`
	// Args are the operator's evaluated arguments (for "if", the values
	// of the conditions evaluated).
	Args   []any  `json:"args,omitempty"`
	Result any    `json:"result"`
	Error  string `json:"error,omitempty"`
	// Failed marks the operator that failed and those it ended (the
	// evaluation stopped there: they have no result).
	Failed   bool         `json:"failed,omitempty"`
	Children []*TraceNode `json:"children"`
	Ref      string       `json:"ref,omitempty"`
	// Branch (if): "then", "else" or "none"; Clause is the index of the
	// clause taken in the if's array (-1 for none).
	Branch string `json:"branch,omitempty"`
	Clause *int   `json:"clause,omitempty"`
	// Path and Found (var): the path looked up and whether the context has
	// a non-null value there (else the default, or null).
	Path  *string `json:"path,omitempty"`
	Found *bool   `json:"found,omitempty"`
	// fractional: the string (v2) or value (v3, CBOR) hashed, its 32-bit
	// MurmurHash3, the hash scaled onto [0, total weight), the buckets and
	// the variant chosen; Problem says why the result is null, if it is.
	BucketBy    any             `json:"bucketBy,omitempty"`
	Hash        *uint32         `json:"hash,omitempty"`
	Bucket      *uint64         `json:"bucket,omitempty"`
	Weights     []BucketWeight  `json:"weights,omitempty"`
	TotalWeight *int64          `json:"totalWeight,omitempty"`
	Variant     any             `json:"variant,omitempty"`
	Problem     string          `json:"problem,omitempty"`
	SemVer      *SemVerOperands `json:"semVer,omitempty"`
	// Elided counts operators below this one evaluated but not traced,
	// past the trace's size limit.
	Elided int `json:"elided,omitempty"`
}

// BucketWeight is one bucket of a fractional rule.
type BucketWeight struct {
	Variant any   `json:"variant"`
	Weight  int64 `json:"weight"`
}

// SemVerOperands are sem_ver's operands as it reads them: each version in
// "v"-prefixed semantic-version form, and whether it is valid.
type SemVerOperands struct {
	Version      string `json:"version"`
	VersionValid bool   `json:"versionValid"`
	Operator     any    `json:"operator"`
	Target       string `json:"target"`
	TargetValid  bool   `json:"targetValid"`
}

// Explain evaluates the flag with the given key as Evaluate does, and
// returns why it resolves as it does.
func (s *FlagSet) Explain(key string, kind Kind, ctx map[string]any) Explanation {
	f, ok := s.flags[key]
	if !ok {
		return Explanation{Result: s.Evaluate(key, kind, ctx), Kind: kind, Context: ctx}
	}
	return f.Explain(kind, ctx, s.now)
}

// Explain evaluates the flag as Evaluate does, with the same compiled rule,
// and returns why it resolves as it does: Explain(...).Result equals
// Evaluate(...) for the same arguments (and the same clock).
func (f *Flag) Explain(kind Kind, ctx map[string]any, now func() time.Time) Explanation {
	x := Explanation{Kind: kind, Found: true, FlagSetID: f.flagSetID, State: f.state, DefaultVariant: f.defaultVariant, Context: ctx}
	if f.disabled || f.targeting == nil {
		x.Result = f.Evaluate(kind, ctx, now)
		if norm, err := logic.NormalizeContext(ctx); err == nil {
			x.Context = norm
		} else {
			x.Context = nil
		}
		return x
	}
	x.Context = nil // set, normalized, once the context is usable
	x.Result = f.applyTargeting(Result{FlagKey: f.key, Metadata: f.metadata}, kind, ctx, now, &x)
	return x
}

func convertTrace(t *logic.Trace, refs *[]string) *TraceNode {
	if t == nil {
		return nil
	}
	n := &TraceNode{Op: t.Op, Pointer: t.Pointer, Result: shorten(t.Result, 0), Error: t.Error, Failed: t.Failed, Ref: t.Ref, Elided: t.Elided, Children: []*TraceNode{}}
	if t.HasArgs {
		n.Args = make([]any, len(t.Args))
		for i, a := range t.Args {
			n.Args[i] = shorten(a, 0)
		}
	}
	if t.Ref != "" && !slices.Contains(*refs, t.Ref) {
		*refs = append(*refs, t.Ref)
	}
	switch t.Op {
	case "if", "?:":
		if t.Branch != "" {
			clause := t.Clause
			n.Branch, n.Clause = t.Branch, &clause
		}
	case "var":
		path, found := t.VarPath, t.Found
		n.Path, n.Found = &path, &found
	}
	if d := t.Fractional; d != nil {
		n.BucketBy = shorten(d.BucketBy, 0)
		if d.Hashed {
			h := d.Hash
			n.Hash = &h
		}
		for _, b := range d.Buckets {
			n.Weights = append(n.Weights, BucketWeight{Variant: shorten(b.Variant, 0), Weight: b.Weight})
		}
		if len(d.Buckets) > 0 {
			total := d.TotalWeight
			n.TotalWeight = &total
		}
		if d.Index >= 0 {
			b := d.Bucket
			n.Bucket = &b
			n.Variant = shorten(d.Variant, 0)
		}
		n.Problem = d.Problem
	}
	if s := t.SemVer; s != nil {
		n.SemVer = &SemVerOperands{Version: s.Version, VersionValid: s.VersionValid, Operator: shorten(s.Operator, 0), Target: s.Target, TargetValid: s.TargetValid}
	}
	for _, c := range t.Children {
		n.Children = append(n.Children, convertTrace(c, refs))
	}
	return n
}

// The bounds of shortened trace values.
const (
	maxTraceString = 80
	maxTraceItems  = 10
	maxTraceDepth  = 4
)

// shorten is v with long strings, arrays and objects cut (see TraceNode),
// and what JSON cannot hold (NaN, infinities) as strings. It copies only
// what it changes.
func shorten(v any, depth int) any {
	switch x := v.(type) {
	case string:
		if utf8.RuneCountInString(x) <= maxTraceString {
			return x
		}
		n := 0
		for i := range x {
			if n == maxTraceString {
				return x[:i] + "…(" + strconv.Itoa(utf8.RuneCountInString(x[i:])) + " more characters)"
			}
			n++
		}
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return x
	case []any:
		if depth >= maxTraceDepth && len(x) > 0 {
			return "…(an array of " + strconv.Itoa(len(x)) + ")"
		}
		out := x
		for i, e := range x {
			if i == maxTraceItems {
				out = append(slices.Clone(out[:i:i]), "…("+strconv.Itoa(len(x)-i)+" more)")
				break
			}
			if s := shorten(e, depth+1); !same(s, e) {
				if sameSlice(out, x) {
					out = slices.Clone(x)
				}
				out[i] = s
			}
		}
		return out
	case map[string]any:
		if depth >= maxTraceDepth && len(x) > 0 {
			return "…(an object of " + strconv.Itoa(len(x)) + ")"
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make(map[string]any, min(len(x), maxTraceItems+1))
		for i, k := range keys {
			if i == maxTraceItems {
				out["…"] = strconv.Itoa(len(keys)-i) + " more"
				break
			}
			out[k] = shorten(x[k], depth+1)
		}
		return out
	}
	return v
}

// same reports whether shorten left a value as it was.
func same(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		return ok && sameSlice(x, y)
	case map[string]any:
		return false
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	}
	return a == b
}

func sameSlice(a, b []any) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// explanationJSON is the JSON form of an Explanation.
type explanationJSON struct {
	FlagKey        string         `json:"flagKey"`
	Variant        *string        `json:"variant"`
	Value          any            `json:"value"`
	Reason         Reason         `json:"reason"`
	ErrorCode      string         `json:"errorCode,omitempty"`
	ErrorMessage   string         `json:"errorMessage,omitempty"`
	Source         string         `json:"source"`
	Shadowed       []Definition   `json:"shadowed,omitempty"`
	FlagSetID      string         `json:"flagSetId,omitempty"`
	State          string         `json:"state,omitempty"`
	DefaultVariant string         `json:"defaultVariant,omitempty"`
	Type           string         `json:"type"`
	Refs           []string       `json:"refs,omitempty"`
	Metadata       Metadata       `json:"metadata,omitempty"`
	Context        map[string]any `json:"context"`
	Trace          *TraceNode     `json:"trace"`
}

// MarshalJSON encodes the explanation as {"flagKey", "variant" (null when
// none was chosen), "value" (null likewise), "reason", "errorCode" and
// "errorMessage" (on an error), "source", "shadowed", "flagSetId",
// "state", "defaultVariant", "type" (the kind asked for), "refs",
// "metadata", "context", "trace"}: the shape scripts rely on.
func (x Explanation) MarshalJSON() ([]byte, error) {
	j := explanationJSON{
		FlagKey:        x.Result.FlagKey,
		Value:          x.Result.Value,
		Reason:         x.Result.Reason,
		Source:         x.Source,
		Shadowed:       x.Shadowed,
		FlagSetID:      x.FlagSetID,
		State:          x.State,
		DefaultVariant: x.DefaultVariant,
		Type:           x.Kind.String(),
		Refs:           x.Refs,
		Metadata:       x.Result.Metadata,
		Context:        x.Context,
		Trace:          x.Trace,
	}
	if x.Result.Variant != "" || !x.Result.NoValue && x.Result.Err == nil {
		v := x.Result.Variant
		j.Variant = &v
	}
	if x.Result.NoValue {
		j.Value = nil
	}
	if x.Result.Err != nil {
		j.ErrorCode = x.Result.Err.Code.String()
		j.ErrorMessage = x.Result.Err.Message
	}
	if norm, err := logic.NormalizeContext(j.Context); err == nil && norm != nil {
		j.Context = norm
	} else {
		j.Context = map[string]any{} // none, or none JSON can hold
	}
	return json.Marshal(j)
}
