package logic

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The value domain is what encoding/json produces (nil, bool, float64, string,
// []any, map[string]any) plus int, which two JSONLogic operators return for
// an empty argument list. The helpers below mirror the coercions of
// jsonlogic/v3 for exactly that domain; where the library fails a type
// assertion, these panic with an *EvalError, and Program.Eval turns the panic
// into an error, as the library does.

// EvalError is a failure while applying a rule: what the reference library
// reports as an error (and flagd answers with PARSE_ERROR).
type EvalError struct {
	Msg string
}

func (e *EvalError) Error() string { return e.Msg }

func fail(format string, args ...any) {
	panic(&EvalError{Msg: fmt.Sprintf(format, args...)})
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, int:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any, *root:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func isNumber(v any) bool {
	switch v.(type) {
	case float64, int:
		return true
	}
	return false
}

func isPrimitive(v any) bool {
	switch v.(type) {
	case bool, string, float64, int:
		return true
	}
	return false
}

func isMap(v any) bool {
	switch v.(type) {
	case map[string]any, *root:
		return true
	}
	return false
}

func isTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case float64:
		return x != 0
	case int:
		return x != 0
	case string:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	case *root:
		return true // it always holds "$flagd"
	}
	return false
}

// toNum is the library's strict number coercion: strings parse (a parse
// failure gives the parser's value, 0 for bad syntax), numbers convert, and
// anything else is a failed assertion.
func toNum(v any) float64 {
	switch x := v.(type) {
	case string:
		w, _ := strconv.ParseFloat(x, 64)
		return w
	case int:
		return float64(x)
	case float64:
		return x
	}
	fail("expected a number, got %s", typeName(v))
	return 0
}

// toStr is the library's strict string coercion.
func toStr(v any) string {
	switch x := v.(type) {
	case int:
		return strconv.FormatInt(int64(x), 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	case string:
		return x
	}
	fail("expected a string, got %s", typeName(v))
	return ""
}

// jsNum is the lenient, JavaScript-like number coercion used by comparisons.
func jsNum(v any) float64 {
	switch x := v.(type) {
	case nil:
		return 0
	case float64:
		return x
	case int:
		return float64(x)
	case bool:
		if x {
			return 1
		}
		return 0
	case string:
		if strings.TrimSpace(x) == "" {
			return 0
		}
		n, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return math.NaN()
		}
		return n
	}
	return math.NaN()
}

func less(a, b any) bool {
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok {
			return sb > sa
		}
	}
	return jsNum(b) > jsNum(a)
}

func equals(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok {
			return sa == sb
		}
	}
	return jsNum(a) == jsNum(b)
}

// kind groups values as reflect.Kind does for strict equality.
func kind(v any) int {
	switch v.(type) {
	case bool:
		return 1
	case int:
		return 2
	case float64:
		return 3
	case string:
		return 4
	case []any:
		return 5
	case map[string]any, *root:
		return 6
	}
	return 0
}

// sameDynamic reports a == b for interface values, failing where Go would
// panic on comparing uncomparable values of the same type.
func sameDynamic(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case int:
		y, ok := b.(int)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []any:
		if _, ok := b.([]any); ok {
			fail("cannot compare arrays")
		}
		return false
	case map[string]any:
		if _, ok := b.(map[string]any); ok {
			fail("cannot compare objects")
		}
		return false
	}
	return false
}

func index(vals []any, i int) any {
	if i >= len(vals) {
		fail("missing argument %d", i+1)
	}
	return vals[i]
}

func asSlice(v any) []any {
	s, ok := v.([]any)
	if !ok {
		fail("expected an array, got %s", typeName(v))
	}
	return s
}

func asString(v any) string {
	s, ok := v.(string)
	if !ok {
		fail("expected a string, got %s", typeName(v))
	}
	return s
}
