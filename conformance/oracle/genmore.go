package oracle

import (
	"fmt"
	"net/url"
	"strings"
)

// docs: odd documents flagd still loads (or rejects), one oddity per
// flag, a few documents per scenario, some YAML.
func (b *builder) docs(i int) {
	g := b.g
	nfiles := 2 + g.intn(3)
	for fi := range nfiles {
		flags := obj{}
		prefix := fmt.Sprintf("d%d-", fi)
		for j := range 7 + g.intn(5) {
			key := fmt.Sprintf("%s%02d", prefix, j)
			if g.chance(0.08) {
				key = prefix + pick(g, []string{"with space", "ünï😀", "a/b", "a.b", "a%2Fb", "UPPER", "x?y", "a#b", strings.Repeat("k", 300)})
			}
			f, kind, what := b.oddFlag()
			flags = append(flags, kv{key, f})
			b.flags = append(b.flags, flagInfo{key, kind, "docs/" + what})
			if g.chance(0.08) {
				// the same key again in the same object: the later one counts in Go
				f2, kind2, _ := b.oddFlag()
				flags = append(flags, kv{key, f2})
				b.flags = append(b.flags, flagInfo{key, kind2, "docs/duplicate-key"})
			}
		}
		doc := obj{}
		if g.chance(0.7) {
			doc = append(doc, kv{"$schema", pick(g, []any{schemaURL, "https://flagd.dev/schema/v0/other.json", 1})})
		}
		if g.chance(0.6) {
			md := b.oddMetadata()
			if g.chance(0.5) {
				id := pick(g, []string{"setA", "setB", "", "ünï"})
				md = append(md, kv{"flagSetId", id})
				b.setIDs = append(b.setIDs, id)
			}
			doc = append(doc, kv{pick(g, []string{"metadata", "metadata", "metadata", "Metadata"}), md})
		}
		flagsField := "flags"
		if g.chance(0.12) {
			flagsField = pick(g, []string{"Flags", "FLAGS"})
		}
		doc = append(doc, kv{flagsField, flags})
		if g.chance(0.2) {
			doc = append(doc, kv{pick(g, []string{"extra", "version", "$evaluators", "$Evaluators"}), pick(g, []any{1, obj{}, obj{{"e", obj{{"==", []any{1, 1}}}}}, "x"})})
		}
		ext := ".json"
		if g.chance(0.35) {
			ext = pick(g, []string{".yaml", ".yml"})
		}
		b.addFile(fmt.Sprintf("docs/d%d%s", fi, ext), doc)
	}
	b.defaultContexts(2)
	b.contexts = append(b.contexts, obj{{"targetingKey", "alice"}, {"x", 1}})
}

func (b *builder) oddMetadata() obj {
	g := b.g
	md := obj{}
	for range g.intn(4) {
		md = append(md, kv{pick(g, []string{"version", "team", "n", "f", "b", "nil", "arr", "obj", "owner"}),
			pick(g, []any{"1", 2, 1.5, true, nil, []any{1}, obj{{"a", 1}}, "", raw("1e21"), raw("12345678901234567890")})})
	}
	return md
}

