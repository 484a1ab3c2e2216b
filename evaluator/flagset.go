package evaluator

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vexilhq/vexil/evaluator/internal/logic"
)

// Flag is one compiled flag definition. It is immutable.
type Flag struct {
	key       string
	keyValue  any // key, boxed once
	flagSetID string
	// unstorable: flagd's store cannot keep the flag: its key is empty or
	// its flagSetId (its own, else its document's) is the empty string,
	// which flagd's index takes for a missing value and refuses. The parser
	// warns of such a flag and leaves it out of the FlagSet.
	unstorable     bool
	state          string
	disabled       bool
	defaultVariant string
	hasDefault     bool
	defaultValue   any
	defaultInt     any // int64, boxed once
	// variants are sorted by name: a slice is a fraction of a map's size,
	// and flags have a handful of variants.
	variants    []variant
	variantType ValueType
	// targetingJSON is the rule with $refs replaced by their evaluators,
	// as flagd serves it to in-process providers, encoded as
	// encoding/json encodes it (keys sorted); hasTargetingKey tells an
	// absent rule from a null one.
	targetingJSON   []byte
	hasTargetingKey bool
	targeting       *logic.Program
	ownMetadata     Metadata
	setMetadata     Metadata // its document's, as written
	metadata        Metadata
	// static is the answer of a flag without targeting that has a default
	// variant, for the kinds in staticKinds (a bit per Kind).
	static      *Result
	staticKinds uint8
	// reusable says that a parse may reuse the flag when its source hash
	// src is unchanged (see lazy.go).
	reusable bool
	// refNodes is what the $refs of its targeting bring in (see
	// refbudget.go), counted again when the flag is reused.
	refNodes int32
	src      srcHash
	// fingerprint identifies the definition (see fingerprint.go).
	fingerprint Fingerprint
}

// prepare computes what evaluation can know in advance.
func (f *Flag) prepare() {
	if f.disabled || f.targeting != nil || !f.hasDefault {
		return
	}
	f.static = &Result{FlagKey: f.key, Metadata: f.metadata, Reason: ReasonStatic, Variant: f.defaultVariant, Value: f.defaultValue}
	for k := KindAny; k <= KindObject; k++ {
		if kindAccepts(k, f.defaultValue) {
			f.staticKinds |= 1 << k
		}
	}
}

// Key returns the flag's key.
func (f *Flag) Key() string { return f.key }

// FlagSetID returns the flag set the flag belongs to: the "flagSetId" of
// its metadata, or of its document's metadata ("" when neither has one).
func (f *Flag) FlagSetID() string { return f.flagSetID }

// State returns the state as written ("ENABLED", "DISABLED", or anything
// else, which flagd treats as enabled).
func (f *Flag) State() string { return f.state }

// Disabled reports whether the flag is disabled.
func (f *Flag) Disabled() bool { return f.disabled }

// DefaultVariant returns the default variant's name, and false when the
// flag has none (null, missing or "").
func (f *Flag) DefaultVariant() (string, bool) { return f.defaultVariant, f.hasDefault }

// variant is one variant of a flag.
type variant struct {
	name  string
	value any
}

// compactVariants returns the variants of m sorted by name.
// An empty map gives an empty slice, not nil: Variants tells {} from none.
func compactVariants(m map[string]any) []variant {
	if m == nil {
		return nil
	}
	out := make([]variant, 0, len(m))
	for name, v := range m {
		out = append(out, variant{name, v})
	}
	slices.SortFunc(out, func(a, b variant) int { return strings.Compare(a.name, b.name) })
	return out
}

// Variants returns the variants in a new map, nil when the flag has none
// (see Variant for one).
func (f *Flag) Variants() map[string]any {
	if f.variants == nil {
		return nil
	}
	m := make(map[string]any, len(f.variants))
	for _, v := range f.variants {
		m[v.name] = v.value
	}
	return m
}

// Variant returns the value of the variant with the given name. The value
// is shared and must not be modified.
func (f *Flag) Variant(name string) (any, bool) {
	vs := f.variants
	if len(vs) <= 8 {
		for i := range vs {
			if vs[i].name == name {
				return vs[i].value, true
			}
		}
		return nil, false
	}
	i, ok := slices.BinarySearchFunc(vs, name, func(v variant, name string) int { return strings.Compare(v.name, name) })
	if !ok {
		return nil, false
	}
	return vs[i].value, true
}

// VariantCount returns the number of variants.
func (f *Flag) VariantCount() int { return len(f.variants) }

// VariantType returns the type the variants share.
func (f *Flag) VariantType() ValueType { return f.variantType }

