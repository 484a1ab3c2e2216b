package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema locations that get messages of their own, written as the file name
// followed by the (unescaped) JSON pointer within it.
const (
	locFlagMap        = "flags.json#/$defs/flagMap"
	locFlag           = locFlagMap + "/patternProperties/^.{1,}$"
	locVariants       = locFlag + "/properties/variants"
	locEvaluators     = "flags.json#/$defs/flagSetCommon/properties/$evaluators"
	locDaemonFlags    = "flags.json#/$defs/daemonFlagSet/properties/flags"
	locTargetingRoot  = "targeting.json#"
	locOperatorMap    = "targeting.json#/$defs/operatorMap"
	locOperator       = locOperatorMap + "/properties/"
	locVarThen        = locOperator + "var/then"
	locStartsWithItem = locOperator + "starts_with/items"
	locEndsWithItem   = locOperator + "ends_with/items"
	locFractionalHead = locOperator + "fractional/prefixItems/0/else"
	locVersion        = "targeting.json#/$defs/versionOperand"
	locBucket         = "targeting.json#/$defs/bucket"
	locWeight         = locBucket + "/prefixItems/1"
)

const (
	msgKeyRule    = "it must be at least one character long and contain no line break"
	msgMixedTypes = "values must all be boolean, all string, all number or all object"
)

// collector turns the library's tree of errors into Problems.
type collector struct {
	doc any // the whole document, for naming values in messages
	// index maps the positions of the flags in the array that was checked
	// to their positions in doc, when the fast path removed some (see
	// reduce); nil means no mapping.
	index    []int
	seen     map[Problem]struct{}
	problems []Problem
}

func newCollector(doc any, index []int) *collector {
	return &collector{doc: doc, index: index, seen: map[Problem]struct{}{}}
}

// keep records p unless it is already there.
func (c *collector) keep(p Problem) {
	if _, dup := c.seen[p]; dup {
		return
	}
	c.seen[p] = struct{}{}
	c.problems = append(c.problems, p)
}

// add records a problem about the value at loc, naming the value at the
// start of the message.
func (c *collector) add(loc []string, text string) {
	p := Problem{Pointer: pointer(loc), Message: text}
	if label := c.label(loc); label != "" {
		p.Message = label + ": " + text
	}
	c.keep(p)
}

// location maps an instance location in the checked document back to the
// whole document.
func (c *collector) location(loc []string) []string {
	if c.index == nil || len(loc) < 2 || loc[0] != "flags" {
		return loc
	}
	i, err := strconv.Atoi(loc[1])
	if err != nil || i < 0 || i >= len(c.index) {
		return loc
	}
	out := slices.Clone(loc)
	out[1] = strconv.Itoa(c.index[i])
	return out
}

// schemaLocation shortens an absolute schema URL to the form of the loc
// constants: the file name, "#", and the unescaped pointer.
func schemaLocation(u string) string {
	u = strings.TrimPrefix(u, baseURI)
	if s, err := url.PathUnescape(u); err == nil {
		u = s
	}
	return u
}

