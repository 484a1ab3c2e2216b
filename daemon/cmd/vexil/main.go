// Command vexil is Vexil's command line: the flag daemon and the tools
// around it.
//
// Each subcommand lives in its own file and is added to the root command in
// newRootCmd:
//
//	vexil validate FILE...   check flag documents (strict by default)
//	vexil eval --flags FILE  evaluate flags as the daemon would answer
//	vexil diff OLD NEW --contexts FILE
//	                         whom a change to flag files would flip
//	vexil explain --flag KEY show why a flag resolves as it does
//	vexil start [--uri URI]  run the flag daemon
//	vexil version            print the version (also vexil --version)
//
// Exit codes: 0 on success, 1 when the command ran and found a problem (an
// invalid document, an evaluation error), 2 when it was called wrongly.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line with the given arguments and streams and
// returns the exit code. Tests call it in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return execute(context.Background(), args, os.LookupEnv, stdin, stdout, stderr)
}

// execute is run with a context, which start runs the daemon until, and
// with the environment looked up through getenv. Tests call it to control
// both.
func execute(ctx context.Context, args []string, getenv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(getenv)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *exitError
	if errors.As(err, &exit) {
		if exit.err != nil {
			fmt.Fprintf(stderr, "vexil: %v\n", exit.err)
		}
		return exit.code
	}
	// Cobra's own errors (unknown command, bad flag) are usage errors.
	fmt.Fprintf(stderr, "vexil: %v\n", err)
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", root.CommandPath())
	return 2
}

// newRootCmd builds the command tree; getenv looks up environment
// variables (os.LookupEnv outside tests). A new subcommand is one file with
// a newXxxCmd function, added here.
func newRootCmd(getenv func(string) (string, bool)) *cobra.Command {
	root := &cobra.Command{
		Use:   "vexil",
		Short: "Vexil, a flagd-compatible feature flag daemon",
		Long: "Vexil is a feature flag daemon compatible with flagd: it reads flagd's\n" +
			"flag-definition format and answers flagd's providers.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       currentVersion(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		newValidateCmd(),
		newEvalCmd(),
		newDiffCmd(),
		newExplainCmd(),
		newStartCmd(getenv),
		newVersionCmd(),
	)
	return root
}

// exitError ends the command with a given exit code. err, when set, is
// printed to stderr; it is nil when the command already reported what went
// wrong.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports a command called wrongly (exit code 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// failed reports that the command ran and found a problem it has already
// printed (exit code 1).
var failed = &exitError{code: 1}
