package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/examples"
	"github.com/vexilhq/vexil/syncsources"
)

func newEvalCmd() *cobra.Command {
	var (
		files    []string
		key      string
		ctxArg   string
		typeName string
	)
	cmd := &cobra.Command{
		Use:   "eval [--flags FILE...] [--flag KEY]",
		Short: "Evaluate flags as the daemon would answer",
		Long: `Eval loads flag documents as the daemon does (flagd's rules: what flagd only
warns about is printed to stderr and accepted), each file a source of the
daemon's flag store, which decides which definition of a key is served as in
the daemon (for a key in several files, the later file wins; for a key in
several flag sets of one file, the greatest flag set id), and evaluates one
flag (--flag) or all.
Without --flags it evaluates the bundled example, examples/flags/demo.flags.json.

It prints the JSON the daemon answers over HTTP (the Connect protocol) for
flagd.evaluation.v1.Service: the Resolve<Type> response for one flag, or the
ResolveAll response. When the daemon would answer with an error, eval prints
the Connect error body, such as {"code":"not_found","message":"Flag not found"},
and exits with code 1.

Without --type, the type is that of the flag's variants; numbers are
integers when every variant is a whole number, floats otherwise.`,
		Example: `  vexil eval --flags flags.json
  vexil eval --flags flags.json --flag new-welcome --context '{"email":"a@example.com"}'
  vexil eval --flags base.json --flags override.yaml --flag limit --type integer --context @ctx.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("eval takes no arguments (flag files are given with --flags)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			kind, ok := evaluator.ParseKind(typeName)
			if !ok {
				return usageErrorf("--type must be boolean, string, integer, float or object, not %q", typeName)
			}
			if kind != evaluator.KindAny && key == "" {
				return usageErrorf("--type needs --flag")
			}
			evalCtx, err := readContext(ctxArg, cmd.InOrStdin())
			if err != nil {
				return usageErrorf("--context: %v", err)
			}
			read := os.ReadFile
			if len(files) == 0 {
				// No file: the bundled example, so that the command works
				// on a fresh checkout.
				files = []string{examples.DefaultFlagsPath}
				read = examples.Flags.ReadFile
				fmt.Fprintf(cmd.ErrOrStderr(), "no --flags given: evaluating the bundled example %s\n", "examples/"+examples.DefaultFlagsPath)
			}
			st, err := loadFlags(files, read, cmd.ErrOrStderr())
			if err != nil {
				return err
			}

			// Through the daemon's one evaluation pipeline, as its
			// flagd.evaluation.v1 service answers a request without a
			// selector or headers (evalsvc's Resolve<Type> and ResolveAll).
			sc := resolve.New(resolve.Config{Store: st}).Scope(store.Selector{}, evalCtx, nil, false)
			var msg proto.Message
			if key == "" {
				msg = wire.ResolveAllV1Of(sc.Flags(), func(key string, kind evaluator.Kind) evaluator.Result {
					return sc.Evaluate(cmd.Context(), key, kind)
				})
			} else {
				if kind == evaluator.KindAny {
					kind = inferKind(sc.Snapshot, key, sc.Context)
				}
				var cerr *connect.Error
				msg, cerr = wire.ResolveV1(kind, sc.Evaluate(cmd.Context(), key, kind))
				if cerr != nil {
					// What the daemon sends instead of a response.
					return writeLine(cmd.OutOrStdout(), wire.ErrorJSON(cerr), failed)
				}
			}
			out, err := wire.MarshalJSON(msg)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			return writeLine(cmd.OutOrStdout(), out, nil)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "flags", "f", nil, "flag document to load (repeatable; later files win)")
	cmd.Flags().StringVar(&key, "flag", "", "key of the flag to evaluate (default: all flags)")
	cmd.Flags().StringVarP(&ctxArg, "context", "c", "", "evaluation context: a JSON object, @FILE to read it from a file, or @- for stdin")
	cmd.Flags().StringVarP(&typeName, "type", "t", "", "type to resolve --flag as: boolean, string, integer, float or object")
	return cmd
}

func writeLine(w io.Writer, line []byte, ret error) error {
	if _, err := fmt.Fprintf(w, "%s\n", line); err != nil {
		return &exitError{code: 1, err: err}
	}
	return ret
}

// readContext reads the evaluation context: inline JSON, @FILE or @-.
func readContext(arg string, stdin io.Reader) (map[string]any, error) {
	if arg == "" {
		return map[string]any{}, nil
	}
	data := []byte(arg)
	if name, ok := strings.CutPrefix(arg, "@"); ok {
		var err error
		if name == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, err
		}
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	switch m := v.(type) {
	case map[string]any:
		return m, nil
	case nil:
		return map[string]any{}, nil
	}
	return nil, fmt.Errorf("must be a JSON object")
}

// loadFlags loads the files into a store as the daemon's sources deliver
// them, one update each, so that the store's rules decide which definition
// of a key is served, as in the daemon: a later file wins over an earlier
// one, and a file listed twice counts once, at its first place. Each file
// is a source named by its path, as the daemon names a file source given by
// path (--sources with provider file); problems name it. They go to
// stderr; a file that cannot be read or is rejected fails the command.
func loadFlags(files []string, read func(string) ([]byte, error), stderr io.Writer) (*store.Store, error) {
	st := store.New(store.Config{Sources: files})
	bad := false
	for i, path := range files {
		if slices.Contains(files[:i], path) {
			fmt.Fprintf(stderr, "warning: %s is listed twice; its first place counts\n", path)
			continue
		}
		data, err := read(path)
		if err != nil {
			fmt.Fprintf(stderr, "error: %s: cannot read the file: %s\n", path, readError(err))
			bad = true
			continue
		}
		c, err := st.Apply(syncsources.Update{Source: path, Data: data, Format: evaluator.FormatForPath(path)})
		bad = bad || err != nil
		for _, state := range c.New.Sources() {
			if state.Name == path {
				for _, pr := range state.Problems {
					fmt.Fprintf(stderr, "%s: %s\n", pr.Severity, pr.String())
				}
			}
		}
	}
	if bad {
		return nil, failed
	}
	return st, nil
}

// inferKind picks the type to resolve a flag as when --type is not given:
// the type its variants share, numbers being integers when every variant is
// a whole number. For a flag whose variants mix types, it is the type of
// the value the flag resolves to (or of its default variant).
func inferKind(snap *store.Snapshot, key string, ctx map[string]any) evaluator.Kind {
	f, ok := snap.Flag(store.Selector{}, key)
	if !ok {
		return evaluator.KindBool // answered with FLAG_NOT_FOUND whatever the type
	}
	switch f.VariantType() {
	case evaluator.ValueBool:
		return evaluator.KindBool
	case evaluator.ValueString:
		return evaluator.KindString
	case evaluator.ValueObject:
		return evaluator.KindObject
	case evaluator.ValueNumber:
		for _, v := range f.Variants() {
			if !isWhole(v) {
				return evaluator.KindFloat
			}
		}
		return evaluator.KindInt
	}
	// Mixed types (or none): go by the value.
	r := snap.Evaluate(store.Selector{}, key, evaluator.KindAny, ctx)
	v := r.Value
	if r.NoValue {
		if name, ok := f.DefaultVariant(); ok {
			v = f.Variants()[name]
		}
	}
	return kindOfValue(v)
}

func kindOfValue(v any) evaluator.Kind {
	switch v.(type) {
	case string:
		return evaluator.KindString
	case map[string]any:
		return evaluator.KindObject
	case float64:
		if isWhole(v) {
			return evaluator.KindInt
		}
		return evaluator.KindFloat
	}
	return evaluator.KindBool
}

// isWhole reports whether v is a number with no fractional part that fits
// an int64.
func isWhole(v any) bool {
	n, ok := v.(float64)
	return ok && n == math.Trunc(n) && n >= math.MinInt64 && n < math.MaxInt64
}