func (c *collector) walk(e *jsonschema.ValidationError) {
	loc := schemaLocation(e.SchemaURL)
	at := c.location(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		for _, cause := range e.Causes {
			c.walk(cause)
		}
	case *kind.AnyOf, *kind.OneOf:
		c.union(e, loc, at)
	case *kind.AdditionalProperties:
		for _, name := range k.Properties {
			switch loc {
			case locFlagMap:
				c.add(at, fmt.Sprintf("invalid flag key %q: %s", name, msgKeyRule))
			case locEvaluators:
				c.add(at, fmt.Sprintf("invalid rule name %q: %s", name, msgKeyRule))
			case locOperatorMap:
				c.add(append(slices.Clip(at), name), "unknown operator")
			case locVersion:
				c.add(append(slices.Clip(at), name), `not allowed: a version operand is a version string or {"var": ...}`)
			default:
				c.add(append(slices.Clip(at), name), "not allowed here")
			}
		}
	case *kind.FalseSchema:
		if strings.HasSuffix(loc, "/properties/$ref") {
			c.add(at, `a {"$ref": ...} is not allowed here, only as an operand inside a rule`)
		} else {
			c.add(at, "not allowed here")
		}
	case *kind.Type:
		c.add(at, typeMessage(loc, k))
	case *kind.Enum:
		c.add(at, "must be "+join(k.Want, "or", quoteJSON))
	case *kind.Const:
		c.add(at, "must be "+quoteJSON(k.Want))
	case *kind.Required:
		c.add(at, fmt.Sprintf("missing required %s %s", plural(len(k.Missing), "property", "properties"),
			join(k.Missing, "and", quoteJSON)))
	case *kind.MinProperties:
		switch {
		case loc == locVariants:
			c.add(at, "must define at least one variant")
		case strings.HasPrefix(loc, "targeting.json#") && k.Want == 1:
			c.add(at, "an empty object is not an operand; use a rule, a literal or null")
		default:
			c.add(at, fmt.Sprintf("must have at least %d %s, has %d", k.Want, plural(k.Want, "member", "members"), k.Got))
		}
	case *kind.MaxProperties:
		c.add(at, fmt.Sprintf("must have at most %d %s, has %d", k.Want, plural(k.Want, "member", "members"), k.Got))
	case *kind.MinItems, *kind.MaxItems:
		if loc == locBucket {
			c.add(at, "a bucket is [variant] or [variant, weight]")
			break
		}
		c.counted(at, k)
	case *kind.MinLength:
		if k.Want == 1 {
			c.add(at, "must not be empty")
		} else {
			c.add(at, fmt.Sprintf("must be at least %d characters long", k.Want))
		}
	case *kind.Pattern:
		switch loc {
		case locVarThen:
			c.add(at, fmt.Sprintf(`%s is not provided: under "$flagd." there are only "$flagd.timestamp" and "$flagd.flagKey"`, quoteJSON(k.Got)))
		case locVersion:
			c.add(at, fmt.Sprintf("%s is not a semantic version (MAJOR.MINOR.PATCH, see semver.org)", quoteJSON(k.Got)))
		default:
			c.add(at, fmt.Sprintf("%s does not match the pattern %s", quoteJSON(k.Got), k.Want))
		}
	case *kind.Minimum:
		if loc == locWeight {
			c.add(at, "weight must not be negative")
		} else {
			c.add(at, "must be at least "+ratString(k.Want))
		}
	case *kind.InvalidJsonValue:
		c.add(at, fmt.Sprintf("a Go value of type %T is not decoded JSON", k.Value))
	default:
		if len(e.Causes) > 0 {
			for _, cause := range e.Causes {
				c.walk(cause)
			}
			return
		}
		// Not produced by our schemas: fall back on the library's wording.
		c.add(at, e.ErrorKind.LocalizedString(message.NewPrinter(language.English)))
	}
}

// counted reports a wrong number of array elements.
func (c *collector) counted(at []string, k jsonschema.ErrorKind) {
	switch k := k.(type) {
	case *kind.MinItems:
		c.add(at, fmt.Sprintf("must have at least %d %s, has %d", k.Want, plural(k.Want, "element", "elements"), k.Got))
	case *kind.MaxItems:
		c.add(at, fmt.Sprintf("must have at most %d %s, has %d", k.Want, plural(k.Want, "element", "elements"), k.Got))
	}
}

// union reports a failed anyOf or oneOf with a message of its own instead
// of one message per alternative.
func (c *collector) union(e *jsonschema.ValidationError, loc string, at []string) {
	switch loc {
	case locVariants:
		// Each alternative checks the names and one value type. Bad names
		// show up in every alternative; mixed types make every one of them
		// report a type error.
		var names []string
		mixed := true
		for _, alt := range e.Causes {
			typeErr := false
			visit(alt, func(x *jsonschema.ValidationError) {
				switch k := x.ErrorKind.(type) {
				case *kind.AdditionalProperties:
					names = append(names, k.Properties...)
				case *kind.Type:
					typeErr = true
				}
			})
			mixed = mixed && typeErr
		}
		for _, name := range names {
			c.add(at, fmt.Sprintf("invalid variant name %q: %s", name, msgKeyRule))
		}
		if mixed || len(names) == 0 {
			c.add(at, msgMixedTypes)
		}
		return
	case locOperatorMap:
		// Operators of different families in one object. Unknown operators
		// have problems of their own, so say nothing unless known ones clash.
		if ops := clashingOperators(lookup(c.doc, at)); len(ops) > 1 {
			c.add(at, "operators "+join(ops, "and", quoteJSON)+" cannot share one object; nest one inside the other")
		}
		return
	}
	if k, ok := e.ErrorKind.(*kind.OneOf); ok && k.Subschemas != nil {
		c.add(at, "matches more than one of the allowed forms")
		return
	}
	// Otherwise follow the alternative that got furthest into the value.
	var best *jsonschema.ValidationError
	bestDepth := -1
	for _, alt := range e.Causes {
		if d := depth(alt); d > bestDepth {
			best, bestDepth = alt, d
		}
	}
	if best == nil {
		c.add(at, "does not match any of the allowed forms")
		return
	}
	c.walk(best)
}

func visit(e *jsonschema.ValidationError, f func(*jsonschema.ValidationError)) {
	f(e)
	for _, cause := range e.Causes {
		visit(cause, f)
	}
}

func depth(e *jsonschema.ValidationError) int {
	d := len(e.InstanceLocation)
	for _, cause := range e.Causes {
		d = max(d, depth(cause))
	}
	return d
}

