package evaluator_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

// generatedDoc writes a document of n flags: a mix of static flags and
// flags with if/in, fractional and sem_ver targeting, as flag files in the
// wild look.
func generatedDoc(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"$evaluators":{"internal":{"in":["@example.com",{"var":"email"}]}},"flags":{`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		switch i % 5 {
		case 0, 1:
			fmt.Fprintf(&b, `"flag-%d":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`, i)
		case 2:
			fmt.Fprintf(&b, `"flag-%d":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off","targeting":{"if":[{"$ref":"internal"},"on","off"]}}`, i)
		case 3:
			fmt.Fprintf(&b, `"flag-%d":{"state":"ENABLED","variants":{"a":"red","b":"blue","c":"green"},"defaultVariant":"a","targeting":{"fractional":[{"cat":[{"var":"$flagd.flagKey"},{"var":"email"}]},["a",34],["b",33],["c",33]]}}`, i)
		default:
			fmt.Fprintf(&b, `"flag-%d":{"state":"ENABLED","variants":{"new":{"limit":100},"old":{"limit":10}},"defaultVariant":"old","metadata":{"owner":"team-%d"},"targeting":{"if":[{"sem_ver":[{"var":"version"},">=","2.1.0"]},"new",null]}}`, i, i%7)
		}
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

const benchDoc = `{
  "flags": {
    "static": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
    "static-int": {"state": "ENABLED", "variants": {"small": 10, "large": 1000}, "defaultVariant": "large"},
    "object": {"state": "ENABLED", "variants": {"a": {"color": "red", "size": 3}, "b": {"color": "blue", "size": 5}}, "defaultVariant": "a",
      "targeting": {"if": [{"==": [{"var": "tier"}, "gold"]}, "b", "a"]}},
    "targeting": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
      "targeting": {"if": [{"in": ["@faas.com", {"var": "email"}]}, "on", "off"]}},
    "fractional": {"state": "ENABLED", "variants": {"red": "#f00", "blue": "#00f", "green": "#0f0", "yellow": "#ff0"}, "defaultVariant": "red",
      "targeting": {"fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "email"}]}, ["red", 25], ["blue", 25], ["green", 25], ["yellow", 25]]}},
    "semver": {"state": "ENABLED", "variants": {"new": "new", "old": "old"}, "defaultVariant": "old",
      "targeting": {"if": [{"sem_ver": [{"var": "version"}, ">=", "2.1.0"]}, "new", "old"]}}
  }
}`

func benchSet(b *testing.B) *evaluator.FlagSet {
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		b.Fatal(err)
	}
	set, _, err := p.Parse("bench", []byte(benchDoc), evaluator.FormatJSON)
	if err != nil {
		b.Fatal(err)
	}
	return set
}

func benchEval(b *testing.B, key string, kind evaluator.Kind, ctx map[string]any, want evaluator.Reason) {
	set := benchSet(b)
	if r := set.Evaluate(key, kind, ctx); r.Reason != want || r.Err != nil {
		b.Fatalf("%s: %+v", key, r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		set.Evaluate(key, kind, ctx)
	}
}

func BenchmarkEvaluateStaticBool(b *testing.B) {
	benchEval(b, "static", evaluator.KindBool, nil, evaluator.ReasonStatic)
}

func BenchmarkEvaluateStaticInt(b *testing.B) {
	benchEval(b, "static-int", evaluator.KindInt, map[string]any{"email": "x@y.z"}, evaluator.ReasonStatic)
}

func BenchmarkEvaluateTargetingIfIn(b *testing.B) {
	benchEval(b, "targeting", evaluator.KindBool, map[string]any{"email": "rachel@faas.com"}, evaluator.ReasonTargetingMatch)
}

func BenchmarkEvaluateFractional(b *testing.B) {
	benchEval(b, "fractional", evaluator.KindString, map[string]any{"email": "rachel@faas.com"}, evaluator.ReasonTargetingMatch)
}

func BenchmarkEvaluateSemVer(b *testing.B) {
	benchEval(b, "semver", evaluator.KindString, map[string]any{"version": "2.3.4"}, evaluator.ReasonTargetingMatch)
}

func BenchmarkEvaluateObjectTargeting(b *testing.B) {
	benchEval(b, "object", evaluator.KindObject, map[string]any{"tier": "gold"}, evaluator.ReasonTargetingMatch)
}

// BenchmarkEvaluateAll1000Flags evaluates every flag of a 1,000-flag
// document once per iteration.
func BenchmarkEvaluateAll1000Flags(b *testing.B) {
	p, _ := evaluator.NewParser(evaluator.Options{})
	set, _, err := p.Parse("gen", generatedDoc(1000), evaluator.FormatJSON)
	if err != nil {
		b.Fatal(err)
	}
	ctx := map[string]any{"email": "ana@example.com", "version": "2.2.0"}
	flags := set.Flags()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, f := range flags {
			f.Evaluate(evaluator.KindAny, ctx, nil)
		}
	}
}

// BenchmarkParse100kFlags parses, validates and compiles a 100,000-flag
// document.
func BenchmarkParse100kFlags(b *testing.B) {
	doc := generatedDoc(100000)
	p, _ := evaluator.NewParser(evaluator.Options{})
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		set, _, err := p.Parse("gen", doc, evaluator.FormatJSON)
		if err != nil || set.Len() != 100000 {
			b.Fatal(err)
		}
	}
}

// BenchmarkExplain* are the explanations of the flags the Evaluate
// benchmarks evaluate (what vexil explain and the daemon's endpoint pay;
// evaluation pays nothing for them).
func benchExplain(b *testing.B, key string, kind evaluator.Kind, ctx map[string]any) {
	set := benchSet(b)
	if x, r := set.Explain(key, kind, ctx), set.Evaluate(key, kind, ctx); x.Result.Variant != r.Variant || x.Trace == nil {
		b.Fatalf("%s: %+v", key, x)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		set.Explain(key, kind, ctx)
	}
}

func BenchmarkExplainTargetingIfIn(b *testing.B) {
	benchExplain(b, "targeting", evaluator.KindBool, map[string]any{"email": "rachel@faas.com"})
}

func BenchmarkExplainFractional(b *testing.B) {
	benchExplain(b, "fractional", evaluator.KindString, map[string]any{"email": "rachel@faas.com"})
}
