package oracle

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
)

// DefaultSeed is the seed the recorded corpus was generated with.
const DefaultSeed = 11

// DefaultScenarios is the number of scenarios in the recorded corpus.
const DefaultScenarios = 82

// families are the kinds of scenario, cycled through by index.
var families = []string{"logic", "custom", "logic", "docs", "logic", "sets", "custom", "yaml", "http", "refs", "logic"}

// ScenarioName is the name of scenario i of a corpus.
func ScenarioName(i int) string {
	return fmt.Sprintf("%03d-%s", i, familyOf(i))
}

// Generate builds scenario i of the corpus of seed; the same arguments
// always give the same scenario.
func Generate(seed uint64, i int) *Scenario {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	b := &builder{g: &exprGen{r: r}, s: &Scenario{Name: ScenarioName(i), Seed: seed}}
	switch familyOf(i) {
	case "realistic":
		b.realistic(i)
		if i%2 == 0 {
			b.bigDoc(i)
		}
		b.s.Requests = append(b.s.Requests, b.commonLight()...)
		return b.s
	case "numbers":
		b.numbers(i)
		b.s.Requests = append(b.s.Requests, b.commonLight()...)
		return b.s
	case "shapes":
		b.shapes(i)
	case "multi":
		b.multi(i)
	case "sources":
		b.sources(i)
	case "bodies":
		b.bodies(i)
		b.s.Requests = append(b.s.Requests, b.commonLight()...)
		return b.s
	case "logic":
		b.logic(i)
	case "custom":
		b.custom(i)
	case "docs":
		b.docs(i)
	case "sets":
		b.sets(i)
	case "http":
		b.http(i)
	case "refs":
		b.refs(i)
	case "yaml":
		b.yaml(i)
	}
	b.common()
	return b.s
}

// A flagInfo is what requests need to know of a generated flag.
type flagInfo struct {
	key  string
	kind string // bool, string, int, float, object, mixed
	cat  string
}

type builder struct {
	g        *exprGen
	s        *Scenario
	flags    []flagInfo
	contexts []any // obj, or nil for no context
	setIDs   []string
}

const schemaURL = "https://flagd.dev/schema/v0/flags.json"

// addFile adds a document as JSON or YAML (by the path's extension) and
// its --uri.
func (b *builder) addFile(path string, doc any) {
	var content []byte
	if strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") {
		content = toYAML(doc)
	} else {
		content = mustJSON(doc)
	}
	b.addRaw(path, content)
}

func (b *builder) addRaw(path string, content []byte) {
	b.s.Files = append(b.s.Files, File{Path: path, Content: content})
	b.s.URIs = append(b.s.URIs, "file:"+path)
}

func flag(state string, variants obj, def any, targeting any) obj {
	f := obj{{"state", state}, {"variants", variants}}
	if def != nil {
		f = append(f, kv{"defaultVariant", def})
	}
	if targeting != nil {
		f = append(f, kv{"targeting", targeting})
	}
	return f
}

var boolVariants = obj{{"on", true}, {"off", false}}

