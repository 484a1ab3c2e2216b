// Package wire turns evaluator results into flagd's wire messages: the
// responses of flagd.evaluation.v1 ([ResolveV1], [ResolveAllV1Of]),
// flagd.evaluation.v2 ([ResolveV2]) and schema.v1 ([ResolveSchemaV1],
// [ResolveAllSchemaV1Of]), all built here, the Connect errors flagd sends
// in their place, and the JSON the Connect protocol carries them in
// ([MarshalJSON], and [AppendResolve] straight from a result).
//
// It holds the one table that maps an [evaluator.ErrorCode] to a Connect
// code and message ([ConnectCode], [ErrorMessage], [ConnectError]); the
// daemon's handlers and the vexil command line both use it, so that both
// answer exactly as flagd does:
//
//   - A flag that resolves to a variant is answered with its value, the
//     variant's name, the reason and the flag's metadata.
//   - A disabled flag is answered with reason DISABLED, the zero value of
//     the requested type and no variant name.
//   - A flag that resolves to no variant (it has no default variant, and
//     targeting chose none) is answered with FLAG_NOT_FOUND: version 1 of
//     the contract cannot say "no value".
//   - An evaluation error is answered with a Connect error whose code and
//     message depend only on the error code.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/evaluator"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
)

// errorInfo is how one evaluation error code is sent: its Connect code and
// the message flagd writes for it.
type errorInfo struct {
	code    connect.Code
	message string
}

// errorTable is the one mapping from evaluation error codes to the wire.
// The first four are flagd's own (flagd/pkg/service/flag-evaluation,
// errFormat, with the messages of core/pkg/model/error.go); flagd's
// evaluator never produces the others, and they get the closest Connect
// code.
var errorTable = map[evaluator.ErrorCode]errorInfo{
	evaluator.CodeFlagNotFound:        {connect.CodeNotFound, "Flag not found"},
	evaluator.CodeTypeMismatch:        {connect.CodeInvalidArgument, "Type mismatch error"},
	evaluator.CodeParseError:          {connect.CodeDataLoss, "Error parsing input or configuration"},
	evaluator.CodeGeneral:             {connect.CodeUnknown, "General error"},
	evaluator.CodeInvalidContext:      {connect.CodeInvalidArgument, "Invalid context provided"},
	evaluator.CodeTargetingKeyMissing: {connect.CodeInvalidArgument, "Targeting key missing"},
	evaluator.CodeProviderNotReady:    {connect.CodeUnavailable, "Provider not ready"},
	evaluator.CodeProviderFatal:       {connect.CodeInternal, "Provider fatal error"},
}

func lookup(c evaluator.ErrorCode) errorInfo {
	if info, ok := errorTable[c]; ok {
		return info
	}
	return errorInfo{connect.CodeUnknown, fmt.Sprintf("Unknown error code: %s", c)}
}

// ConnectCode returns the Connect code an evaluation error is sent with.
func ConnectCode(c evaluator.ErrorCode) connect.Code { return lookup(c).code }

// ErrorMessage returns the message an evaluation error is sent with. Like
// flagd, it depends only on the code: the evaluator's detailed message is
// for logs, not for the wire.
func ErrorMessage(c evaluator.ErrorCode) string { return lookup(c).message }

// ConnectError returns the Connect error flagd sends for an evaluation
// error (nil for nil).
func ConnectError(e *evaluator.Error) *connect.Error {
	if e == nil {
		return nil
	}
	info := lookup(e.Code)
	return connect.NewError(info.code, errors.New(info.message))
}

