package oracle

import (
	"fmt"
	"net/url"
	"strings"
)

// explorePrefix is the number of scenarios made by the first families;
// later scenarios cycle through exploreFamilies, so appending families
// leaves the earlier scenarios (and their golden files) as they are.
const explorePrefix = 68

// exploreFamilies are the kinds of the scenarios from explorePrefix on.
var exploreFamilies = []string{"realistic", "numbers", "shapes", "multi", "sources", "bodies"}

func familyOf(i int) string {
	if i >= explorePrefix {
		return exploreFamilies[(i-explorePrefix)%len(exploreFamilies)]
	}
	return families[i%len(families)]
}

// typedAll asks one flag with every typed method over every evaluation
// API and over OFREP.
func (b *builder) typedAll(f flagInfo, ctx any) {
	for _, svc := range evalServices {
		for _, m := range typedMethods {
			cat := f.cat
			if m != resolveMethod[f.kind] {
				cat += "/type-mismatch"
			}
			b.add(Request{Cat: cat, Port: PortEval, Method: "POST", Path: "/" + svc + "/" + m, Header: jsonHeader(nil), Body: evalBody(f.key, ctx, true)})
		}
	}
	b.add(Request{Cat: f.cat + "/ofrep", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags/" + url.PathEscape(f.key), Header: jsonHeader(nil), Body: ofrepBody(ctx)})
	b.add(Request{Cat: "grpc/" + strings.SplitN(f.cat, "/", 2)[0], Port: PortEvalGRPC, Method: "flagd.evaluation.v1.Service/" + pick(b.g, typedMethods), Body: evalBody(f.key, ctx, true)})
}

// realistic: documents like those in flagd's documentation: nested
// context paths, $flagd properties, fractional rollouts, odd keys.
func (b *builder) realistic(i int) {
	g := b.g
	v := func(p string) obj { return obj{{"var", p}} }
	vd := func(p string, d any) obj { return obj{{"var", []any{p, d}}} }
	colors := obj{{"red", "#ff0000"}, {"green", "#00ff00"}, {"blue", "#0000ff"}, {"yellow", "#ffff00"}}
	flags := obj{
		{"new-welcome-banner", flag("ENABLED", boolVariants, "off", obj{{"if", []any{obj{{"ends_with", []any{v("email"), "@example.com"}}}, "on", "off"}}})},
		{"header-color", flag("ENABLED", colors, "red", obj{{"if", []any{obj{{"==", []any{v("company.name"), "Initech"}}}, "green",
			obj{{"in", []any{v("user.address.country"), []any{"CA", "US"}}}}, "blue", nil}}})},
		{"array-path", flag("ENABLED", colors, "red", obj{{"if", []any{obj{{"==", []any{v("items.0.id"), 1}}}, "green",
			obj{{"==", []any{v("items.1.tags.0"), "x"}}}, "blue", "yellow"}}})},
		{"var-default", flag("ENABLED", colors, "red", obj{{"cat", []any{vd("missing.path", "gre"), "en"}}})},
		{"var-default-obj", flag("ENABLED", colors, "red", vd("tier", "blue"))},
		{"flag-key", flag("ENABLED", obj{{"flag-key", "matched"}, {"other", "no"}}, "other", obj{{"if", []any{obj{{"==", []any{v("$flagd.flagKey"), "flag-key"}}}, "flag-key", "other"}}})},
		{"flagd-ts", flag("ENABLED", boolVariants, "off", obj{{"if", []any{obj{{">", []any{v("$flagd.timestamp"), 1600000000}}}, "on", "off"}}})},
		{"flagd-obj", flag("ENABLED", obj{{"a", "a"}, {"b", "b"}}, "a", obj{{"if", []any{obj{{"==", []any{v("$flagd"), nil}}}, "b", "a"}}})},
		{"tk-present", flag("ENABLED", boolVariants, "off", obj{{"if", []any{v("targetingKey"), "on", "off"}}})},
		{"tk-cat", flag("ENABLED", obj{{"user-1", "one"}, {"alice", "A"}, {"", "empty"}, {"42", "num"}, {"null", "null"}}, "", obj{{"cat", []any{v("targetingKey")}}})},
		{"rollout", flag("ENABLED", obj{{"control", "c"}, {"treatment", "t"}, {"beta", "b"}}, "control", obj{{"fractional", []any{[]any{"control", 80}, []any{"treatment", 15}, []any{"beta", 5}}}})},
		{"rollout-by-email", flag("ENABLED", boolVariants, "off", obj{{"fractional", []any{v("email"), []any{"on", 50}, []any{"off", 50}}}})},
		{"rollout-seeded", flag("ENABLED", boolVariants, "off", obj{{"fractional", []any{obj{{"cat", []any{v("$flagd.flagKey"), v("user.id")}}}, []any{"on", 25}, []any{"off", 75}}}})},
		{"rollout-uneven", flag("ENABLED", obj{{"a", 1}, {"b", 2}, {"c", 3}}, "a", obj{{"fractional", []any{[]any{"a", 1}, []any{"b", 1}, []any{"c", 1}}}})},
		{"rollout-one", flag("ENABLED", obj{{"a", 1}, {"b", 2}}, "a", obj{{"fractional", []any{[]any{"b"}}}})},
		{"semver-gate", flag("ENABLED", boolVariants, "off", obj{{"if", []any{obj{{"sem_ver", []any{v("app.version"), ">=", "2.1.0"}}}, "on", "off"}}})},
		{"disabled-flag", flag("DISABLED", boolVariants, "on", nil)},
		{"disabled-targeted", flag("DISABLED", colors, "blue", obj{{"if", []any{true, "green", "red"}}})},
		{"targeting-null", flag("ENABLED", colors, "blue", obj{{"if", []any{false, "green"}}})},
		{"targeting-empty", flag("ENABLED", colors, "yellow", obj{})},
		{"no-default", flag("ENABLED", colors, nil, obj{{"if", []any{v("vip"), "green"}}})},
		{"object-flag", flag("ENABLED", obj{{"small", obj{{"size", 1}, {"tags", []any{"a"}}}}, {"big", obj{{"size", 1e6}, {"nested", obj{{"deep", []any{obj{{"x", nil}}}}}}}}}, "small", obj{{"if", []any{v("vip"), "big"}}})},
		{"unicode-values", flag("ENABLED", obj{{"ja", "こんにちは"}, {"html", "<b>\"x\" & 'y'</b>"}, {"esc", "tab\tnl\nback\\slash\u2028"}, {"emoji", "😀"}}, "ja", obj{{"var", "lang"}})},
		{"big-ints", flag("ENABLED", obj{{"p53", raw("9007199254740993")}, {"p63", raw("9223372036854775807")}, {"p64", raw("18446744073709551616")}, {"neg63", raw("-9223372036854775808")}}, "p53", obj{{"var", "which"}})},
		{"float-ints", flag("ENABLED", obj{{"one", raw("1.0")}, {"half", 1.5}, {"huge", raw("1e20")}, {"negz", raw("-0")}, {"tiny", raw("1e-300")}}, "one", obj{{"var", "which"}})},
		{"typed-string", flag("ENABLED", obj{{"a", "x"}, {"b", "y"}}, "a", nil)},
		{"typed-int", flag("ENABLED", obj{{"a", 3}, {"b", -4}}, "a", nil)},
		{"typed-float", flag("ENABLED", obj{{"a", 3.25}, {"b", raw("2.0")}}, "a", nil)},
		{"typed-object", flag("ENABLED", obj{{"a", obj{{"k", "v"}}}, {"b", obj{}}}, "a", nil)},
		{"typed-array", flag("ENABLED", obj{{"a", []any{1, 2}}, {"b", []any{}}}, "a", nil)},
		{"typed-null", flag("ENABLED", obj{{"a", nil}, {"b", 1}}, "a", nil)},
		{"key with spaces", flag("ENABLED", boolVariants, "on", nil)},
		{"key/with/slashes", flag("ENABLED", boolVariants, "on", nil)},
		{"key.with.dots", flag("ENABLED", boolVariants, "on", nil)},
		{"ключ-ünï-😀", flag("ENABLED", boolVariants, "on", nil)},
		{"key?q=1&x#frag", flag("ENABLED", boolVariants, "on", nil)},
		{"key%20pct", flag("ENABLED", boolVariants, "on", nil)},
		{"..", flag("ENABLED", boolVariants, "on", nil)},
		{strings.Repeat("long-key-", 40), flag("ENABLED", boolVariants, "on", nil)},
		{"variant keys", flag("ENABLED", obj{{"with space", "s"}, {"ü", "u"}, {"<html>", "h"}, {"a.b", "d"}}, "with space", obj{{"var", "vk"}})},
	}
	kinds := map[string]string{"header-color": "string", "array-path": "string", "var-default": "string", "var-default-obj": "string",
		"flag-key": "string", "flagd-obj": "string", "tk-cat": "string", "rollout": "string", "rollout-uneven": "int", "rollout-one": "int",
		"disabled-targeted": "string", "targeting-null": "string", "targeting-empty": "string", "no-default": "string", "object-flag": "object",
		"unicode-values": "string", "big-ints": "int", "float-ints": "float", "typed-string": "string", "typed-int": "int", "typed-float": "float",
		"typed-object": "object", "typed-array": "mixed", "typed-null": "mixed", "variant keys": "string"}
	path := "flags.json"
	if i%2 == 1 {
		path = "flags.yaml"
	}
	b.addFile(path, obj{{"$schema", schemaURL}, {"flags", flags}})
	var infos []flagInfo
	for _, f := range flags {
		k := kinds[f.K]
		if k == "" {
			k = "bool"
		}
		cat := "realistic/" + f.K
		if len(f.K) > 40 {
			cat = "realistic/long-key"
		}
		infos = append(infos, flagInfo{f.K, k, cat})
	}
	ctxs := []any{
		obj{{"targetingKey", "user-1"}, {"email", "jane@example.com"}, {"company", obj{{"name", "Initech"}}}, {"app", obj{{"version", "2.1.0"}}}, {"which", "p53"}, {"lang", "html"}, {"vk", "ü"}},
		obj{{"targetingKey", "alice"}, {"user", obj{{"id", 7}, {"address", obj{{"country", "CA"}}}}}, {"items", []any{obj{{"id", 1}}}}, {"which", "huge"}, {"vip", true}, {"tier", "green"}},
		obj{{"items", []any{obj{{"id", 2}}, obj{{"tags", []any{"x"}}}}}, {"which", "negz"}, {"lang", "esc"}, {"email", "bob@example.org"}, {"app", obj{{"version", "v2.0.9"}}}},
		obj{{"targetingKey", 42}, {"which", "p63"}, {"vk", "<html>"}, {"$flagd", obj{{"flagKey", "x"}}}},
		obj{{"targetingKey", nil}, {"which", "neg63"}, {"vk", "a.b"}, {"company.name", "Initech"}},
		obj{{"targetingKey", obj{{"id", 1}}}, {"which", "half"}, {"lang", "emoji"}},
		obj{{"targetingKey", ""}, {"which", "p64"}, {"lang", "nope"}},
		obj{{"which", "tiny"}, {"tier", 3}},
		obj{},
		nil,
	}
	for ci, ctx := range ctxs {
		for fi, f := range infos {
			if ci < 2 || (fi+ci)%3 == 0 {
				b.typedAll(f, ctx)
			} else {
				b.resolve(f, ctx, nil)
			}
		}
	}
	for _, ctx := range ctxs[:4] {
		b.bulk("realistic", ctx, nil)
	}
	// fractional distribution: many targeting keys
	for k := range 200 {
		key := []string{"rollout", "rollout-seeded", "rollout-by-email", "rollout-uneven"}[k%4]
		ctx := obj{{"targetingKey", fmt.Sprintf("%s-%d-%d", pick(g, []string{"user", "acct", "ünï", ""}), i, k)}, {"email", fmt.Sprintf("u%d@ex.com", k)}, {"user", obj{{"id", k}}}}
		f := infos[0]
		for _, in := range infos {
			if in.key == key {
				f = in
			}
		}
		if k%2 == 0 {
			b.add(Request{Cat: "realistic/fractional-dist/ofrep", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags/" + key, Header: jsonHeader(nil), Body: ofrepBody(ctx)})
		} else {
			b.add(Request{Cat: "realistic/fractional-dist", Port: PortEval, Method: "POST", Path: "/flagd.evaluation.v2.Service/" + resolveMethod[f.kind], Header: jsonHeader(nil), Body: evalBody(key, ctx, true)})
		}
	}
	// OFREP single with keys escaped in other ways
	for _, p := range []string{"key%20with%20spaces", "key+with+spaces", "key/with/slashes", "key%2Fwith%2Fslashes", "key.with.dots", "%D0%BA%D0%BB%D1%8E%D1%87-%C3%BCn%C3%AF-%F0%9F%98%80",
		"key%3Fq=1&x%23frag", "key%2520pct", "key%20pct", "..", "%2E%2E", "%6Bey.with.dots"} {
		b.add(Request{Cat: "realistic/ofrep-escaped-key", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags/" + p, Header: jsonHeader(nil), Body: "{}"})
	}
}

// numbers: numbers of every size and form in variants and contexts,
// asked with every typed method.
func (b *builder) numbers(i int) {
	nums := []string{"0", "-0", "1", "-1", "1.5", "-1.5", "1e20", "1e21", "1e-7", "2.0", "1.0e0", "9007199254740993", "9223372036854775807",
		"9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "2147483648", "4294967296",
		"1e308", "5e-324", "0.1", "123456789012345678901234567890", "1E2", "-1e-2", "100000000000000000000"}
	var variants obj
	for j, n := range nums {
		variants = append(variants, kv{fmt.Sprintf("n%02d", j), raw(n)})
	}
	flags := obj{}
	for j := range nums {
		if j%((i-explorePrefix)/len(exploreFamilies)+2) != 0 && j > 4 {
			continue
		}
		flags = append(flags, kv{fmtKey("num-", j), flag("ENABLED", variants, fmt.Sprintf("n%02d", j), nil)})
		b.flags = append(b.flags, flagInfo{fmtKey("num-", j), "float", "numbers/variant"})
	}
	// context numbers flow through var into the answer
	flags = append(flags,
		kv{"ctx-var", flag("ENABLED", variants, "n00", obj{{"var", "sel"}})},
		kv{"ctx-cmp", flag("ENABLED", boolVariants, "off", obj{{"if", []any{obj{{">", []any{obj{{"var", "n"}}, 9007199254740992}}}, "on", "off"}}})},
		kv{"ctx-eq", flag("ENABLED", boolVariants, "off", obj{{"if", []any{obj{{"==", []any{obj{{"var", "n"}}, raw("9223372036854775807")}}}, "on", "off"}}})},
		kv{"ctx-cat", flag("ENABLED", obj{{"x", "x"}}, "x", obj{{"cat", []any{obj{{"var", "n"}}}}})},
		kv{"int-default", flag("ENABLED", obj{{"1", 1}, {"2", 2}}, raw("1"), nil)},
	)
	b.flags = append(b.flags, flagInfo{"ctx-var", "float", "numbers/ctx-var"}, flagInfo{"ctx-cmp", "bool", "numbers/ctx-cmp"},
		flagInfo{"ctx-eq", "bool", "numbers/ctx-eq"}, flagInfo{"ctx-cat", "string", "numbers/ctx-cat"}, flagInfo{"int-default", "int", "numbers/int-default"})
	b.addFile("numbers.json", obj{{"flags", flags}})
	for j, n := range nums {
		if j%3 != (i-explorePrefix)/len(exploreFamilies)%3 {
			continue
		}
		ctx := obj{{"targetingKey", "t"}, {"sel", fmt.Sprintf("n%02d", j)}, {"n", raw(n)}}
		for _, f := range b.flags {
			if strings.HasPrefix(f.key, "ctx-") {
				b.typedAll(f, ctx)
			}
		}
	}
	for _, f := range b.flags {
		if !strings.HasPrefix(f.key, "ctx-") {
			b.typedAll(f, obj{})
		}
	}
	b.bulk("numbers", obj{{"sel", "n12"}, {"n", raw("1e21")}}, nil)
}

// shapes: odd request bodies, contexts and headers on every protocol.
func (b *builder) shapes(i int) {
	g := b.g
	flags := obj{
		{"b", flag("ENABLED", boolVariants, "on", obj{{"if", []any{obj{{"var", "targetingKey"}}, "off", "on"}}})},
		{"s", flag("ENABLED", obj{{"a", "A"}, {"b", "B"}}, "a", obj{{"if", []any{obj{{"var", "x"}}, "b"}}})},
		{"i", flag("ENABLED", obj{{"a", 1}, {"b", 2}}, "a", nil)},
		{"d", flag("DISABLED", obj{{"a", 1.5}}, "a", nil)},
		{"o", flag("ENABLED", obj{{"a", obj{{"k", 1}}}}, "a", obj{{"var", "k"}})},
	}
	b.addFile("shapes.json", obj{{"flags", flags}})
	bodies := []string{`{"flagKey":"%s"}`, `{"flagKey":"%s","context":null}`, `{"flagKey":"%s","context":[]}`, `{"flagKey":"%s","context":"str"}`,
		`{"flagKey":"%s","context":1}`, `{"flagKey":"%s","context":{"targetingKey":1}}`, `{"flagKey":"%s","context":{"targetingKey":null}}`,
		`{"flagKey":"%s","context":{"targetingKey":{"a":1}}}`, `{"flagKey":"%s","context":{"targetingKey":["a"]}}`, `{"flagKey":"%s","context":{"targetingKey":true}}`,
		`{"flagKey":"%s","context":{},"unknown":1}`, `{"flagKey":"%s","flag_key":"i"}`, `{"flag_key":"%s"}`, `{"FlagKey":"%s"}`, `{"flagKey":"%s","context":{"x":1},"context":{"x":null}}`,
		`{"flagKey":"%s","context":{"x":1}} trailing`, `{"flagKey":"%s","context":{"x":1}}` + "\n", `  {"flagKey":"%s"}  `, `{"flagKey":["%s"]}`, `{"flagKey":"%s","context":{"k":"a","x":"1"}}`}
	hdrs := []map[string]string{
		{"Content-Type": "application/json"},
		{"Content-Type": "application/json", "Connect-Protocol-Version": "1"},
		{"Content-Type": "application/json; charset=utf-8"},
		{"Content-Type": "application/json;charset=UTF-8"},
		{"Content-Type": "application/json; charset=utf-16"},
		{"Content-Type": "Application/JSON"},
		{"Content-Type": "application/json", "Connect-Protocol-Version": "2"},
		{"Content-Type": "application/json", "Connect-Timeout-Ms": "5000"},
		{"Content-Type": "application/json", "Accept-Encoding": "identity"},
	}
	keys := []string{"b", "s", "i", "d", "o"}
	for _, svc := range evalServices {
		for bi, body := range bodies {
			k := keys[(bi+i)%len(keys)]
			m := pick(g, typedMethods)
			if g.chance(0.6) {
				m = resolveMethod[map[string]string{"b": "bool", "s": "string", "i": "int", "d": "float", "o": "object"}[k]]
			}
			b.add(Request{Cat: "shapes/body", Port: PortEval, Method: "POST", Path: "/" + svc + "/" + m, Header: jsonHeader(nil), Body: fmt.Sprintf(body, k)})
		}
		for _, h := range hdrs {
			b.add(Request{Cat: "shapes/header", Port: PortEval, Method: "POST", Path: "/" + svc + "/ResolveBoolean", Header: h, Body: `{"flagKey":"b","context":{"targetingKey":"u"}}`})
			b.add(Request{Cat: "shapes/header-all", Port: PortEval, Method: "POST", Path: "/" + svc + "/ResolveAll", Header: h, Body: `{"context":{"x":1}}`})
		}
		for _, body := range []string{`{}`, `{"context":null}`, `{"context":[]}`, `{"context":"s"}`, `{"context":{"targetingKey":5}}`, `{"flagKey":"b"}`, `{"context":{}, "extra":[1]}`, ``} {
			b.add(Request{Cat: "shapes/resolve-all", Port: PortEval, Method: "POST", Path: "/" + svc + "/ResolveAll", Header: jsonHeader(nil), Body: body})
		}
	}
	ofrepBodies := []string{`{}`, `{"context":null}`, `{"context":[]}`, `{"context":"s"}`, `{"context":1}`, `{"context":{"targetingKey":5}}`, `{"context":{"targetingKey":null}}`,
		`{"context":{"targetingKey":{"a":1}}}`, `{"flagKey":"i","context":{}}`, `{"context":{},"unknown":true}`, `{"Context":{"x":1}}`, `{"context":{"x":1},"context":{}}`, ``, `null`, `[]`, `{"context":{"x":1}} x`}
	for _, body := range ofrepBodies {
		k := keys[g.intn(len(keys))]
		b.add(Request{Cat: "shapes/ofrep-body", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags/" + k, Header: jsonHeader(nil), Body: body})
		b.add(Request{Cat: "shapes/ofrep-bulk-body", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags", Header: jsonHeader(nil), Body: body})
	}
	for _, h := range []map[string]string{{"If-None-Match": `"abc"`}, {"If-None-Match": "*"}, {"If-None-Match": ""}, {"Content-Type": "text/plain"}, {"Content-Type": "application/json; charset=utf-16"}, {"Accept": "text/html"}} {
		hh := jsonHeader(nil)
		for k, v := range h {
			hh[k] = v
		}
		b.add(Request{Cat: "shapes/ofrep-bulk-header", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags", Header: hh, Body: `{"context":{"targetingKey":"u"}}`})
		b.add(Request{Cat: "shapes/ofrep-header", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags/s", Header: hh, Body: `{"context":{"x":true}}`})
	}
	// the sync port over HTTP/1.1: Connect, gRPC-Web, plain requests
	for _, r := range []Request{
		{Method: "POST", Path: "/flagd.sync.v1.FlagSyncService/FetchAllFlags", Header: jsonHeader(nil), Body: "{}"},
		{Method: "POST", Path: "/flagd.sync.v1.FlagSyncService/GetMetadata", Header: map[string]string{"Content-Type": "application/grpc-web+json"}, Body: ""},
		{Method: "GET", Path: "/", Body: ""},
		{Method: "POST", Path: "/flagd.sync.v1.FlagSyncService/SyncFlags", Header: map[string]string{"Content-Type": "application/connect+json"}, Body: ""},
	} {
		r.Cat, r.Port = "shapes/sync-http", PortSyncHTTP
		b.add(r)
	}
	b.contexts = []any{obj{{"targetingKey", "u"}, {"x", 1}, {"k", "a"}}}
	for _, k := range keys {
		b.flags = append(b.flags, flagInfo{k, map[string]string{"b": "bool", "s": "string", "i": "int", "d": "float", "o": "object"}[k], "shapes/" + k})
	}
}

// multi: several sources (JSON and YAML) with overlapping keys and flag
// sets, asked with contexts over every bulk API.
func (b *builder) multi(i int) {
	g := b.g
	n := 3 + (i-explorePrefix)/len(exploreFamilies)%3
	kinds := []string{"bool", "string", "int", "float", "object"}
	for s := range n {
		flags := obj{}
		for j := range 6 + s {
			kind := kinds[(j+s)%len(kinds)]
			key := fmt.Sprintf("m%02d", j)
			if j >= 4 {
				key = fmt.Sprintf("s%d-%02d", s, j)
			}
			names := []string{"a", "b", "c"}
			var targ any
			if j%2 == 0 {
				targ = obj{{"if", []any{obj{{"==", []any{obj{{"var", "tier"}}, "gold"}}}, "b", nil}}}
			}
			f := flag(pick(g, []string{"ENABLED", "ENABLED", "ENABLED", "DISABLED"}), b.variantsOf(kind, names), "a", targ)
			if g.chance(0.4) {
				f = append(f, kv{"metadata", obj{{"owner", fmt.Sprintf("team-%d", s)}, {"n", j}}})
			}
			if g.chance(0.2) {
				f = append(f, kv{"flagSetId", fmt.Sprintf("inner-%d", j%2)})
			}
			flags = append(flags, kv{key, f})
			b.flags = append(b.flags, flagInfo{key, kind, "multi/flag"})
		}
		doc := obj{{"$schema", schemaURL}}
		if s%2 == 0 || g.chance(0.5) {
			id := fmt.Sprintf("set-%d", s%2)
			doc = append(doc, kv{"metadata", obj{{"flagSetId", id}, {"version", s}}})
			b.setIDs = append(b.setIDs, id)
		}
		doc = append(doc, kv{"flags", flags})
		ext := ".json"
		if s%2 == 1 {
			ext = ".yaml"
		}
		b.addFile(fmt.Sprintf("src/%d/flags%s", s, ext), doc)
	}
	b.setIDs = uniq(b.setIDs)
	// dedupe flag infos by key (later sources win, ask every one)
	seen := map[string]bool{}
	var fl []flagInfo
	for _, f := range b.flags {
		if !seen[f.key] {
			seen[f.key] = true
			fl = append(fl, f)
		}
	}
	b.flags = fl
	b.contexts = []any{obj{{"targetingKey", "u1"}, {"tier", "gold"}}, obj{{"tier", "silver"}}, nil}
	for _, ctx := range b.contexts {
		for _, sel := range append([]string{""}, b.selectors()[:4]...) {
			var h map[string]string
			if sel != "" {
				h = map[string]string{"Flagd-Selector": sel}
			}
			b.bulk("multi/bulk", ctx, h)
		}
	}
}

// bigDoc: a document of about 300 flags asked in bulk.
func (b *builder) bigDoc(i int) {
	g := b.g
	flags := obj{}
	kinds := []string{"bool", "string", "int", "float", "object", "mixed"}
	for j := range 300 {
		kind := kinds[j%len(kinds)]
		var targ any
		if j%3 == 0 {
			targ = obj{{"if", []any{obj{{"in", []any{obj{{"var", "targetingKey"}}, []any{"u1", "u2"}}}}, "b", "a"}}}
		}
		state := "ENABLED"
		if j%17 == 0 {
			state = "DISABLED"
		}
		flags = append(flags, kv{fmt.Sprintf("flag-%03d", j), flag(state, b.variantsOf(kind, []string{"a", "b"}), "a", targ)})
	}
	b.addFile("big.json", obj{{"flags", flags}})
	for _, ctx := range []any{obj{{"targetingKey", "u1"}}, obj{{"targetingKey", "zz"}}, nil} {
		b.add(Request{Cat: "big/resolve-all", Port: PortEval, Method: "POST", Path: "/flagd.evaluation.v1.Service/ResolveAll", Header: jsonHeader(nil), Body: evalBody("", ctx, false)})
		b.add(Request{Cat: "big/ofrep-bulk", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags", Header: jsonHeader(nil), Body: ofrepBody(ctx)})
	}
	_ = g
}

// commonLight is what every scenario asks of the sync service and the
// event streams, without evaluating every flag again.
func (b *builder) commonLight() []Request {
	return []Request{
		{Cat: "sync/fetch", Port: PortSync, Method: "FetchAllFlags"},
		{Cat: "sync/metadata", Port: PortSync, Method: "GetMetadata"},
		{Cat: "stream/event", Port: PortEval, Method: "POST", Path: "/flagd.evaluation.v1.Service/EventStream", Header: map[string]string{"Content-Type": "application/connect+json"}, Body: "{}", Stream: true},
	}
}

// sources: --uri spellings (./, .., .yml, upper-case extensions, the
// same file twice), metadata of every value type at both levels.
func (b *builder) sources(i int) {
	g := b.g
	k := (i - explorePrefix) / len(exploreFamilies)
	meta := obj{{"str", "s"}, {"int", 3}, {"float", 2.5}, {"bool", false}, {"big", raw("9007199254740993")}, {"zero", 0}, {"empty", ""}}
	if k%2 == 1 {
		meta = append(meta, kv{"obj", obj{{"a", 1}}}, kv{"arr", []any{1}})
	}
	addURI := func(uri, path string, doc any) {
		var content []byte
		if strings.HasSuffix(strings.ToLower(path), ".yaml") || strings.HasSuffix(strings.ToLower(path), ".yml") {
			content = toYAML(doc)
		} else {
			content = mustJSON(doc)
		}
		b.s.Files = append(b.s.Files, File{Path: path, Content: content})
		b.s.URIs = append(b.s.URIs, uri)
	}
	mk := func(prefix string, n int, setID string, withMeta bool) obj {
		flags := obj{}
		for j := range n {
			f := flag("ENABLED", b.variantsOf([]string{"bool", "string", "int", "float", "object"}[j%5], []string{"a", "b"}), "a",
				obj{{"if", []any{obj{{"==", []any{obj{{"var", "tier"}}, "gold"}}}, "b"}}})
			if withMeta && j%2 == 0 {
				f = append(f, kv{"metadata", append(obj{{"flagOwner", prefix}}, meta[:2+j%len(meta)]...)})
			}
			key := fmt.Sprintf("%s%d", prefix, j)
			if j == 0 {
				key = "shared"
			}
			flags = append(flags, kv{key, f})
			b.flags = append(b.flags, flagInfo{key, []string{"bool", "string", "int", "float", "object"}[j%5], "sources/" + prefix})
		}
		doc := obj{}
		if setID != "" || withMeta {
			m := obj{}
			if setID != "" {
				m = append(m, kv{"flagSetId", setID})
				b.setIDs = append(b.setIDs, setID)
			}
			if withMeta {
				m = append(m, meta...)
			}
			doc = append(doc, kv{"metadata", m})
		}
		return append(doc, kv{"flags", flags})
	}
	variants := [][3]string{
		{"file:./dot.json", "dot.json", "dot"},
		{"file:sub/../up.yaml", "up.yaml", "up"},
		{"file:sub/inner.yml", "sub/inner.yml", "yml"},
		{"file:UPPER.JSON", "UPPER.JSON", "upper"},
		{"file:./sub/./deep.json", "sub/deep.json", "deep"},
		{"file:Mixed.Yaml", "Mixed.Yaml", "mixed"},
	}
	// a subset per scenario, sub/inner.yml always (so that sub/ exists)
	chosen := [][3]string{variants[2]}
	for j, v := range variants {
		if j != 2 && (j+k)%2 == 0 {
			chosen = append(chosen, v)
		}
	}
	for j, v := range chosen {
		set := ""
		if j%2 == 0 {
			set = pick(g, []string{"alpha", "beta"})
		}
		addURI(v[0], v[1], mk(v[2], 3+j%3, set, j%3 != 1))
	}
	if k%2 == 0 { // the same file twice
		b.s.URIs = append(b.s.URIs, chosen[0][0])
	}
	b.setIDs = uniq(b.setIDs)
	seen := map[string]bool{}
	var fl []flagInfo
	for _, f := range b.flags {
		if !seen[f.key] {
			seen[f.key] = true
			fl = append(fl, f)
		}
	}
	b.flags = fl
	b.contexts = []any{obj{{"tier", "gold"}, {"targetingKey", "u"}}, nil}
	for _, ctx := range b.contexts {
		for _, sel := range []string{"", "source=./dot.json", "source=dot.json", "source=sub/../up.yaml", "source=up.yaml", "source=sub/inner.yml",
			"source=UPPER.JSON", "flagSetId=alpha", "flagSetId=beta", "flagSetId=alpha,source=sub/inner.yml"} {
			var h map[string]string
			if sel != "" {
				h = map[string]string{"Flagd-Selector": sel}
			}
			b.bulk("sources/bulk", ctx, h)
		}
	}
	for _, sel := range []string{"source=./dot.json", "source=sub/../up.yaml", "source=./sub/./deep.json", "source=Mixed.Yaml", "source=sub/inner.yml", "./dot.json"} {
		b.add(Request{Cat: "sources/sync-selector", Port: PortSync, Method: "FetchAllFlags", Selector: sel})
	}
}

// bodies: JSON text in requests that decoders treat differently:
// escapes, lone surrogates, huge and odd numbers, deep var paths.
func (b *builder) bodies(i int) {
	v := func(p any) obj { return obj{{"var", p}} }
	flags := obj{
		{"path", flag("ENABLED", obj{{"x", "x"}, {"y", "y"}}, "x", obj{{"cat", []any{v("a.b.c.d.e.f.g.h")}}})},
		{"idx", flag("ENABLED", obj{{"x", "x"}}, "x", obj{{"cat", []any{v("arr.1"), "|", v("arr.-1"), "|", v("arr.10"), "|", v("arr.01"), "|", v("arr.1.0")}}})},
		{"num", flag("ENABLED", obj{{"x", "x"}}, "x", obj{{"cat", []any{v("n"), "|", obj{{"+", []any{v("n"), 0}}}}}})},
		{"str", flag("ENABLED", obj{{"x", "x"}}, "x", obj{{"cat", []any{v("s"), "|", v("k\u00e9y"), "|", v("")}}})},
		{"tk", flag("ENABLED", obj{{"x", "x"}}, "x", obj{{"cat", []any{v("targetingKey"), "|", v("$flagd.flagKey")}}})},
		{"emptyvar", flag("ENABLED", obj{{"x", "x"}}, "x", obj{{"cat", []any{v([]any{}), "|", v(nil), "|", v(1), "|", v([]any{"zz", obj{{"d", 1}}})}}})},
	}
	b.addFile("bodies.json", obj{{"flags", flags}})
	ctxs := []string{
		`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":"deep"}}}}}}}}`,
		`{"a.b.c.d.e.f.g.h":"flat"}`,
		`{"arr":[1,2,3]}`, `{"arr":["a",["b","c"]]}`, `{"arr":{"1":"one","-1":"m"}}`,
		`{"n":1e400}`, `{"n":-1e400}`, `{"n":1e-400}`, `{"n":123456789012345678901234567890}`, `{"n":-0.0}`, `{"n":1E+2}`, `{"n":0.1e1}`,
		`{"s":"\ud800"}`, `{"s":"\udc00x"}`, `{"s":"\u0000"}`, `{"s":"\u00e9\u0301"}`, `{"s":"\/slash"}`, `{"s":"<>&\u2028"}`,
		`{"k\u00e9y":"escaped-key"}`, `{"kéy":"raw-key"}`, `{"":"empty-key"}`,
		`{"targetingKey":"\ud83d\ude00"}`, `{"targetingKey":"a\u0000b"}`, `{"targetingKey":"` + strings.Repeat("x", 5000) + `"}`,
	}
	keys := []string{"path", "idx", "num", "str", "tk", "emptyvar"}
	for ci, c := range ctxs {
		for ki, k := range keys {
			if (ci+ki)%2 == 1 && ki != 4 {
				continue
			}
			svc := evalServices[(ci+ki)%len(evalServices)]
			b.add(Request{Cat: "bodies/" + k, Port: PortEval, Method: "POST", Path: "/" + svc + "/ResolveString", Header: jsonHeader(nil), Body: `{"flagKey":"` + k + `","context":` + c + `}`})
			b.add(Request{Cat: "bodies/" + k + "/ofrep", Port: PortOFREP, Method: "POST", Path: "/ofrep/v1/evaluate/flags/" + k, Header: jsonHeader(nil), Body: `{"context":` + c + `}`})
		}
		if ci%4 == 0 {
			b.add(Request{Cat: "bodies/resolve-all", Port: PortEval, Method: "POST", Path: "/flagd.evaluation.v1.Service/ResolveAll", Header: jsonHeader(nil), Body: `{"context":` + c + `}`})
		}
	}
	for _, body := range []string{`{"flagKey":"\u0070ath"}`, `{"flagKey":"path\u0000"}`, `{"flagKey":"\ud800"}`, `{"flagKey":"path","flagKey":"num"}`,
		`{"flagKey":"path","context":{"n":1,"n":2}}`, `{"flagKey":"num","context":{"n":1e400}}`, `{"flagKey":null}`, `{"flagKey":1}`, `{"flagKey":"path","context":{}}garbage`} {
		b.add(Request{Cat: "bodies/request", Port: PortEval, Method: "POST", Path: "/flagd.evaluation.v2.Service/ResolveString", Header: jsonHeader(nil), Body: body})
	}
	_ = i
}