// Targeting returns the flag's targeting rule as written, with every $ref
// replaced by its evaluator, and whether the flag has a "targeting" member
// (it may be null or {}). It decodes the rule anew at each call (see
// TargetingJSON); the value is the caller's.
func (f *Flag) Targeting() (rule any, present bool) {
	if !f.hasTargetingKey {
		return nil, false
	}
	if err := json.Unmarshal(f.targetingJSON, &rule); err != nil {
		panic("evaluator: a targeting rule encoded at parse time does not decode: " + err.Error())
	}
	return rule, true
}

// TargetingJSON returns what Targeting returns, as encoding/json encodes it
// (object keys sorted; "<", ">" and "&" escaped), and whether the flag has
// a "targeting" member. The slice is shared and must not be modified.
func (f *Flag) TargetingJSON() (data []byte, present bool) {
	return f.targetingJSON, f.hasTargetingKey
}

// HasTargeting reports whether the flag has a targeting rule to apply
// (absent and {} mean none).
func (f *Flag) HasTargeting() bool { return f.targeting != nil }

// Metadata returns the flag's metadata: its document's, overlaid with its
// own. The map is shared and must not be modified.
func (f *Flag) Metadata() Metadata { return f.metadata }

// DocumentMetadata returns the metadata of the flag's document, as
// written (null entries included). Shared: do not modify.
func (f *Flag) DocumentMetadata() Metadata { return f.setMetadata }

// OwnMetadata returns only the metadata written on the flag itself.
func (f *Flag) OwnMetadata() Metadata { return f.ownMetadata }

// FlagSet is an immutable set of compiled flags, safe for concurrent use.
//
// A flag is identified by its flag set id and its key, so a set may hold
// several flags with one key (an array document that defines the key in
// several flag sets). Flags lists them all; Flag and Evaluate, which take
// only a key, find the one defined last.
type FlagSet struct {
	flags    map[string]*Flag // by key: the one defined last
	all      []*Flag          // one per (flag set id, key)
	sorted   []*Flag
	metadata Metadata
	now      func() time.Time
}

// index sorts all into sorted, by key and then flag set id; all nil means
// the flags of the key map.
func (s *FlagSet) index() {
	if s.all == nil {
		s.all = make([]*Flag, 0, len(s.flags))
		for _, f := range s.flags {
			s.all = append(s.all, f)
		}
	}
	s.sorted = s.all
	s.all = nil
	slices.SortFunc(s.sorted, func(a, b *Flag) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.flagSetID, b.flagSetID)
	})
}

// Len returns the number of flags: distinct (flag set id, key) pairs.
func (s *FlagSet) Len() int { return len(s.sorted) }

// Flags returns the flags sorted by key and then flag set id. The slice is
// shared.
func (s *FlagSet) Flags() []*Flag { return s.sorted }

// Flag returns the flag with the given key (the one defined last, when
// several flag sets define it).
func (s *FlagSet) Flag(key string) (*Flag, bool) {
	f, ok := s.flags[key]
	return f, ok
}

// Metadata returns the document's metadata. The map is shared.
func (s *FlagSet) Metadata() Metadata { return s.metadata }

// Evaluate resolves the flag with the given key for the context, asking for
// a value of the given kind. The context is what the caller sends: Go values
// are seen by rules as their JSON encoding would be.
func (s *FlagSet) Evaluate(key string, kind Kind, ctx map[string]any) Result {
	f, ok := s.flags[key]
	if !ok {
		return Result{
			FlagKey:  key,
			Reason:   ReasonError,
			NoValue:  true,
			Err:      newError(CodeFlagNotFound, key, "flag not found"),
			Metadata: s.metadata,
		}
	}
	return f.Evaluate(kind, ctx, s.now)
}

// Evaluate resolves the flag for the context. now is the clock for
// "$flagd.timestamp" (nil: time.Now); it is read only when the flag has
// targeting.
func (f *Flag) Evaluate(kind Kind, ctx map[string]any, now func() time.Time) Result {
	if f.staticKinds&(1<<kind) != 0 {
		r := *f.static
		if kind == KindInt {
			r.Value = f.defaultInt
		}
		return r
	}
	return f.evaluate(kind, ctx, now)
}

func (f *Flag) evaluate(kind Kind, ctx map[string]any, now func() time.Time) Result {
	r := Result{FlagKey: f.key, Metadata: f.metadata}
	if f.disabled {
		r.Reason, r.NoValue = ReasonDisabled, true
		return r
	}
	if f.targeting == nil {
		if !f.hasDefault {
			r.Reason, r.NoValue = ReasonDefault, true
			return r
		}
		r.Reason, r.Variant = ReasonStatic, f.defaultVariant
		return f.typed(r, f.defaultValue, kind)
	}
	return f.evaluateTargeting(r, kind, ctx, now)
}