// oddFlag is a flag with one oddity; it returns the flag, the kind to
// resolve it as and the oddity's name.
func (b *builder) oddFlag() (obj, string, string) {
	g := b.g
	variants := func(kind string) obj { return b.variantsOf(kind, []string{"on", "off", "a"}) }
	kind := pick(g, []string{"bool", "string", "int", "float", "object"})
	base := func() obj { return flag("ENABLED", variants(kind), "on", nil) }
	switch what := pick(g, []string{"case-fields", "case-state", "both-cases", "null-metadata", "metadata", "flagset-metadata",
		"default-variant", "variants", "state", "targeting", "extra-field", "mixed-variants", "null-variant-value",
		"targeting-result", "plain", "disabled", "missing-default", "numeric-values"}); what {
	case "case-fields":
		names := [][]string{{"State", "Variants", "DefaultVariant", "Targeting"}, {"STATE", "VARIANTS", "DEFAULTVARIANT", "TARGETING"},
			{"state", "variants", "defaultvariant", "targeting"}, {"state", "Variants", "defaultVariant", "Targeting"}}[g.intn(4)]
		return obj{{names[0], "ENABLED"}, {names[1], variants(kind)}, {names[2], "off"},
			{names[3], obj{{"if", []any{obj{{"==", []any{obj{{"var", "x"}}, 1}}}, "a", nil}}}}}, kind, what
	case "case-state":
		return obj{{"state", pick(g, []any{"enabled", "Enabled", "ENABLED ", "DISABLED", "disabled", "", nil, 1})},
			{"variants", variants(kind)}, {"defaultVariant", "on"}}, kind, what
	case "both-cases":
		return obj{{"state", "ENABLED"}, {"State", "DISABLED"}, {"variants", variants(kind)}, {"defaultVariant", "on"}, {"DefaultVariant", "off"}}, kind, what
	case "null-metadata":
		return append(base(), kv{"metadata", obj{{"a", nil}, {"b", 1}, {"c", nil}}}), kind, what
	case "metadata":
		return append(base(), kv{pick(g, []string{"metadata", "Metadata"}), b.oddMetadata()}), kind, what
	case "flagset-metadata":
		id := pick(g, []string{"setA", "setB", "flag-level"})
		b.setIDs = append(b.setIDs, id)
		return append(base(), kv{"metadata", obj{{"flagSetId", id}, {"version", pick(g, []any{"2", 2, nil})}}}), kind, what
	case "default-variant":
		return flag("ENABLED", variants(kind), pick(g, []any{nil, "", "nope", 1, true, "ON", []any{"on"}}), nil).withDefaultPresent(), kind, what
	case "missing-default":
		return obj{{"state", "ENABLED"}, {"variants", variants(kind)}, {"targeting", pick(g, []any{nil, obj{{"if", []any{obj{{"var", "x"}}, "on"}}}})}}, kind, what
	case "variants":
		return flag("ENABLED", pick(g, []obj{{}, {{"on", nil}}, {{"null", true}, {"1", false}}, {{"", "empty"}, {"on", "x"}}}), pick(g, []any{"on", "null", "1", ""}), nil), kind, what
	case "state":
		return flag(pick(g, []string{"DISABLED", "ENABLED", "OFF", "DEPRECATED"}), variants(kind), "on", nil), kind, what
	case "disabled":
		return flag("DISABLED", variants(kind), "on", obj{{"if", []any{true, "off", "on"}}}), kind, what
	case "targeting":
		return flag("ENABLED", variants(kind), "on", pick(g, []any{obj{}, "on", true, []any{}, 1, obj{{"var", "x"}}, obj{{"unknownOp", []any{1}}}})), kind, what
	case "targeting-result":
		// targeting that returns non-string, unknown or null variants
		t := pick(g, []any{obj{{"if", []any{true, nil}}}, obj{{"if", []any{true, 1}}}, obj{{"if", []any{true, true}}}, obj{{"if", []any{true, "nope"}}},
			obj{{"if", []any{true, []any{"on"}}}}, obj{{"if", []any{true, obj{{"a", 1}}}}}, obj{{"var", "x"}}, obj{{"if", []any{obj{{"var", "x"}}, "on", nil}}},
			obj{{"if", []any{true, 1.5}}}, obj{{"if", []any{true, ""}}}})
		return flag("ENABLED", b.variantsOf(kind, []string{"on", "off", "1", "true", "null", ""}), "off", t), kind, what
	case "extra-field":
		return append(base(), kv{pick(g, []string{"description", "foo", "key", "source", "flagSetId", "priority"}), pick(g, []any{"x", 1, nil, obj{}})}), kind, what
	case "mixed-variants":
		return flag("ENABLED", b.variantsOf("mixed", []string{"on", "off", "a"}), "on", nil), pick(g, []string{"bool", "string", "int", "float", "object"}), what
	case "null-variant-value":
		return flag("ENABLED", obj{{"on", nil}, {"off", false}}, pick(g, []any{"on", "off"}), nil), "bool", what
	case "numeric-values":
		return flag("ENABLED", obj{{"on", pick(g, []any{raw("1.0"), raw("1e2"), raw("12345678901234567890"), raw("-0"), 1.5, raw("9007199254740993"), raw("1e308")})}, {"off", 0}}, "on", nil), pick(g, []string{"int", "float"}), what
	default:
		return base(), kind, "plain"
	}
}