// variantsOf makes variants of a kind named by names.
func (b *builder) variantsOf(kind string, names []string) obj {
	var v obj
	for i, n := range names {
		var val any
		switch kind {
		case "bool":
			val = i%2 == 0
		case "string":
			val = "val-" + n
		case "int":
			val = i * 7
		case "float":
			val = float64(i) + 0.25
		case "object":
			val = obj{{"name", n}, {"i", i}}
		default:
			val = pick(b.g, []any{1, "s", true, 1.5, obj{{"a", 1}}, []any{1}, nil, raw("1e2")})
		}
		v = append(v, kv{n, val})
	}
	return v
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// logic: flags whose targeting exercises JSONLogic operators, a few
// chosen ones at the root.
func (b *builder) logic(i int) {
	g := b.g
	focus := []string{logicOps[(i/len(families)*3)%len(logicOps)], logicOps[(i/len(families)*3+1)%len(logicOps)],
		logicOps[(i/len(families)*3+2)%len(logicOps)], logicOps[i%len(logicOps)]}
	b.defaultContexts(3)
	// the contexts' values as strings: candidate results of {"cat": [e]}
	var ctxStrings []string
	for _, c := range b.contexts {
		if o, ok := c.(obj); ok {
			for _, m := range o {
				ctxStrings = append(ctxStrings, stringForms(m.V)...)
			}
		}
	}
	flags := obj{}
	for j := range 9 {
		op := focus[j%len(focus)]
		if j >= 8 {
			op = pick(g, logicOps)
		}
		g.strs = nil
		e := g.op(op, 2)
		cat := "logic/" + op
		// truthiness of e
		tk := fmtKey("t", j)
		flags = append(flags, kv{tk, flag("ENABLED", boolVariants, "off", obj{{"if", []any{e, "on", "off"}}})})
		b.flags = append(b.flags, flagInfo{tk, "bool", cat})
		// e as a variant name
		kind := pick(g, []string{"string", "string", "int", "float", "object", "bool"})
		names := uniq(append(append([]string{}, candidateNames...), g.strs...))
		vk := fmtKey("v", j)
		flags = append(flags, kv{vk, flag("ENABLED", b.variantsOf(kind, names), pick(g, []any{"a", "b", "on"}), e)})
		b.flags = append(b.flags, flagInfo{vk, kind, cat})
		// e stringified: its value is the variant's name, when a candidate
		lits := literalForms(e)
		cnames := uniq(append(append(append(append([]string{}, candidateNames...), numberForms...), lits...), ctxStrings...))
		ck := fmtKey("c", j)
		flags = append(flags, kv{ck, flag("ENABLED", b.variantsOf("string", cnames), "off", obj{{"cat", []any{e}}})})
		b.flags = append(b.flags, flagInfo{ck, "string", cat})
		// e classified by type and sign, and compared with a literal
		pk := fmtKey("p", j)
		probe := obj{{"if", []any{
			obj{{"===", []any{e, nil}}}, "null",
			obj{{"===", []any{e, true}}}, "true",
			obj{{"===", []any{e, false}}}, "false",
			obj{{pick(g, []string{"==", "===", "<", ">=", "!=", "in"}), []any{e, g.literal()}}}, "lit",
			obj{{"===", []any{e, 0}}}, "0",
			obj{{"<", []any{e, 0}}}, "neg",
			obj{{">", []any{e, 0}}}, "pos",
			obj{{"==", []any{e, ""}}}, "empty",
			obj{{"!", []any{e}}}, "falsy",
			"other"}}}
		flags = append(flags, kv{pk, flag("ENABLED", b.variantsOf("string", []string{"null", "true", "false", "lit", "0", "neg", "pos", "empty", "falsy", "other"}), "other", probe)})
		b.flags = append(b.flags, flagInfo{pk, "string", cat})
	}
	path := "flags/logic.json"
	if g.chance(0.3) {
		path = "flags/logic.yaml"
	}
	b.addFile(path, obj{{"$schema", schemaURL}, {"flags", flags}})
}

// custom: flagd's fractional, sem_ver, starts_with, ends_with.
func (b *builder) custom(i int) {
	g := b.g
	ops := []string{"fractional", "sem_ver", "starts_with", "ends_with"}
	flags := obj{}
	for j := range 24 {
		op := ops[(j+i)%len(ops)]
		e := g.op(op, 1)
		cat := "custom/" + op
		key := fmtKey(strings.ReplaceAll(op, "_", "")+"-", j)
		if op == "fractional" {
			// fractional returns a variant name (or what the bucket holds)
			kind := pick(g, []string{"string", "bool", "int", "mixed"})
			flags = append(flags, kv{key, flag("ENABLED", b.variantsOf(kind, []string{"on", "off", "a", "b", "x", "1", "true"}), "off", e)})
			b.flags = append(b.flags, flagInfo{key, kind, cat})
			continue
		}
		flags = append(flags, kv{key, flag("ENABLED", boolVariants, "off", obj{{"if", []any{e, "on", "off"}}})})
		b.flags = append(b.flags, flagInfo{key, "bool", cat})
	}
	b.addFile("custom.json", obj{{"$schema", schemaURL}, {"flags", flags}})
	b.defaultContexts(3)
	// fractional buckets depend on the targeting key: many of them
	for k := range 4 {
		b.contexts = append(b.contexts, obj{{"targetingKey", fmt.Sprintf("user-%d-%d", i, k)}, {"email", fmt.Sprintf("u%d@example.com", k)},
			{"version", pick(g, semvers)}, {"n", k}})
	}
}

// refs: shared evaluators and $ref in odd places.
func (b *builder) refs(i int) {
	g := b.g
	evals := obj{}
	for j := range 5 {
		evals = append(evals, kv{fmt.Sprintf("e%d", j), g.op(pick(g, logicOps), 1)})
	}
	evals = append(evals, kv{"isAlice", obj{{"==", []any{obj{{"var", "targetingKey"}}, "alice"}}}})
	ref := func(n string) obj { return obj{{"$ref", n}} }
	addFlags := func(path string, withEvals bool, flags obj, kinds map[string]string) {
		for _, f := range flags {
			k := kinds[f.K]
			if k == "" {
				k = "bool"
			}
			b.flags = append(b.flags, flagInfo{f.K, k, "refs/" + f.K})
		}
		doc := obj{{"$schema", schemaURL}}
		if withEvals {
			doc = append(doc, kv{"$evaluators", evals})
		}
		b.addFile(path, append(doc, kv{"flags", flags}))
	}
	addFlags("refs.json", true, obj{
		{"r-if", flag("ENABLED", boolVariants, "off", obj{{"if", []any{ref("isAlice"), "on", "off"}}})},
		{"r-root", flag("ENABLED", b.variantsOf("string", candidateNames), "a", ref("e0"))},
		{"r-and", flag("ENABLED", boolVariants, "off", obj{{"if", []any{obj{{"and", []any{ref("e1"), ref("isAlice")}}}, "on", "off"}}})},
		{"r-nested", flag("ENABLED", boolVariants, "off", obj{{"if", []any{obj{{"!", []any{ref("e3")}}}, "on", "off"}}})},
		{"r-e4", flag("ENABLED", b.variantsOf("string", candidateNames), "a", obj{{"cat", []any{ref("e4")}}})},
	}, map[string]string{"r-root": "string", "r-e4": "string"})
	// each odd use of $ref in a document of its own: one the daemon
	// rejects does not take the others with it
	odd := []kv{
		{"r-missing", flag("ENABLED", boolVariants, "off", obj{{"if", []any{ref("nope"), "on", "off"}}})},
		{"r-variant", flag("ENABLED", obj{{"on", ref("isAlice")}, {"off", obj{{"x", ref("e2")}}}}, "on", nil)},
		{"r-default", flag("ENABLED", boolVariants, ref("isAlice"), nil)},
		{"r-num", flag("ENABLED", boolVariants, "off", obj{{"if", []any{obj{{"$ref", 1}}, "on", "off"}}})},
		{"r-extra", flag("ENABLED", boolVariants, "off", obj{{"if", []any{obj{{"$ref", "isAlice"}, {"x", 1}}, "on", "off"}}})},
		{"r-metadata", append(flag("ENABLED", boolVariants, "off", nil), kv{"metadata", obj{{"m", ref("isAlice")}}})},
		{"r-key", flag("ENABLED", boolVariants, "off", obj{{"if", []any{obj{{"var", ref("isAlice")}}, "on", "off"}}})},
		{"r-self", flag("ENABLED", boolVariants, "off", obj{{"if", []any{ref("e5"), "on", "off"}}})},
	}
	selfRef := obj{{"e5", obj{{"$ref", "e5"}}}}
	for j, f := range odd {
		if g.chance(0.6) || j < 3 {
			kinds := map[string]string{"r-variant": pick(g, []string{"object", "bool"})}
			if f.K == "r-self" {
				b.addFile("refs-self.json", obj{{"$evaluators", selfRef}, {"flags", obj{f}}})
				b.flags = append(b.flags, flagInfo{f.K, "bool", "refs/" + f.K})
				continue
			}
			addFlags(fmt.Sprintf("refs-%s.json", strings.TrimPrefix(f.K, "r-")), true, obj{f}, kinds)
		}
	}
	// a second document referring to the first one's evaluators
	b.addFile("refs2.yaml", obj{{"flags", obj{{"r-other-doc", flag("ENABLED", boolVariants, "off", obj{{"if", []any{ref("isAlice"), "on", "off"}}})}}}})
	b.flags = append(b.flags, flagInfo{"r-other-doc", "bool", "refs/other-doc"})
	b.defaultContexts(3)
	b.contexts = append(b.contexts, obj{{"targetingKey", "alice"}}, obj{{"targetingKey", "bob"}, {"x", 1}})
	_ = i
}

// defaultContexts adds n random contexts, an empty one and none.
func (b *builder) defaultContexts(n int) {
	for range n {
		b.contexts = append(b.contexts, b.g.context())
	}
	b.contexts = append(b.contexts, obj{}, nil)
}

var evalServices = []string{"flagd.evaluation.v1.Service", "flagd.evaluation.v2.Service", "schema.v1.Service"}

var resolveMethod = map[string]string{"bool": "ResolveBoolean", "string": "ResolveString", "int": "ResolveInt",
	"float": "ResolveFloat", "object": "ResolveObject"}

var typedMethods = []string{"ResolveBoolean", "ResolveString", "ResolveInt", "ResolveFloat", "ResolveObject"}

func jsonHeader(extra map[string]string) map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

func evalBody(key string, ctx any, withKey bool) string {
	var o obj
	if withKey {
		o = append(o, kv{"flagKey", key})
	}
	if ctx != nil {
		o = append(o, kv{"context", ctx})
	}
	return string(mustJSON(o))
}

func ofrepBody(ctx any) string {
	if ctx == nil {
		return "{}"
	}
	return string(mustJSON(obj{{"context", ctx}}))
}

func (b *builder) add(r Request) { b.s.Requests = append(b.s.Requests, r) }

// resolve asks for one flag with one context, typed over a random
// evaluation API (now and then the wrong type), and over OFREP.
func (b *builder) resolve(f flagInfo, ctx any, hdr map[string]string) {
	g := b.g
	svc := pick(g, evalServices)
	m := resolveMethod[f.kind]
	cat := f.cat
	if m == "" || g.chance(0.12) {
		m = pick(g, typedMethods)
		if m != resolveMethod[f.kind] {
			cat = f.cat + "/type-mismatch"
		}
	}
	b.add(Request{Cat: cat, Port: PortEval, Method: "POST", Path: "/" + svc + "/" + m, Header: jsonHeader(hdr), Body: evalBody(f.key, ctx, true)})
	if g.chance(0.6) {
		b.add(Request{Cat: f.cat + "/ofrep", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags/" + url.PathEscape(f.key),
			Header: jsonHeader(hdr), Body: ofrepBody(ctx)})
	}
}

// bulk asks ResolveAll (v1 and schema.v1) and OFREP bulk.
func (b *builder) bulk(cat string, ctx any, hdr map[string]string) {
	svc := pick(b.g, []string{"flagd.evaluation.v1.Service", "schema.v1.Service"})
	b.add(Request{Cat: cat + "/resolve-all", Port: PortEval, Method: "POST", Path: "/" + svc + "/ResolveAll", Header: jsonHeader(hdr), Body: evalBody("", ctx, false)})
	b.add(Request{Cat: cat + "/ofrep-bulk", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags", Header: jsonHeader(hdr), Body: ofrepBody(ctx)})
}

// common adds, to every scenario, the evaluations of its flags, bulk
// evaluations, event streams and the sync service.
func (b *builder) common() {
	g := b.g
	area := strings.SplitN(b.s.Name, "-", 2)[1]
	for ci, ctx := range b.contexts {
		for _, f := range b.flags {
			b.resolve(f, ctx, nil)
		}
		if ci < 2 || ci == len(b.contexts)-1 {
			b.bulk(area, ctx, nil)
		}
	}
	// the evaluation service over gRPC, as RPC providers use it: every
	// flag with the first context, and ResolveAll
	if len(b.contexts) > 0 {
		ctx := b.contexts[0]
		for _, f := range b.flags {
			m := resolveMethod[f.kind]
			if m == "" || g.chance(0.1) {
				m = pick(g, typedMethods)
			}
			b.add(Request{Cat: "grpc/" + strings.SplitN(f.cat, "/", 2)[0], Port: PortEvalGRPC, Method: "flagd.evaluation.v1.Service/" + m, Body: evalBody(f.key, ctx, true)})
		}
		b.add(Request{Cat: "grpc/resolve-all", Port: PortEvalGRPC, Method: "flagd.evaluation.v1.Service/ResolveAll", Body: evalBody("", ctx, false)})
		for _, sel := range b.selectors()[:2] {
			b.add(Request{Cat: "grpc/selector", Port: PortEvalGRPC, Method: "flagd.evaluation.v1.Service/ResolveAll", Header: map[string]string{"flagd-selector": sel}, Body: evalBody("", ctx, false)})
		}
	}
	b.add(Request{Cat: "grpc/unknown-flag", Port: PortEvalGRPC, Method: "flagd.evaluation.v1.Service/ResolveBoolean", Body: evalBody("no-such-flag", obj{}, true)})
	// unknown flags
	for _, k := range []string{"no-such-flag", ""} {
		b.add(Request{Cat: "unknown-flag", Port: PortEval, Method: "POST", Path: "/" + pick(g, evalServices) + "/" + pick(g, typedMethods), Header: jsonHeader(nil), Body: evalBody(k, obj{}, true)})
	}
	b.add(Request{Cat: "unknown-flag/ofrep", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags/no-such-flag", Header: jsonHeader(nil), Body: "{}"})
	// event streams
	for _, svc := range evalServices {
		b.add(Request{Cat: "stream/event", Port: PortEval, Method: "POST", Path: "/" + svc + "/EventStream", Header: map[string]string{"Content-Type": "application/connect+json"}, Body: "{}", Stream: true})
	}
	// sync
	b.add(Request{Cat: "sync/fetch", Port: PortSync, Method: "FetchAllFlags"})
	if area != "logic" { // a logic document is big: FetchAllFlags shows it once
		b.add(Request{Cat: "sync/stream", Port: PortSync, Method: "SyncFlags", ProviderID: "oracle"})
	}
	b.add(Request{Cat: "sync/metadata", Port: PortSync, Method: "GetMetadata"})
	sels := b.selectors()
	if area != "sets" && area != "docs" && area != "refs" {
		// selectors that select all of a big document would repeat it:
		// elsewhere only a few that select little
		sels = []string{pick(g, sels[len(sels)-7:]), pick(g, sels[len(sels)-7:])}
	}
	for _, sel := range sels {
		b.add(Request{Cat: "sync/fetch-selector", Port: PortSync, Method: "FetchAllFlags", Selector: sel})
		b.add(Request{Cat: "sync/stream-selector", Port: PortSync, Method: "SyncFlags", Selector: sel})
	}
}

// selectors are selector strings for this scenario's sources and sets.
func (b *builder) selectors() []string {
	var sels []string
	for _, f := range b.s.Files {
		sels = append(sels, "source="+f.Path, f.Path)
	}
	for _, id := range b.setIDs {
		sels = append(sels, "flagSetId="+id)
	}
	if len(b.s.Files) > 0 {
		sels = append(sels, "flagSetId="+b.setIDOr("setA")+",source="+b.s.Files[0].Path)
	}
	return append(sels, "flagSetId=", "flagSetId=nope", "source=nope.json", "source=file:"+b.s.Files[0].Path, "nonsense=1", "=", "flagSetId")
}

func (b *builder) setIDOr(def string) string {
	if len(b.setIDs) > 0 {
		return b.setIDs[0]
	}
	return def
}
