package wire_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
)

// testDoc has a flag for each case the v1 mapping distinguishes.
const testDoc = `{
  "metadata": {"flagSetId": "test"},
  "flags": {
    "bool": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "metadata": {"team": "a"}},
    "string": {"state": "ENABLED", "variants": {"a": "A", "b": "B"}, "defaultVariant": "a",
      "targeting": {"if": [{"==": [{"var": "user"}, "bob"]}, "b", null]}},
    "int": {"state": "ENABLED", "variants": {"one": 1, "big": 9007199254740991}, "defaultVariant": "big"},
    "float": {"state": "ENABLED", "variants": {"pi": 3.14}, "defaultVariant": "pi"},
    "object": {"state": "ENABLED", "variants": {"x": {"k": [1, "two", null]}}, "defaultVariant": "x"},
    "disabled": {"state": "DISABLED", "variants": {"on": true}, "defaultVariant": "on"},
    "disabled-object": {"state": "DISABLED", "variants": {"x": {"k": 1}}, "defaultVariant": "x"},
    "no-default": {"state": "ENABLED", "variants": {"a": "A"}, "defaultVariant": null},
    "no-default-targeted": {"state": "ENABLED", "variants": {"a": "A"},
      "targeting": {"if": [{"var": "pick"}, "a", null]}},
    "null-default": {"state": "ENABLED", "variants": {"n": null}, "defaultVariant": "n"},
    "array-default": {"state": "ENABLED", "variants": {"l": [1, 2]}, "defaultVariant": "l"},
    "missing-variant": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on",
      "targeting": {"if": [true, "gone", null]}},
    "bad-rule": {"state": "ENABLED", "variants": {"x": {"k": 1}}, "defaultVariant": "x",
      "targeting": {"no_such_operator": [1]}},
    "wrong-type": {"state": "ENABLED", "variants": {"n": 1, "s": "one"}, "defaultVariant": "n",
      "targeting": {"if": [true, "s", null]}}
  }
}`

