package gauntlet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// HostileDoc is a flag document built to hurt: each holds the current
// good flags too, so that one the daemon loads still serves them.
type HostileDoc struct {
	Name string
	YAML bool // written to the YAML source instead of the JSON one
	// Build makes the document around the good flags' JSON members (for a
	// JSON document; a YAML one carries its own).
	Build func(goodFlags string) []byte
	// MayLoad is true when loading it is a correct answer (it is within
	// the budgets); false when it must be rejected.
	MayLoad bool
}

// goodFlags is the members of the good document's "flags" object.
func goodFlags(gen int64) string {
	doc := string(goodDoc(gen))
	return strings.TrimSuffix(strings.TrimPrefix(doc, `{"flags":{`), `}}`)
}

// HostileDocs are the documents of the gauntlet: the $ref bomb and its
// kin.
// n sizes the large ones (Scale.Docs).
func HostileDocs(n int) []HostileDoc {
	return []HostileDoc{
		{Name: "$ref bomb (40 evaluators, each twice the one before)", Build: func(good string) []byte {
			var ev strings.Builder
			ev.WriteString(`"e0":{"==":[1,1]}`)
			for i := 1; i <= 40; i++ {
				fmt.Fprintf(&ev, `,"e%d":{"or":[{"$ref":"e%d"},{"$ref":"e%d"}]}`, i, i-1, i-1)
			}
			return []byte(`{"$evaluators":{` + ev.String() + `},"flags":{` + good +
				`,"bomb":{"state":"ENABLED","variants":{"a":1,"b":2},"defaultVariant":"a","targeting":{"if":[{"$ref":"e40"},"b","a"]}}}}`)
		}},
		{Name: "$ref fan-out (one flag referring 20,000 times to a 10-value evaluator)", Build: func(good string) []byte {
			refs := strings.TrimSuffix(strings.Repeat(`{"$ref":"e"},`, 20000), ",")
			return []byte(`{"$evaluators":{"e":{"in":["x",["a","b","c","d","e","f","g","h"]]}},"flags":{` + good +
				`,"fan":{"state":"ENABLED","variants":{"a":1,"b":2},"defaultVariant":"a","targeting":{"if":[{"or":[` + refs + `]},"b","a"]}}}}`)
		}},
		{Name: "variant nested 100,000 arrays deep", Build: func(good string) []byte {
			return []byte(`{"flags":{` + good + `,"deep":{"state":"ENABLED","variants":{"a":` +
				strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `},"defaultVariant":"a"}}}`)
		}},
		{Name: "targeting nested 100,000 rules deep", Build: func(good string) []byte {
			return []byte(`{"flags":{` + good + `,"deeprule":{"state":"ENABLED","variants":{"a":true,"b":false},"defaultVariant":"a","targeting":` +
				strings.Repeat(`{"!":[`, 100000) + "true" + strings.Repeat("]}", 100000) + `}}}`)
		}},
		{Name: fmt.Sprintf("huge array (a %d-element \"in\" list)", 10*n), MayLoad: true, Build: func(good string) []byte {
			var b strings.Builder
			for i := range 10 * n {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%d", i)
			}
			return []byte(`{"flags":{` + good + `,"huge":{"state":"ENABLED","variants":{"a":true,"b":false},"defaultVariant":"a","targeting":{"if":[{"in":[{"var":"n"},[` +
				b.String() + `]]},"b","a"]}}}}`)
		}},
		{Name: fmt.Sprintf("many flags (%d)", n), MayLoad: true, Build: func(good string) []byte {
			var b strings.Builder
			b.WriteString(`{"flags":{` + good)
			for i := range n {
				fmt.Fprintf(&b, `,"f%d":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`, i)
			}
			b.WriteString(`}}`)
			return []byte(b.String())
		}},
		{Name: fmt.Sprintf("many variants (one flag with %d)", 2*n), MayLoad: true, Build: func(good string) []byte {
			var b strings.Builder
			b.WriteString(`{"flags":{` + good + `,"variants":{"state":"ENABLED","defaultVariant":"v0","variants":{`)
			for i := range 2 * n {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"v%d":%d`, i, i)
			}
			b.WriteString(`}}}}`)
			return []byte(b.String())
		}},
		{Name: "YAML alias bomb (billion laughs)", YAML: true, Build: func(string) []byte {
			var b strings.Builder
			b.WriteString("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
			for i := 1; i <= 9; i++ {
				fmt.Fprintf(&b, "a%d: &a%d [", i, i)
				for j := range 9 {
					if j > 0 {
						b.WriteString(", ")
					}
					fmt.Fprintf(&b, "*a%d", i-1)
				}
				b.WriteString("]\n")
			}
			b.WriteString("flags:\n  yaml-flag:\n    state: ENABLED\n    variants: {on: true, off: false}\n    defaultVariant: on\n    metadata: {laughs: *a9}\n")
			return []byte(b.String())
		}},
		{Name: "YAML deep flow nesting (100,000)", YAML: true, Build: func(string) []byte {
			return []byte("flags:\n  yaml-flag:\n    state: ENABLED\n    variants: {on: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + ", off: false}\n    defaultVariant: on\n")
		}},
	}
}

// DocResult is how the daemon took one hostile document.
type DocResult struct {
	Name   string
	State  string        // loaded or rejected
	Took   time.Duration // from the write to /readyz saying so
	RSS    int64         // resident memory after it
	Size   int
	Detail string // the rejection's message, shortened
}

// LoadHostile writes a hostile document, waits (at most the check's
// bound) until its source says it was loaded or rejected, checks that the
// good flags still serve and that the answer is allowed, and writes the
// good document back.
func (e *Env) LoadHostile(ctx context.Context, h HostileDoc) (DocResult, error) {
	path, name := e.FlagFile, e.FlagFile
	if h.YAML {
		path, name = e.YAMLFile, e.YAMLFile
	}
	before, err := e.Daemon.AwaitSource(ctx, name, func(SourceState) bool { return true })
	if err != nil {
		return DocResult{}, err
	}
	data := h.Build(goodFlags(e.Gen()))
	start := time.Now()
	if err := writeAtomic(path, data); err != nil {
		return DocResult{}, err
	}
	st, err := e.Daemon.AwaitSource(ctx, name, func(s SourceState) bool {
		return s.Updated.After(before.Updated) && (s.State == "loaded" || s.State == "rejected")
	})
	r := DocResult{Name: h.Name, State: st.State, Took: time.Since(start), Size: len(data), Detail: shorten(st.LastError, 200)}
	if err != nil {
		return r, fmt.Errorf("%s: %w", h.Name, err)
	}
	if stats, err := e.Daemon.Stats(ctx); err == nil {
		r.RSS = stats.RSS
	}
	var errs []error
	if st.State == "loaded" && !h.MayLoad {
		errs = append(errs, fmt.Errorf("%s: loaded, want rejected", h.Name))
	}
	if err := e.Healthy(ctx); err != nil {
		errs = append(errs, fmt.Errorf("%s: the last good flags: %w", h.Name, err))
	}
	// The good document back, as a new generation for the JSON source.
	if h.YAML {
		if err := writeAtomic(path, []byte("flags:\n  yaml-flag:\n    state: ENABLED\n    variants: {on: true, off: false}\n    defaultVariant: on\n")); err != nil {
			errs = append(errs, err)
		}
	} else {
		if err := e.WriteGood(e.Gen() + 1); err != nil {
			errs = append(errs, err)
		} else if err := e.AwaitServed(ctx, e.Gen()); err != nil {
			errs = append(errs, fmt.Errorf("%s: a good document after it: %w", h.Name, err))
		}
	}
	if _, err := e.Daemon.AwaitSource(ctx, name, func(s SourceState) bool { return s.State == "loaded" }); err != nil {
		errs = append(errs, fmt.Errorf("%s: a good document after it: %w", h.Name, err))
	}
	return r, errors.Join(errs...)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// DocResults are the hostile documents' results of the last
// checkHostileDocuments, for the command's report.
func (e *Env) DocResults() []DocResult { return e.docResults }

func checkHostileDocuments(ctx context.Context, e *Env) error {
	var errs []error
	e.docResults = nil
	for _, h := range HostileDocs(e.cfg.Scale.Docs) {
		r, err := e.LoadHostile(ctx, h)
		e.docResults = append(e.docResults, r)
		e.cfg.Logf("  %s: %s in %v, %d bytes, RSS %d MiB %s", r.Name, r.State, r.Took.Round(time.Millisecond), r.Size, r.RSS>>20, r.Detail)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
