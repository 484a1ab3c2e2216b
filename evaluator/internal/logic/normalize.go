package logic

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"
)

// NormalizeContext returns the context as flagd's rules see it: the value
// that encoding/json gives back after encoding it (numbers become float64,
// typed slices and maps become []any and map[string]any, structs become
// objects). A context already in that form is returned as it is, without
// copying. Values JSON cannot encode (NaN, channels, ...) are an error.
func NormalizeContext(ctx map[string]any) (map[string]any, error) {
	if ctx == nil || isNative(ctx, 0) {
		return ctx, nil
	}
	out := make(map[string]any, len(ctx))
	for k, v := range ctx {
		if !utf8.ValidString(k) {
			return roundTrip(ctx)
		}
		n, err := normalize(v)
		if err != nil {
			return nil, fmt.Errorf("context key %q: %w", k, err)
		}
		out[k] = n
	}
	return out, nil
}

const maxNativeDepth = 64

// isNative reports whether v is already what decoding JSON would give.
func isNative(v any, depth int) bool {
	if depth > maxNativeDepth {
		return false
	}
	switch x := v.(type) {
	case nil, bool:
		return true
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case string:
		return utf8.ValidString(x)
	case []any:
		for _, e := range x {
			if !isNative(e, depth+1) {
				return false
			}
		}
		return true
	case map[string]any:
		for k, e := range x {
			if !utf8.ValidString(k) || !isNative(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

func normalize(v any) (any, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	}
	if isNative(v, 0) {
		return v, nil
	}
	return roundTrip(v)
}

func roundTrip[T any](v T) (T, error) {
	var out T
	b, err := json.Marshal(v)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(b, &out)
	return out, err
}
