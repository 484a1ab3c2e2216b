package telemetry

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vexilhq/vexil/evaluator"
)

// The batch settings, as the SDK's batch span processor has them, and the
// environment variables that change them.
const (
	defaultScheduleDelay = 5 * time.Second
	defaultExportTimeout = 30 * time.Second
	defaultBatchSize     = 512
	envScheduleDelay     = "OTEL_BSP_SCHEDULE_DELAY"        // milliseconds
	envExportTimeout     = "OTEL_BSP_EXPORT_TIMEOUT"        // milliseconds
	envBatchSize         = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" // spans
	envQueueSize         = "OTEL_BSP_MAX_QUEUE_SIZE"        // spans
)

// envInt reads a positive integer from the environment, or returns def.
// As the SDK does, a value that is not one is ignored.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// evalRecord is what an evaluation leaves for its span: plain values that
// cost no allocation (the key and variant are the flag store's strings,
// the code a constant). The span, its ids and its attributes are built
// from it at export time, off the evaluation's path.
type evalRecord struct {
	at                 time.Time
	parent             trace.SpanContext // the caller's span, if the request carried one
	key, variant, code string
	kind               evaluator.Kind
}

// spanQueue holds the spans waiting for export: evaluations' records and
// the SDK's spans (sync calls), at most limit of them; a span that finds it
// full is dropped and counted, never waited for.
type spanQueue struct {
	limit     int
	batchSize int
	wake      chan struct{} // signalled when a batch is ready

	mu      sync.Mutex
	records []evalRecord
	sdk     []sdktrace.ReadOnlySpan
	dropped atomic.Int64
}

func newSpanQueue(limit, batchSize int) *spanQueue {
	return &spanQueue{limit: limit, batchSize: batchSize, wake: make(chan struct{}, 1),
		records: make([]evalRecord, 0, limit)}
}

func (q *spanQueue) pushRecord(r evalRecord) {
	q.mu.Lock()
	n := len(q.records) + len(q.sdk)
	if n >= q.limit {
		q.mu.Unlock()
		q.dropped.Add(1)
		return
	}
	q.records = append(q.records, r)
	q.mu.Unlock()
	if n+1 == q.batchSize {
		q.signal()
	}
}

func (q *spanQueue) pushSDK(s sdktrace.ReadOnlySpan) {
	q.mu.Lock()
	n := len(q.records) + len(q.sdk)
	if n >= q.limit {
		q.mu.Unlock()
		q.dropped.Add(1)
		return
	}
	q.sdk = append(q.sdk, s)
	q.mu.Unlock()
	if n+1 == q.batchSize {
		q.signal()
	}
}

