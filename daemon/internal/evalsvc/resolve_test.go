package evalsvc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/evaluator"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
	schemav1 "github.com/vexilhq/vexil/schemas/gen/schema/v1"
	"github.com/vexilhq/vexil/schemas/gen/schema/v1/schemav1connect"
)

// resolver calls one version's Resolve<kind> with a connect-go client.
type resolver func(ctx context.Context, kind evaluator.Kind, key string, evalCtx *structpb.Struct, h http.Header) (proto.Message, error)

// call makes one unary call with the given headers.
func call[Req, Resp any](ctx context.Context, fn func(context.Context, *connect.Request[Req]) (*connect.Response[Resp], error), msg *Req, h http.Header) (proto.Message, error) {
	req := connect.NewRequest(msg)
	for k, vs := range h {
		req.Header()[k] = vs
	}
	resp, err := fn(ctx, req)
	if err != nil {
		return nil, err
	}
	return any(resp.Msg).(proto.Message), nil
}

func v1Resolver(c evaluationv1connect.ServiceClient) resolver {
	return func(ctx context.Context, kind evaluator.Kind, key string, ec *structpb.Struct, h http.Header) (proto.Message, error) {
		switch kind {
		case evaluator.KindBool:
			return call(ctx, c.ResolveBoolean, &evaluationv1.ResolveBooleanRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindString:
			return call(ctx, c.ResolveString, &evaluationv1.ResolveStringRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindInt:
			return call(ctx, c.ResolveInt, &evaluationv1.ResolveIntRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindFloat:
			return call(ctx, c.ResolveFloat, &evaluationv1.ResolveFloatRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindObject:
			return call(ctx, c.ResolveObject, &evaluationv1.ResolveObjectRequest{FlagKey: key, Context: ec}, h)
		}
		panic(kind)
	}
}

func v2Resolver(c evaluationv2connect.ServiceClient) resolver {
	return func(ctx context.Context, kind evaluator.Kind, key string, ec *structpb.Struct, h http.Header) (proto.Message, error) {
		switch kind {
		case evaluator.KindBool:
			return call(ctx, c.ResolveBoolean, &evaluationv2.ResolveBooleanRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindString:
			return call(ctx, c.ResolveString, &evaluationv2.ResolveStringRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindInt:
			return call(ctx, c.ResolveInt, &evaluationv2.ResolveIntRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindFloat:
			return call(ctx, c.ResolveFloat, &evaluationv2.ResolveFloatRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindObject:
			return call(ctx, c.ResolveObject, &evaluationv2.ResolveObjectRequest{FlagKey: key, Context: ec}, h)
		}
		panic(kind)
	}
}

func schemaResolver(c schemav1connect.ServiceClient) resolver {
	return func(ctx context.Context, kind evaluator.Kind, key string, ec *structpb.Struct, h http.Header) (proto.Message, error) {
		switch kind {
		case evaluator.KindBool:
			return call(ctx, c.ResolveBoolean, &schemav1.ResolveBooleanRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindString:
			return call(ctx, c.ResolveString, &schemav1.ResolveStringRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindInt:
			return call(ctx, c.ResolveInt, &schemav1.ResolveIntRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindFloat:
			return call(ctx, c.ResolveFloat, &schemav1.ResolveFloatRequest{FlagKey: key, Context: ec}, h)
		case evaluator.KindObject:
			return call(ctx, c.ResolveObject, &schemav1.ResolveObjectRequest{FlagKey: key, Context: ec}, h)
		}
		panic(kind)
	}
}

// answer renders what a call returned: the response's JSON, or the error
// as "error <code>: <message>".
func answer(t *testing.T, msg proto.Message, err error) string {
	t.Helper()
	if err != nil {
		var cerr *connect.Error
		if !errors.As(err, &cerr) {
			t.Fatalf("not a Connect error: %v", err)
		}
		return fmt.Sprintf("error %s: %s", cerr.Code(), cerr.Message())
	}
	return jsonOf(t, msg)
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	if m == nil {
		return nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The metadata flags of a.json answer with.
const (
	metaA     = `"metadata":{"flagSetId":"set-a","team":"core"}`
	metaAFlag = `"metadata":{"flagSetId":"set-a","owner":"x","team":"core"}`
)

// resolveCase is one Resolve<kind> call and each version's answer to it:
// the response as JSON, or "error <code>: <message>".
type resolveCase struct {
	name    string
	kind    evaluator.Kind
	key     string
	ctx     map[string]any
	sel     string
	v1      string
	v2      string
	schema1 string // "" means the same as v1
}

var resolveCases = []resolveCase{
	{
		name: "bool static", kind: evaluator.KindBool, key: "bool-flag",
		v1: `{"value":true,"reason":"STATIC","variant":"on",` + metaAFlag + `}`,
		v2: `{"value":true,"reason":"STATIC","variant":"on",` + metaAFlag + `}`,
	},
	{
		name: "bool from the second source, no flag set", kind: evaluator.KindBool, key: "b-only",
		v1: `{"value":false,"reason":"STATIC","variant":"off","metadata":{}}`,
		v2: `{"value":false,"reason":"STATIC","variant":"off","metadata":{}}`,
	},
	{
		name: "disabled", kind: evaluator.KindBool, key: "disabled-flag",
		v1: `{"value":false,"reason":"DISABLED","variant":"",` + metaA + `}`,
		v2: `{"reason":"DISABLED",` + metaA + `}`,
	},
	{
		name: "disabled as a string", kind: evaluator.KindString, key: "disabled-flag",
		v1: `{"value":"","reason":"DISABLED","variant":"",` + metaA + `}`,
		v2: `{"reason":"DISABLED",` + metaA + `}`,
	},
	{
		name: "string default", kind: evaluator.KindString, key: "string-flag",
		v1: `{"value":"A","reason":"DEFAULT","variant":"a",` + metaA + `}`,
		v2: `{"value":"A","reason":"DEFAULT","variant":"a",` + metaA + `}`,
	},
	{
		name: "string targeting match", kind: evaluator.KindString, key: "string-flag", ctx: map[string]any{"user": "bob"},
		v1: `{"value":"B","reason":"TARGETING_MATCH","variant":"b",` + metaA + `}`,
		v2: `{"value":"B","reason":"TARGETING_MATCH","variant":"b",` + metaA + `}`,
	},
	{
		name: "no default variant", kind: evaluator.KindString, key: "no-default",
		v1:      `error not_found: Flag not found`,
		v2:      `{"reason":"DEFAULT",` + metaA + `}`,
		schema1: `{"value":"","reason":"FALLBACK","variant":"",` + metaA + `}`,
	},
	{
		name: "no default variant, targeting chose none", kind: evaluator.KindBool, key: "no-default-targeted",
		v1:      `error not_found: Flag not found`,
		v2:      `{"reason":"DEFAULT",` + metaA + `}`,
		schema1: `{"value":false,"reason":"FALLBACK","variant":"",` + metaA + `}`,
	},
	{
		name: "no default variant, targeting chose one", kind: evaluator.KindString, key: "no-default-targeted", ctx: map[string]any{"pick": true},
		v1: `{"value":"A","reason":"TARGETING_MATCH","variant":"a",` + metaA + `}`,
		v2: `{"value":"A","reason":"TARGETING_MATCH","variant":"a",` + metaA + `}`,
	},
	{
		name: "int64 beyond a double's integers", kind: evaluator.KindInt, key: "int-flag",
		v1: `{"value":"9007199254740991","reason":"STATIC","variant":"big",` + metaA + `}`,
		v2: `{"value":"9007199254740991","reason":"STATIC","variant":"big",` + metaA + `}`,
	},
	{
		name: "float as int", kind: evaluator.KindInt, key: "float-flag",
		v1: `{"value":"3","reason":"STATIC","variant":"pi",` + metaA + `}`,
		v2: `{"value":"3","reason":"STATIC","variant":"pi",` + metaA + `}`,
	},
	{
		name: "float", kind: evaluator.KindFloat, key: "float-flag",
		v1: `{"value":3.14,"reason":"STATIC","variant":"pi",` + metaA + `}`,
		v2: `{"value":3.14,"reason":"STATIC","variant":"pi",` + metaA + `}`,
	},
	{
		name: "disabled as an int", kind: evaluator.KindInt, key: "disabled-flag",
		v1: `{"value":"0","reason":"DISABLED","variant":"",` + metaA + `}`,
		v2: `{"reason":"DISABLED",` + metaA + `}`,
	},
	{
		name: "object", kind: evaluator.KindObject, key: "object-flag",
		v1: `{"value":{"k":[1,"two",null]},"reason":"STATIC","variant":"x",` + metaA + `}`,
		v2: `{"value":{"k":[1,"two",null]},"reason":"STATIC","variant":"x",` + metaA + `}`,
	},
	{
		name: "disabled as an object", kind: evaluator.KindObject, key: "disabled-flag",
		v1: `{"value":{},"reason":"DISABLED","variant":"",` + metaA + `}`,
		v2: `{"reason":"DISABLED",` + metaA + `}`,
	},
	{
		name: "flag not found", kind: evaluator.KindBool, key: "absent",
		v1: `error not_found: Flag not found`,
		v2: `error not_found: Flag not found`,
	},
	{
		name: "type mismatch", kind: evaluator.KindString, key: "bool-flag",
		v1: `error invalid_argument: Type mismatch error`,
		v2: `error invalid_argument: Type mismatch error`,
	},
	{
		name: "type mismatch of a targeted variant", kind: evaluator.KindFloat, key: "wrong-type",
		v1: `error invalid_argument: Type mismatch error`,
		v2: `error invalid_argument: Type mismatch error`,
	},
	{
		name: "parse error", kind: evaluator.KindObject, key: "bad-rule",
		v1: `error data_loss: Error parsing input or configuration`,
		v2: `error data_loss: Error parsing input or configuration`,
	},
	{
		name: "general error", kind: evaluator.KindBool, key: "missing-variant",
		v1: `error unknown: General error`,
		v2: `error unknown: General error`,
	},
	{
		name: "flag set selector", kind: evaluator.KindBool, key: "bool-flag", sel: "flagSetId=set-a",
		v1: `{"value":true,"reason":"STATIC","variant":"on",` + metaAFlag + `}`,
		v2: `{"value":true,"reason":"STATIC","variant":"on",` + metaAFlag + `}`,
	},
	{
		name: "flag outside the selected flag set", kind: evaluator.KindBool, key: "b-only", sel: "flagSetId=set-a",
		v1: `error not_found: Flag not found`,
		v2: `error not_found: Flag not found`,
	},
	{
		name: "source selector", kind: evaluator.KindBool, key: "b-only", sel: "source=b.json",
		v1: `{"value":false,"reason":"STATIC","variant":"off","metadata":{"source":"b.json"}}`,
		v2: `{"value":false,"reason":"STATIC","variant":"off","metadata":{"source":"b.json"}}`,
	},
	{
		name: "bare source selector", kind: evaluator.KindBool, key: "bool-flag", sel: "a.json",
		v1: `{"value":true,"reason":"STATIC","variant":"on","metadata":{"flagSetId":"set-a","owner":"x","source":"a.json","team":"core"}}`,
		v2: `{"value":true,"reason":"STATIC","variant":"on","metadata":{"flagSetId":"set-a","owner":"x","source":"a.json","team":"core"}}`,
	},
	{
		name: "invalid selector", kind: evaluator.KindBool, key: "bool-flag", sel: "color=blue",
		v1: `error invalid_argument: invalid selector key "color", valid keys: "flagSetId", "source"`,
		v2: `error invalid_argument: invalid selector key "color", valid keys: "flagSetId", "source"`,
	},
}

// TestResolve calls every Resolve RPC of the three services over each
// protocol.
func TestResolve(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	ctx := testContext(t)
	for _, p := range protocols(t) {
		versions := []struct {
			name string
			r    resolver
			want func(resolveCase) string
		}{
			{"v1", v1Resolver(evaluationv1connect.NewServiceClient(p.client, srv.URL, p.opts...)), func(c resolveCase) string { return c.v1 }},
			{"v2", v2Resolver(evaluationv2connect.NewServiceClient(p.client, srv.URL, p.opts...)), func(c resolveCase) string { return c.v2 }},
			{"schema.v1", schemaResolver(schemav1connect.NewServiceClient(p.client, srv.URL, p.opts...)), func(c resolveCase) string {
				if c.schema1 != "" {
					return c.schema1
				}
				return c.v1
			}},
		}
		for _, v := range versions {
			for _, c := range resolveCases {
				t.Run(p.name+"/"+v.name+"/"+c.name, func(t *testing.T) {
					h := http.Header{}
					if c.sel != "" {
						h.Set("Flagd-Selector", c.sel)
					}
					msg, err := v.r(ctx, c.kind, c.key, mustStruct(t, c.ctx), h)
					if got, want := answer(t, msg, err), v.want(c); got != want {
						t.Errorf("%s %s:\ngot  %s\nwant %s", c.kind, c.key, got, want)
					}
				})
			}
		}
		// The server saw the protocol the client was meant to speak.
		for _, prefix := range []string{"/flagd.evaluation.v1.Service/", "/flagd.evaluation.v2.Service/", "/schema.v1.Service/"} {
			reqs := srv.requests(prefix)
			if len(reqs) == 0 {
				t.Fatalf("%s: no request to %s", p.name, prefix)
			}
			for _, r := range reqs {
				if r.protoMajor != p.protoMajor || r.contentType != p.contentType {
					t.Fatalf("%s: a request to %s came as HTTP/%d %s", p.name, r.path, r.protoMajor, r.contentType)
				}
			}
		}
		srv.mu.Lock()
		srv.seen = nil
		srv.mu.Unlock()
	}
}

// TestContextMerge checks the evaluation context's precedence: request,
// then static context, then mapped headers (flagd's
// MergeContextsAndHeaders); schema.v1 ignores the header mappings.
func TestContextMerge(t *testing.T) {
	srv := startServer(t, evalsvc.Config{Resolver: newResolver(newStore(t),
		map[string]any{"pick": "static"},
		map[string]string{"x-pick": "pick", "X-User": "user"}, nil)})
	plain := startServer(t, evalsvc.Config{})
	ctx := testContext(t)
	client := h2cClient(t)
	opts := connect.WithGRPC()
	v1 := v1Resolver(evaluationv1connect.NewServiceClient(client, srv.URL, opts))
	v2 := v2Resolver(evaluationv2connect.NewServiceClient(client, srv.URL, opts))
	s1 := schemaResolver(schemav1connect.NewServiceClient(client, srv.URL, opts))
	plainV1 := v1Resolver(evaluationv1connect.NewServiceClient(client, plain.URL, opts))

	variant := func(r resolver, key string, ec map[string]any, h http.Header) string {
		t.Helper()
		msg, err := r(ctx, evaluator.KindString, key, mustStruct(t, ec), h)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return msg.ProtoReflect().Get(msg.ProtoReflect().Descriptor().Fields().ByName("value")).String()
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	req := map[string]any{"pick": "req"}
	cases := []struct {
		name string
		r    resolver
		key  string
		ctx  map[string]any
		h    http.Header
		want string
	}{
		{"request context alone", plainV1, "ctx-flag", req, nil, "req"},
		{"static over request", v1, "ctx-flag", req, nil, "static"},
		{"static without request context", v1, "ctx-flag", nil, nil, "static"},
		{"header over static (v1)", v1, "ctx-flag", req, hdr("X-Pick", "header"), "header"},
		{"header over static (v2)", v2, "ctx-flag", req, hdr("x-pick", "header"), "header"},
		{"empty header ignored", v1, "ctx-flag", req, hdr("X-Pick", ""), "static"},
		{"schema.v1 ignores headers", s1, "ctx-flag", req, hdr("X-Pick", "header"), "static"},
		{"schema.v1 applies the static context", s1, "ctx-flag", req, nil, "static"},
		{"request keys kept", v1, "string-flag", map[string]any{"user": "bob"}, nil, "B"},
		{"header-mapped key", v1, "string-flag", nil, hdr("X-User", "bob"), "B"},
		{"header over request", v1, "string-flag", map[string]any{"user": "bob"}, hdr("X-User", "alice"), "A"},
	}
	for _, c := range cases {
		if got := variant(c.r, c.key, c.ctx, c.h); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// TestResolveAll calls ResolveAll of flagd.evaluation.v1 and schema.v1
// over each protocol.
func TestResolveAll(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	ctx := testContext(t)
	const (
		m  = `"metadata":{"flagSetId":"set-a","team":"core"}`
		mb = `"metadata":{}`
	)
	// Every flag whose default value is typed, with reason ERROR and the
	// zero value when evaluation fails; left out: no-default,
	// no-default-targeted, array-default.
	v1All := `{"flags":{` +
		`"b-only":{"reason":"STATIC","variant":"off","boolValue":false,` + mb + `},` +
		`"bad-rule":{"reason":"ERROR","variant":"","objectValue":{},` + m + `},` +
		`"bool-flag":{"reason":"STATIC","variant":"on","boolValue":true,"metadata":{"flagSetId":"set-a","owner":"x","team":"core"}},` +
		`"ctx-flag":{"reason":"TARGETING_MATCH","variant":"req","stringValue":"req",` + m + `},` +
		`"disabled-flag":{"reason":"DISABLED","variant":"","boolValue":false,` + m + `},` +
		`"float-flag":{"reason":"STATIC","variant":"pi","doubleValue":3.14,` + m + `},` +
		`"int-flag":{"reason":"STATIC","variant":"big","doubleValue":9007199254740991,` + m + `},` +
		`"missing-variant":{"reason":"ERROR","variant":"","boolValue":false,` + m + `},` +
		`"object-flag":{"reason":"STATIC","variant":"x","objectValue":{"k":[1,"two",null]},` + m + `},` +
		`"string-flag":{"reason":"DEFAULT","variant":"a","stringValue":"A",` + m + `},` +
		`"wrong-type":{"reason":"ERROR","variant":"s","doubleValue":0,` + m + `}` +
		`},"metadata":{}}`
	// The same without metadata; a flag whose default value is not typed
	// is listed when its evaluation gives a typed value (array-default
	// with pick), never otherwise.
	schemaAll := func(pick bool) string {
		s := `{"flags":{`
		if pick {
			s += `"array-default":{"reason":"TARGETING_MATCH","variant":"t","boolValue":true},`
		}
		s += `"b-only":{"reason":"STATIC","variant":"off","boolValue":false},` +
			`"bad-rule":{"reason":"ERROR","variant":"","objectValue":{}},` +
			`"bool-flag":{"reason":"STATIC","variant":"on","boolValue":true},`
		if pick {
			s += `"ctx-flag":{"reason":"ERROR","variant":"","stringValue":""},`
		} else {
			s += `"ctx-flag":{"reason":"DEFAULT","variant":"none","stringValue":"none"},`
		}
		s += `"disabled-flag":{"reason":"DISABLED","variant":"","boolValue":false},` +
			`"float-flag":{"reason":"STATIC","variant":"pi","doubleValue":3.14},` +
			`"int-flag":{"reason":"STATIC","variant":"big","doubleValue":9007199254740991},` +
			`"missing-variant":{"reason":"ERROR","variant":"","boolValue":false},`
		if pick {
			s += `"no-default-targeted":{"reason":"TARGETING_MATCH","variant":"a","stringValue":"A"},`
		}
		s += `"object-flag":{"reason":"STATIC","variant":"x","objectValue":{"k":[1,"two",null]}},` +
			`"string-flag":{"reason":"DEFAULT","variant":"a","stringValue":"A"},` +
			`"wrong-type":{"reason":"ERROR","variant":"s","doubleValue":0}` +
			`}}`
		return s
	}
	// The flag set: a.json's flags, and the selection's metadata.
	v1Set := strings.Replace(strings.Replace(v1All,
		`"b-only":{"reason":"STATIC","variant":"off","boolValue":false,`+mb+`},`, "", 1),
		`},"metadata":{}}`, `},"metadata":{"flagSetId":"set-a"}}`, 1)
	v1Source := `{"flags":{"b-only":{"reason":"STATIC","variant":"off","boolValue":false,"metadata":{"source":"b.json"}}},"metadata":{"source":"b.json"}}`
	badSel := `error invalid_argument: invalid selector key "nope", valid keys: "flagSetId", "source"`

	for _, p := range protocols(t) {
		v1 := evaluationv1connect.NewServiceClient(p.client, srv.URL, p.opts...)
		s1 := schemav1connect.NewServiceClient(p.client, srv.URL, p.opts...)
		cases := []struct {
			name string
			do   func(h http.Header) (proto.Message, error)
			sel  string
			want string
		}{
			{"v1", func(h http.Header) (proto.Message, error) {
				return call(ctx, v1.ResolveAll, &evaluationv1.ResolveAllRequest{Context: mustStruct(t, map[string]any{"pick": "req"})}, h)
			}, "", v1All},
			{"v1 flag set", func(h http.Header) (proto.Message, error) {
				return call(ctx, v1.ResolveAll, &evaluationv1.ResolveAllRequest{Context: mustStruct(t, map[string]any{"pick": "req"})}, h)
			}, "flagSetId=set-a", v1Set},
			{"v1 source", func(h http.Header) (proto.Message, error) {
				return call(ctx, v1.ResolveAll, &evaluationv1.ResolveAllRequest{}, h)
			}, "source=b.json", v1Source},
			{"v1 invalid selector", func(h http.Header) (proto.Message, error) {
				return call(ctx, v1.ResolveAll, &evaluationv1.ResolveAllRequest{}, h)
			}, "nope=1", badSel},
			{"schema.v1", func(h http.Header) (proto.Message, error) {
				return call(ctx, s1.ResolveAll, &schemav1.ResolveAllRequest{}, h)
			}, "", schemaAll(false)},
			{"schema.v1 untyped defaults", func(h http.Header) (proto.Message, error) {
				return call(ctx, s1.ResolveAll, &schemav1.ResolveAllRequest{Context: mustStruct(t, map[string]any{"pick": true})}, h)
			}, "", schemaAll(true)},
			{"schema.v1 source", func(h http.Header) (proto.Message, error) {
				return call(ctx, s1.ResolveAll, &schemav1.ResolveAllRequest{}, h)
			}, "source=b.json", `{"flags":{"b-only":{"reason":"STATIC","variant":"off","boolValue":false}}}`},
			{"schema.v1 invalid selector", func(h http.Header) (proto.Message, error) {
				return call(ctx, s1.ResolveAll, &schemav1.ResolveAllRequest{}, h)
			}, "nope=1", badSel},
		}
		for _, c := range cases {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				h := http.Header{}
				if c.sel != "" {
					h.Set("Flagd-Selector", c.sel)
				}
				msg, err := c.do(h)
				got := answer(t, msg, err)
				if got != c.want {
					t.Errorf("got  %s\nwant %s", got, c.want)
				}
			})
		}
	}
}