func typeMessage(loc string, k *kind.Type) string {
	switch loc {
	case locFlagMap:
		return "must be an object keyed by flag key"
	case locDaemonFlags:
		return "must be an object keyed by flag key or an array of flags"
	case locTargetingRoot:
		return "must be a rule object"
	case locFractionalHead:
		return "must be a rule object computing the value to hash, or a [variant, weight] bucket"
	case locStartsWithItem, locEndsWithItem:
		return "must be a string or a rule object"
	case locWeight:
		return "weight must be a non-negative integer or a rule object"
	case locVersion:
		return `must be a semantic version string or a {"var": ...} object`
	}
	return "must be " + join(k.Want, "or", article) + ", not " + article(k.Got)
}

// operatorFamily tells the family of a targeting operator and whether the
// schema knows the operator at all. Operators of one family may share an
// object, as in {"if": [...], "==": [...]}; any other operator is a family of
// its own. This mirrors the anyOf of operatorMap in targeting.json.
func operatorFamily(op string) (family string, known bool) {
	switch op {
	case "if", "==", "===", "!=", "!==", ">", ">=", "%", "/", "map", "filter", "all", "none", "some", "in":
		return "comparison", true
	case "substr", "<", "<=":
		return "between", true
	case "!", "!!":
		return "negation", true
	case "or", "and", "+", "-", "max", "min", "merge", "cat":
		return "list", true
	case "starts_with", "ends_with":
		return "string comparison", true
	case "$ref", "var", "missing", "missing_some", "*", "reduce", "sem_ver", "fractional":
		return op, true
	}
	return "", false
}

// clashingOperators returns, sorted, one known operator of v for each
// operator family present in v.
func clashingOperators(v any) []string {
	obj, _ := v.(map[string]any)
	byFamily := map[string]string{}
	for key := range obj {
		fam, known := operatorFamily(key)
		if !known {
			continue
		}
		if cur, ok := byFamily[fam]; !ok || key < cur {
			byFamily[fam] = key
		}
	}
	out := make([]string, 0, len(byFamily))
	for _, key := range byFamily {
		out = append(out, key)
	}
	slices.Sort(out)
	return out
}

// label names the value at loc for the start of a message: its member name,
// followed by any array indexes, as in "flags[3]" or "fractional[1][0]".
func (c *collector) label(loc []string) string {
	if len(loc) == 0 {
		return ""
	}
	index := make([]bool, len(loc))
	cur := c.doc
	for i, tok := range loc {
		switch node := cur.(type) {
		case []any:
			index[i] = true
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n >= len(node) {
				cur = nil
				continue
			}
			cur = node[n]
		case map[string]any:
			cur = node[tok]
		default:
			cur = nil
		}
	}
	start := len(loc) - 1
	for start >= 0 && index[start] {
		start--
	}
	var b strings.Builder
	if start >= 0 {
		b.WriteString(loc[start])
	}
	for _, tok := range loc[start+1:] {
		b.WriteString("[" + tok + "]")
	}
	return b.String()
}

// lookup returns the value at loc in doc, or nil.
func lookup(doc any, loc []string) any {
	cur := doc
	for _, tok := range loc {
		switch node := cur.(type) {
		case map[string]any:
			cur = node[tok]
		case []any:
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n >= len(node) {
				return nil
			}
			cur = node[n]
		default:
			return nil
		}
	}
	return cur
}

// pointer renders loc as an RFC 6901 JSON pointer.
func pointer(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		b.WriteByte('/')
		if strings.ContainsAny(tok, "~/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
		}
		b.WriteString(tok)
	}
	return b.String()
}

// sortProblems orders problems by pointer, token by token with numbers in
// numeric order, then by message.
func sortProblems(ps []Problem) {
	slices.SortFunc(ps, func(a, b Problem) int {
		if c := comparePointers(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
}

func comparePointers(a, b string) int {
	if a == b {
		return 0
	}
	at, bt := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(at) && i < len(bt); i++ {
		if at[i] == bt[i] {
			continue
		}
		an, aerr := strconv.ParseUint(at[i], 10, 64)
		bn, berr := strconv.ParseUint(bt[i], 10, 64)
		if aerr == nil && berr == nil && an != bn {
			if an < bn {
				return -1
			}
			return 1
		}
		return strings.Compare(at[i], bt[i])
	}
	return len(at) - len(bt)
}

// join lists items as `a`, `a or b`, or `a, b or c` (with "and" likewise).
func join[T any](items []T, conj string, format func(any) string) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = format(it)
	}
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " " + conj + " " + parts[len(parts)-1]
}

// quoteJSON writes v as JSON, without the HTML escaping of <, > and &.
func quoteJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// article puts a JSON type name in a sentence: "an object", "null".
func article(t any) string {
	s := fmt.Sprint(t)
	switch s {
	case "null":
		return s
	case "object", "array", "integer":
		return "an " + s
	}
	return "a " + s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(6)
}
