package evaluator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vexilhq/vexil/evaluator/internal/logic"
	"github.com/vexilhq/vexil/evaluator/internal/ops"
)

// The lint: mistakes flagd accepts, found before a document serves.
//
// flagd loads these documents without a word and then fails, or silently
// ignores a part, at run time. Each is reported as a warning, which
// Options.Strict makes an error:
//
//   - a targeting rule that can return a variant name the flag does not
//     have (a constant result of the rule, of an "if" branch however deeply
//     nested, of a "$ref"'d evaluator, a "fractional" bucket, or the
//     boolean of a comparison used as the result): every evaluation that
//     gets it fails with GENERAL;
//   - a branch of "if" that is never reached (after a condition that is
//     always true, or under one that is always false);
//   - "fractional" whose weights sum to 0 (it always yields null), or whose
//     constant bucket is malformed;
//   - "sem_ver", "starts_with" and "ends_with" with constant arguments
//     that make them always yield null (an unknown sem_ver operator, a
//     version that does not parse, a prefix that is not a string, the
//     wrong number of arguments);
//   - a member of a flag, or of the document, that flagd does not read
//     ("targetting"), with the known name it is closest to;
//   - a member written twice in one object of a JSON document (a flag key
//     included), of which flagd keeps the last (see sourcemap.go). YAML's
//     decoder, flagd's too, rejects a repeated key: an error either way.
//
// Rules are linted as written, $refs followed: a finding inside an
// evaluator is reported once, at the evaluator; one that depends on the
// flag (a variant name) at the flag's $ref, naming the place in the
// evaluator.

// The checks of the lint, named in Problem.Check.
const (
	// CheckVariant: targeting can return a variant name the flag does
	// not have.
	CheckVariant = "variant"
	// CheckUnreachable: a branch of "if" is never evaluated.
	CheckUnreachable = "unreachable"
	// CheckFractional: "fractional" always yields null (its weights).
	CheckFractional = "fractional"
	// CheckOperands: "sem_ver", "starts_with" or "ends_with" always yields
	// null (its constant arguments).
	CheckOperands = "operands"
	// CheckUnknownMember: a member flagd does not read.
	CheckUnknownMember = "unknown-member"
	// CheckDuplicateMember: a member written twice in one JSON object.
	CheckDuplicateMember = "duplicate-member"
)

// lint records a finding of the lint: a warning, an error in strict
// mode.
func (b *builder) lint(check, key, ptr, format string, args ...any) {
	b.warn(key, ptr, format, args...)
	b.own[len(b.own)-1].Check = check
}

// ruleLint lints one targeting rule, or one evaluator.
type ruleLint struct {
	b   *builder
	key string // the flag's key; "" for an evaluator
	// variants are the flag's; checkVariants is false for an evaluator.
	variants      map[string]any
	checkVariants bool
	// collect, when set, receives the rule's possible results instead of
	// their being checked: the lint of an evaluator's results, which every
	// flag that refers to it checks.
	collect *[]lintOutcome
	// base and path are the pointer being linted (base, then the tokens
	// of path), which is built only for a finding.
	base  string
	path  []string
	depth int
}

// lintOutcome is a result a rule can return, known statically: a
// constant value, or the boolean of operator boolOp; ptr is where, when
// it is not where the walk is.
type lintOutcome struct {
	value  any
	boolOp string
	ptr    string
}

// maxLintDepth bounds the nesting the lint follows.
const maxLintDepth = 1000

// lintEvaluators lints each evaluator once, for what does not depend on
// the flags that use it.
func (b *builder) lintEvaluators() {
	if b.refs == nil || len(b.refs.defs) == 0 {
		return
	}
	names := make([]string, 0, len(b.refs.defs))
	for name := range b.refs.defs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		l := &ruleLint{b: b, path: []string{"$evaluators", name}}
		l.walk(b.resolvedEvaluator(name), b.refs.defs[name], false)
	}
}

// resolvedEvaluator is the evaluator name with its $refs resolved, or as
// written when they could not be.
func (b *builder) resolvedEvaluator(name string) any {
	if b.refs.state[name] == 2 {
		return b.refs.done[name]
	}
	return b.refs.defs[name]
}

// evaluatorOutcomes returns what the evaluator name can return, computed
// once per document (nil while it is being computed: a cycle).
func (b *builder) evaluatorOutcomes(name string) []lintOutcome {
	if out, done := b.lintOutcomes[name]; done {
		return out
	}
	if b.lintOutcomes == nil {
		b.lintOutcomes = map[string][]lintOutcome{}
	}
	b.lintOutcomes[name] = nil
	var out []lintOutcome
	l := &ruleLint{b: b, collect: &out, path: []string{"$evaluators", name}}
	l.walk(b.resolvedEvaluator(name), b.refs.defs[name], true)
	b.lintOutcomes[name] = out
	return out
}