// withDefaultPresent keeps a defaultVariant member even when it is null.
func (o obj) withDefaultPresent() obj {
	for _, m := range o {
		if m.K == "defaultVariant" {
			return o
		}
	}
	return append(o, kv{"defaultVariant", nil})
}

// sets: several documents and flag sets, the same keys in several of
// them (also with different types), metadata at set and flag level, and
// every request with selectors.
func (b *builder) sets(i int) {
	g := b.g
	keys := []string{"shared", "shared-typed", "only", "meta", "tgt"}
	ids := []string{"setA", "setB", "setC"}
	nfiles := 2 + g.intn(3)
	for fi := range nfiles {
		id := pick(g, ids)
		var docMeta obj
		if g.chance(0.8) {
			docMeta = obj{{"flagSetId", id}, {"version", fmt.Sprint(fi)}}
			b.setIDs = append(b.setIDs, id)
		} else if g.chance(0.5) {
			docMeta = obj{{"version", "v"}, {"team", "t"}}
		}
		flags := obj{}
		for _, k := range keys {
			if k == "only" {
				k = fmt.Sprintf("only-%d", fi)
			}
			kind := "bool"
			if k == "shared-typed" {
				kind = []string{"bool", "string", "int", "object"}[fi%4]
			} else if g.chance(0.3) {
				kind = pick(g, []string{"string", "int", "float"})
			}
			f := flag("ENABLED", b.variantsOf(kind, []string{"on", "off"}), pick(g, []string{"on", "off"}), nil)
			if k == "tgt" {
				f = flag("ENABLED", b.variantsOf(kind, []string{"on", "off"}), "off",
					obj{{"if", []any{obj{{"==", []any{obj{{"var", "$flagd.flagKey"}}, "tgt"}}}, "on", "off"}}})
			}
			if k == "meta" || g.chance(0.3) {
				md := obj{{"owner", fmt.Sprintf("f%d", fi)}}
				if g.chance(0.5) {
					fid := pick(g, ids)
					md = append(md, kv{"flagSetId", fid})
					b.setIDs = append(b.setIDs, fid)
				}
				if g.chance(0.3) {
					md = append(md, kv{"version", nil})
				}
				f = append(f, kv{"metadata", md})
			}
			if g.chance(0.15) {
				f[0].V = "DISABLED"
			}
			flags = append(flags, kv{k, f})
			b.flags = append(b.flags, flagInfo{k, kind, "sets/flag"})
		}
		doc := obj{{"$schema", schemaURL}}
		if docMeta != nil {
			doc = append(doc, kv{"metadata", docMeta})
		}
		doc = append(doc, kv{"flags", flags})
		ext := pick(g, []string{".json", ".json", ".yaml"})
		dir := pick(g, []string{"", "sets/", "sets/sub/", "./sets/"}) // flagd names a source by its path as given
		b.addFile(fmt.Sprintf("%sf%d%s", dir, fi, ext), doc)
	}
	b.setIDs = uniq(b.setIDs)
	b.flags = uniqFlags(b.flags)
	b.contexts = append(b.contexts, obj{{"targetingKey", "alice"}}, nil)
	// every flag and the bulk answers under every selector, over the
	// evaluation and OFREP ports
	for _, sel := range b.selectors() {
		hdr := map[string]string{pick(g, []string{"Flagd-Selector", "flagd-selector", "FLAGD-SELECTOR"}): sel}
		for _, f := range b.flags {
			if g.chance(0.5) {
				b.resolve(flagInfo{f.key, f.kind, "sets/selector"}, obj{}, hdr)
			}
		}
		b.bulk("sets/selector", obj{}, hdr)
		b.add(Request{Cat: "sets/selector/sync-header", Port: PortSync, Method: "FetchAllFlags", Header: map[string]string{"flagd-selector": sel}})
		b.add(Request{Cat: "sets/selector/stream", Port: PortEval, Method: "POST", Path: "/flagd.evaluation.v1.Service/EventStream",
			Header: map[string]string{"Content-Type": "application/connect+json", "Flagd-Selector": sel}, Body: "{}", Stream: true})
	}
}

