package evaluator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"go.yaml.in/yaml/v3"

	"github.com/vexilhq/vexil/evaluator/internal/logic"
	"github.com/vexilhq/vexil/schemas"
)

// Options configure a Parser. The zero value is flagd's behaviour.
type Options struct {
	// Strict makes the problems flagd only warns about reject the document.
	Strict bool
	// FractionalCBOR selects the fractional bucketing that hashes the CBOR
	// encoding of the bucketing value (flagd testbed tag @fractional-v3)
	// instead of its UTF-8 string. Off by default.
	FractionalCBOR bool
	// Now is the clock for "$flagd.timestamp"; nil means time.Now.
	Now func() time.Time
}

// Format is a document's syntax.
type Format uint8

// The formats. FormatAuto takes a document that starts with '{' or '[' as
// JSON, anything else as YAML.
const (
	FormatAuto Format = iota
	FormatJSON
	FormatYAML
)

// FormatForPath picks a format from a file name's extension.
func FormatForPath(path string) Format {
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".yaml"), strings.HasSuffix(lower, ".yml"):
		return FormatYAML
	case strings.HasSuffix(lower, ".json"):
		return FormatJSON
	}
	return FormatAuto
}

// Parser parses flag documents. It is safe for concurrent use.
type Parser struct {
	opts   Options
	schema *schemas.Validator
	// seeds key the flags' source hashes (see lazy.go): a flag is reused
	// only by the parser that compiled it.
	seeds [2]maphash.Seed
	// roots is shared by the targeting rules the parser compiles.
	roots *logic.Roots
}

