package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vexilhq/vexil/daemon/internal/blast"
	"github.com/vexilhq/vexil/daemon/internal/store"
)

func newDiffCmd() *cobra.Command {
	var (
		contexts string
		output   string
		examples int
	)
	cmd := &cobra.Command{
		Use:   "diff OLD NEW --contexts FILE",
		Short: "Show whom a change to flag files would flip",
		Long: `Diff compares two versions of a daemon's flags and tells, for a set of
evaluation contexts, whom the change flips: the blast radius of a rollout
step, a segment edit or a kill switch, before it ships.

OLD and NEW are each a flag document or a directory, loaded as eval loads
its files (flagd's rules; what flagd only warns about is printed to stderr
and accepted). A directory stands for its .json, .yaml and .yml files, in
name order, each a source, later ones winning for the same flag.

FILE holds the contexts as JSON lines: one JSON object per line (blank
lines are skipped); - reads standard input. For every flag whose definition
differs (added, removed or changed), diff evaluates every context under
both definitions, on all cores, and prints how many contexts change, the
transitions between variants with their counts and the first few contexts
of each transition (context #N is the file's Nth context). A context
changes when its variant does, or its variant's value. (none) stands for
no variant: the flag is absent or disabled, has no default variant, or the
evaluation fails.

--output json prints {"contexts": N, "flags": [{"key", "change",
"evaluated", "changed", "transitions": [{"from", "to", "count"}],
"unchanged", "examples"}]}, a variant being its name or null.

The exit code is 1 when a flag document is rejected or cannot be read, or
the contexts cannot be (a line that is not a JSON object is named by its
number).`,
		Example: `  vexil diff flags.json flags.next.json --contexts users.jsonl
  vexil diff deployed/ proposed/ --contexts - --output json < users.jsonl`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErrorf("diff takes two arguments, OLD and NEW (flag files or directories), not %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageErrorf("--output must be text or json, not %q", output)
			}
			if contexts == "" {
				return usageErrorf("diff needs --contexts FILE (JSON lines; - for standard input)")
			}
			if examples < 0 || examples > 100 {
				return usageErrorf("--examples must be from 0 to 100, not %d", examples)
			}
			stderr := cmd.ErrOrStderr()
			var snaps [2]*store.Snapshot
			for i, arg := range args {
				files, err := flagFilesOf(arg)
				if err != nil {
					fmt.Fprintf(stderr, "error: %s\n", err)
					return failed
				}
				st, err := loadFlags(files, os.ReadFile, stderr)
				if err != nil {
					return err
				}
				snaps[i] = st.Current()
			}

			in := cmd.InOrStdin()
			if contexts != "-" {
				f, err := os.Open(contexts)
				if err != nil {
					return &exitError{code: 1, err: fmt.Errorf("--contexts: %s: %s", contexts, readError(err))}
				}
				defer f.Close()
				in = f
			}
			cfg := blast.Config{Examples: examples}
			if examples == 0 {
				cfg.Examples = -1
			}
			rep, err := blast.Run(cmd.Context(), blast.Compare(snaps[0], snaps[1]), blast.NewLineReader(in), cfg)
			if err != nil {
				name := contexts
				if name == "-" {
					name = "standard input"
				}
				return &exitError{code: 1, err: fmt.Errorf("--contexts: %s: %v", name, err)}
			}
			if output == "json" {
				err = writeDiffJSON(cmd.OutOrStdout(), rep)
			} else {
				err = writeDiffText(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&contexts, "contexts", "c", "", "evaluation contexts, one JSON object a line (- for standard input)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().IntVar(&examples, "examples", blast.DefaultExamples, "example contexts to show per transition (0 to 100)")
	return cmd
}

// flagFilesOf returns the flag documents a diff argument stands for: the
// file itself, or a directory's .json, .yaml and .yml files in name order
// (none for an empty directory: no flags).
func flagFilesOf(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read: %s", path, readError(err))
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the directory: %s", path, readError(err))
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".json", ".yaml", ".yml":
		default:
			continue
		}
		if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(path, e.Name())); err == nil && fi.IsDir() {
				continue
			}
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

func writeDiffJSON(w io.Writer, rep *blast.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}

// variantText shows a variant for people.
func variantText(v *string) string {
	if v == nil {
		return "(none)"
	}
	return *v
}

func writeDiffText(w io.Writer, rep *blast.Report) error {
	var b strings.Builder
	switch len(rep.Flags) {
	case 0:
		fmt.Fprintf(&b, "No flag differs (%s read).\n", plural(rep.Contexts, "context"))
	case 1:
		fmt.Fprintf(&b, "1 flag differs; %s evaluated under both.\n", plural(rep.Contexts, "context"))
	default:
		fmt.Fprintf(&b, "%d flags differ; %s evaluated under both.\n", len(rep.Flags), plural(rep.Contexts, "context"))
	}
	for _, f := range rep.Flags {
		name := f.Key
		if f.FlagSetID != "" {
			name += " (flag set " + f.FlagSetID + ")"
		}
		fmt.Fprintf(&b, "\n%s: %s", name, f.Change)
		switch {
		case f.OldSource != "" && f.NewSource != "" && f.OldSource != f.NewSource:
			fmt.Fprintf(&b, ", in %s, now in %s", f.OldSource, f.NewSource)
		case f.NewSource != "":
			fmt.Fprintf(&b, ", in %s", f.NewSource)
		default:
			fmt.Fprintf(&b, ", in %s", f.OldSource)
		}
		fmt.Fprintf(&b, "\n  %s\n", strings.TrimSpace(fmt.Sprintf("%d of %d contexts change %s", f.Changed, f.Evaluated, percent(f.Changed, f.Evaluated))))
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		for _, t := range f.Transitions {
			note := ""
			if t.ValueChanged {
				note = ", its value changed"
			}
			fmt.Fprintf(tw, "    %s -> %s\t%d\t%s%s\n", variantText(t.From), variantText(t.To), t.Count, percent(t.Count, f.Evaluated), note)
		}
		for _, u := range f.Unchanged {
			fmt.Fprintf(tw, "    %s unchanged\t%d\t%s\n", variantText(u.Variant), u.Count, percent(u.Count, f.Evaluated))
		}
		_ = tw.Flush()
		for _, e := range f.Examples {
			fmt.Fprintf(&b, "  e.g. %s -> %s: context #%d %s\n", variantText(e.From), variantText(e.To), e.Index+1, e.Context)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// percent shows n as a share of total: "(12.5%)", nothing when total is 0.
func percent(n, total int) string {
	if total == 0 {
		return ""
	}
	return fmt.Sprintf("(%.1f%%)", 100*float64(n)/float64(total))
}
