package ops

import (
	"encoding/json"
	"fmt"
	"github.com/vexilhq/vexil/internal/testenv"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// This file runs the flagd-testbed scenarios that exercise the custom
// operators against the functions of this package. A deliberately tiny
// JSONLogic interpreter (var, cat, if, ==, and the custom operators, with
// arguments evaluated recursively the way flagd's jsonlogic does) glues the
// operators to the testbed's flag definitions.

// testbedDir returns the flagd-testbed directory: $FLAGD_TESTBED_DIR, or
// ../../../../shared/flagd-testbed relative to this package. The test is
// skipped when the variable is unset and the default is absent, and fails
// when the variable names a missing directory.
func testbedDir(t *testing.T) string {
	t.Helper()
	return testenv.Testbed.Path(t)
}

type tbFlag struct {
	Variants       map[string]any `json:"variants"`
	DefaultVariant string         `json:"defaultVariant"`
	Targeting      any            `json:"targeting"`
}

func loadTestbedFlags(t *testing.T, files ...string) map[string]tbFlag {
	t.Helper()
	out := map[string]tbFlag{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Flags map[string]tbFlag `json:"flags"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for k, v := range doc.Flags {
			out[k] = v
		}
	}
	return out
}

// tbScenario is one expanded example row (or a plain scenario).
type tbScenario struct {
	name  string
	tags  []string
	steps []string
}

var (
	tagRe = regexp.MustCompile(`@[^\s@]+`)
	varRe = regexp.MustCompile(`<([^>]+)>`)
)

// parseFeature expands the scenarios and scenario outlines of a Gherkin
// file into one tbScenario per example row. Tags accumulate from the
// feature, the scenario and the Examples block.
func parseFeature(t *testing.T, path string) []tbScenario {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out                         []tbScenario
		featureTags, pending        []string
		cur                         *tbScenario
		exTags, header              []string
		inExamples, inBackground    bool
		scenarioLine, examplesCount int
	)
	flush := func() {
		if cur != nil && !inExamples && examplesCount == 0 {
			out = append(out, *cur)
		}
	}
	for i, line := range strings.Split(string(raw), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "@"):
			pending = append(pending, tagRe.FindAllString(l, -1)...)
		case strings.HasPrefix(l, "Feature:"):
			featureTags, pending = pending, nil
		case strings.HasPrefix(l, "Background:"):
			inBackground = true
		case strings.HasPrefix(l, "Scenario"):
			flush()
			inBackground, inExamples, examplesCount = false, false, 0
			scenarioLine = i + 1
			tags := slices.Concat(featureTags, pending)
			cur, pending = &tbScenario{name: fmt.Sprintf("%s:%d", filepath.Base(path), scenarioLine), tags: tags}, nil
		case strings.HasPrefix(l, "Examples:"):
			inExamples, header, exTags, pending = true, nil, pending, nil
			examplesCount++
		case strings.HasPrefix(l, "|"):
			if !inExamples || cur == nil {
				t.Fatalf("%s:%d: unexpected table", path, i+1)
			}
			cells := splitRow(l)
			if header == nil {
				header = cells
				continue
			}
			row := map[string]string{}
			for j, h := range header {
				row[h] = cells[j]
			}
			s := tbScenario{
				name: fmt.Sprintf("%s:%d", filepath.Base(path), i+1),
				tags: slices.Concat(cur.tags, exTags),
			}
			for _, st := range cur.steps {
				s.steps = append(s.steps, varRe.ReplaceAllStringFunc(st, func(m string) string {
					if v, ok := row[m[1:len(m)-1]]; ok {
						return v
					}
					return m
				}))
			}
			out = append(out, s)
		default:
			if inBackground || cur == nil {
				continue
			}
			cur.steps = append(cur.steps, l)
		}
	}
	flush()
	return out
}

// splitRow splits a Gherkin table row, trimming cells and undoing the
// escapes \|, \\ and \n (anything else, such as \u0000, stays literal).
func splitRow(l string) []string {
	var cells []string
	var b strings.Builder
	l = strings.TrimSpace(l)
	l = l[1:] // leading |
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c == '\\' && i+1 < len(l) && (l[i+1] == '|' || l[i+1] == '\\'):
			b.WriteByte(l[i+1])
			i++
		case c == '\\' && i+1 < len(l) && l[i+1] == 'n':
			b.WriteByte('\n')
			i++
		case c == '|':
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return cells
}

var (
	stepFlag    = regexp.MustCompile(`^(?:Given|And) a (\w+)-flag with key "([^"]*)" and a (?:default|fallback) value "([^"]*)"$`)
	stepKey     = regexp.MustCompile(`^(?:Given|And) a context containing a key "([^"]*)", with type "([^"]*)" and with value "(.*)"$`)
	stepNested  = regexp.MustCompile(`^(?:Given|And) a context containing a nested property with outer key "([^"]*)" and inner key "([^"]*)", with value "(.*)"$`)
	stepTK      = regexp.MustCompile(`^(?:Given|And) a context containing a targeting key with value "(.*)"$`)
	stepValue   = regexp.MustCompile(`^Then the resolved details value should be "(.*)"$`)
	stepReason  = regexp.MustCompile(`^(?:Then|And) the reason should be "(.*)"$`)
	stepIgnored = regexp.MustCompile(`^(Given an evaluator|When the flag was evaluated with details)$`)
)

func typedValue(t *testing.T, typ, s string) any {
	t.Helper()
	switch typ {
	case "String":
		return s
	case "Boolean":
		return s == "true"
	case "Integer":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("bad Integer %q: %v", s, err)
		}
		return float64(n) // what JSON / protobuf Struct would deliver
	case "Float":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("bad Float %q: %v", s, err)
		}
		return f
	case "Object":
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("bad Object %q: %v", s, err)
		}
		return v
	}
	t.Fatalf("unknown type %q", typ)
	return nil
}

func TestTestbedScenarios(t *testing.T) {
	dir := testbedDir(t)
	providerFlags := loadTestbedFlags(t,
		filepath.Join(dir, "flags", "custom-ops.json"),
		filepath.Join(dir, "flags", "edge-case-flags.json"))
	evaluatorFlags := loadTestbedFlags(t, filepath.Join(dir, "evaluator", "flags", "testkit-flags.json"))

	suites := []struct {
		feature string
		flags   map[string]tbFlag
	}{
		{filepath.Join(dir, "gherkin", "targeting.feature"), providerFlags},
		{filepath.Join(dir, "evaluator", "gherkin", "fractional.feature"), evaluatorFlags},
		{filepath.Join(dir, "evaluator", "gherkin", "semver.feature"), evaluatorFlags},
		{filepath.Join(dir, "evaluator", "gherkin", "string.feature"), evaluatorFlags},
	}
	counts := map[string]int{}
	for _, suite := range suites {
		for _, sc := range parseFeature(t, suite.feature) {
			has := func(tag string) bool { return slices.Contains(sc.tags, tag) }
			if !(has("@fractional") || has("@semver") || has("@string") || has("@operator-errors")) {
				continue
			}
			var versions []int
			switch {
			case has("@fractional-v1"):
				counts["skipped v1"]++
				continue
			case has("@fractional-v3"):
				versions = []int{3}
			case has("@fractional-v2"):
				versions = []int{2}
			case has("@operator-errors"):
				versions = []int{2, 3} // independent of the hash
			default:
				versions = []int{2}
			}
			for _, ver := range versions {
				t.Run(fmt.Sprintf("%s/v%d", sc.name, ver), func(t *testing.T) {
					runScenario(t, sc, suite.flags, ver)
				})
				counts[fmt.Sprintf("v%d rows", ver)]++
			}
		}
	}
	t.Logf("testbed rows run: %v", counts)
	if counts["v3 rows"] < 150 || counts["v2 rows"] < 80 {
		t.Errorf("too few testbed rows found: %v", counts)
	}
}

func runScenario(t *testing.T, sc tbScenario, flags map[string]tbFlag, version int) {
	var (
		flagKey, fallback, wantValue, wantReason string
		haveValue                                bool
		ctx                                      = map[string]any{}
	)
	for _, st := range sc.steps {
		if m := stepFlag.FindStringSubmatch(st); m != nil {
			if m[1] != "String" {
				t.Skipf("%s-flag not covered", m[1])
			}
			flagKey, fallback = m[2], m[3]
		} else if m := stepKey.FindStringSubmatch(st); m != nil {
			ctx[m[1]] = typedValue(t, m[2], m[3])
		} else if m := stepNested.FindStringSubmatch(st); m != nil {
			inner, _ := ctx[m[1]].(map[string]any)
			if inner == nil {
				inner = map[string]any{}
				ctx[m[1]] = inner
			}
			inner[m[2]] = m[3]
		} else if m := stepTK.FindStringSubmatch(st); m != nil {
			ctx["targetingKey"] = m[1]
		} else if m := stepValue.FindStringSubmatch(st); m != nil {
			wantValue, haveValue = m[1], true
		} else if m := stepReason.FindStringSubmatch(st); m != nil {
			wantReason = m[1]
		} else if !stepIgnored.MatchString(st) {
			t.Fatalf("unknown step %q", st)
		}
	}
	flag, ok := flags[flagKey]
	if !ok {
		t.Fatalf("flag %q not in the flag files", flagKey)
	}
	if !haveValue {
		t.Fatal("scenario has no expected value")
	}
	ctx["$flagd"] = map[string]any{"flagKey": flagKey}
	ev := miniLogic{flagKey: flagKey, version: version}
	result := ev.eval(flag.Targeting, ctx)

	value, reason := fallback, "ERROR"
	if result == nil {
		if flag.DefaultVariant != "" {
			value, reason = fmt.Sprint(flag.Variants[flag.DefaultVariant]), "DEFAULT"
		}
	} else {
		// flagd JSON-encodes the result and strips the quotes.
		b, _ := json.Marshal(result)
		variant := strings.ReplaceAll(string(b), `"`, "")
		if v, ok := flag.Variants[variant]; ok {
			value, reason = fmt.Sprint(v), "TARGETING_MATCH"
		}
	}
	if value != wantValue {
		t.Errorf("flag %q ctx %v: value %q (rule result %#v), want %q", flagKey, ctx, value, result, wantValue)
	}
	if wantReason != "" && reason != wantReason {
		t.Errorf("flag %q ctx %v: reason %s, want %s", flagKey, ctx, reason, wantReason)
	}
}

// miniLogic is the smallest JSONLogic subset the testbed's operator flags
// need. Like jsonlogic v3.9+ (which flagd uses), operator arguments are
// evaluated recursively, including rules nested inside arrays; a map with
// more than one key is a literal.
type miniLogic struct {
	flagKey string
	version int
}

func (m miniLogic) eval(rule, data any) any {
	switch r := rule.(type) {
	case []any:
		out := make([]any, len(r))
		for i, e := range r {
			out[i] = m.eval(e, data)
		}
		return out
	case map[string]any:
		if len(r) != 1 {
			return r
		}
		for op, raw := range r {
			if op == "if" {
				return m.evalIf(raw, data)
			}
			args, ok := m.eval(raw, data).([]any)
			if !ok {
				args = []any{m.eval(raw, data)}
			}
			return m.apply(op, args, data)
		}
	}
	return rule
}

func (m miniLogic) evalIf(raw, data any) any {
	args, _ := raw.([]any)
	for len(args) >= 2 {
		if truthy(m.eval(args[0], data)) {
			return m.eval(args[1], data)
		}
		args = args[2:]
	}
	if len(args) == 1 {
		return m.eval(args[0], data)
	}
	return nil
}

func (m miniLogic) apply(op string, args []any, data any) any {
	switch op {
	case "var":
		cur := data
		path, _ := args[0].(string)
		for _, p := range strings.Split(path, ".") {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = obj[p]
		}
		return cur
	case "cat":
		var b strings.Builder
		for _, a := range args {
			fmt.Fprint(&b, a)
		}
		return b.String()
	case "==":
		return fmt.Sprint(args[0]) == fmt.Sprint(args[1])
	case "fractional":
		tk := data.(map[string]any)["targetingKey"]
		if m.version == 3 {
			return FractionalV3(args, m.flagKey, tk)
		}
		return FractionalV2(args, m.flagKey, tk)
	case "sem_ver":
		return SemVer(args)
	case "starts_with":
		return StartsWith(args)
	case "ends_with":
		return EndsWith(args)
	}
	panic("miniLogic: unsupported operator " + op)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	}
	return true
}
