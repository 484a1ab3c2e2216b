package main

import (
	"errors"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel"
	"k8s.io/klog/v2"

	"github.com/vexilhq/vexil/daemon"
)

// newStartCmd builds vexil start; getenv looks up its FLAGD_* environment
// variables.
func newStartCmd(getenv func(string) (string, bool)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start [--uri URI...] [--sources JSON] [--config FILE]",
		Short: "Start the flag daemon",
		Long: `Start runs the flag daemon, a drop-in for flagd start: it takes flagd's
options, environment variables and config file.

It loads the flag sources given with --uri, then those of --sources (for the
same flag, a later source wins over an earlier one), watches them for
changes, and serves:
  --port             flagd's evaluation services (flagd.evaluation.v1 and v2)
                     over Connect, gRPC and gRPC-Web, on HTTP/1.1 and HTTP/2
                     (or on the unix socket --socket-path);
  --sync-port        flagd.sync.v1, for in-process providers (or on the unix
                     socket --sync-socket-path);
  --ofrep-port       OFREP, /ofrep/v1/evaluate/flags (with
                     --ofrep-sse-enabled also its change events over
                     server-sent events, /ofrep/v1/event-stream);
  --management-port  /healthz, /readyz, grpc.health.v1 and Prometheus
                     metrics at /metrics.
Port 0 picks a free port. With --server-cert-path and --server-key-path the
evaluation, sync and OFREP ports serve TLS (a renewed certificate is picked
up without a restart). Without --uri and --sources it serves the bundled
example, examples/flags/demo.flags.json.

Sources: --uri takes file:PATH (file:relative/path, file:/abs/path,
file:///abs/path; watched), http:// and https:// URLs (polled every 5 s,
with ETags), grpc://HOST:PORT or grpcs://HOST:PORT (a flagd.sync.v1
server: another Vexil, or flagd), envoy://PROXY:PORT/SERVICE (through an
Envoy proxy that routes by SERVICE) or dns:///HOST:PORT,
core.openfeature.dev/NAMESPACE/NAME (a FeatureFlag custom resource, read
from the cluster of $KUBECONFIG, ~/.kube/config or the pod's service
account; watched), and objects in buckets, gs://BUCKET/PATH,
s3://BUCKET/PATH and azblob://CONTAINER/PATH (polled every 5 s, by ETag;
the query holds the store's options, such as
s3://b/flags.json?region=eu-west-1&endpoint=URL&use_path_style=true;
credentials from the cloud's usual environment).

--sources takes a JSON array of objects with flagd's fields: "uri" and
"provider" (required: file, fsnotify, fileinfo, http, grpc, kubernetes,
gcs, s3 or azblob; fileinfo polls the file's modification time every
second instead of watching it), "selector", "providerID", "authHeader",
"headers" (an object), "interval" (seconds), "tls", "certPath",
"timeoutS" (seconds), "maxMsgSize" and "oauth" ("clientID",
"clientSecret", "tokenUrl"); the deprecated "bearerToken" is taken as
"authHeader": "Bearer TOKEN", with a warning. An unknown field is
ignored with a warning, as flagd ignores it (refused under --strict).

Where options come from, the first found wins:
  1. the flag on the command line;
  2. the environment variable FLAGD_ and the long flag name in capitals,
     dashes as underscores: FLAGD_PORT, FLAGD_URI, FLAGD_SOURCES,
     FLAGD_CONTEXT_VALUE. Lists are separated by commas or spaces; maps are
     KEY=VALUE pairs separated by commas, or a JSON object;
  3. the --config file, YAML (.yaml, .yml) or JSON (.json), whose keys are
     the long flag names, such as:
         port: 9013
         uri: [file:/etc/vexil/flags.json]
         context-value: {region: eu}
         sources:
           - uri: /etc/vexil/more.json
             provider: file
     An unknown key is an error;
  4. the default.

OpenTelemetry, as flagd: --metrics-exporter otel pushes flagd's metrics
(feature_flag.flagd.impression, feature_flag.flagd.result.reason) over
OTLP to --otel-collector-uri; with --otel-collector-uri, spans of each
evaluation (resolveBoolean, resolveString...; a child of the caller's span
when the request carries a W3C traceparent) and sync call are exported to
it, whatever the metrics exporter. /metrics keeps serving Prometheus. mTLS to
the collector: --otel-cert-path, --otel-key-path, --otel-ca-path, read again
every --otel-reload-interval. OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER
(otlp, console, none) choose the exporters, also without options;
OTEL_EXPORTER_OTLP_PROTOCOL (grpc, the default with --otel-collector-uri, or
http/protobuf) and the other OTEL_EXPORTER_OTLP_* variables, OTEL_BSP_*,
OTEL_METRIC_EXPORT_INTERVAL, OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
apply; a value that does not exist exits 2. Exporting never slows an
evaluation: spans wait in a bounded queue, and those that find it full are
dropped and counted (vexil_otel_spans_dropped_total).

flagd's other options are accepted where Vexil behaves the same:
--keep-alive-min-time and --keep-alive-permit-without-stream change nothing
(the sync server accepts client keepalive pings at any rate, also without an
open stream).

An option that is invalid or contradicts another (two services on one
port, a certificate without its key, a source of an unknown scheme or
provider) stops start with exit code 2.
SIGINT or SIGTERM shuts the daemon down gracefully.`,
		Example: `  vexil start --uri file:flags.json
  vexil start -f file:/etc/vexil/base.json -f file:/etc/vexil/override.yaml -p 9013
  vexil start --sources '[{"uri":"flags.json","provider":"file"}]' -X region=eu
  FLAGD_PORT=9013 vexil start --config /etc/vexil/config.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("start takes no arguments (sources are given with --uri or --sources)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := startConfig(cmd.Flags(), getenv)
			if err != nil {
				return err
			}
			log := newLogger(s.logFormat, s.debug, cmd.ErrOrStderr())
			// client-go (the Kubernetes source) logs through klog's global
			// logger: send it to ours, in our format.
			klog.SetSlogLogger(log)
			if s.configFile != "" {
				log.Info("read the config file", "path", s.configFile)
			}
			for _, w := range s.warnings {
				log.Warn(w)
			}
			cfg := s.daemon
			cfg.Logger = log
			// The OpenTelemetry SDK reports export errors to its global
			// handler: log them at debug level, as flagd does.
			otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
				log.Debug("OpenTelemetry error", "component", "otel", "err", err)
			}))
			tuneGC()
			cfg.AfterUpdate = afterUpdate
			if len(cfg.Sources) == 0 {
				log.Info("no --uri given: serving the bundled example", "source", daemon.EmbeddedSourceName)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			err = daemon.Run(ctx, cfg, func(a daemon.Addrs) {
				log.Info("listening", "evaluation", a.Evaluation, "management", a.Management, "sync", a.Sync, "ofrep", a.OFREP)
			})
			var bad *daemon.SourceError
			var badOTel *daemon.OpenTelemetryError
			switch {
			case errors.As(err, &bad), errors.As(err, &badOTel):
				// A source or an exporter the options (or the
				// environment) describe wrongly: a usage error.
				return &exitError{code: 2, err: err}
			case err != nil:
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	addStartFlags(cmd.Flags())
	cmd.Flags().SortFlags = false
	return cmd
}

// newLogger builds the daemon's logger for --log-format (console or json,
// checked before) and --debug.
func newLogger(format string, debug bool, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{}
	if debug {
		opts.Level = slog.LevelDebug
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