func parse(t testing.TB, doc string) *evaluator.FlagSet {
	t.Helper()
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set, _, err := p.Parse("test.json", []byte(doc), evaluator.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// answer renders what ResolveV1 gives as the body the daemon would send.
func answer(t *testing.T, msg proto.Message, cerr *connect.Error) string {
	t.Helper()
	if cerr != nil {
		if msg != nil {
			t.Errorf("both a message and an error")
		}
		return string(wire.ErrorJSON(cerr))
	}
	out, err := wire.MarshalJSON(msg)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestResolveV1(t *testing.T) {
	set := parse(t, testDoc)
	const meta = `"metadata":{"flagSetId":"test"}`
	notFound := `{"code":"not_found","message":"Flag not found"}`
	cases := []struct {
		key  string
		kind evaluator.Kind
		ctx  map[string]any
		want string
	}{
		{"bool", evaluator.KindBool, nil, `{"value":true,"reason":"STATIC","variant":"on","metadata":{"flagSetId":"test","team":"a"}}`},
		{"string", evaluator.KindString, nil, `{"value":"A","reason":"DEFAULT","variant":"a",` + meta + `}`},
		{"string", evaluator.KindString, map[string]any{"user": "bob"}, `{"value":"B","reason":"TARGETING_MATCH","variant":"b",` + meta + `}`},
		{"int", evaluator.KindInt, nil, `{"value":"9007199254740991","reason":"STATIC","variant":"big",` + meta + `}`},
		{"float", evaluator.KindFloat, nil, `{"value":3.14,"reason":"STATIC","variant":"pi",` + meta + `}`},
		{"float", evaluator.KindInt, nil, `{"value":"3","reason":"STATIC","variant":"pi",` + meta + `}`},
		{"int", evaluator.KindFloat, nil, `{"value":9007199254740991,"reason":"STATIC","variant":"big",` + meta + `}`},
		{"object", evaluator.KindObject, nil, `{"value":{"k":[1,"two",null]},"reason":"STATIC","variant":"x",` + meta + `}`},
		// Disabled: the zero value of the requested type, no variant.
		{"disabled", evaluator.KindBool, nil, `{"value":false,"reason":"DISABLED","variant":"",` + meta + `}`},
		{"disabled", evaluator.KindString, nil, `{"value":"","reason":"DISABLED","variant":"",` + meta + `}`},
		{"disabled", evaluator.KindInt, nil, `{"value":"0","reason":"DISABLED","variant":"",` + meta + `}`},
		{"disabled", evaluator.KindFloat, nil, `{"value":0,"reason":"DISABLED","variant":"",` + meta + `}`},
		{"disabled-object", evaluator.KindObject, nil, `{"value":{},"reason":"DISABLED","variant":"",` + meta + `}`},
		// No variant chosen and no default: v1 says FLAG_NOT_FOUND.
		{"no-default", evaluator.KindString, nil, notFound},
		{"no-default-targeted", evaluator.KindString, nil, notFound},
		{"no-default-targeted", evaluator.KindString, map[string]any{"pick": true}, `{"value":"A","reason":"TARGETING_MATCH","variant":"a",` + meta + `}`},
		{"absent", evaluator.KindBool, nil, notFound},
		// Errors.
		{"bool", evaluator.KindString, nil, `{"code":"invalid_argument","message":"Type mismatch error"}`},
		{"null-default", evaluator.KindBool, nil, `{"code":"invalid_argument","message":"Type mismatch error"}`},
		{"missing-variant", evaluator.KindBool, nil, `{"code":"unknown","message":"General error"}`},
		{"bad-rule", evaluator.KindObject, nil, `{"code":"data_loss","message":"Error parsing input or configuration"}`},
	}
	for _, tc := range cases {
		t.Run(tc.key+"/"+tc.kind.String(), func(t *testing.T) {
			msg, cerr := wire.ResolveV1(tc.kind, set.Evaluate(tc.key, tc.kind, tc.ctx))
			if got := answer(t, msg, cerr); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestResolveV1Types(t *testing.T) {
	set := parse(t, testDoc)
	kinds := map[evaluator.Kind]proto.Message{
		evaluator.KindBool:   &evaluationv1.ResolveBooleanResponse{},
		evaluator.KindString: &evaluationv1.ResolveStringResponse{},
		evaluator.KindInt:    &evaluationv1.ResolveIntResponse{},
		evaluator.KindFloat:  &evaluationv1.ResolveFloatResponse{},
		evaluator.KindObject: &evaluationv1.ResolveObjectResponse{},
	}
	for kind, want := range kinds {
		msg, cerr := wire.ResolveV1(kind, set.Evaluate("disabled", kind, nil))
		if cerr != nil {
			t.Fatalf("%s: %v", kind, cerr)
		}
		if msg.ProtoReflect().Descriptor() != want.ProtoReflect().Descriptor() {
			t.Errorf("%s: got a %s", kind, msg.ProtoReflect().Descriptor().FullName())
		}
	}
	_, cerr := wire.ResolveV1(evaluator.KindAny, set.Evaluate("bool", evaluator.KindAny, nil))
	if cerr == nil || cerr.Code() != connect.CodeInternal {
		t.Errorf("KindAny: got %v, want an internal error", cerr)
	}
}

func TestResolveAllV1(t *testing.T) {
	set := parse(t, testDoc)
	out, err := wire.MarshalJSON(wire.ResolveAllV1(set, map[string]any{"user": "bob"}))
	if err != nil {
		t.Fatal(err)
	}
	const meta = `"metadata":{"flagSetId":"test"}`
	// Left out: no-default, no-default-targeted (no default variant),
	// null-default and array-default (default value null or an array).
	want := `{"flags":{` +
		`"bad-rule":{"reason":"ERROR","variant":"","objectValue":{},` + meta + `},` +
		`"bool":{"reason":"STATIC","variant":"on","boolValue":true,"metadata":{"flagSetId":"test","team":"a"}},` +
		`"disabled":{"reason":"DISABLED","variant":"","boolValue":false,` + meta + `},` +
		`"disabled-object":{"reason":"DISABLED","variant":"","objectValue":{},` + meta + `},` +
		`"float":{"reason":"STATIC","variant":"pi","doubleValue":3.14,` + meta + `},` +
		`"int":{"reason":"STATIC","variant":"big","doubleValue":9007199254740991,` + meta + `},` +
		`"missing-variant":{"reason":"ERROR","variant":"","boolValue":false,` + meta + `},` +
		`"object":{"reason":"STATIC","variant":"x","objectValue":{"k":[1,"two",null]},` + meta + `},` +
		`"string":{"reason":"TARGETING_MATCH","variant":"b","stringValue":"B",` + meta + `},` +
		`"wrong-type":{"reason":"ERROR","variant":"s","doubleValue":0,` + meta + `}` +
		`},"metadata":{}}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}

func TestErrorTable(t *testing.T) {
	cases := []struct {
		code    evaluator.ErrorCode
		connect connect.Code
		message string
	}{
		{evaluator.CodeFlagNotFound, connect.CodeNotFound, "Flag not found"},
		{evaluator.CodeTypeMismatch, connect.CodeInvalidArgument, "Type mismatch error"},
		{evaluator.CodeParseError, connect.CodeDataLoss, "Error parsing input or configuration"},
		{evaluator.CodeGeneral, connect.CodeUnknown, "General error"},
		{evaluator.CodeInvalidContext, connect.CodeInvalidArgument, "Invalid context provided"},
		{evaluator.CodeTargetingKeyMissing, connect.CodeInvalidArgument, "Targeting key missing"},
		{evaluator.CodeProviderNotReady, connect.CodeUnavailable, "Provider not ready"},
		{evaluator.CodeProviderFatal, connect.CodeInternal, "Provider fatal error"},
		{evaluator.ErrorCode(200), connect.CodeUnknown, "Unknown error code: ErrorCode(200)"},
	}
	for _, tc := range cases {
		if got := wire.ConnectCode(tc.code); got != tc.connect {
			t.Errorf("ConnectCode(%s) = %s, want %s", tc.code, got, tc.connect)
		}
		if got := wire.ErrorMessage(tc.code); got != tc.message {
			t.Errorf("ErrorMessage(%s) = %q, want %q", tc.code, got, tc.message)
		}
		e := wire.ConnectError(&evaluator.Error{Code: tc.code, FlagKey: "k", Message: "details for the log"})
		if e.Code() != tc.connect || e.Message() != tc.message {
			t.Errorf("ConnectError(%s) = %s %q", tc.code, e.Code(), e.Message())
		}
	}
	if wire.ConnectError(nil) != nil {
		t.Error("ConnectError(nil) is not nil")
	}
}

// TestErrorJSONMatchesConnect checks ErrorJSON against the body connect-go
// itself writes for a failed unary Connect call.
func TestErrorJSONMatchesConnect(t *testing.T) {
	w := connect.NewErrorWriter()
	for code := evaluator.CodeFlagNotFound; code <= evaluator.CodeProviderFatal; code++ {
		cerr := wire.ConnectError(&evaluator.Error{Code: code})
		req := httptest.NewRequest(http.MethodPost, "/flagd.evaluation.v1.Service/ResolveBoolean", nil)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		if err := w.Write(rec, req, cerr); err != nil {
			t.Fatal(err)
		}
		if got, want := string(wire.ErrorJSON(cerr)), rec.Body.String(); got != want {
			t.Errorf("%s: ErrorJSON %s, connect writes %s", code, got, want)
		}
	}
}

func TestStruct(t *testing.T) {
	for _, m := range []map[string]any{nil, {}} {
		s, err := wire.Struct(m)
		if err != nil || s == nil || len(s.GetFields()) != 0 {
			t.Errorf("Struct(%v) = %v, %v; want an empty Struct", m, s, err)
		}
	}
	if _, err := wire.Struct(map[string]any{"bad": make(chan int)}); err == nil {
		t.Error("a channel converted to a Struct value")
	}
}

// server answers flagd.evaluation.v1 from a flag set through the wire
// package, as the daemon will.
type server struct {
	evaluationv1connect.UnimplementedServiceHandler
	set *evaluator.FlagSet
}

func resolve[T any](s *server, key string, kind evaluator.Kind, ctx map[string]any) (*connect.Response[T], error) {
	msg, cerr := wire.ResolveV1(kind, s.set.Evaluate(key, kind, ctx))
	if cerr != nil {
		return nil, cerr
	}
	return connect.NewResponse(any(msg).(*T)), nil
}

func (s *server) ResolveBoolean(_ context.Context, r *connect.Request[evaluationv1.ResolveBooleanRequest]) (*connect.Response[evaluationv1.ResolveBooleanResponse], error) {
	return resolve[evaluationv1.ResolveBooleanResponse](s, r.Msg.GetFlagKey(), evaluator.KindBool, r.Msg.GetContext().AsMap())
}

func (s *server) ResolveInt(_ context.Context, r *connect.Request[evaluationv1.ResolveIntRequest]) (*connect.Response[evaluationv1.ResolveIntResponse], error) {
	return resolve[evaluationv1.ResolveIntResponse](s, r.Msg.GetFlagKey(), evaluator.KindInt, r.Msg.GetContext().AsMap())
}

func (s *server) ResolveAll(_ context.Context, r *connect.Request[evaluationv1.ResolveAllRequest]) (*connect.Response[evaluationv1.ResolveAllResponse], error) {
	return connect.NewResponse(wire.ResolveAllV1(s.set, r.Msg.GetContext().AsMap())), nil
}

// TestOverHTTP serves the mapping with connect-go and checks that the
// bodies a Connect JSON client receives are those MarshalJSON and ErrorJSON
// give, and that a gRPC client is served by the same handler.
func TestOverHTTP(t *testing.T) {
	set := parse(t, testDoc)
	path, handler := evaluationv1connect.NewServiceHandler(&server{set: set}, wire.JSONCodec())
	mux := http.NewServeMux()
	mux.Handle(path, handler)
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	post := func(method, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/flagd.evaluation.v1.Service/"+method, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(data)
	}

	cases := []struct {
		method, body string
		key          string
		kind         evaluator.Kind
		ctx          map[string]any
		status       int
	}{
		{"ResolveBoolean", `{"flagKey":"bool"}`, "bool", evaluator.KindBool, nil, 200},
		{"ResolveBoolean", `{"flagKey":"disabled","unknownField":1}`, "disabled", evaluator.KindBool, nil, 200},
		{"ResolveInt", `{"flagKey":"int"}`, "int", evaluator.KindInt, nil, 200},
		{"ResolveBoolean", `{"flagKey":"absent"}`, "absent", evaluator.KindBool, nil, 404},
		{"ResolveBoolean", `{"flagKey":"no-default"}`, "no-default", evaluator.KindBool, nil, 404},
		{"ResolveInt", `{"flagKey":"bool"}`, "bool", evaluator.KindInt, nil, 400},
		{"ResolveAll", `{"context":{"user":"bob"}}`, "", evaluator.KindAny, map[string]any{"user": "bob"}, 200},
	}
	for _, tc := range cases {
		status, body := post(tc.method, tc.body)
		var want string
		if tc.key == "" {
			want = answer(t, wire.ResolveAllV1(set, tc.ctx), nil)
		} else {
			msg, cerr := wire.ResolveV1(tc.kind, set.Evaluate(tc.key, tc.kind, tc.ctx))
			want = answer(t, msg, cerr)
		}
		if status != tc.status || body != want {
			t.Errorf("%s %s:\ngot  %d %s\nwant %d %s", tc.method, tc.body, status, body, tc.status, want)
		}
	}

	// The same handler answers gRPC.
	client := evaluationv1connect.NewServiceClient(srv.Client(), srv.URL, connect.WithGRPC())
	resp, err := client.ResolveInt(context.Background(), connect.NewRequest(&evaluationv1.ResolveIntRequest{FlagKey: "int"}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Msg.GetValue() != 9007199254740991 || resp.Msg.GetVariant() != "big" {
		t.Errorf("gRPC ResolveInt: %v", resp.Msg)
	}
	_, err = client.ResolveBoolean(context.Background(), connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "absent"}))
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeNotFound || cerr.Message() != "Flag not found" {
		t.Errorf("gRPC ResolveBoolean of a missing flag: %v", err)
	}
}

// TestResolveAllV1UnnamedVariant: a flag without a default variant is
// typed by a variant named "", as flagd looks that name up; with no
// variant chosen, version 1 reports an error. want is flagd's answer
// (bbb05d4) to the same document.
func TestResolveAllV1UnnamedVariant(t *testing.T) {
	set := parse(t, `{"flags":{"p":{"state":"ENABLED","defaultVariant":"","variants":{"":1}},
		"q":{"state":"ENABLED","variants":{"":"s","x":"y"},"targeting":{"if":[false,"x",null]}},
		"r":{"state":"ENABLED","variants":{"":"s","x":"y"},"targeting":{"if":[true,"x",null]}},
		"s":{"state":"DISABLED","variants":{"":true}}}}`)
	out, err := wire.MarshalJSON(wire.ResolveAllV1(set, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"flags":{` +
		`"p":{"reason":"ERROR","variant":"","doubleValue":0,"metadata":{}},` +
		`"q":{"reason":"ERROR","variant":"","stringValue":"","metadata":{}},` +
		`"r":{"reason":"TARGETING_MATCH","variant":"x","stringValue":"y","metadata":{}},` +
		`"s":{"reason":"DISABLED","variant":"","boolValue":false,"metadata":{}}` +
		`},"metadata":{}}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}