// NewParser compiles the flag-definition schemas and returns a parser.
func NewParser(opts Options) (*Parser, error) {
	v, err := schemas.NewValidator()
	if err != nil {
		return nil, fmt.Errorf("compiling flag schemas: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Parser{opts: opts, schema: v, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, roots: new(logic.Roots)}, nil
}

// Parse parses, validates and compiles one document. source names it in
// problems. On success it returns the flag set and any warnings; when the
// document is rejected it returns a *LoadError holding every problem.
func (p *Parser) Parse(source string, data []byte, format Format) (*FlagSet, []Problem, error) {
	return p.ParseReusing(source, data, format, nil)
}

// ParseReusing is Parse, reusing compiled flags of a previous document of
// the same source: previous returns the flag the previous document defined
// under a key, or nil (a nil previous reuses nothing). A flag is reused
// when its definition, its document's "metadata" and "$evaluators" are
// byte for byte what they were, this parser compiled it, and that parse
// reported no problem about it; the result is the same as Parse's.
// previous is called during the call only.
func (p *Parser) ParseReusing(source string, data []byte, format Format, previous func(key string) *Flag) (*FlagSet, []Problem, error) {
	b := &builder{parser: p, source: source, prev: previous}
	set := b.build(data, format)
	if set != nil && b.data != nil {
		b.duplicates()
	}
	problems := b.finish()
	locateProblems(data, format, problems)
	for _, pr := range problems {
		if pr.Severity == SeverityError {
			return nil, problems, &LoadError{Source: source, Problems: problems}
		}
	}
	return set, problems, nil
}

type builder struct {
	parser *Parser
	source string
	// schemaProblems and own are kept apart so that, where both speak of
	// the same place, the more specific own message wins.
	schemaProblems []Problem
	own            []Problem
	keysByIndex    map[string]string // "/flags/3" -> key, for array documents
	refs           *refResolver
	prev           func(key string) *Flag
	// interned holds one copy of each short string the flags keep (states,
	// variant names, string values), boxed: a document of many flags
	// repeats a few of them (ENABLED, on, off...) thousands of times, and
	// the decoder allocates each anew.
	interned map[string]any
	// scratch is a buffer for encoding targeting rules, fpScratch one for
	// the flags' canonical encodings (see fingerprint.go).
	scratch, fpScratch []byte
	// setMetaEncoding is the canonical encoding of the document's metadata,
	// once a flag needed it.
	setMetaEncoding []byte
	// docLen is the document's length in bytes (see refNodeBudget).
	docLen int64
	// data is the document when it is JSON (see rawEvaluatorHasRef), and
	// rawEvaluators the text of its evaluators, once needed.
	data          []byte
	rawEvaluators map[string]json.RawMessage
	rawDone       bool
	// lintOutcomes are the results each evaluator can return (lint.go).
	lintOutcomes map[string][]lintOutcome
	// flagLint is reused by the lint of each flag's targeting.
	flagLint ruleLint
}

// rawEvaluatorHasRef says whether flagd replaces a reference to name in
// the evaluator outer. flagd inserts each evaluator's text as written in
// the document, and then looks for the text {"$ref":"name"} of each
// evaluator in turn, so a reference inside an evaluator is replaced only
// when it is written that way, without spaces (and when flagd happens to
// look for name after outer was inserted: Vexil assumes it does). A YAML
// document is converted to compact JSON first, so it always is.
func (b *builder) rawEvaluatorHasRef(outer, name string) bool {
	raw, ok := b.rawEvaluator(outer)
	if !ok {
		return true
	}
	return bytes.Contains(raw, []byte(`{"$ref":"`+name+`"}`))
}

// rawEvaluator returns the text of the evaluator name as written in a
// JSON document; false for a YAML document.
func (b *builder) rawEvaluator(name string) (json.RawMessage, bool) {
	if b.data == nil {
		return nil, false
	}
	if !b.rawDone {
		b.rawDone = true
		// encoding/json, as flagd reads them: "$evaluators" matched
		// ignoring case, repeated members merged.
		var doc struct {
			Evaluators map[string]json.RawMessage `json:"$evaluators"`
		}
		if json.Unmarshal(b.data, &doc) == nil {
			b.rawEvaluators = doc.Evaluators
		}
	}
	raw, ok := b.rawEvaluators[name]
	return raw, ok
}

// internMax is the longest string the builder interns.
const internMax = 64

// internValue returns v with a string of at most internMax bytes replaced
// by the builder's one copy of it (boxed once); other values as they are.
func (b *builder) internValue(v any) any {
	s, ok := v.(string)
	if !ok || len(s) > internMax {
		return v
	}
	if c, ok := b.interned[s]; ok {
		return c
	}
	if b.interned == nil {
		b.interned = map[string]any{}
	}
	b.interned[s] = v
	return v
}

// intern returns the builder's one copy of a short string.
func (b *builder) intern(s string) string {
	if len(s) > internMax {
		return s
	}
	if c, ok := b.interned[s]; ok {
		return c.(string)
	}
	return b.internValue(s).(string)
}

func (b *builder) add(sev Severity, key, ptr, format string, args ...any) {
	b.own = append(b.own, Problem{Severity: sev, Source: b.source, FlagKey: key, Pointer: ptr, Message: fmt.Sprintf(format, args...)})
}

// warn records a problem flagd accepts: an error in strict mode.
func (b *builder) warn(key, ptr, format string, args ...any) {
	sev := SeverityWarning
	if b.parser.opts.Strict {
		sev = SeverityError
	}
	b.add(sev, key, ptr, format, args...)
}

func (b *builder) finish() []Problem {
	ownAt := make(map[string]bool, len(b.own))
	for _, p := range b.own {
		ownAt[p.Pointer] = true
	}
	out := b.own
	for _, p := range b.schemaProblems {
		if !ownAt[p.Pointer] {
			out = append(out, p)
		}
	}
	return sortProblems(out)
}

// decode reads JSON or YAML into the JSON value domain.
func decode(data []byte, format Format) (any, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if format == FormatAuto {
		format = FormatYAML
		if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
			format = FormatJSON
		}
	}
	if len(bytes.TrimSpace(trimmed)) == 0 {
		return nil, errors.New("the document is empty")
	}
	if format == FormatYAML {
		j, err := yamlToJSON(data)
		if err != nil {
			return nil, err
		}
		data = j
	}
	// goccy/go-json decodes what encoding/json decodes, to the same values
	// (a differential fuzz test holds it to that), in half the time; the
	// standard decoder runs again only to describe an error.
	var v any
	if err := gojson.Unmarshal(data, &v); err != nil {
		var std any
		stdErr := json.Unmarshal(data, &std)
		if stdErr == nil {
			stdErr = err
		}
		return nil, jsonError(data, stdErr)
	}
	return v, nil
}

// yamlToJSON converts as flagd does: YAML 1.2 (so "y" and "on" are
// strings), a mapping at the top, and keys that are not strings written
// as their Go formatting.
func yamlToJSON(data []byte) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	out, err := json.Marshal(stringKeys(doc))
	if err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	return out, nil
}

func stringKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = stringKeys(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprintf("%v", k)] = stringKeys(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = stringKeys(e)
		}
		return x
	}
	return v
}

func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(data, syn.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, err)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		line, col := position(data, typ.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("invalid JSON: the document ends early")
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line = 1 + bytes.Count(data[:offset], []byte{'\n'})
	col = int(offset) - bytes.LastIndexByte(data[:offset], '\n')
	return line, col
}

func (b *builder) build(data []byte, format Format) *FlagSet {
	b.docLen = int64(len(data))
	if format == FormatJSON || format == FormatAuto && isJSONText(data) {
		b.data = data
	}
	if set, ok := b.buildLazy(data, format); ok {
		return set
	}
	raw, err := decode(data, format)
	if err != nil {
		if b.data == nil && b.yamlDuplicates(data) {
			return nil // the reason the YAML decoder failed, said better
		}
		b.add(SeverityError, "", "", "%v", err)
		return nil
	}
	doc, ok := raw.(map[string]any)
	if !ok {
		b.add(SeverityError, "", "", "the document must be an object with \"flags\", not %s", jsonType(raw))
		return nil
	}
	return b.buildDoc(doc, nil)
}

// isJSONText says whether FormatAuto takes data as JSON.
func isJSONText(data []byte) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	return len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')
}

// buildLazy builds a JSON (or converted YAML) object document flag by flag,
// reusing unchanged flags (see lazy.go). It returns false, having reported
// nothing, when the document needs the whole-document path.
func (b *builder) buildLazy(data []byte, format Format) (*FlagSet, bool) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(bytes.TrimLeft(trimmed, "\ufeff")) != len(trimmed) {
		return nil, false // a byte-order mark: decode's business
	}
	if format == FormatAuto {
		format = FormatYAML
		if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
			format = FormatJSON
		}
	}
	if format == FormatYAML {
		if len(bytes.TrimSpace(trimmed)) == 0 {
			return nil, false
		}
		j, err := yamlToJSON(data)
		if err != nil {
			return nil, false
		}
		data = j
	}
	ld, ok := b.scanDocument(data)
	if !ok {
		return nil, false
	}
	flags := map[string]any{}
	lf := &lazyFlags{hashes: make(map[string]srcHash, len(ld.flags))}
	if b.prev == nil {
		// Nothing to reuse: one call decodes the flags faster than one
		// call per flag.
		if gojson.Unmarshal(ld.span, &flags) != nil {
			return nil, false
		}
		for i := len(ld.flags) - 1; i >= 0; i-- {
			fl := ld.flags[i]
			if _, dup := lf.hashes[fl.key]; !dup {
				lf.hashes[fl.key] = b.hashFlag(ld.ctx, fl.key, fl.span)
			}
		}
		ld.top["flags"] = flags
		return b.buildDoc(ld.top, lf), true
	}
	// The last definition of a repeated key wins, as in decoding.
	for i := len(ld.flags) - 1; i >= 0; i-- {
		fl := ld.flags[i]
		if _, dup := lf.hashes[fl.key]; dup {
			continue
		}
		h := b.hashFlag(ld.ctx, fl.key, fl.span)
		lf.hashes[fl.key] = h
		if b.prev != nil {
			if pf := b.prev(fl.key); pf != nil && pf.reusable && pf.src == h && pf.key == fl.key {
				lf.reused = append(lf.reused, pf)
				continue
			}
		}
		var v any
		if gojson.Unmarshal(fl.span, &v) != nil {
			return nil, false
		}
		flags[fl.key] = v
	}
	ld.top["flags"] = flags
	return b.buildDoc(ld.top, lf), true
}

// lazyFlags is what buildLazy adds to a document: the flags reused, and
// the source hash of every flag.
type lazyFlags struct {
	reused []*Flag
	hashes map[string]srcHash
}

