package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Diff returns the JSON-pointer diff that turns the JSON document before
// into after (a flag's definition before and after a revision): object
// members added, removed and replaced, recursively; arrays element by
// element when their lengths agree, else replaced whole. Members are visited
// in sorted order, so the diff is deterministic. A nil or empty before (the
// flag added) gives one add of the whole document at the root path "", a
// nil or empty after one remove. Values are re-encoded compactly, numbers
// keeping their text.
func Diff(before, after []byte) ([]DiffOp, error) {
	b, err := decodeDoc(before, "before")
	if err != nil {
		return nil, err
	}
	a, err := decodeDoc(after, "after")
	if err != nil {
		return nil, err
	}
	ops := []DiffOp{}
	switch {
	case b == absent && a == absent:
	case b == absent:
		ops = append(ops, DiffOp{Op: "add", Path: "", Value: encode(a)})
	case a == absent:
		ops = append(ops, DiffOp{Op: "remove", Path: "", Old: encode(b)})
	default:
		ops = diffValues(ops, "", b, a)
	}
	return ops, nil
}

type absentDoc struct{}

var absent any = absentDoc{}

func decodeDoc(doc []byte, which string) (any, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return absent, nil
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("history: diff: %s: %w", which, err)
	}
	if d.More() {
		return nil, fmt.Errorf("history: diff: %s: more than one JSON value", which)
	}
	return v, nil
}

func encode(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Decoded JSON always encodes.
		panic(err)
	}
	return b
}

// escapePointerToken escapes a member name for a JSON pointer (RFC 6901).
func escapePointerToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func diffValues(ops []DiffOp, path string, b, a any) []DiffOp {
	switch bv := b.(type) {
	case map[string]any:
		av, ok := a.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(bv)+len(av))
		for k := range bv {
			keys = append(keys, k)
		}
		for k := range av {
			if _, in := bv[k]; !in {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := path + "/" + escapePointerToken(k)
			old, inB := bv[k]
			nw, inA := av[k]
			switch {
			case !inA:
				ops = append(ops, DiffOp{Op: "remove", Path: p, Old: encode(old)})
			case !inB:
				ops = append(ops, DiffOp{Op: "add", Path: p, Value: encode(nw)})
			default:
				ops = diffValues(ops, p, old, nw)
			}
		}
		return ops
	case []any:
		av, ok := a.([]any)
		if !ok || len(av) != len(bv) {
			break
		}
		for i := range bv {
			ops = diffValues(ops, path+"/"+strconv.Itoa(i), bv[i], av[i])
		}
		return ops
	}
	if eb, ea := encode(b), encode(a); !bytes.Equal(eb, ea) {
		ops = append(ops, DiffOp{Op: "replace", Path: path, Value: ea, Old: eb})
	}
	return ops
}