// lintTargeting lints a flag's targeting: res as $refs resolved it, raw
// as written, at the pointer ptr.
func (b *builder) lintTargeting(key, ptr string, res, raw any, variants map[string]any) {
	l := &b.flagLint
	*l = ruleLint{b: b, key: key, variants: variants, checkVariants: true, base: ptr, path: l.path[:0]}
	l.walk(res, raw, true)
}

// ptr is the pointer being linted, with more tokens.
func (l *ruleLint) ptr(more ...string) string {
	var b strings.Builder
	b.WriteString(l.base)
	for _, list := range [2][]string{l.path, more} {
		for _, t := range list {
			b.WriteByte('/')
			b.WriteString(escapeToken(t))
		}
	}
	return b.String()
}

func (l *ruleLint) push(tok string) { l.path = append(l.path, tok) }

func (l *ruleLint) pop() { l.path = l.path[:len(l.path)-1] }

// report records a finding about the rule itself, at the pointer being
// linted with more tokens.
func (l *ruleLint) report(check string, more []string, format string, args ...any) {
	if l.collect != nil {
		return // reported by the evaluator's own lint
	}
	l.b.lint(check, l.key, l.ptr(more...), format, args...)
}

// walk lints res (raw as written); result says whether its value is the
// rule's result, a variant name. A $ref is followed only for the results
// it brings: the rest of an evaluator is linted once, on its own.
func (l *ruleLint) walk(res, raw any, result bool) {
	if l.depth > maxLintDepth {
		return
	}
	l.depth++
	defer func() { l.depth-- }()
	if rm, ok := raw.(map[string]any); ok {
		if name, isRef := refName(rm); isRef {
			if resM, ok := res.(map[string]any); ok {
				if n2, still := refName(resM); still && n2 == name {
					return // not replaced: reported where it was resolved
				}
			}
			if _, exists := l.b.refs.defs[name]; !exists || !result || (l.collect == nil && !l.checkVariants) {
				return
			}
			outs := l.b.evaluatorOutcomes(name)
			if l.collect != nil {
				*l.collect = append(*l.collect, outs...)
				return
			}
			for _, o := range outs {
				l.check(o, true)
			}
			return
		}
	}
	switch x := res.(type) {
	case map[string]any:
		if len(x) != 1 {
			if result {
				l.outcome(res)
			}
			return // a literal: nothing in it is evaluated
		}
		for op, args := range x {
			rawArgs := args
			if rm, ok := raw.(map[string]any); ok {
				if a, ok := rm[op]; ok {
					rawArgs = a
				}
			}
			l.push(op)
			switch op {
			case "if", "?:":
				l.walkIf(args, rawArgs, result)
				l.pop()
				return
			case "fractional":
				l.fractional(args, rawArgs, result)
				l.pop()
				return
			case "sem_ver":
				l.semVer(args)
			case "starts_with", "ends_with":
				l.affix(op, args)
			}
			if l.collect == nil {
				l.walkChildren(args, rawArgs)
			}
			l.pop()
			if result {
				l.outcome(res)
			}
		}
	case []any:
		if result {
			l.outcome(res)
		}
		if l.collect == nil {
			l.walkChildren(res, raw)
		}
	default:
		if result {
			l.outcome(res)
		}
	}
}

// walkChildren lints the operands of an operator, none a result.
func (l *ruleLint) walkChildren(args, rawArgs any) {
	list, ok := args.([]any)
	if !ok {
		l.walk(args, rawArgs, false)
		return
	}
	rawList := sameShape(list, rawArgs)
	for i, e := range list {
		if mayHoldRef(e) || mayHoldRef(rawList[i]) {
			l.push(strconv.Itoa(i))
			l.walk(e, rawList[i], false)
			l.pop()
		}
	}
}

// sameShape is raw as a list of res's length, or res when it is not one
// (they differ only where a $ref was replaced).
func sameShape(res []any, raw any) []any {
	if rl, ok := raw.([]any); ok && len(rl) == len(res) {
		return rl
	}
	return res
}

// at lints element i of a list, as walk does.
func (l *ruleLint) at(i int, res, raw any, result bool) {
	l.push(strconv.Itoa(i))
	l.walk(res, raw, result)
	l.pop()
}

