// Command go-app evaluates the bundled example's flags
// (examples/flags/demo.flags.json) through the Vexil OpenFeature provider,
// against a running daemon, then prints the keys of the flags that change
// until interrupted.
//
//	go run ./daemon/cmd/vexil start   # in one terminal
//	go run ./examples/go-app          # in another
//
// Flags: -mode rpc (the default; the daemon evaluates) or in-process (the
// app evaluates the definitions the daemon syncs), -host, -port (0 for the
// mode's default: 8013 for rpc, 8015 for in-process), -email, -user.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/vexilhq/vexil/provider"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "go-app:", err)
		os.Exit(1)
	}
}

// run connects, evaluates the example's flags and prints them to stdout,
// then prints the configuration changes until ctx is done.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("go-app", flag.ContinueOnError)
	mode := fs.String("mode", "rpc", "provider mode: rpc or in-process")
	host := fs.String("host", provider.DefaultHost, "the daemon's host")
	port := fs.Int("port", 0, "the daemon's port (0: 8013 for rpc, 8015 for in-process)")
	email := fs.String("email", "ana@vexil.example", "the user's email (new-checkout is on for @vexil.example)")
	user := fs.String("user", "user-1", "the user's targeting key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var resolver provider.Resolver
	switch *mode {
	case "rpc":
		resolver = provider.ResolverRPC
	case "in-process":
		resolver = provider.ResolverInProcess
	default:
		return fmt.Errorf("unknown mode %q (want rpc or in-process)", *mode)
	}
	opts := []provider.Option{provider.WithResolver(resolver), provider.WithHost(*host)}
	if *port != 0 {
		opts = append(opts, provider.WithPort(*port))
	}
	p, err := provider.New(opts...)
	if err != nil {
		return err
	}
	if err := openfeature.SetProviderAndWait(p); err != nil {
		return fmt.Errorf("connecting to the daemon: %w", err)
	}
	defer openfeature.Shutdown()

	// Writes come from this goroutine and the event handler's.
	out := &lockedWriter{w: stdout}
	client := openfeature.NewClient("go-app")
	onChange := func(e openfeature.EventDetails) {
		keys := slices.Clone(e.FlagChanges)
		slices.Sort(keys)
		fmt.Fprintf(out, "configuration changed: %v\n", keys)
	}
	callback := openfeature.EventCallback(&onChange)
	client.AddHandler(openfeature.ProviderConfigChange, callback)
	defer client.RemoveHandler(openfeature.ProviderConfigChange, callback)

	evalCtx := openfeature.NewEvaluationContext(*user, map[string]any{
		"email":      *email,
		"appVersion": "2.1.0",
		"country":    "NO",
	})
	fmt.Fprintf(out, "evaluating as %s <%s> (%s mode)\n", *user, *email, resolver)
	b, err := client.BooleanValueDetails(ctx, "new-checkout", false, evalCtx)
	printResult(out, "new-checkout", b.Value, b.EvaluationDetails, err)
	s, err := client.StringValueDetails(ctx, "welcome-message", "Hello", evalCtx)
	printResult(out, "welcome-message", s.Value, s.EvaluationDetails, err)
	i, err := client.IntValueDetails(ctx, "search-results-per-page", 20, evalCtx)
	printResult(out, "search-results-per-page", i.Value, i.EvaluationDetails, err)
	f, err := client.FloatValueDetails(ctx, "discount-rate", 0, evalCtx)
	printResult(out, "discount-rate", f.Value, f.EvaluationDetails, err)
	o, err := client.ObjectValueDetails(ctx, "theme", map[string]any{}, evalCtx)
	printResult(out, "theme", o.Value, o.EvaluationDetails, err)
	lb, err := client.BooleanValueDetails(ctx, "legacy-banner", false, evalCtx)
	printResult(out, "legacy-banner", lb.Value, lb.EvaluationDetails, err)

	fmt.Fprintln(out, "listening for configuration changes (interrupt to stop)")
	<-ctx.Done()
	return nil
}

// printResult prints one evaluation: its value, variant and reason, or its error.
func printResult(w io.Writer, key string, value any, d openfeature.EvaluationDetails, err error) {
	if err != nil {
		fmt.Fprintf(w, "%s = %v (reason %s, error %s)\n", key, value, d.Reason, d.ErrorCode)
		return
	}
	if d.Variant == "" {
		fmt.Fprintf(w, "%s = %v (reason %s)\n", key, value, d.Reason)
		return
	}
	fmt.Fprintf(w, "%s = %v (variant %s, reason %s)\n", key, value, d.Variant, d.Reason)
}

// lockedWriter serializes writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
