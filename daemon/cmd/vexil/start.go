package main

import (
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vexilhq/vexil/daemon"
)

func newStartCmd() *cobra.Command {
	var (
		port, mgmtPort int
		syncPort       int
		ofrepPort      int
		uris           []string
		bindAddress    string
		strict         bool
		logFormat      string
	)
	cmd := &cobra.Command{
		Use:   "start [--uri URI...]",
		Short: "Start the flag daemon",
		Long: `Start runs the flag daemon: it loads the flag sources given with --uri
(later sources win over earlier ones for the same flag), watches them for
changes, and serves flagd's evaluation services (Connect, gRPC and gRPC-Web
over HTTP/1.1 and unencrypted HTTP/2) on --port, flagd.sync.v1 on --sync-port,
OFREP on --ofrep-port, and /healthz and /readyz on --management-port. Without --uri it serves the bundled example,
examples/flags/demo.flags.json.

Supported sources: file:PATH (file:relative/path, file:/abs/path,
file:///abs/path).

SIGINT or SIGTERM shuts the daemon down gracefully.`,
		Example: `  vexil start --uri file:flags.json
  vexil start -f file:/etc/vexil/base.json -f file:/etc/vexil/override.yaml -p 9013`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("start takes no arguments (sources are given with --uri)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logFormat, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg := daemon.Config{
				Port:           port,
				ManagementPort: mgmtPort,
				SyncPort:       syncPort,
				OFREPPort:      ofrepPort,
				BindAddress:    bindAddress,
				Strict:         strict,
				Logger:         log,
			}
			for _, u := range uris {
				cfg.Sources = append(cfg.Sources, daemon.SourceSpec{URI: u})
			}
			if len(uris) == 0 {
				log.Info("no --uri given: serving the bundled example", "source", daemon.EmbeddedSourceName)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			err = daemon.Run(ctx, cfg, func(a daemon.Addrs) {
				log.Info("listening", "evaluation", a.Evaluation, "management", a.Management, "sync", a.Sync, "ofrep", a.OFREP)
			})
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVarP(&port, "port", "p", daemon.DefaultPort, "port to listen on for evaluation requests")
	f.IntVarP(&mgmtPort, "management-port", "m", daemon.DefaultManagementPort, "port for the management endpoints (/healthz, /readyz)")
	f.IntVarP(&syncPort, "sync-port", "g", daemon.DefaultSyncPort, "port for the flag sync service (flagd.sync.v1, for in-process providers)")
	f.IntVarP(&ofrepPort, "ofrep-port", "r", daemon.DefaultOFREPPort, "port for OFREP (/ofrep/v1/evaluate/flags)")
	f.StringSliceVarP(&uris, "uri", "f", nil, "flag source URI, such as file:flags.json (repeatable or comma-separated, as in flagd; later sources win)")
	f.StringVar(&bindAddress, "bind-address", "", "address to listen on (default: all interfaces)")
	f.BoolVar(&strict, "strict", false, "reject flag documents with the problems flagd only warns about")
	f.StringVarP(&logFormat, "log-format", "z", "console", "log format: console or json")
	return cmd
}

// newLogger builds the daemon's logger for --log-format.
func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "console":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	default:
		return nil, usageErrorf("--log-format must be console or json, not %q", format)
	}
}
