package evaluator

import (
	"sort"
	"strings"
)

// Field names matched as flagd matches them.
//
// flagd decodes a flag definition, and the top level of a document, into Go
// structs with encoding/json, after a round trip through a generic value
// (so each object's keys are unique, and in byte order). That decoder
// matches a member to a field ignoring case (Unicode simple folding:
// "State", "STATE" and "ſtate" all set "state"), and decodes every member
// that matches, in that order: for a string field the last non-null value
// wins; for an object field (variants, metadata) the objects merge, the
// later member's entries replacing the earlier's, and a null empties it;
// for a raw field (targeting, flags) the last value wins, null included.
// Vexil reads such a member as flagd does and warns about it.

// fieldKind says how encoding/json decodes a member into a field.
type fieldKind uint8

const (
	fieldString fieldKind = iota // a Go string: null leaves it as it was
	fieldObject                  // a Go map: objects merge, null empties it
	fieldRaw                     // a json.RawMessage: the last value wins
)

type field struct {
	name string
	kind fieldKind
}

// flagFields are the members of a flag definition flagd decodes.
var flagFields = []field{
	{"key", fieldString}, {"state", fieldString}, {"defaultVariant", fieldString},
	{"variants", fieldObject}, {"targeting", fieldRaw}, {"source", fieldString},
	{"metadata", fieldObject},
}

// docFields are the members of a document's top level flagd decodes.
var docFields = []field{
	{"flags", fieldRaw}, {"metadata", fieldObject}, {"$evaluators", fieldObject},
}

// foldedKeys returns the members of m that match a field of fields only
// when case is ignored, or nil.
func foldedKeys(m map[string]any, fields []field) []string {
	var odd []string
	for k := range m {
		exact := false
		for _, f := range fields {
			if k == f.name {
				exact = true
				break
			}
		}
		if exact {
			continue
		}
		for _, f := range fields {
			if strings.EqualFold(k, f.name) {
				odd = append(odd, k)
				break
			}
		}
	}
	sort.Strings(odd)
	return odd
}

// foldFields returns m with the members that match a field of fields when
// case is ignored replaced by the one value flagd decodes into the field,
// under its name; m itself when no member needs it. It warns, at ptr, about
// each member whose name is not the field's. A value of the wrong type is
// kept as the field's value, for the caller to report.
func (b *builder) foldFields(flagKey, ptr string, m map[string]any, fields []field) map[string]any {
	odd := foldedKeys(m, fields)
	if odd == nil {
		return m
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, f := range fields {
		var keys []string
		for k := range m {
			if strings.EqualFold(k, f.name) {
				keys = append(keys, k)
				delete(out, k)
			}
		}
		if len(keys) == 0 {
			continue
		}
		sort.Strings(keys)
		out[f.name] = foldValues(m, keys, f.kind)
	}
	for _, k := range odd {
		name := ""
		for _, f := range fields {
			if strings.EqualFold(k, f.name) {
				name = f.name
				break
			}
		}
		b.warn(flagKey, ptr+"/"+escapeToken(k), "%q is not %q, but flagd reads it as %q (its JSON decoding ignores case)", k, name, name)
	}
	return out
}

// foldValues combines the values of the members keys (in byte order) of m
// as encoding/json decodes them one after the other into a field of kind.
func foldValues(m map[string]any, keys []string, kind fieldKind) any {
	switch kind {
	case fieldRaw:
		return m[keys[len(keys)-1]]
	case fieldString:
		var cur any
		for _, k := range keys {
			switch v := m[k].(type) {
			case nil:
			case string:
				cur = v
			default:
				return v // a type error: flagd rejects the document
			}
		}
		return cur
	}
	var cur map[string]any
	for _, k := range keys {
		switch v := m[k].(type) {
		case nil:
			cur = nil
		case map[string]any:
			if cur == nil {
				cur = make(map[string]any, len(v))
			}
			for ek, ev := range v {
				cur[ek] = ev
			}
		default:
			return v // a type error: flagd rejects the document
		}
	}
	if cur == nil {
		return nil
	}
	return cur
}

// foldedString is the string flagd decodes into the field name of the
// object v, "" when there is none.
func foldedString(v any, name string) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	var keys []string
	for k := range m {
		if strings.EqualFold(k, name) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	s, _ := foldValues(m, keys, fieldString).(string)
	return s
}

// isDocField says whether k matches a member of a document's top level
// when case is ignored.
func isDocField(k string) bool {
	for _, f := range docFields {
		if strings.EqualFold(k, f.name) {
			return true
		}
	}
	return false
}

// foldedMember is the member of the object v that flagd decodes into the
// raw field name (the last of the names that match it ignoring case, in
// byte order), with its name; false when v is not an object or has none.
func foldedMember(v any, name string) (string, any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", nil, false
	}
	last, found := "", false
	for k := range m {
		if strings.EqualFold(k, name) && (!found || k > last) {
			last, found = k, true
		}
	}
	if !found {
		return "", nil, false
	}
	return last, m[last], true
}