func (f *Flag) evaluateTargeting(r Result, kind Kind, ctx map[string]any, now func() time.Time) Result {
	return f.applyTargeting(r, kind, ctx, now, nil)
}

// applyTargeting evaluates the targeting rule; with x set, through
// Program.Explain, keeping the trace and the context in x (Explain). The
// one test of x per evaluation is all that evaluation pays for Explain.
func (f *Flag) applyTargeting(r Result, kind Kind, ctx map[string]any, now func() time.Time, x *Explanation) Result {
	norm, err := logic.NormalizeContext(ctx)
	if err != nil {
		return failed(r, CodeGeneral, "the evaluation context cannot be encoded as JSON: %v", err)
	}
	env := logic.Env{Context: norm, FlagKey: f.key, FlagKeyValue: f.keyValue}
	if f.targeting.NeedsClock() {
		if now == nil {
			now = time.Now
		}
		env.Timestamp = now().Unix()
	}
	var out any
	if x == nil {
		out, err = f.targeting.Eval(env)
	} else {
		var trace *logic.Trace
		out, trace, err = f.targeting.Explain(env, 0)
		x.Context = norm
		x.Trace = convertTrace(trace, &x.Refs)
	}
	if err != nil {
		return failed(r, CodeParseError, "applying the targeting rule: %v", err)
	}
	name, isNull, err := variantName(out)
	if err != nil {
		return failed(r, CodeParseError, "the targeting rule's result cannot be encoded: %v", err)
	}
	if isNull {
		if !f.hasDefault {
			r.Reason, r.NoValue = ReasonDefault, true
			return r
		}
		r.Reason, r.Variant = ReasonDefault, f.defaultVariant
		return f.typed(r, f.defaultValue, kind)
	}
	v, ok := f.Variant(name)
	if !ok {
		return failed(r, CodeGeneral, "targeting chose variant %q, which the flag does not have", name)
	}
	r.Reason, r.Variant = ReasonTargetingMatch, name
	return f.typed(r, v, kind)
}

func failed(r Result, code ErrorCode, format string, args ...any) Result {
	r.Reason, r.NoValue, r.Variant, r.Value = ReasonError, true, "", nil
	r.Err = newError(code, r.FlagKey, format, args...)
	return r
}

// kindAccepts reports whether a variant's value can be returned as kind.
// A null value is returned as no kind, not even KindAny: flagd's type
// assertion to interface{} fails on nil, a TYPE_MISMATCH.
func kindAccepts(kind Kind, v any) bool {
	ok := v != nil
	switch kind {
	case KindBool:
		_, ok = v.(bool)
	case KindString:
		_, ok = v.(string)
	case KindInt, KindFloat:
		_, ok = v.(float64)
	case KindObject:
		_, ok = v.(map[string]any)
	}
	return ok
}

// typed checks the variant's value against the requested kind.
func (f *Flag) typed(r Result, v any, kind Kind) Result {
	if kind == KindInt {
		if n, ok := v.(float64); ok {
			if r.Variant == f.defaultVariant && f.defaultInt != nil {
				r.Value = f.defaultInt
			} else {
				r.Value = int64(n)
			}
			return r
		}
	}
	if !kindAccepts(kind, v) {
		r.Reason, r.NoValue = ReasonError, true
		r.Err = newError(CodeTypeMismatch, f.key, "the value of variant %q is %s, not %s", r.Variant, describe(v), kind)
		return r
	}
	r.Value = v
	return r
}

func describe(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case float64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case nil:
		return "null"
	}
	return "of an unknown type"
}

// variantName turns a targeting result into a variant name as flagd does:
// the result's JSON text with every double quote removed, so "on" names
// on, true names true and 2 names 2. A null result selects the default.
func variantName(v any) (name string, isNull bool, err error) {
	switch x := v.(type) {
	case nil:
		return "", true, nil
	case string:
		if plainJSONString(x) {
			return x, false, nil
		}
	case bool:
		if x {
			return "true", false, nil
		}
		return "false", false, nil
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return "", false, err
	}
	text := strings.TrimSpace(buf.String())
	if text == "null" {
		return "", true, nil
	}
	return strings.ReplaceAll(text, `"`, ""), false, nil
}

// plainJSONString reports whether encoding/json writes s as it is between
// quotes.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