// buildDoc builds a decoded document; lf, when not nil, adds the flags
// reused and the flags' source hashes.
func (b *builder) buildDoc(doc map[string]any, lf *lazyFlags) *FlagSet {
	b.validateSchema(doc)
	doc = b.foldFields("", "", doc, docFields)
	if _, ok := doc["flags"]; ok {
		// (without flags, this is no flag document: that is the problem)
		b.unknownMembers("", "", doc, docFields, "$schema", "$id", "$comment")
	}

	set := &FlagSet{flags: map[string]*Flag{}, now: b.parser.opts.Now}
	b.evaluators(doc)
	b.lintEvaluators()
	// Set-level metadata, where flagd substitutes $refs too.
	if m, present := doc["metadata"]; present && m != nil {
		if len(b.refs.defs) > 0 && containsRef(m) {
			if resolved, ok := b.refs.resolveFlag(m, "", "metadata"); ok {
				m = resolved
			}
		}
		mm, ok := m.(map[string]any)
		if !ok {
			b.add(SeverityError, "", "/metadata", "metadata must be an object, not %s", jsonType(m))
		} else {
			set.metadata = Metadata(mm)
		}
	}

	rawFlags, present := doc["flags"]
	if !present {
		b.add(SeverityError, "", "", "the document has no \"flags\"")
		return set
	}
	type entry struct {
		key, ptr string
		v        any
		refNodes int64 // what its $refs bring in; -1: over the budget
	}
	var entries []entry
	switch fl := rawFlags.(type) {
	case nil:
	case map[string]any:
		entries = make([]entry, 0, len(fl))
		for k, v := range fl {
			entries = append(entries, entry{key: k, ptr: "/flags/" + escapeToken(k), v: v})
		}
	case []any:
		for i, v := range fl {
			ptr := "/flags/" + strconv.Itoa(i)
			key := foldedString(v, "key")
			if b.keysByIndex == nil {
				b.keysByIndex = map[string]string{}
			}
			b.keysByIndex[ptr] = key
			entries = append(entries, entry{key: key, ptr: ptr, v: v})
		}
	default:
		b.add(SeverityError, "", "/flags", "flags must be an object or an array, not %s", jsonType(rawFlags))
		return set
	}
	// $ref expansion is counted, and bounded, before any flag is compiled
	// (see refbudget.go).
	if len(b.refs.defs) > 0 {
		var total int64
		most, mostKey := int64(-1), ""
		count := func(key string, n int64) {
			total = addSize(total, n)
			if n > most || n == most && key < mostKey {
				most, mostKey = n, key
			}
		}
		for i := range entries {
			e := &entries[i]
			n, ok := b.checkRefBudget(e.key, e.ptr, e.v)
			if !ok {
				e.refNodes = -1
				continue
			}
			e.refNodes = n
			count(e.key, n)
		}
		if lf != nil {
			for _, f := range lf.reused {
				count(f.key, int64(f.refNodes))
			}
		}
		if budget := b.refNodeBudget(); total > budget {
			b.add(SeverityError, "", "/flags", "$ref expansion exceeds %d nodes over all flags: their $refs bring in %s (the most: %d, in flag %q)",
				budget, sizeString(total), most, mostKey)
			for i := range b.schemaProblems {
				b.schemaProblems[i].FlagKey = b.flagKeyAt(b.schemaProblems[i].Pointer)
			}
			return set
		}
	}
	// A flag is identified by its flag set and key: an array may define a
	// key in several flag sets. A key looked up without its flag set finds
	// the definition written last.
	type identity struct{ set, key string }
	if lf != nil {
		// An object: one flag per key, so no duplicates to look for.
		all := make([]*Flag, 0, len(entries)+len(lf.reused))
		set.flags = make(map[string]*Flag, cap(all))
		for _, e := range entries {
			if e.refNodes < 0 {
				continue
			}
			if f := b.flag(e.key, e.ptr, e.v, set.metadata, e.refNodes); f != nil && !f.unstorable {
				all = append(all, f)
			}
		}
		built := all
		all = append(all, lf.reused...)
		for _, f := range all {
			set.flags[f.key] = f
		}
		set.all = all
		set.index()
		for i := range b.schemaProblems {
			b.schemaProblems[i].FlagKey = b.flagKeyAt(b.schemaProblems[i].Pointer)
		}
		b.markReusable(built, lf.hashes)
		return set
	}
	seen := make(map[identity]string, len(entries))
	byID := make(map[identity]*Flag, len(entries))
	for _, e := range entries {
		if e.refNodes < 0 {
			continue
		}
		f := b.flag(e.key, e.ptr, e.v, set.metadata, e.refNodes)
		if f == nil || f.unstorable {
			continue // flagd's store would not keep an unstorable flag
		}
		id := identity{f.flagSetID, f.key}
		if prev, dup := seen[id]; dup {
			if f.flagSetID == "" {
				b.warn(f.key, e.ptr, "flag %q is defined again (first at %s); this definition wins", f.key, prev)
			} else {
				b.warn(f.key, e.ptr, "flag %q of flag set %q is defined again (first at %s); this definition wins", f.key, f.flagSetID, prev)
			}
		}
		seen[id] = e.ptr
		byID[id] = f
		set.flags[f.key] = f
	}
	set.all = make([]*Flag, 0, len(byID))
	for _, f := range byID {
		set.all = append(set.all, f)
	}
	set.index()
	// Problems found in this set's schema check refer to array indexes;
	// name the flags.
	for i := range b.schemaProblems {
		b.schemaProblems[i].FlagKey = b.flagKeyAt(b.schemaProblems[i].Pointer)
	}
	return set
}