// ResolveV1 builds the flagd.evaluation.v1 answer to Resolve<Type> for a
// result evaluated with kind: a *ResolveBooleanResponse, *ResolveStringResponse,
// *ResolveIntResponse, *ResolveFloatResponse or *ResolveObjectResponse, or
// the Connect error to send instead. kind must be one of KindBool,
// KindString, KindInt, KindFloat and KindObject.
func ResolveV1(kind evaluator.Kind, r evaluator.Result) (proto.Message, *connect.Error) {
	if r.Err != nil {
		return nil, ConnectError(r.Err)
	}
	if r.NoValue && r.Reason != evaluator.ReasonDisabled {
		// No variant was chosen and there is no default: version 1 has no
		// way to say so, and flagd answers FLAG_NOT_FOUND.
		return nil, ConnectError(&evaluator.Error{Code: evaluator.CodeFlagNotFound, FlagKey: r.FlagKey})
	}
	meta, cerr := StructOf(r.Metadata, "flag metadata")
	if cerr != nil {
		return nil, cerr
	}
	reason, variant := string(r.Reason), r.Variant
	switch kind {
	case evaluator.KindBool:
		v, _ := r.Value.(bool)
		return &evaluationv1.ResolveBooleanResponse{Value: v, Reason: reason, Variant: variant, Metadata: meta}, nil
	case evaluator.KindString:
		v, _ := r.Value.(string)
		return &evaluationv1.ResolveStringResponse{Value: v, Reason: reason, Variant: variant, Metadata: meta}, nil
	case evaluator.KindInt:
		return &evaluationv1.ResolveIntResponse{Value: IntValue(r.Value), Reason: reason, Variant: variant, Metadata: meta}, nil
	case evaluator.KindFloat:
		return &evaluationv1.ResolveFloatResponse{Value: FloatValue(r.Value), Reason: reason, Variant: variant, Metadata: meta}, nil
	case evaluator.KindObject:
		m, _ := r.Value.(map[string]any)
		v, cerr := StructOf(m, "flag value")
		if cerr != nil {
			return nil, cerr
		}
		return &evaluationv1.ResolveObjectResponse{Value: v, Reason: reason, Variant: variant, Metadata: meta}, nil
	}
	return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("no flagd.evaluation.v1 response for kind %s", kind))
}

// StructOf converts metadata or an object value to a Struct for a
// response; what fails is an internal error, described as what.
func StructOf(m map[string]any, what string) (*structpb.Struct, *connect.Error) {
	v, err := Struct(m)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("%s: %w", what, err))
	}
	return v, nil
}

// IntValue is a result value as an int64 (evaluator results hold int64 for
// KindInt and float64 for numbers otherwise).
func IntValue(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

// FloatValue is a result value as a float64.
func FloatValue(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return 0
}

// ResolveAllV1 builds the flagd.evaluation.v1 answer to ResolveAll: every
// flag of the set evaluated for ctx, as flagd does it. Each flag is
// evaluated as the type of its default variant's value; a flag with no
// default variant, or whose default value is null or an array, is left
// out. A flag whose evaluation fails is listed with reason ERROR and the
// zero value of that type. Numbers are sent as doubles.
//
// The response's metadata is empty, which is what flagd sends when the
// request selects no flag set; a caller that serves a selection sets it.
func ResolveAllV1(set *evaluator.FlagSet, ctx map[string]any) *evaluationv1.ResolveAllResponse {
	return ResolveAllV1Of(set.Flags(), func(key string, kind evaluator.Kind) evaluator.Result {
		return set.Evaluate(key, kind, ctx)
	})
}

// ResolveAllV1Of is ResolveAllV1 over any list of flags: evaluate is
// called with the key of each flag to list and the kind to evaluate it as
// (see [DefaultKind]), and answers as the caller's store would (for the
// daemon, through the request's selector and with its context).
func ResolveAllV1Of(flags []*evaluator.Flag, evaluate func(key string, kind evaluator.Kind) evaluator.Result) *evaluationv1.ResolveAllResponse {
	resp := &evaluationv1.ResolveAllResponse{
		Flags:    make(map[string]*evaluationv1.AnyFlag, len(flags)),
		Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{}},
	}
	for _, f := range flags {
		if af, ok := anyFlagV1(f, evaluate); ok {
			resp.Flags[f.Key()] = af
		}
	}
	return resp
}

// DefaultKind returns the kind flagd's ResolveAll evaluates a flag as: the
// type of the value of the variant its defaultVariant names (numbers as
// KindFloat). flagd looks the name up even when it is "" (missing, null or
// empty), so a variant named "" gives the type of a flag that has no default
// variant. It is false when there is no such variant or its value is null or
// an array; version 1 of the contract then leaves the flag out.
func DefaultKind(f *evaluator.Flag) (evaluator.Kind, bool) {
	name, _ := f.DefaultVariant()
	v, ok := f.Variant(name)
	if !ok {
		return evaluator.KindAny, false
	}
	switch v.(type) {
	case bool:
		return evaluator.KindBool, true
	case string:
		return evaluator.KindString, true
	case float64:
		return evaluator.KindFloat, true
	case map[string]any:
		return evaluator.KindObject, true
	}
	return evaluator.KindAny, false
}

