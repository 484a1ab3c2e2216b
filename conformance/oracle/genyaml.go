package oracle

import (
	"fmt"
	"strings"
)

// yamlScalars are YAML scalars whose meaning depends on the YAML version
// and library: booleans of YAML 1.1, numbers in other bases, special
// floats, nulls, dates, tagged values.
var yamlScalars = []string{"on", "off", "yes", "no", "y", "n", "True", "FALSE", "~", "null", "Null", "1.0", "0x1F", "1_000",
	".inf", "-.Inf", ".nan", "2024-01-01", "0o17", "017", "+1", "1e3", "\"1e3\"", "!!str 1", "!!int \"3\"", "!!float 2",
	"'quoted'", "\"on\"", "12345678901234567890", "-0", "0.", "''", "\"\"", "|\n        multi\n        line", ">-\n        folded"}

// yamlFlag is the text of one flag, indented under "flags:", with one
// YAML oddity; it returns the text, the kind to resolve it as and the
// oddity's name.
func (b *builder) yamlFlag(key string) (string, string, string) {
	g := b.g
	sc := func() string { return pick(g, yamlScalars) }
	switch what := pick(g, []string{"variant-names", "variant-values", "default", "state", "flow", "anchor", "merge-key",
		"comment", "targeting", "metadata", "tagged", "block-scalar", "number-key"}); what {
	case "variant-names":
		a, c := sc(), sc()
		if strings.Contains(a, "\n") || strings.Contains(c, "\n") {
			a, c = "on", "off"
		}
		return fmt.Sprintf("  %s:\n    state: ENABLED\n    variants:\n      %s: true\n      %s: false\n    defaultVariant: %s\n", key, a, c, pick(g, []string{a, c, "on", "\"on\""})), "bool", what
	case "variant-values":
		kind := pick(g, []string{"bool", "string", "int", "float", "object"})
		return fmt.Sprintf("  %s:\n    state: ENABLED\n    variants:\n      a: %s\n      b: %s\n    defaultVariant: a\n", key, sc(), sc()), kind, what
	case "default":
		d := sc()
		if strings.Contains(d, "\n") {
			d = "yes"
		}
		return fmt.Sprintf("  %s:\n    state: ENABLED\n    variants:\n      \"on\": 1\n      \"off\": 2\n      \"true\": 3\n      \"1\": 4\n      \"null\": 5\n    defaultVariant: %s\n", key, d), "int", what
	case "state":
		return fmt.Sprintf("  %s:\n    state: %s\n    variants:\n      a: \"A\"\n    defaultVariant: a\n", key, pick(g, []string{"ENABLED", "enabled", "DISABLED", "\"ENABLED\"", "~", "yes", "!!str ENABLED"})), "string", what
	case "flow":
		return fmt.Sprintf("  %s: {state: ENABLED, variants: {a: %s, b: [1, two, {c: d}]}, defaultVariant: %s}\n", key, pick(g, []string{"1", "x", "on", "{k: v}"}), pick(g, []string{"a", "b"})), pick(g, []string{"int", "string", "object", "bool"}), what
	case "anchor":
		return fmt.Sprintf("  %s:\n    state: ENABLED\n    variants: &v%s\n      a: {n: 1}\n      b: *shared\n    defaultVariant: %s\n", key, strings.ReplaceAll(key, "-", ""), pick(g, []string{"a", "b"})), "object", what
	case "merge-key":
		return fmt.Sprintf("  %s:\n    <<: *base\n    defaultVariant: %s\n", key, pick(g, []string{"on", "off", "\"off\""})), "bool", what
	case "comment":
		return fmt.Sprintf("  # a comment\n  %s: # trailing\n    state: ENABLED # ok\n    variants:\n      a: \"#not a comment\"\n      b: x #comment\n    defaultVariant: %s\n", key, pick(g, []string{"a", "b"})), "string", what
	case "targeting":
		return fmt.Sprintf("  %s:\n    state: ENABLED\n    variants:\n      \"on\": true\n      \"off\": false\n    defaultVariant: \"off\"\n    targeting:\n      if:\n        - ==:\n            - var: x\n            - %s\n        - \"on\"\n        - %s\n", key, sc(), pick(g, []string{"\"off\"", "off", "~", "no"})), "bool", what
	case "metadata":
		return fmt.Sprintf("  %s:\n    state: ENABLED\n    variants:\n      a: 1\n    defaultVariant: a\n    metadata:\n      m1: %s\n      m2: %s\n", key, sc(), sc()), "int", what
	case "tagged":
		return fmt.Sprintf("  %s:\n    state: ENABLED\n    variants:\n      a: !!binary aGVsbG8=\n      b: !!set {x, y}\n      c: !custom tag\n    defaultVariant: %s\n", key, pick(g, []string{"a", "b", "c"})), "string", what
	case "block-scalar":
		return fmt.Sprintf("  %s:\n    state: ENABLED\n    variants:\n      a: |\n        line one\n        line two\n      b: >\n        folded\n        text\n    defaultVariant: %s\n", key, pick(g, []string{"a", "b"})), "string", what
	default: // number-key
		return fmt.Sprintf("  %s:\n    state: ENABLED\n    variants:\n      1: one\n      2.5: two\n      true: yes\n      ~: nothing\n    defaultVariant: %s\n", key, pick(g, []string{"1", "\"1\"", "2.5", "true", "\"true\"", "~", "\"\""})), "string", what
	}
}

// yaml: YAML documents with version- and library-dependent scalars,
// anchors, merge keys, flow style, tags and several documents in a file.
func (b *builder) yaml(i int) {
	g := b.g
	nfiles := 3 + g.intn(3) // few flags a file: one the parser rejects takes few others with it
	for fi := range nfiles {
		var sb strings.Builder
		sb.WriteString("# generated\n")
		if g.chance(0.5) {
			sb.WriteString("$schema: https://flagd.dev/schema/v0/flags.json\n")
		}
		if g.chance(0.4) {
			fmt.Fprintf(&sb, "metadata:\n  flagSetId: %s\n  version: %s\n", pick(g, []string{"yset", "\"yset\"", "on", "1"}), pick(g, yamlScalars[:20]))
		}
		sb.WriteString("shared: &shared {k: v}\n")
		sb.WriteString("base: &base\n  state: ENABLED\n  variants:\n    \"on\": true\n    \"off\": false\n  defaultVariant: \"on\"\n")
		sb.WriteString("flags:\n")
		for j := range 3 + g.intn(3) {
			key := fmt.Sprintf("y%d-%02d", fi, j)
			text, kind, what := b.yamlFlag(key)
			sb.WriteString(text)
			b.flags = append(b.flags, flagInfo{key, kind, "yaml/" + what})
		}
		if g.chance(0.15) {
			// a second document in the same file
			fmt.Fprintf(&sb, "---\nflags:\n  y%d-second:\n    state: ENABLED\n    variants: {a: 1}\n    defaultVariant: a\n", fi)
			b.flags = append(b.flags, flagInfo{fmt.Sprintf("y%d-second", fi), "int", "yaml/multi-document"})
		}
		ext := pick(g, []string{".yaml", ".yml", ".yaml"})
		b.addRaw(fmt.Sprintf("yaml/f%d%s", fi, ext), []byte(sb.String()))
	}
	b.defaultContexts(2)
	b.contexts = append(b.contexts, obj{{"x", true}}, obj{{"x", 1}}, obj{{"x", "on"}})
	_ = i
}
