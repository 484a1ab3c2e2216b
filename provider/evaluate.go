package provider

import (
	"context"
	"math"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/vexilhq/vexil/evaluator"
)

// result is a backend's answer, before it is typed.
type result struct {
	value    any
	hasValue bool // false: the caller's default applies, with reason
	variant  string
	reason   openfeature.Reason
	isErr    bool
	err      openfeature.ResolutionError
	metadata openfeature.FlagMetadata
}

func failed(err openfeature.ResolutionError) result {
	return result{reason: openfeature.ErrorReason, isErr: true, err: err}
}

// resolutionError maps an evaluator error code to OpenFeature's.
func resolutionError(code evaluator.ErrorCode, msg string) openfeature.ResolutionError {
	switch code {
	case evaluator.CodeFlagNotFound:
		return openfeature.NewFlagNotFoundResolutionError(msg)
	case evaluator.CodeTypeMismatch:
		return openfeature.NewTypeMismatchResolutionError(msg)
	case evaluator.CodeParseError:
		return openfeature.NewParseErrorResolutionError(msg)
	case evaluator.CodeInvalidContext:
		return openfeature.NewInvalidContextResolutionError(msg)
	case evaluator.CodeTargetingKeyMissing:
		return openfeature.NewTargetingKeyMissingResolutionError(msg)
	case evaluator.CodeProviderNotReady:
		return openfeature.NewProviderNotReadyResolutionError(msg)
	case evaluator.CodeProviderFatal:
		return openfeature.NewProviderFatalResolutionError(msg)
	}
	return openfeature.NewGeneralResolutionError(msg)
}

// localResult maps a local evaluation's result.
func localResult(r evaluator.Result) result {
	if r.Err != nil {
		return failed(resolutionError(r.Err.Code, r.Err.Message))
	}
	out := result{reason: openfeature.Reason(r.Reason), metadata: openfeature.FlagMetadata(r.Metadata)}
	if !r.NoValue {
		out.value, out.hasValue, out.variant = r.Value, true, r.Variant
	}
	return out
}

// typed turns a result into the details of type T: the caller's default
// on an error or without a value, TYPE_MISMATCH when the value does not
// convert.
func typed[T any](r result, def T, conv func(any) (T, bool)) openfeature.GenericResolutionDetail[T] {
	d := openfeature.GenericResolutionDetail[T]{Value: def}
	d.FlagMetadata = r.metadata
	if r.isErr {
		d.Reason = openfeature.ErrorReason
		d.ResolutionError = r.err
		return d
	}
	d.Reason = r.reason
	if !r.hasValue {
		return d
	}
	v, ok := conv(r.value)
	if !ok {
		d.Reason = openfeature.ErrorReason
		d.ResolutionError = openfeature.NewTypeMismatchResolutionError("the flag's value is not of the requested type")
		return d
	}
	d.Value, d.Variant = v, r.variant
	return d
}

func asBool(v any) (bool, bool)     { b, ok := v.(bool); return b, ok }
func asString(v any) (string, bool) { s, ok := v.(string); return s, ok }
func asAny(v any) (any, bool)       { return v, true }

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		if n == math.Trunc(n) && n >= math.MinInt64 && n < math.MaxInt64 {
			return int64(n), true
		}
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	}
	return 0, false
}

// BooleanEvaluation resolves a boolean flag.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, def bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	return typed(p.backend.evaluate(ctx, flag, evaluator.KindBool, flat), def, asBool)
}

// StringEvaluation resolves a string flag.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, def string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	return typed(p.backend.evaluate(ctx, flag, evaluator.KindString, flat), def, asString)
}

// FloatEvaluation resolves a number flag as a float.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, def float64, flat openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	return typed(p.backend.evaluate(ctx, flag, evaluator.KindFloat, flat), def, asFloat)
}

// IntEvaluation resolves a number flag as an integer.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, def int64, flat openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	return typed(p.backend.evaluate(ctx, flag, evaluator.KindInt, flat), def, asInt)
}

// ObjectEvaluation resolves an object flag: the value is a
// map[string]any.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, def any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	return typed(p.backend.evaluate(ctx, flag, evaluator.KindObject, flat), def, asAny)
}