// anyFlagV1 evaluates one flag for ResolveAllV1Of; false leaves it out.
func anyFlagV1(f *evaluator.Flag, evaluate func(string, evaluator.Kind) evaluator.Result) (*evaluationv1.AnyFlag, bool) {
	kind, ok := DefaultKind(f)
	if !ok {
		return nil, false
	}
	r := evaluate(f.Key(), kind)
	if r.NoValue && r.Err == nil && r.Reason != evaluator.ReasonDisabled {
		// No variant chosen and no default (a flag typed by a variant named
		// ""): flagd's version 1 fails it with FLAG_NOT_FOUND, which
		// ResolveAll lists as reason ERROR with the zero value.
		r.Reason, r.Variant = evaluator.ReasonError, ""
	}
	af := &evaluationv1.AnyFlag{Reason: string(r.Reason), Variant: r.Variant}
	if r.NoValue && r.Reason == evaluator.ReasonDefault {
		// No default variant to fall back to: version 1 of the contract
		// reports that as an error (the flag is typed by a variant named "").
		af.Reason = string(evaluator.ReasonError)
	}
	switch kind {
	case evaluator.KindBool:
		v, _ := r.Value.(bool)
		af.Value = &evaluationv1.AnyFlag_BoolValue{BoolValue: v}
	case evaluator.KindString:
		v, _ := r.Value.(string)
		af.Value = &evaluationv1.AnyFlag_StringValue{StringValue: v}
	case evaluator.KindFloat:
		af.Value = &evaluationv1.AnyFlag_DoubleValue{DoubleValue: FloatValue(r.Value)}
	case evaluator.KindObject:
		m, _ := r.Value.(map[string]any)
		v, err := Struct(m)
		if err != nil {
			return nil, false
		}
		af.Value = &evaluationv1.AnyFlag_ObjectValue{ObjectValue: v}
	}
	meta, err := Struct(r.Metadata)
	if err != nil {
		return nil, false
	}
	af.Metadata = meta
	return af, true
}

// Struct converts a JSON object (such as an object flag's value or flag
// metadata) to a protobuf Struct; nil gives an empty Struct, as flagd sends.
func Struct(m map[string]any) (*structpb.Struct, error) {
	if len(m) == 0 {
		return &structpb.Struct{Fields: map[string]*structpb.Value{}}, nil
	}
	return structpb.NewStruct(m)
}

// JSONMarshalOptions are the options of flagd's Connect JSON codec: every
// field is written, zero values included.
func JSONMarshalOptions() protojson.MarshalOptions {
	return protojson.MarshalOptions{EmitUnpopulated: true}
}

// JSONUnmarshalOptions are the options flagd reads Connect JSON requests
// with: unknown fields are ignored.
func JSONUnmarshalOptions() protojson.UnmarshalOptions {
	return protojson.UnmarshalOptions{DiscardUnknown: true}
}

// MarshalJSON encodes a message as flagd's Connect JSON codec does (see
// [JSONMarshalOptions]; int64 values are strings), without the random
// whitespace protojson adds, so that the output is stable.
func MarshalJSON(m proto.Message) ([]byte, error) {
	if out, ok := AppendJSON(nil, m); ok {
		return out, nil
	}
	return marshalJSONSlow(m)
}

// marshalJSONSlow is MarshalJSON by protojson, for every message.
func marshalJSONSlow(m proto.Message) ([]byte, error) {
	raw, err := JSONMarshalOptions().Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrorJSON is the body of a Connect protocol error response (the HTTP/JSON
// answer to a unary call that failed): {"code":"not_found","message":"..."}.
func ErrorJSON(e *connect.Error) []byte {
	body := struct {
		Code    string `json:"code"`
		Message string `json:"message,omitempty"`
	}{e.Code().String(), e.Message()}
	out, err := json.Marshal(body)
	if err != nil {
		// Two strings always encode.
		panic(err)
	}
	return out
}