// markReusable records the source hash of each flag built from an object
// document, and makes the ones no problem is about reusable.
func (b *builder) markReusable(built []*Flag, hashes map[string]srcHash) {
	dirty := map[string]bool{}
	for _, list := range [][]Problem{b.own, b.schemaProblems} {
		for _, p := range list {
			rest, ok := strings.CutPrefix(p.Pointer, "/flags/")
			if !ok {
				continue
			}
			tok, _, _ := strings.Cut(rest, "/")
			dirty[tok] = true
		}
	}
	for _, f := range built {
		h, ok := hashes[f.key]
		if !ok || (len(dirty) > 0 && dirty[escapeToken(f.key)]) {
			continue
		}
		f.src, f.reusable = h, true
	}
}

func (b *builder) validateSchema(doc map[string]any) {
	sev := SeverityWarning
	if b.parser.opts.Strict {
		sev = SeverityError
	}
	kind, named := schemaKind(doc)
	for _, p := range b.parser.schema.Validate(kind, doc) {
		// "…/variants" with "variants: values must…" says variants twice.
		msg := p.Message
		if named != "" && p.Pointer == "/flags" {
			msg += " (the document's $schema is " + named + ")"
		}
		if i := strings.LastIndexByte(p.Pointer, '/'); i >= 0 {
			msg = strings.TrimPrefix(msg, p.Pointer[i+1:]+": ")
		}
		b.schemaProblems = append(b.schemaProblems, Problem{Severity: sev, Source: b.source, Pointer: p.Pointer, Message: msg})
	}
}

// schemaKind is the schema a document asks to be checked against with
// its "$schema" member, when that names one of flagd's flag-definition
// schemas by its file name, at any address (https://flagd.dev/schema/v0/
// flags.json, ../flags.json): flags.json, the providers' form, where
// "flags" is an object, or flagd.json, the daemon's, where it may also be
// an array. Otherwise, flagd.json. named is the file name, "" for the
// default.
func schemaKind(doc map[string]any) (kind schemas.Kind, named string) {
	ref, _ := doc["$schema"].(string)
	ref, _, _ = strings.Cut(ref, "#")
	ref, _, _ = strings.Cut(ref, "?")
	name := strings.ToLower(ref[strings.LastIndexAny(ref, "/\\")+1:])
	switch name {
	case "flags.json", "flags.yaml":
		return schemas.KindFlags, name
	case "flagd.json", "flagd.yaml":
		return schemas.KindFlagd, name
	}
	return schemas.KindFlagd, ""
}

// flagKeyAt names the flag a pointer is in.
func (b *builder) flagKeyAt(ptr string) string {
	rest, ok := strings.CutPrefix(ptr, "/flags/")
	if !ok {
		return ""
	}
	tok, _, _ := strings.Cut(rest, "/")
	if b.keysByIndex != nil {
		if k, ok := b.keysByIndex["/flags/"+tok]; ok {
			return k
		}
	}
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