func uniqFlags(fs []flagInfo) []flagInfo {
	seen := map[string]bool{}
	var out []flagInfo
	for _, f := range fs {
		if !seen[f.key] {
			seen[f.key] = true
			out = append(out, f)
		}
	}
	return out
}

// http: a plain document and malformed requests: methods, paths, content
// types, bodies, headers.
func (b *builder) http(i int) {
	g := b.g
	b.addFile("flags.json", obj{{"$schema", schemaURL}, {"metadata", obj{{"flagSetId", "setA"}}}, {"flags", obj{
		{"b", flag("ENABLED", boolVariants, "on", obj{{"if", []any{obj{{"==", []any{obj{{"var", "x"}}, 1}}}, "off", nil}}})},
		{"s", flag("ENABLED", obj{{"a", "A"}, {"b", "B"}}, "a", nil)},
		{"i", flag("ENABLED", obj{{"one", 1}, {"two", 2}}, "one", nil)},
		{"f", flag("ENABLED", obj{{"half", 0.5}, {"big", raw("1e21")}}, "half", nil)},
		{"o", flag("ENABLED", obj{{"x", obj{{"k", "v"}}}, {"y", []any{1, 2}}}, "x", nil)},
		{"a/b", flag("ENABLED", boolVariants, "on", nil)},
		{"with space", flag("ENABLED", boolVariants, "off", nil)},
		{"off", flag("DISABLED", boolVariants, "on", nil)},
	}}})
	b.setIDs = []string{"setA"}
	b.flags = []flagInfo{{"b", "bool", "http/valid"}, {"s", "string", "http/valid"}, {"i", "int", "http/valid"}, {"f", "float", "http/valid"}, {"o", "object", "http/valid"}}
	b.contexts = []any{obj{{"x", 1}}}

	type target struct {
		port, path, key string
	}
	evalPaths := func(svc, m string) string { return "/" + svc + "/" + m }
	var targets []target
	for _, svc := range evalServices {
		for _, m := range append(append([]string{}, typedMethods...), "ResolveAll") {
			if svc == "flagd.evaluation.v2.Service" && m == "ResolveAll" {
				continue
			}
			targets = append(targets, target{PortEval, evalPaths(svc, m), "b"})
		}
	}
	targets = append(targets, target{PortOFREP, "/ofrep/v1/evaluate/flags/b", ""}, target{PortOFREP, "/ofrep/v1/evaluate/flags", ""})
	goodBody := func(t target) string {
		if t.port == PortOFREP {
			return `{"context":{"x":1}}`
		}
		if strings.HasSuffix(t.path, "ResolveAll") {
			return `{"context":{"x":1}}`
		}
		key := "b"
		switch {
		case strings.HasSuffix(t.path, "String"):
			key = "s"
		case strings.HasSuffix(t.path, "Int"):
			key = "i"
		case strings.HasSuffix(t.path, "Float"):
			key = "f"
		case strings.HasSuffix(t.path, "Object"):
			key = "o"
		}
		return `{"flagKey":"` + key + `","context":{"x":1}}`
	}
	req := func(cat string, t target, method, path string, hdr map[string]string, body string) {
		if _, err := requestURL(1, path); err != nil {
			return // not sendable as it is
		}
		if len(hdr) == 0 {
			hdr = nil
		}
		b.add(Request{Cat: cat, Port: t.port, Method: method, Path: path, Header: hdr, Body: body})
	}
	// methods
	for _, t := range targets {
		for _, m := range []string{"GET", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"} {
			if g.chance(0.4) {
				req("http/method", t, m, t.path, jsonHeader(nil), pick(g, []string{"", goodBody(t)}))
			}
		}
	}
	// paths
	for _, t := range targets {
		for _, p := range oddPaths(t.path) {
			if g.chance(0.35) {
				req("http/path", t, pick(g, []string{"POST", "POST", "GET"}), p, jsonHeader(nil), goodBody(t))
			}
		}
	}
	for _, p := range []string{"/", "//", "/flagd.evaluation.v1.Service", "/flagd.evaluation.v1.Service/", "/flagd.evaluation.v2.Service/",
		"/schema.v1.Service/", "/flagd.evaluation.v2.Service/ResolveAll", "/schema.v1.Service/EventStream", "/unknown.v1.Service/ResolveBoolean", "/flagd.evaluation.v1.Service/Unknown", "/flagd.evaluation.v3.Service/ResolveBoolean",
		"/grpc.health.v1.Health/Check", "/flagd.sync.v1.FlagSyncService/FetchAllFlags", "/flagd.evaluation.v1.Service/ResolveBoolean?x=1",
		"/ofrep/v1/evaluate/flags/b?x=1", "/index.html", "/metrics", "/healthz", "/readyz", "/ofrep", "/ofrep/v1/evaluate/flag/b", "/ofrep/v1/configuration"} {
		port := PortEval
		if strings.HasPrefix(p, "/ofrep") || g.chance(0.3) {
			port = PortOFREP
		}
		for _, m := range []string{"GET", "POST"} {
			req("http/path", target{port: port}, m, p, jsonHeader(nil), `{"flagKey":"b"}`)
		}
	}
	// content types
	for _, t := range targets {
		for _, ct := range []string{"", "text/plain", "application/json; charset=utf-8", "application/JSON", "application/json;charset=latin1",
			"application/proto", "application/connect+json", "application/x-www-form-urlencoded", "application/grpc", "application/grpc-web+json",
			"application/json, text/plain", "*/*", "application/vnd.api+json", "application/protobuf"} {
			if g.chance(0.25) {
				h := map[string]string{}
				if ct != "" {
					h["Content-Type"] = ct
				}
				req("http/content-type", t, "POST", t.path, h, goodBody(t))
			}
		}
	}
	// bodies
	long := strings.Repeat("k", 5000)
	for _, t := range targets {
		bodies := []string{"", "{", "null", "[]", `"str"`, "1", `{"flagKey":1}`, `{"flagKey":null}`, `{"flagKey":"b","context":"str"}`,
			`{"flagKey":"b","context":[]}`, `{"flagKey":"b","context":null}`, `{"flagKey":"b","extra":1}`, `{"flag_key":"b"}`, `{"FlagKey":"b"}`,
			`{"flagKey":"b","flagKey":"s"}`, "\ufeff{\"flagKey\":\"b\"}", `{"flagKey":"b"}x`, `{"flagKey":"b"} `, "{}", `{"context":{"x":1}}`,
			`{"flagKey":"` + long[:600] + `"}`, `{"flagKey":"b","context":{"x":1e400}}`, `{"flagKey":"b","context":{"x":12345678901234567890}}`,
			`{"flagKey":"b","context":` + strings.Repeat(`{"a":`, 120) + "1" + strings.Repeat("}", 120) + `}`,
			`{"flagKey":"b","context":{"targetingKey":1}}`, `{"flagKey":"b","context":{"":1}}`, `{"flagKey":"b","context":{"x":"\ud800"}}`,
			`{"context":{"x":1},"flags":["b"]}`, `{"context":{"targetingKey":null}}`, `{"flagKey":"b","context":{"x":NaN}}`, "{\"flagKey\":\"b\"\x00}",
			`{'flagKey':'b'}`, `{"flagKey":"b",}`, "\n\t{\"flagKey\" : \"b\"}\n"}
		for _, body := range bodies {
			if g.chance(0.3) {
				req("http/body", t, "POST", t.path, jsonHeader(nil), body)
			}
		}
	}
	// headers
	for _, t := range targets {
		for _, h := range []map[string]string{
			{"Connect-Protocol-Version": "1"}, {"Connect-Protocol-Version": "2"}, {"Connect-Timeout-Ms": "0"}, {"Connect-Timeout-Ms": "abc"},
			{"Connect-Timeout-Ms": "100000"}, {"Accept-Encoding": "gzip"}, {"Content-Encoding": "gzip"}, {"Content-Encoding": "br"},
			{"Origin": "http://example.com"}, {"Origin": "null"}, {"Accept": "text/html"}, {"Accept": "application/proto"},
			{"Flagd-Selector": "flagSetId=setA"}, {"Flagd-Selector": "source=flags.json"}, {"Flagd-Selector": "source=file:flags.json"},
			{"Flagd-Selector": "flags.json"}, {"Flagd-Selector": "flagSetId=nope"}, {"Flagd-Selector": "nonsense"}, {"Flagd-Selector": "flagSetId=setA,source=flags.json"},
			{"Flagd-Selector": ""}, {"Grpc-Timeout": "1S"}, {"Te": "trailers"}, {"X-Long": strings.Repeat("h", 600)}, {"Authorization": "Bearer x"},
		} {
			if g.chance(0.3) {
				req("http/header", t, "POST", t.path, jsonHeader(h), goodBody(t))
			}
		}
		// CORS preflight
		if g.chance(0.5) {
			req("http/cors-preflight", t, "OPTIONS", t.path, map[string]string{"Origin": "http://example.com", "Access-Control-Request-Method": "POST",
				"Access-Control-Request-Headers": pick(g, []string{"content-type", "content-type,flagd-selector", "x-custom", "connect-protocol-version"})}, "")
		}
	}
	// Connect GET (unary over GET with a query)
	for _, t := range targets[:6] {
		q := url.Values{"encoding": {"json"}, "message": {goodBody(t)}}
		req("http/connect-get", t, "GET", t.path+"?"+q.Encode(), nil, "")
		req("http/connect-get", t, "GET", t.path+"?encoding=json&message=%7B%7D&connect=v1", nil, "")
	}
	// over-long keys
	for _, n := range []int{256, 1024, 4000} {
		k := strings.Repeat("x", n)
		req("http/long-key", target{port: PortOFREP}, "POST", "/ofrep/v1/evaluate/flags/"+k, jsonHeader(nil), "{}")
		req("http/long-key", target{port: PortEval}, "POST", "/flagd.evaluation.v1.Service/ResolveBoolean", jsonHeader(nil), `{"flagKey":"`+k+`"}`)
	}
	// OFREP keys needing escapes
	for _, k := range []string{"a%2Fb", "a/b", "with%20space", "with space", "%62", "b%00", "%", "b;x", "..", ".", "%2E%2E"} {
		p := "/ofrep/v1/evaluate/flags/" + k
		if _, err := requestURL(1, p); err != nil {
			continue
		}
		req("http/ofrep-key", target{port: PortOFREP}, "POST", p, jsonHeader(nil), "{}")
	}
	// event streams, malformed
	for _, svc := range evalServices {
		st := func(hdr map[string]string, body string, stream bool) {
			b.add(Request{Cat: "http/stream", Port: PortEval, Method: "POST", Path: "/" + svc + "/EventStream", Header: hdr, Body: body, Stream: stream})
		}
		st(map[string]string{"Content-Type": "application/json"}, "{}", false)
		st(map[string]string{"Content-Type": "application/connect+json"}, "", false)
		st(map[string]string{"Content-Type": "application/connect+json"}, "{", true)
		st(map[string]string{"Content-Type": "application/connect+json", "Flagd-Selector": "flagSetId=setA"}, "{}", true)
		st(map[string]string{"Content-Type": "application/connect+json"}, `{"x":1}`, true)
	}
	// management port
	for _, p := range []string{"/healthz", "/readyz", "/", "/healthz/", "/readyz?x=1", "/nope", "//healthz"} {
		for _, m := range []string{"GET", "POST", "HEAD"} {
			req("http/management", target{port: PortMgmt}, m, p, nil, "")
		}
	}
	_ = i
}

// oddPaths are unclean variants of p.
func oddPaths(p string) []string {
	i := strings.LastIndex(p, "/")
	dir, last := p[:i], p[i+1:]
	return []string{
		"/" + p, dir + "//" + last, dir + "/./" + last, p + "/", dir + "%2F" + last, dir + "/../" + dir[strings.LastIndex(dir, "/")+1:] + "/" + last,
		strings.ToLower(p), strings.ToUpper(p[:2]) + p[2:], p + "/x", dir + "/" + strings.ToLower(last), "/." + p, p + "?", p + "#frag",
	}
}