func (l *ruleLint) walkIf(args, rawArgs any, result bool) {
	list, ok := args.([]any)
	if !ok {
		return // fails when reached; the schema says so
	}
	rawList := sameShape(list, rawArgs)
	n := len(list)
	for i := 0; i+1 < n; i += 2 {
		l.at(i, list[i], rawList[i], false)
		v, constant := logic.Constant(list[i])
		if !constant {
			l.at(i+1, list[i+1], rawList[i+1], result)
			continue
		}
		if logic.Truthy(v) {
			l.at(i+1, list[i+1], rawList[i+1], result)
			if i+2 < n {
				l.report(CheckUnreachable, []string{strconv.Itoa(i + 2)}, "unreachable: the condition at %s is always true (%s), so nothing after its branch is evaluated", l.ptr(strconv.Itoa(i)), shortJSON(v))
			}
			return
		}
		l.report(CheckUnreachable, []string{strconv.Itoa(i + 1)}, "unreachable: the condition at %s is always false (%s), so this branch is never evaluated", l.ptr(strconv.Itoa(i)), shortJSON(v))
	}
	if n%2 == 1 {
		l.at(n-1, list[n-1], rawList[n-1], result)
	}
}

// fractional lints a fractional's buckets and, when it is the result,
// checks the variants they name.
func (l *ruleLint) fractional(args, rawArgs any, result bool) {
	list, ok := args.([]any)
	if !ok || len(list) == 0 {
		return
	}
	rawList := sameShape(list, rawArgs)
	first := 1
	if _, isBucket := list[0].([]any); isBucket {
		first = 0 // no bucketing value: the flag key and targeting key
	} else if l.collect == nil {
		l.at(0, list[0], rawList[0], false)
	}
	allConstant := true
	var total int64
	for i := first; i < len(list); i++ {
		ev, constant := logic.Constant(list[i])
		if !constant {
			allConstant = false
			if l.collect == nil {
				l.at(i, list[i], rawList[i], false)
			}
			if arr, ok := list[i].([]any); ok && len(arr) > 0 && result {
				if name, ok := logic.Constant(arr[0]); ok {
					l.emit(lintOutcome{value: name}, strconv.Itoa(i), "0")
				}
			}
			continue
		}
		name, w, ok := ops.DistributionEntry(ev)
		if !ok {
			return // fractional always yields null: the schema says why
		}
		total += w
		if result && w > 0 {
			l.emit(lintOutcome{value: name}, strconv.Itoa(i), "0")
		}
	}
	switch {
	case !allConstant || len(list) == first:
	case total == 0:
		l.report(CheckFractional, nil, "the weights sum to 0: fractional always yields null, so the default variant is served")
	case total > ops.MaxTotalWeight:
		l.report(CheckFractional, nil, "the weights sum to %d, more than %d: fractional always yields null, so the default variant is served", total, ops.MaxTotalWeight)
	}
}

func (l *ruleLint) semVer(args any) {
	list, ok := args.([]any)
	if !ok || l.collect != nil {
		return
	}
	if len(list) != 3 {
		l.report(CheckOperands, nil, "sem_ver takes three arguments (version, operator, version), not %d: it always yields null, which is false", len(list))
		return
	}
	for _, i := range [...]int{0, 2} {
		if v, ok := logic.Constant(list[i]); ok && !ops.IsSemVer(v) {
			l.report(CheckOperands, []string{strconv.Itoa(i)}, "%s is not a semantic version (MAJOR[.MINOR[.PATCH]], a leading v allowed): sem_ver always yields null here, which is false", shortJSON(v))
		}
	}
	if v, ok := logic.Constant(list[1]); ok {
		if s, isStr := v.(string); !isStr || !ops.IsSemVerOperator(s) {
			l.report(CheckOperands, []string{"1"}, "unknown sem_ver operator %s (it takes %s): sem_ver always yields null here, which is false", shortJSON(v), strings.Join(ops.SemVerOperators, ", "))
		}
	}
}

func (l *ruleLint) affix(op string, args any) {
	list, ok := args.([]any)
	if !ok || l.collect != nil {
		return
	}
	if len(list) != 2 {
		l.report(CheckOperands, nil, "%s takes two arguments (a string, and the %s), not %d: it always yields null, which is false", op, affixName(op), len(list))
		return
	}
	for i, e := range list {
		if v, ok := logic.Constant(e); ok {
			if _, isStr := v.(string); !isStr {
				l.report(CheckOperands, []string{strconv.Itoa(i)}, "%s compares strings, and %s is %s (numbers are not converted): it always yields null here, which is false", op, shortJSON(v), jsonType(v))
			}
		}
	}
}

func affixName(op string) string {
	if op == "starts_with" {
		return "prefix"
	}
	return "suffix"
}

// outcome notes what the rule being linted returns, when it can be
// known: a constant, or the boolean of an operator that always yields
// one.
func (l *ruleLint) outcome(res any) {
	if !l.checkVariants && l.collect == nil {
		return
	}
	if v, ok := logic.Constant(res); ok {
		if _, isObj := v.(map[string]any); !isObj {
			l.emit(lintOutcome{value: v})
		}
		return
	}
	m, ok := res.(map[string]any)
	if !ok || len(m) != 1 {
		return
	}
	for op := range m {
		if logic.IsBooleanOperator(op) {
			l.emit(lintOutcome{boolOp: op})
		}
	}
}

