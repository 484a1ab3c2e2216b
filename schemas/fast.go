package schemas

import (
	"encoding/json"
	"math"
	"unicode/utf8"
)

// The fast path.
//
// Most flags in a real document have one of a few plain shapes, and running
// them through the schema library costs an allocation or more per subschema
// visited. The functions below recognise those shapes directly, without
// allocating. They are one-sided: true means that both our schemas and the
// flagd ones certainly accept the value; false only means "not proven", and
// the value then goes to the library, which remains the authority for every
// verdict and message. Anything unusual therefore answers false: multi-operator
// rule objects, operators other than the common ones, {} operands, Go values
// that encoding/json would not produce, deep nesting, names with control
// characters, and so on.
//
// The tests check the one-sidedness against both schemas on generated values
// that sit on either side of the boundary (TestQuickValidSound and the fuzz
// targets).

// maxQuickDepth bounds how deep the fast path follows rules and values;
// anything deeper is left to the library.
const maxQuickDepth = 32

// quickValidFlag reports whether f, one flag definition, certainly conforms
// to the flag schema. listed says that f is an element of the daemon's flag
// array, where it must also carry a non-empty string "key".
func quickValidFlag(f any, listed bool) bool {
	m, ok := f.(map[string]any)
	if !ok {
		return false
	}
	// Looking the members up is cheaper than ranging over the map.
	state, ok := m["state"].(string)
	if !ok || state != "ENABLED" && state != "DISABLED" {
		return false
	}
	if !quickVariants(m["variants"]) {
		return false
	}
	known := 2
	if v, ok := m["defaultVariant"]; ok {
		if _, ok := v.(string); !ok && v != nil {
			return false
		}
		known++
	}
	if v, ok := m["targeting"]; ok {
		if !quickValidRule(v) {
			return false
		}
		known++
	}
	if v, ok := m["metadata"]; ok {
		if !quickMetadata(v) {
			return false
		}
		known++
	}
	if listed {
		key, ok := m["key"].(string)
		if !ok || key == "" {
			return false
		}
		known++
	}
	if known == len(m) {
		return true
	}
	// The flag schemas allow and ignore other members (in an object of
	// flags, "key" is one of them).
	for k, v := range m {
		switch k {
		case "state", "variants", "defaultVariant", "targeting", "metadata":
			continue
		case "key":
			if listed {
				continue
			}
		}
		if !quickValue(v, 0) {
			return false
		}
	}
	return true
}

// quickValidRule reports whether x certainly conforms to the targeting
// schema as a whole: the value of a flag's "targeting" or of an
// "$evaluators" entry. {} (no targeting) is one; {"$ref": name} is not.
func quickValidRule(x any) bool {
	m, ok := x.(map[string]any)
	if !ok {
		return false
	}
	return len(m) == 0 || quickRule(m, 0)
}

// quickName reports whether s certainly matches the pattern ^.{1,}$ that
// flag keys, variant names and $evaluators names must match: it is not
// empty, is valid UTF-8 and holds no control character nor line or
// paragraph separator. (The pattern itself only excludes "\n", but regexp
// dialects disagree about "."; being stricter is safe.)
func quickName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			for _, r := range s[i:] {
				if r == utf8.RuneError || r < 0x20 || r >= 0x7f && r < 0xa0 || r == 0x2028 || r == 0x2029 {
					return false
				}
			}
			return true
		}
	}
	return true
}

// quickVariants: a non-empty object with well-named members whose values
// are all booleans, all strings, all numbers or all objects.
func quickVariants(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return false
	}
	const (
		unknown = iota
		boolean
		str
		number
		object
	)
	class := unknown
	for name, val := range m {
		if !quickName(name) {
			return false
		}
		var c int
		switch val := val.(type) {
		case bool:
			c = boolean
		case string:
			c = str
		case float64, json.Number:
			if !quickNumber(val) {
				return false
			}
			c = number
		case map[string]any:
			if !quickValue(val, 1) {
				return false
			}
			c = object
		default:
			return false
		}
		if class == unknown {
			class = c
		} else if c != class {
			return false
		}
	}
	return true
}

