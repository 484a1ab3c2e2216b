package oracle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
)

// A Mismatch is one way an answer differs from the recorded one.
type Mismatch struct {
	Aspect string // status, code, header, body, msgs, error
	Detail string
}

// Compare compares got with the recorded want by the package's rules and
// returns the differences (none when they agree).
func Compare(want, got Answer) []Mismatch {
	var ms []Mismatch
	add := func(aspect, format string, args ...any) {
		ms = append(ms, Mismatch{aspect, fmt.Sprintf(format, args...)})
	}
	if want.Error != got.Error {
		add("error", "transport error %q, want %q", got.Error, want.Error)
	}
	if want.Status != got.Status {
		add("status", "status %d, want %d", got.Status, want.Status)
	}
	if want.Code != got.Code {
		add("code", "gRPC code %s, want %s", got.Code, want.Code)
	}
	keys := map[string]bool{}
	for k := range want.Header {
		keys[k] = true
	}
	for k := range got.Header {
		keys[k] = true
	}
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		w, wok := want.Header[k]
		g, gok := got.Header[k]
		switch {
		case !gok:
			add("header", "%s absent, want %q", k, w)
		case !wok:
			add("header", "%s: %q, want absent", k, g)
		case w != g:
			add("header", "%s: %q, want %q", k, g, w)
		}
	}
	switch {
	case want.JSON != nil:
		if got.JSON == nil {
			add("body", "body is not JSON, want JSON")
		} else if d := JSONDiff(want.JSON, got.JSON); d != "" {
			add("body", "%s", d)
		}
	case got.JSON != nil:
		add("body", "body is JSON, want %s", describeText(want.Text))
	}
	if want.JSON == nil && got.JSON == nil {
		if (want.Text == nil) != (got.Text == nil) || (want.Text != nil && *want.Text != *got.Text) {
			add("body", "body %s, want %s", describeText(got.Text), describeText(want.Text))
		}
	}
	if len(want.Msgs) != len(got.Msgs) {
		add("msgs", "%d stream messages, want %d", len(got.Msgs), len(want.Msgs))
	} else {
		for i := range want.Msgs {
			if d := JSONDiff(want.Msgs[i], got.Msgs[i]); d != "" {
				add("msgs", "stream message %d: %s", i, d)
			}
		}
	}
	return ms
}

func describeText(s *string) string {
	if s == nil {
		return "empty"
	}
	t := *s
	if len(t) > 80 {
		t = t[:80] + "..."
	}
	return fmt.Sprintf("%q", t)
}

// JSONEqual reports whether a and b are the same JSON value: object key
// order and the formatting of numbers (1, 1.0, 1e0) do not matter.
func JSONEqual(a, b []byte) bool {
	va, err1 := decodeJSON(a)
	vb, err2 := decodeJSON(b)
	if err1 != nil || err2 != nil {
		return bytes.Equal(a, b)
	}
	return valueEqual(va, vb)
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func valueEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !valueEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valueEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		rx, ok1 := new(big.Rat).SetString(string(x))
		ry, ok2 := new(big.Rat).SetString(string(y))
		return ok1 && ok2 && rx.Cmp(ry) == 0
	default:
		return a == b
	}
}

// JSONDiff describes the first difference between the JSON values want and
// got by its JSON pointer ("" when they are equal by JSONEqual's rules).
func JSONDiff(want, got []byte) string {
	vw, err1 := decodeJSON(want)
	vg, err2 := decodeJSON(got)
	if err1 != nil || err2 != nil {
		if bytes.Equal(want, got) {
			return ""
		}
		return "differs"
	}
	return diffAt("", vw, vg)
}

func diffAt(ptr string, w, g any) string {
	at := ptr
	if at == "" {
		at = "/"
	}
	switch x := w.(type) {
	case map[string]any:
		y, ok := g.(map[string]any)
		if !ok {
			return fmt.Sprintf("at %s: %s, want an object", at, short(g))
		}
		var keys []string
		for k := range x {
			keys = append(keys, k)
		}
		for k := range y {
			if _, ok := x[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := ptr + "/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
			wv, wok := x[k]
			gv, gok := y[k]
			switch {
			case !gok:
				return fmt.Sprintf("at %s: absent, want %s", p, short(wv))
			case !wok:
				return fmt.Sprintf("at %s: %s, want absent", p, short(gv))
			}
			if d := diffAt(p, wv, gv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		y, ok := g.([]any)
		if !ok {
			return fmt.Sprintf("at %s: %s, want an array", at, short(g))
		}
		for i := range min(len(x), len(y)) {
			if d := diffAt(fmt.Sprintf("%s/%d", ptr, i), x[i], y[i]); d != "" {
				return d
			}
		}
		if len(x) != len(y) {
			return fmt.Sprintf("at %s: %d elements, want %d", at, len(y), len(x))
		}
		return ""
	}
	if !valueEqual(w, g) {
		return fmt.Sprintf("at %s: %s, want %s", at, short(g), short(w))
	}
	return ""
}

func short(v any) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}