// emit collects an outcome at the pointer being linted with more tokens,
// or checks it.
func (l *ruleLint) emit(o lintOutcome, more ...string) {
	if l.collect != nil {
		o.ptr = l.ptr(more...)
		*l.collect = append(*l.collect, o)
		return
	}
	if !l.checkVariants {
		return
	}
	if l.names(o) {
		return
	}
	o.ptr = l.ptr(more...)
	l.check(o, false)
}

// names reports whether o names a variant of the flag (or the default).
func (l *ruleLint) names(o lintOutcome) bool {
	if o.boolOp != "" {
		_, hasTrue := l.variants["true"]
		_, hasFalse := l.variants["false"]
		return hasTrue && hasFalse
	}
	if o.value == nil {
		return true
	}
	name, isNull, err := variantName(o.value)
	if err != nil || isNull {
		return true
	}
	_, ok := l.variants[name]
	return ok
}

// check reports an outcome (at o.ptr) that names no variant of the flag;
// viaRef says the outcome is in an evaluator the rule refers to at the
// pointer being linted, where it is reported.
func (l *ruleLint) check(o lintOutcome, viaRef bool) {
	if !l.checkVariants || l.names(o) {
		return
	}
	if o.boolOp != "" {
		_, hasTrue := l.variants["true"]
		_, hasFalse := l.variants["false"]
		switch {
		case !hasTrue && !hasFalse:
			l.warnName(o.ptr, viaRef, "targeting returns the boolean of %q here, which names variant \"true\" or \"false\"; the flag has neither%s: every evaluation that gets it fails with GENERAL", o.boolOp, variantList(l.variants))
		case !hasTrue:
			l.check(lintOutcome{value: true, ptr: o.ptr}, viaRef)
		default:
			l.check(lintOutcome{value: false, ptr: o.ptr}, viaRef)
		}
		return
	}
	name, _, _ := variantName(o.value)
	what := strconv.Quote(name)
	if s, isStr := o.value.(string); !isStr || s != name {
		what = fmt.Sprintf("%s (naming variant %q)", shortJSON(o.value), name)
	}
	l.warnName(o.ptr, viaRef, "targeting can return %s, which is not a variant of the flag%s: every evaluation that gets it fails with GENERAL", what, variantList(l.variants))
}

// warnName reports a problem with the flag's variants at ptr, or when
// ptr is in an evaluator (viaRef), at the flag's $ref, naming ptr.
func (l *ruleLint) warnName(ptr string, viaRef bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if viaRef {
		msg += fmt.Sprintf(" (at %s)", ptr)
		ptr = l.ptr()
	}
	l.b.lint(CheckVariant, l.key, ptr, "%s", msg)
}

// shortJSON is v's JSON text, shortened.
func shortJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	const max = 40
	if len(b) <= max {
		return string(b)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "…"
}

// unknownMembers warns about the members of m (at ptr) that flagd does
// not read, naming the known one each is closest to.
func (b *builder) unknownMembers(key, ptr string, m map[string]any, fields []field, also ...string) {
	var unknown []string
	for k := range m {
		if isKnownMember(k, fields, also) {
			continue
		}
		unknown = append(unknown, k)
	}
	if unknown == nil {
		return
	}
	sort.Strings(unknown)
	known := make([]string, 0, len(fields)+len(also))
	for _, f := range fields {
		known = append(known, f.name)
	}
	known = append(known, also...)
	what := "a flag"
	if key == "" && ptr == "" {
		what = "the document"
	}
	for _, k := range unknown {
		hint := ""
		if s := closest(k, known); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		b.lint(CheckUnknownMember, key, ptr+"/"+escapeToken(k), "%q is not a member of %s; flagd ignores it%s", k, what, hint)
	}
}

func isKnownMember(k string, fields []field, also []string) bool {
	for _, f := range fields {
		if strings.EqualFold(k, f.name) {
			return true // an exact name, or one foldFields reports
		}
	}
	for _, a := range also {
		if k == a {
			return true
		}
	}
	return false
}

// closest returns the name of known nearest to s, when near enough to be
// a likely misspelling: within an edit distance of a third of its length
// (at least 2), ignoring case, or s is a prefix of it.
func closest(s string, known []string) string {
	best, bestD := "", -1
	ls := strings.ToLower(s)
	for _, k := range known {
		lk := strings.ToLower(k)
		d := editDistance(ls, lk)
		limit := max(2, utf8.RuneCountInString(k)/3)
		if d > limit && !(len(ls) >= 3 && strings.HasPrefix(lk, ls)) {
			continue
		}
		if bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Damerau–Levenshtein distance (adjacent
// transpositions count one) between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 30
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