func (q *spanQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take empties the queue, handing its records over and putting spare (an
// emptied slice of an earlier take) in their place, so that the two
// slices alternate and neither is allocated again.
func (q *spanQueue) take(spare []evalRecord) ([]evalRecord, []sdktrace.ReadOnlySpan) {
	q.mu.Lock()
	defer q.mu.Unlock()
	records, sdk := q.records, q.sdk
	if spare == nil {
		spare = make([]evalRecord, 0, q.limit)
	}
	q.records, q.sdk = spare[:0], nil
	return records, sdk
}

// spanExport drains a spanQueue into a span exporter, in batches.
type spanExport struct {
	exp       sdktrace.SpanExporter
	q         *spanQueue
	res       *resource.Resource
	scope     instrumentation.Scope
	delay     time.Duration
	timeout   time.Duration
	batchSize int

	// client, when set, is exp's OTLP client: evaluations' spans go to
	// it as protobuf messages made by proto, skipping exp's transform.
	client otlptrace.Client
	proto  *otlpBatch

	mu    sync.Mutex // one export at a time; guards what follows
	spare []evalRecord
	built []builtSpan
	batch []sdktrace.ReadOnlySpan
	ids   *rand.ChaCha8
	down  bool
}

func newSpanExport(exp sdktrace.SpanExporter, q *spanQueue, res *resource.Resource) *spanExport {
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	return &spanExport{
		exp: exp, q: q, res: res,
		scope:     instrumentation.Scope{Name: TracerName},
		delay:     time.Duration(envInt(envScheduleDelay, int(defaultScheduleDelay/time.Millisecond))) * time.Millisecond,
		timeout:   time.Duration(envInt(envExportTimeout, int(defaultExportTimeout/time.Millisecond))) * time.Millisecond,
		batchSize: q.batchSize,
		ids:       rand.NewChaCha8(seed),
	}
}

// run exports a batch whenever one is ready or the schedule delay has
// passed, until ctx ends; then it exports what is left and shuts the
// exporter down, within shutdownCtx.
func (e *spanExport) run(ctx context.Context, onError func(error)) {
	tick := time.NewTicker(e.delay)
	defer tick.Stop()
	for {
		select {
		case <-e.q.wake:
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		if err := e.export(context.Background()); err != nil && onError != nil {
			onError(err)
		}
	}
}

// shutdown exports what is pending and shuts the exporter down.
func (e *spanExport) shutdown(ctx context.Context) error {
	err := e.export(ctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		return err
	}
	e.down = true
	return errors.Join(err, e.exp.Shutdown(ctx))
}

// export sends everything queued now.
func (e *spanExport) export(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		return nil
	}
	records, sdk := e.q.take(e.spare)
	defer func() { e.spare = records[:0] }()
	var errs []error
	send := func() {
		if len(e.batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(ctx, e.timeout)
		errs = append(errs, e.exp.ExportSpans(ctx, e.batch))
		cancel()
		clear(e.batch)
		e.batch = e.batch[:0]
	}
	if cap(e.built) < e.batchSize {
		e.built = make([]builtSpan, e.batchSize)
	}
	for len(records) > 0 {
		n := min(len(records), e.batchSize)
		for i := range records[:n] {
			e.build(&e.built[i], &records[i])
		}
		records = records[n:]
		if e.client != nil {
			ctx, cancel := context.WithTimeout(ctx, e.timeout)
			errs = append(errs, e.client.UploadTraces(ctx, e.proto.fill(e.built[:n])))
			cancel()
			continue
		}
		for i := range n {
			e.batch = append(e.batch, &e.built[i])
		}
		send()
	}
	for len(sdk) > 0 {
		n := min(len(sdk), e.batchSize)
		e.batch = append(e.batch, sdk[:n]...)
		sdk = sdk[n:]
		send()
	}
	return errors.Join(errs...)
}

// build makes r's span: a server span named as flagd names the
// evaluation, starting and ending at r.at, with flagd's attributes, in the
// caller's trace when r has a parent (and a new one otherwise).
func (e *spanExport) build(b *builtSpan, r *evalRecord) {
	var sc trace.SpanContextConfig
	if r.parent.IsValid() {
		sc.TraceID = r.parent.TraceID()
		sc.TraceState = r.parent.TraceState()
	} else {
		binary.NativeEndian.PutUint64(sc.TraceID[:8], e.ids.Uint64())
		binary.NativeEndian.PutUint64(sc.TraceID[8:], e.ids.Uint64())
	}
	for sc.SpanID == (trace.SpanID{}) {
		binary.NativeEndian.PutUint64(sc.SpanID[:], e.ids.Uint64())
	}
	sc.TraceFlags = trace.FlagsSampled
	name := "resolveAnyValue"
	if int(r.kind) < len(spanNames) && spanNames[r.kind] != "" {
		name = spanNames[r.kind]
	}
	*b = builtSpan{
		name:   name,
		sc:     trace.NewSpanContext(sc),
		parent: r.parent,
		at:     r.at,
		res:    e.res,
		scope:  &e.scope,
	}
	b.attrs[0] = attrKey.String(r.key)
	b.attrs[1] = attrVariant.String(r.variant)
	b.attrs[2] = attrProvider.String(ProviderName)
	b.n = 3
	if r.code != "" {
		b.attrs[3] = attrException.String(r.code)
		b.n = 4
	}
}

// builtSpan is an evaluation's span as exporters read it.
type builtSpan struct {
	sdktrace.ReadOnlySpan // nil: only for the interface's unexported method

	name       string
	sc, parent trace.SpanContext
	at         time.Time
	attrs      [4]attribute.KeyValue
	n          int
	res        *resource.Resource
	scope      *instrumentation.Scope
}

func (b *builtSpan) Name() string                     { return b.name }
func (b *builtSpan) SpanContext() trace.SpanContext   { return b.sc }
func (b *builtSpan) Parent() trace.SpanContext        { return b.parent }
func (b *builtSpan) SpanKind() trace.SpanKind         { return trace.SpanKindServer }
func (b *builtSpan) StartTime() time.Time             { return b.at }
func (b *builtSpan) EndTime() time.Time               { return b.at }
func (b *builtSpan) Attributes() []attribute.KeyValue { return b.attrs[:b.n] }
func (b *builtSpan) Links() []sdktrace.Link           { return nil }
func (b *builtSpan) Events() []sdktrace.Event         { return nil }
func (b *builtSpan) Status() sdktrace.Status          { return sdktrace.Status{} }
func (b *builtSpan) Resource() *resource.Resource     { return b.res }
func (b *builtSpan) DroppedAttributes() int           { return 0 }
func (b *builtSpan) DroppedLinks() int                { return 0 }
func (b *builtSpan) DroppedEvents() int               { return 0 }
func (b *builtSpan) ChildSpanCount() int              { return 0 }
func (b *builtSpan) InstrumentationScope() instrumentation.Scope {
	return *b.scope
}

//nolint:staticcheck // part of the interface
func (b *builtSpan) InstrumentationLibrary() instrumentation.Library {
	return *b.scope
}

// queueProcessor puts the SDK's ended spans (the sync calls') in the
// queue, so that one exporter sends them with the evaluations'.
type queueProcessor struct{ e *spanExport }

func (queueProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p queueProcessor) OnEnd(s sdktrace.ReadOnlySpan)                 { p.e.q.pushSDK(s) }
func (p queueProcessor) ForceFlush(ctx context.Context) error          { return p.e.export(ctx) }
func (queueProcessor) Shutdown(context.Context) error                  { return nil }