// quickMetadata: an object whose values are strings, numbers or booleans.
func quickMetadata(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for _, val := range m {
		switch val.(type) {
		case string, bool:
		case float64, json.Number:
			if !quickNumber(val) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// quickNumber: a finite float64 or a json.Number spelled as JSON spells
// numbers. (The library takes other Go number types too; they are rare
// enough to leave to it.)
func quickNumber(v any) bool {
	switch v := v.(type) {
	case float64:
		return !math.IsNaN(v) && !math.IsInf(v, 0)
	case json.Number:
		return jsonNumberSyntax(string(v))
	}
	return false
}

// jsonNumberSyntax reports whether s is a number in JSON syntax:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumberSyntax(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// quickValue reports whether v is made only of what encoding/json decodes
// into an any (with finite numbers), at most maxQuickDepth levels deep. It
// is the check for values that no schema looks into, such as arrays used as
// operands or object variants: the library accepts them whatever they hold,
// as long as they are JSON.
func quickValue(v any, depth int) bool {
	switch v := v.(type) {
	case nil, bool, string:
		return true
	case float64, json.Number:
		return quickNumber(v)
	case []any:
		if depth >= maxQuickDepth {
			return false
		}
		for _, e := range v {
			if !quickValue(e, depth+1) {
				return false
			}
		}
		return true
	case map[string]any:
		if depth >= maxQuickDepth {
			return false
		}
		for _, e := range v {
			if !quickValue(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// quickOperand: an operand of an operator, which is a primitive, an array
// (not looked into by either schema), a {"$ref": name} reference or a rule.
// {} is not an operand: it fits both the reference and the rule forms of the
// flagd schema's oneOf.
func quickOperand(v any, depth int) bool {
	switch v := v.(type) {
	case nil, bool, string:
		return true
	case float64, json.Number:
		return quickNumber(v)
	case []any:
		return quickValue(v, depth)
	case map[string]any:
		if len(v) == 1 {
			if ref, ok := v["$ref"]; ok {
				_, ok := ref.(string)
				return ok
			}
		}
		return quickRule(v, depth)
	}
	return false
}

// quickOperands: an array of between lo and hi (-1: no limit) operands.
func quickOperands(v any, lo, hi, depth int) bool {
	a, ok := v.([]any)
	if !ok || len(a) < lo || hi >= 0 && len(a) > hi {
		return false
	}
	for _, e := range a {
		if !quickOperand(e, depth) {
			return false
		}
	}
	return true
}

// quickRule: a rule object with exactly one operator, one of the common
// ones, whose arguments are right for it. A {"$ref": ...} is not a rule.
func quickRule(m map[string]any, depth int) bool {
	if len(m) != 1 || depth >= maxQuickDepth {
		return false
	}
	depth++
	for op, arg := range m {
		switch op {
		case "var":
			return quickVar(arg, depth)
		case "if", "or", "and", "+", "-", "max", "min", "merge", "cat":
			return quickOperands(arg, 1, -1, depth)
		case "==", "===", "!=", "!==", ">", ">=", "%", "/", "in",
			"map", "filter", "all", "none", "some":
			return quickOperands(arg, 2, 2, depth)
		case "<", "<=", "substr":
			return quickOperands(arg, 2, 3, depth)
		case "*":
			return quickOperands(arg, 2, -1, depth)
		case "reduce":
			return quickOperands(arg, 3, 3, depth)
		case "!", "!!":
			// One operand, bare or in a one-element array; any array is
			// an operand in its own right.
			return quickOperand(arg, depth)
		case "missing":
			return quickStrings(arg)
		case "missing_some":
			a, ok := arg.([]any)
			return ok && len(a) == 2 && quickNumber(a[0]) && quickStrings(a[1])
		case "starts_with", "ends_with":
			a, ok := arg.([]any)
			if !ok || len(a) != 2 {
				return false
			}
			for _, e := range a {
				switch e := e.(type) {
				case string:
				case map[string]any:
					if !quickRule(e, depth) {
						return false
					}
				default:
					return false
				}
			}
			return true
		case "sem_ver":
			a, ok := arg.([]any)
			if !ok || len(a) != 3 || !quickVersion(a[0], depth) || !quickVersion(a[2], depth) {
				return false
			}
			switch cmp, _ := a[1].(string); cmp {
			case "=", "!=", ">", "<", ">=", "<=", "~", "^":
				return true
			}
			return false
		case "fractional":
			return quickFractional(arg, depth)
		}
		return false
	}
	return false
}

// quickVar: the argument of var. Both schemas constrain only strings, and
// those only under the reserved "$flagd." prefix.
func quickVar(arg any, depth int) bool {
	if s, ok := arg.(string); ok {
		if len(s) >= len("$flagd.") && s[:len("$flagd.")] == "$flagd." {
			return s == "$flagd.timestamp" || s == "$flagd.flagKey"
		}
		return true
	}
	return quickValue(arg, depth)
}

// quickStrings: an array of strings.
func quickStrings(v any) bool {
	a, ok := v.([]any)
	if !ok {
		return false
	}
	for _, e := range a {
		if _, ok := e.(string); !ok {
			return false
		}
	}
	return true
}

// quickVersion: an operand of sem_ver, which is a semantic version string
// or {"var": ...}.
func quickVersion(v any, depth int) bool {
	switch v := v.(type) {
	case string:
		return isSemver(v)
	case map[string]any:
		arg, ok := v["var"]
		return ok && len(v) == 1 && quickVar(arg, depth)
	}
	return false
}

// quickFractional: the argument of fractional, an optional rule computing
// the value to hash followed by [variant, weight] buckets.
func quickFractional(arg any, depth int) bool {
	a, ok := arg.([]any)
	if !ok || len(a) == 0 {
		return false
	}
	buckets := a
	if m, ok := a[0].(map[string]any); ok {
		if !quickRule(m, depth) {
			return false
		}
		buckets = a[1:]
	}
	for _, b := range buckets {
		b, ok := b.([]any)
		if !ok || len(b) == 0 || len(b) > 2 || !quickOperand(b[0], depth) {
			return false
		}
		if len(b) == 2 && !quickWeight(b[1], depth) {
			return false
		}
	}
	return true
}

// quickWeight: a bucket's weight, a non-negative integer or a rule.
func quickWeight(v any, depth int) bool {
	switch v := v.(type) {
	case float64:
		return v >= 0 && v <= 1<<53 && v == math.Trunc(v)
	case json.Number:
		// Plain digits only, and few enough of them.
		s := string(v)
		if s == "" || len(s) > 15 || len(s) > 1 && s[0] == '0' {
			return false
		}
		for i := 0; i < len(s); i++ {
			if !isDigit(s[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		return quickRule(v, depth)
	}
	return false
}

// isSemver reports whether s matches the schemas' semantic version pattern
//
//	^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)
//	(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?
//	(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$
//
// that is, MAJOR.MINOR.PATCH without leading zeros, an optional pre-release
// of dot-separated identifiers (numeric ones without leading zeros) and
// optional build metadata.
func isSemver(s string) bool {
	i := 0
	for part := 0; part < 3; part++ {
		if part > 0 {
			if i >= len(s) || s[i] != '.' {
				return false
			}
			i++
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j == i || s[i] == '0' && j-i > 1 {
			return false
		}
		i = j
	}
	if i < len(s) && s[i] == '-' {
		i++
		for {
			j, numeric := i, true
			for j < len(s) && isIdentByte(s[j]) {
				numeric = numeric && isDigit(s[j])
				j++
			}
			if j == i || numeric && s[i] == '0' && j-i > 1 {
				return false
			}
			i = j
			if i < len(s) && s[i] == '.' {
				i++
				continue
			}
			break
		}
	}
	if i < len(s) && s[i] == '+' {
		i++
		for {
			j := i
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			if j == i {
				return false
			}
			i = j
			if i < len(s) && s[i] == '.' {
				i++
				continue
			}
			break
		}
	}
	return i == len(s)
}

func isIdentByte(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-'
}

// reduce returns doc without the flags and $evaluators entries that the fast
// path proves valid, for the library to check the rest. index maps the
// position of each flag left in a daemon flag array to its position in doc;
// it is nil when the flags are not an array or none was removed. When
// nothing is proven, reduce returns doc itself.
func reduce(kind Kind, doc any) (rest any, index []int) {
	root, ok := doc.(map[string]any)
	if !ok || kind == KindTargeting {
		return doc, nil
	}
	var flags, evaluators any
	changed := false
	switch fs := root["flags"].(type) {
	case map[string]any:
		var kept map[string]any
		n := 0
		for k, f := range fs {
			if quickName(k) && quickValidFlag(f, false) {
				continue
			}
			if kept == nil {
				kept = make(map[string]any)
			}
			kept[k] = f
			n++
		}
		if n < len(fs) {
			if kept == nil {
				kept = map[string]any{}
			}
			flags, changed = kept, true
		}
	case []any:
		// Only the daemon schema looks into a flag array; for the provider
		// schema an array is one type error.
		if kind != KindFlagd {
			break
		}
		var kept []any
		for i, f := range fs {
			if quickValidFlag(f, true) {
				continue
			}
			kept = append(kept, f)
			index = append(index, i)
		}
		if len(kept) < len(fs) {
			if kept == nil {
				kept = []any{}
			}
			flags, changed = kept, true
		} else {
			index = nil
		}
	}
	if ev, ok := root["$evaluators"].(map[string]any); ok {
		var kept map[string]any
		n := 0
		for k, rule := range ev {
			if quickName(k) && quickValidRule(rule) {
				continue
			}
			if kept == nil {
				kept = make(map[string]any)
			}
			kept[k] = rule
			n++
		}
		if n < len(ev) {
			if kept == nil {
				kept = map[string]any{}
			}
			evaluators, changed = kept, true
		}
	}
	if !changed {
		return doc, nil
	}
	cp := make(map[string]any, len(root))
	for k, v := range root {
		cp[k] = v
	}
	if flags != nil {
		cp["flags"] = flags
	}
	if evaluators != nil {
		cp["$evaluators"] = evaluators
	}
	return cp, index
}
