package telemetry

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// otlpBatch is an OTLP request of evaluation spans whose messages are
// reused from one batch to the next: for Vexil's own OTLP exporters, the
// records become protobuf messages directly, without the SDK's spans, its
// OTLP transform and their allocations (per span, 15 allocations and
// 1.4 KB). What is sent is what the SDK's transform sends for the same
// spans.
type otlpBatch struct {
	req    [1]*tracepb.ResourceSpans
	rs     tracepb.ResourceSpans
	scopes [1]*tracepb.ScopeSpans
	ss     tracepb.ScopeSpans
	spans  []tracepb.Span
	ptrs   []*tracepb.Span
	status tracepb.Status
	// Per span: its attributes (up to 4), their values, and 32 bytes of
	// ids (trace 16, span 8, parent 8).
	kvs    []commonpb.KeyValue
	kvPtrs []*commonpb.KeyValue
	vals   []commonpb.AnyValue
	strs   []commonpb.AnyValue_StringValue
	ids    []byte
}

func newOTLPBatch(res *resource.Resource, size int) *otlpBatch {
	b := &otlpBatch{
		spans: make([]tracepb.Span, size), ptrs: make([]*tracepb.Span, size),
		kvs: make([]commonpb.KeyValue, 4*size), kvPtrs: make([]*commonpb.KeyValue, 4*size),
		vals: make([]commonpb.AnyValue, 4*size), strs: make([]commonpb.AnyValue_StringValue, 4*size),
		ids: make([]byte, 32*size),
	}
	b.rs.Resource = &resourcepb.Resource{Attributes: keyValues(res.Attributes())}
	b.rs.SchemaUrl = res.SchemaURL()
	b.ss.Scope = &commonpb.InstrumentationScope{Name: TracerName}
	b.scopes[0] = &b.ss
	b.rs.ScopeSpans = b.scopes[:]
	b.req[0] = &b.rs
	b.status.Code = tracepb.Status_STATUS_CODE_UNSET
	for i := range b.kvs {
		b.vals[i].Value = &b.strs[i]
		b.kvs[i].Value = &b.vals[i]
		b.kvPtrs[i] = &b.kvs[i]
	}
	return b
}

// fill makes the request of spans (at most the batch's size), each span
// as build makes it (ids and names), and returns it.
func (b *otlpBatch) fill(spans []builtSpan) []*tracepb.ResourceSpans {
	for i := range spans {
		s, p := &spans[i], &b.spans[i]
		ids := b.ids[32*i : 32*i+32 : 32*i+32]
		tid, sid := s.sc.TraceID(), s.sc.SpanID()
		copy(ids[:16], tid[:])
		copy(ids[16:24], sid[:])
		p.TraceId, p.SpanId = ids[:16:16], ids[16:24:24]
		p.ParentSpanId = nil
		if psid := s.parent.SpanID(); psid.IsValid() {
			copy(ids[24:], psid[:])
			p.ParentSpanId = ids[24:32:32]
		}
		p.TraceState = s.sc.TraceState().String()
		p.Flags = uint32(s.sc.TraceFlags()) | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK)
		if s.parent.IsRemote() {
			p.Flags |= uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK)
		}
		p.Name = s.name
		p.Kind = tracepb.Span_SPAN_KIND_SERVER
		at := uint64(max(0, s.at.UnixNano())) //nolint:gosec // not negative
		p.StartTimeUnixNano, p.EndTimeUnixNano = at, at
		p.Status = &b.status
		attrs := s.Attributes()
		for j, kv := range attrs {
			k := 4*i + j
			b.kvs[k].Key = string(kv.Key)
			b.strs[k].StringValue = kv.Value.AsString()
		}
		p.Attributes = b.kvPtrs[4*i : 4*i+len(attrs) : 4*i+len(attrs)]
		b.ptrs[i] = p
	}
	b.ss.Spans = b.ptrs[:len(spans)]
	return b.req[:]
}

// keyValues converts a resource's attributes as the SDK's OTLP transform
// does.
func keyValues(attrs []attribute.KeyValue) []*commonpb.KeyValue {
	out := make([]*commonpb.KeyValue, 0, len(attrs))
	for _, kv := range attrs {
		out = append(out, &commonpb.KeyValue{Key: string(kv.Key), Value: anyValue(kv.Value)})
	}
	return out
}

func anyValue(v attribute.Value) *commonpb.AnyValue {
	switch v.Type() {
	case attribute.BOOL:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}}
	case attribute.INT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v.AsInt64()}}
	case attribute.FLOAT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}}
	case attribute.STRING:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v.AsString()}}
	case attribute.BOOLSLICE, attribute.INT64SLICE, attribute.FLOAT64SLICE, attribute.STRINGSLICE:
		var values []*commonpb.AnyValue
		switch v.Type() {
		case attribute.BOOLSLICE:
			for _, x := range v.AsBoolSlice() {
				values = append(values, anyValue(attribute.BoolValue(x)))
			}
		case attribute.INT64SLICE:
			for _, x := range v.AsInt64Slice() {
				values = append(values, anyValue(attribute.Int64Value(x)))
			}
		case attribute.FLOAT64SLICE:
			for _, x := range v.AsFloat64Slice() {
				values = append(values, anyValue(attribute.Float64Value(x)))
			}
		default:
			for _, x := range v.AsStringSlice() {
				values = append(values, anyValue(attribute.StringValue(x)))
			}
		}
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: values}}}
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v.Emit()}}
}
