package telemetry

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/credentials"
)

// The environment variables that choose the exporters, as the
// OpenTelemetry specification (and autoexport) reads them.
const (
	EnvTracesExporter  = "OTEL_TRACES_EXPORTER"
	EnvMetricsExporter = "OTEL_METRICS_EXPORTER"
	envProtocol        = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol  = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envMetricsProtocol = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
	envEndpoint        = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint  = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envMetricsEndpoint = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
)

// FromEnvironment says whether the environment asks for an exporter
// (OTEL_TRACES_EXPORTER or OTEL_METRICS_EXPORTER set), which flagd honours
// without any option.
func FromEnvironment() bool {
	return os.Getenv(EnvTracesExporter) != "" || os.Getenv(EnvMetricsExporter) != ""
}

// firstEnv is the first of the variables that is set, or "".
func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// collector is where the options say to send: the collector URI's
// endpoint, and its TLS.
type collector struct {
	endpoint string // host:port, "" without a URI
	secure   bool
	tls      *reloadingTLS // nil without certificate or CA
}

// protocol is the OTLP protocol for a signal, as flagd chooses it when a
// collector URI is given: the environment's (the signal's, then the
// general one), else gRPC.
func protocol(signalVar string) (string, error) {
	p := firstEnv(signalVar, envProtocol)
	switch p {
	case "":
		return "grpc", nil
	case "grpc", "http/protobuf":
		return p, nil
	}
	return "", fmt.Errorf("%s=%q: want grpc or http/protobuf", envOf(signalVar), p)
}

// envOf names the variable that gave a signal's protocol.
func envOf(signalVar string) string {
	if os.Getenv(signalVar) != "" {
		return signalVar
	}
	return envProtocol
}

// spanExporter chooses the span exporter as flagd does:
//
//   - OTEL_TRACES_EXPORTER unset or "otlp", with a collector URI: OTLP to
//     the URI (unless OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT says where), over
//     gRPC unless OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL is http/protobuf;
//   - unset, without a URI: none (flagd's autoexport would default to
//     OTLP/HTTP on localhost:4318; Vexil exports nothing it was not asked to);
//   - otherwise what autoexport makes of the environment: "otlp", "console",
//     "none" (nil); any other value is an error.
//
// For its own OTLP exporters it returns their client too, which the
// evaluations' spans are uploaded with directly (see otlpBatch).
func spanExporter(ctx context.Context, c collector) (sdktrace.SpanExporter, otlptrace.Client, error) {
	name := os.Getenv(EnvTracesExporter)
	if c.endpoint != "" && (name == "" || name == "otlp") {
		proto, err := protocol(envTracesProtocol)
		if err != nil {
			return nil, nil, err
		}
		useURI := firstEnv(envTracesEndpoint, envEndpoint) == ""
		var client otlptrace.Client
		if proto == "grpc" {
			var opts []otlptracegrpc.Option
			if useURI {
				opts = append(opts, otlptracegrpc.WithEndpoint(c.endpoint))
				if !c.secure {
					opts = append(opts, otlptracegrpc.WithInsecure())
				}
			}
			if c.tls != nil {
				opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(c.tls.config())))
			}
			client = otlptracegrpc.NewClient(opts...)
		} else {
			client = httpTraceClient(c, useURI)
		}
		exp, err := otlptrace.New(ctx, client)
		if err != nil {
			return nil, nil, err
		}
		return exp, client, nil
	}
	if name == "" {
		return nil, nil, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%s=%q: %w", EnvTracesExporter, name, err)
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return nil, nil, nil
	}
	return exp, nil, nil
}

// httpTraceClient is the OTLP/HTTP client to the collector URI.
func httpTraceClient(c collector, useURI bool) otlptrace.Client {
	var opts []otlptracehttp.Option
	if useURI {
		opts = append(opts, otlptracehttp.WithEndpoint(c.endpoint))
		if !c.secure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
	}
	if c.tls != nil {
		opts = append(opts, otlptracehttp.WithTLSClientConfig(c.tls.config()))
	}
	return otlptracehttp.NewClient(opts...)
}

// metricReader chooses the metric reader as flagd does:
//
//   - OTEL_METRICS_EXPORTER unset or "otlp", with --metrics-exporter otel
//     (metrics) and a collector URI: OTLP to the URI, as for spans;
//   - unset otherwise, "prometheus" or "none": none (Prometheus on /metrics,
//     which Vexil always serves, is flagd's fallback reader);
//   - otherwise what autoexport makes of the environment: "otlp",
//     "console"; any other value is an error.
func metricReader(ctx context.Context, c collector, metrics bool) (sdkmetric.Reader, error) {
	name := os.Getenv(EnvMetricsExporter)
	if metrics && c.endpoint != "" && (name == "" || name == "otlp") {
		proto, err := protocol(envMetricsProtocol)
		if err != nil {
			return nil, err
		}
		useURI := firstEnv(envMetricsEndpoint, envEndpoint) == ""
		var exp sdkmetric.Exporter
		if proto == "grpc" {
			var opts []otlpmetricgrpc.Option
			if useURI {
				opts = append(opts, otlpmetricgrpc.WithEndpoint(c.endpoint))
				if !c.secure {
					opts = append(opts, otlpmetricgrpc.WithInsecure())
				}
			}
			if c.tls != nil {
				opts = append(opts, otlpmetricgrpc.WithTLSCredentials(credentials.NewTLS(c.tls.config())))
			}
			exp, err = otlpmetricgrpc.New(ctx, opts...)
		} else {
			var opts []otlpmetrichttp.Option
			if useURI {
				opts = append(opts, otlpmetrichttp.WithEndpoint(c.endpoint))
				if !c.secure {
					opts = append(opts, otlpmetrichttp.WithInsecure())
				}
			}
			if c.tls != nil {
				opts = append(opts, otlpmetrichttp.WithTLSClientConfig(c.tls.config()))
			}
			exp, err = otlpmetrichttp.New(ctx, opts...)
		}
		if err != nil {
			return nil, err
		}
		return sdkmetric.NewPeriodicReader(exp), nil
	}
	switch name {
	case "", "prometheus", "none":
		return nil, nil
	}
	r, err := autoexport.NewMetricReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", EnvMetricsExporter, name, err)
	}
	return r, nil
}
