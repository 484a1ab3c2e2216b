package evaluator

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/vexilhq/vexil/evaluator/internal/logic"
	"github.com/vexilhq/vexil/internal/jsonenc"
)

// evaluators reads "$evaluators" and resolves references between them.
func (b *builder) evaluators(doc map[string]any) {
	b.refs = &refResolver{b: b, defs: map[string]any{}, done: map[string]any{}, state: map[string]int{}, size: map[string]int64{}}
	raw, present := doc["$evaluators"]
	if !present || raw == nil {
		return
	}
	m, ok := raw.(map[string]any)
	if !ok {
		b.add(SeverityError, "", "/$evaluators", "$evaluators must be an object, not %s", jsonType(raw))
		return
	}
	b.refs.defs = m
	names := make([]string, 0, len(m))
	for name, v := range m {
		// flagd rejects an evaluator whose JSON text, as written, is
		// shorter than three characters: {}, [], "", and one- or two-digit
		// numbers (but not { } or 1.0).
		if text, err := json.Marshal(v); err == nil && len(text) < 3 {
			if raw, ok := b.rawEvaluator(name); !ok || len(raw) < 3 {
				b.add(SeverityError, "", "/$evaluators/"+escapeToken(name), "evaluator %q is empty", name)
			} else {
				b.warn("", "/$evaluators/"+escapeToken(name), "evaluator %q is empty (flagd accepts it only as written, %s)", name, raw)
			}
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b.refs.evaluator(name)
	}
}

// refResolver replaces {"$ref": name} objects with the named evaluator.
type refResolver struct {
	b     *builder
	defs  map[string]any // as written
	done  map[string]any // resolved
	state map[string]int // 1: resolving, 2: resolved, 3: failed (reported)
	// size is the node count of each resolved evaluator once expanded
	// (see expandedSize), at most sizeCap.
	size map[string]int64
	path []string // tokens of the pointer being resolved
	// named holds the name of the evaluator each replaced $ref brought
	// in, by the identity of the object or array it is: the compiler
	// meets those very values, and keeps the names for Explain.
	named map[valueID]string
}

// valueID is the identity of a decoded object or non-empty array.
type valueID struct {
	p uintptr
	n int
}

func identity(v any) (valueID, bool) {
	switch x := v.(type) {
	case map[string]any:
		return valueID{p: reflect.ValueOf(x).Pointer(), n: -1}, x != nil
	case []any:
		if len(x) > 0 {
			return valueID{p: uintptr(unsafe.Pointer(unsafe.SliceData(x))), n: len(x)}, true
		}
	}
	return valueID{}, false
}

// noteReplaced records that v replaced a $ref to name.
func (r *refResolver) noteReplaced(v any, name string) {
	id, ok := identity(v)
	if !ok {
		return
	}
	if r.named == nil {
		r.named = map[valueID]string{}
	}
	if prev, ok := r.named[id]; ok && prev != name {
		// An evaluator that is only a $ref to another is that other:
		// both names stand for it.
		if !strings.Contains(", "+prev+", ", ", "+name+", ") {
			r.named[id] = prev + ", " + name
		}
		return
	}
	r.named[id] = name
}

// refName is logic.Config.RefName over r.named.
func (r *refResolver) refName(v any) (string, bool) {
	id, ok := identity(v)
	if !ok {
		return "", false
	}
	name, ok := r.named[id]
	return name, ok
}

func (r *refResolver) evaluator(name string) (any, bool) {
	switch r.state[name] {
	case 1, 3:
		return nil, false
	case 2:
		return r.done[name], true
	}
	r.state[name] = 1
	saved := r.path
	r.path = append(r.path[:0:0], "$evaluators", name)
	resolved, _, ok := r.resolve(r.defs[name], "")
	r.path = saved
	if !ok {
		r.state[name] = 3
		return nil, false
	}
	r.state[name] = 2
	r.done[name] = resolved
	r.size[name] = r.expandedSize(r.defs[name])
	return resolved, true
}

// pointer is the JSON pointer of the value being resolved.
func (r *refResolver) pointer() string {
	var b strings.Builder
	for _, tok := range r.path {
		b.WriteByte('/')
		b.WriteString(escapeToken(tok))
	}
	return b.String()
}

// resolveFlag resolves a flag's targeting, at ptrTokens.
func (r *refResolver) resolveFlag(v any, flagKey string, ptrTokens ...string) (any, bool) {
	r.path = append(r.path[:0], ptrTokens...)
	out, _, ok := r.resolve(v, flagKey)
	return out, ok
}

// resolve replaces every {"$ref": name} in v with the named evaluator,
// copying only what changes. A reference to a missing evaluator, or one
// that closes a cycle, stays (the rule fails when it is reached, as in
// flagd) and is reported.
func (r *refResolver) resolve(v any, flagKey string) (out any, changed, ok bool) {
	switch x := v.(type) {
	case map[string]any:
		if name, isRef := refName(x); isRef {
			if _, exists := r.defs[name]; !exists {
				r.b.warn(flagKey, r.pointer(), "$ref %q names no evaluator in $evaluators", name)
				return x, false, true
			}
			if !refable(name) {
				r.b.warn(flagKey, r.pointer(), "$ref %q is not replaced: flagd never replaces a name JSON writes escaped", name)
				return x, false, true
			}
			if len(r.path) >= 2 && r.path[0] == "$evaluators" && !r.b.rawEvaluatorHasRef(r.path[1], name) {
				r.b.warn(flagKey, r.pointer(), "$ref %q is not replaced: in an evaluator flagd replaces only a reference written without spaces, {\"$ref\":%q}", name, name)
				return x, false, true
			}
			if r.state[name] == 1 {
				// flagd replaces each evaluator's references once, so a
				// cycle leaves a reference in the rule, which fails where it
				// is reached.
				r.b.warn(flagKey, r.pointer(), "$ref %q is cyclic: evaluator %q leads back to itself (flagd leaves the $ref, and the rule fails where it is reached)", name, name)
				return x, false, true
			}
			e, ok := r.evaluator(name)
			if ok {
				r.noteReplaced(e, name)
			}
			return e, true, ok
		}
		var copied map[string]any
		// In key order: resolution stops at the first cycle, so the problems
		// reported must not depend on map order.
		for _, k := range refKeys(x) {
			e := x[k]
			r.path = append(r.path, k)
			ne, ch, ok := r.resolve(e, flagKey)
			r.path = r.path[:len(r.path)-1]
			if !ok {
				return x, false, false
			}
			if ch {
				if copied == nil {
					copied = make(map[string]any, len(x))
					for k2, e2 := range x {
						copied[k2] = e2
					}
				}
				copied[k] = ne
			}
		}
		if copied != nil {
			return copied, true, true
		}
	case []any:
		var copied []any
		for i, e := range x {
			if !mayHoldRef(e) {
				continue
			}
			r.path = append(r.path, strconv.Itoa(i)) // constant strings below 100
			ne, ch, ok := r.resolve(e, flagKey)
			r.path = r.path[:len(r.path)-1]
			if !ok {
				return x, false, false
			}
			if ch {
				if copied == nil {
					copied = append([]any(nil), x...)
				}
				copied[i] = ne
			}
		}
		if copied != nil {
			return copied, true, true
		}
	}
	return v, false, true
}

// refable says whether flagd replaces a $ref to the evaluator name: it
// looks for the reference, written with the name as is, in the document as
// Go's encoding/json writes it, which escapes quotes, backslashes, control
// characters, <, >, &, U+2028, U+2029 and invalid UTF-8.
func refable(name string) bool {
	if !utf8.ValidString(name) {
		return false
	}
	for _, c := range name {
		switch {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&', c == '\u2028', c == '\u2029':
			return false
		}
	}
	return true
}

// containsRef says whether v holds a {"$ref": name} object.
func containsRef(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := refName(x); ok {
			return true
		}
		for _, e := range x {
			if containsRef(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if containsRef(e) {
				return true
			}
		}
	}
	return false
}

func mayHoldRef(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

func refName(m map[string]any) (string, bool) {
	if len(m) != 1 {
		return "", false
	}
	name, ok := m["$ref"].(string)
	return name, ok
}

// flag checks and compiles one flag definition; refNodes is what the $refs
// of its targeting bring in, within maxRefNodesPerFlag.
func (b *builder) flag(key, ptr string, v any, setMeta Metadata, refNodes int64) *Flag {
	raw := v
	// flagd substitutes $refs anywhere in a flag, the flag itself
	// included, before it reads the flag's fields.
	if len(b.refs.defs) > 0 && containsRef(v) {
		resolved, ok := b.refs.resolveFlag(v, key, ptrTokens(ptr)...)
		if !ok {
			return nil
		}
		v = resolved
	}
	if v == nil {
		v = map[string]any{}
	}
	m, ok := v.(map[string]any)
	if !ok {
		b.add(SeverityError, key, ptr, "a flag must be an object, not %s", jsonType(v))
		return nil
	}
	m = b.foldFields(key, ptr, m, flagFields)
	b.unknownMembers(key, ptr, m, flagFields)
	f := &Flag{key: key, keyValue: key, refNodes: int32(refNodes)}
	bad := false
	str := func(field string) string {
		fv, present := m[field]
		if !present || fv == nil {
			return ""
		}
		s, ok := fv.(string)
		if !ok {
			b.add(SeverityError, key, ptr+"/"+field, "%s must be a string, not %s", field, jsonType(fv))
			bad = true
		}
		return s
	}
	obj := func(field string) map[string]any {
		fv, present := m[field]
		if !present || fv == nil {
			return nil
		}
		o, ok := fv.(map[string]any)
		if !ok {
			b.add(SeverityError, key, ptr+"/"+field, "%s must be an object, not %s", field, jsonType(fv))
			bad = true
		}
		return o
	}
	str("key")
	str("source")
	f.state = b.intern(str("state"))
	f.defaultVariant = b.intern(str("defaultVariant"))
	variants := obj("variants")
	f.variants = compactVariants(variants)
	for i := range f.variants {
		f.variants[i].name = b.intern(f.variants[i].name)
		f.variants[i].value = b.internValue(f.variants[i].value)
	}
	f.ownMetadata = Metadata(obj("metadata"))
	if bad {
		return nil
	}
	f.disabled = f.state == "DISABLED"
	if f.state != "ENABLED" && f.state != "DISABLED" {
		if _, present := m["state"]; present {
			b.warn(key, ptr+"/state", "state must be \"ENABLED\" or \"DISABLED\", not %q (flagd treats it as enabled)", f.state)
		} else {
			b.warn(key, ptr+"/state", "state is missing (flagd treats the flag as enabled)")
		}
	}
	if f.defaultVariant != "" {
		if _, ok := variants[f.defaultVariant]; !ok {
			b.add(SeverityError, key, ptr+"/defaultVariant", "defaultVariant %q is not one of the variants%s", f.defaultVariant, variantList(variants))
			bad = true // the checks below still run, to report all at once
		}
	}
	if len(variants) == 0 {
		b.warn(key, ptr+"/variants", "the flag has no variants")
	}
	f.variantType = b.variantType(key, ptr, variants)
	f.metadata = overlay(setMeta, f.ownMetadata)
	f.setMetadata = setMeta
	// The flag set: the flag's own flagSetId, even null (which hides the
	// document's and leaves the flag in no flag set), else its document's.
	idValue, ownID := f.ownMetadata["flagSetId"]
	if !ownID {
		idValue = setMeta["flagSetId"]
	}
	if id, ok := idValue.(string); ok {
		f.flagSetID = b.intern(id)
		if id == "" {
			f.unstorable = true
			idPtr := "/metadata/flagSetId"
			if ownID {
				idPtr = ptr + idPtr
			}
			b.warn(key, idPtr, "flagSetId is the empty string: flagd does not serve the flag (leave flagSetId out for no flag set)")
		}
	}
	if key == "" {
		f.unstorable = true // reported as an invalid key
	}
	if dv, ok := variants[f.defaultVariant]; ok && f.defaultVariant != "" {
		f.hasDefault = true
		f.defaultValue = b.internValue(dv)
		if n, ok := dv.(float64); ok {
			f.defaultInt = any(int64(n))
		}
	}

	t, present := m["targeting"]
	f.hasTargetingKey = present
	if present && !isEmptyObject(t) {
		tp := ptr + "/targeting"
		cfg := logic.Config{FractionalCBOR: b.parser.opts.FractionalCBOR, Roots: b.parser.roots, InternValue: b.internValue, InternString: b.intern}
		if len(b.refs.named) > 0 {
			cfg.RefName = b.refs.refName
		}
		prog, diags := logic.Compile(t, cfg)
		for _, d := range diags {
			if strings.HasSuffix(d.Pointer, "/$ref") {
				continue // reported above as a reference to a missing evaluator
			}
			b.warn(key, tp+d.Pointer, "%s", d.Message)
		}
		f.targeting = prog
		tk, rawT := "targeting", t
		if k, rt, ok := foldedMember(raw, "targeting"); ok {
			tk, rawT = k, rt
		}
		b.lintTargeting(key, ptr+"/"+escapeToken(tk), t, rawT, variants)
	}
	if present {
		// Kept as JSON: a decoded rule is several maps, and a document of
		// many flags would hold them all.
		// Encoded in the builder's scratch buffer, kept in a copy of the
		// exact size.
		data, ok := jsonenc.Append(b.scratch[:0], t, maxRuleDepth)
		b.scratch = data[:0]
		data = bytes.Clone(data)
		if !ok {
			var err error
			if data, err = json.Marshal(t); err != nil {
				b.add(SeverityError, key, ptr+"/targeting", "the targeting rule cannot be encoded: %v", err)
				return nil
			}
		}
		f.targetingJSON = data
	}
	if bad {
		return nil
	}
	f.fingerprint = b.fingerprint(f, setMeta)
	f.prepare()
	return f
}

// maxRuleDepth bounds the nesting jsonenc follows in a targeting rule;
// encoding/json encodes a deeper one.
const maxRuleDepth = 10000

// ptrTokens splits a pointer into unescaped tokens and appends more.
func ptrTokens(ptr string, more ...string) []string {
	toks := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, t := range toks {
		if strings.Contains(t, "~") {
			toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		}
	}
	return append(toks, more...)
}

func isEmptyObject(v any) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

func variantList(variants map[string]any) string {
	if len(variants) == 0 {
		return " (there are none)"
	}
	names := make([]string, 0, len(variants))
	for k := range variants {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) > 8 {
		names = append(names[:8], "...")
	}
	return " (" + strings.Join(names, ", ") + ")"
}

func (b *builder) variantType(key, ptr string, variants map[string]any) ValueType {
	t := ValueNone
	for _, v := range variants {
		vt := typeOfValue(v)
		if t == ValueNone {
			t = vt
		} else if vt != t {
			t = ValueMixed
			break
		}
	}
	if t != ValueMixed {
		return t
	}
	// Name two variants of different types, the same two every time.
	names := make([]string, 0, len(variants))
	for k := range variants {
		names = append(names, k)
	}
	sort.Strings(names)
	first := names[0]
	ft := typeOfValue(variants[first])
	for _, name := range names[1:] {
		if vt := typeOfValue(variants[name]); vt != ft {
			b.warn(key, ptr+"/variants", "variants mix types: %q is %s, %q is %s", first, ft, name, vt)
			break
		}
	}
	return ValueMixed
}

func typeOfValue(v any) ValueType {
	switch v.(type) {
	case bool:
		return ValueBool
	case string:
		return ValueString
	case float64:
		return ValueNumber
	case map[string]any:
		return ValueObject
	}
	return ValueMixed
}

// overlay is a flag's metadata as flagd answers it: its document's with
// its own over it, then without the null entries (so a null on the flag
// hides the document's entry).
func overlay(base, top Metadata) Metadata {
	if len(top) == 0 && !hasNull(base) {
		return base
	}
	out := make(Metadata, len(base)+len(top))
	for k, v := range base {
		if v != nil {
			out[k] = v
		}
	}
	for k, v := range top {
		if v != nil {
			out[k] = v
		} else {
			delete(out, k)
		}
	}
	return out
}

func hasNull(m Metadata) bool {
	for _, v := range m {
		if v == nil {
			return true
		}
	}
	return false
}

// refKeys returns the keys of x whose values may hold a $ref, sorted, so
// that what walks a rule for them does so in one order whatever the map's.
func refKeys(x map[string]any) []string {
	keys := make([]string, 0, len(x))
	for k, e := range x {
		if mayHoldRef(e) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
