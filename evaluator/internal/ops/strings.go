package ops

import "strings"

// StartsWith evaluates flagd's "starts_with" operator on its
// already-evaluated arguments [value, prefix]. It returns whether value
// starts with prefix (case-sensitive, byte-wise), or nil unless there are
// exactly two arguments and both are strings (numbers are not converted).
func StartsWith(args []any) any {
	s, affix, ok := twoStrings(args)
	if !ok {
		return nil
	}
	return strings.HasPrefix(s, affix)
}

// EndsWith evaluates flagd's "ends_with" operator on its already-evaluated
// arguments [value, suffix]. It returns whether value ends with suffix
// (case-sensitive, byte-wise), or nil unless there are exactly two arguments
// and both are strings (numbers are not converted).
func EndsWith(args []any) any {
	s, affix, ok := twoStrings(args)
	if !ok {
		return nil
	}
	return strings.HasSuffix(s, affix)
}

func twoStrings(args []any) (string, string, bool) {
	if len(args) != 2 {
		return "", "", false
	}
	a, ok := args[0].(string)
	if !ok {
		return "", "", false
	}
	b, ok := args[1].(string)
	if !ok {
		return "", "", false
	}
	return a, b, true
}
