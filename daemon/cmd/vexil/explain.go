package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/examples"
)

func newExplainCmd() *cobra.Command {
	var (
		files     []string
		key       string
		ctxArg    string
		typeName  string
		output    string
		daemonURL string
		selector  string
	)
	cmd := &cobra.Command{
		Use:   "explain --flag KEY [--flags FILE... | --daemon URL]",
		Short: "Show why a flag resolves as it does for a context",
		Long: `Explain evaluates one flag for a context, with the same compiled rule the
daemon evaluates, and shows why it resolves as it does: the flag's source
(and the definitions of the key it hides in lower-priority sources), its
state, every operator of its targeting rule in the order evaluated, with
its arguments' values and its result, the branch each "if" took, each
"var" looked up (found or missing), the evaluators its $refs named, how
"fractional" bucketed (the string hashed, the hash, the bucket, the
weights) and how "sem_ver" read its versions; then the variant, value,
reason and error.

The flags come from files, loaded as "vexil eval" loads them (later files
win), or, with --daemon, from a running daemon: its management port's
POST /api/v1/explain answers (with --selector sent as Flagd-Selector).
Without either, the bundled example examples/flags/demo.flags.json.

The default output is a tree for people; --output json prints the JSON
the daemon's endpoint answers. The exit code is 1 when the evaluation
ends in an error (an unknown flag, a failing rule), as "vexil eval".`,
		Example: `  vexil explain --flags flags.json --flag new-checkout --context '{"email":"ana@vexil.example"}'
  vexil explain -f base.json -f override.yaml --flag limit --context @ctx.json --output json
  vexil explain --daemon http://localhost:8014 --flag new-checkout --selector flagSetId=web`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("explain takes no arguments (the flag is given with --flag)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				return usageErrorf("--flag is required")
			}
			kind, ok := evaluator.ParseKind(typeName)
			if !ok {
				return usageErrorf("--type must be boolean, string, integer, float or object, not %q", typeName)
			}
			if output != "text" && output != "json" {
				return usageErrorf("--output must be text or json, not %q", output)
			}
			if daemonURL != "" && len(files) > 0 {
				return usageErrorf("--daemon and --flags exclude each other")
			}
			if u, err := url.Parse(daemonURL); daemonURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				return usageErrorf("--daemon must be an http:// or https:// URL of the management port, not %q", daemonURL)
			}
			sel, err := resolve.ParseSelector(selector)
			if err != nil {
				return usageErrorf("--selector: %v", err)
			}
			evalCtx, err := readContext(ctxArg, cmd.InOrStdin())
			if err != nil {
				return usageErrorf("--context: %v", err)
			}
			var body []byte
			if daemonURL != "" {
				body, err = explainRemote(cmd.Context(), daemonURL, selector, explainRequest{FlagKey: key, Context: evalCtx, Type: typeName})
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "error: %v\n", err)
					return failed
				}
			} else {
				read := os.ReadFile
				if len(files) == 0 {
					files = []string{examples.DefaultFlagsPath}
					read = examples.Flags.ReadFile
					fmt.Fprintf(cmd.ErrOrStderr(), "no --flags given: explaining the bundled example %s\n", "examples/"+examples.DefaultFlagsPath)
				}
				st, err := loadFlags(files, read, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				sc := resolve.New(resolve.Config{Store: st}).Scope(sel, evalCtx, nil, false)
				if body, err = daemon.MarshalExplanation(sc.Explain(key, kind)); err != nil {
					return &exitError{code: 1, err: err}
				}
			}
			var x explainDoc
			if err := json.Unmarshal(body, &x); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("the explanation does not decode: %v", err)}
			}
			var ret error
			if x.ErrorCode != "" {
				ret = failed
			}
			if output == "json" {
				var out bytes.Buffer
				if err := json.Indent(&out, body, "", "  "); err != nil {
					return &exitError{code: 1, err: err}
				}
				return writeLine(cmd.OutOrStdout(), out.Bytes(), ret)
			}
			var out strings.Builder
			renderExplanation(&out, &x)
			if _, err := io.WriteString(cmd.OutOrStdout(), out.String()); err != nil {
				return &exitError{code: 1, err: err}
			}
			return ret
		},
	}
	cmd.Flags().StringArrayVarP(&files, "flags", "f", nil, "flag document to load (repeatable; later files win)")
	cmd.Flags().StringVar(&key, "flag", "", "key of the flag to explain (required)")
	cmd.Flags().StringVarP(&ctxArg, "context", "c", "", "evaluation context: a JSON object, @FILE to read it from a file, or @- for stdin")
	cmd.Flags().StringVarP(&typeName, "type", "t", "", "type to resolve the flag as: boolean, string, integer, float or object (default: any)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&daemonURL, "daemon", "", "ask the daemon whose management port is at this URL (http://HOST:PORT)")
	cmd.Flags().StringVar(&selector, "selector", "", "selector, as the Flagd-Selector header: flagSetId=ID or source=NAME")
	return cmd
}

// explainRequest is the body of POST /api/v1/explain.
type explainRequest struct {
	FlagKey string         `json:"flagKey"`
	Context map[string]any `json:"context"`
	Type    string         `json:"type,omitempty"`
}

// explainRemote asks a daemon's management port.
func explainRemote(ctx context.Context, base, selector string, req explainRequest) ([]byte, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	u = u.JoinPath(daemon.ExplainPath)
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if selector != "" {
		hr.Header.Set(resolve.SelectorHeader, selector)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	// An explanation (also of a flag not found, 404) has a "reason".
	var probe struct {
		Reason       string `json:"reason"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(data, &probe) != nil || probe.Reason == "" {
		msg := strings.TrimSpace(string(data))
		if probe.ErrorMessage != "" {
			msg = probe.ErrorMessage
		}
		return nil, fmt.Errorf("%s answered %s: %s", u, resp.Status, msg)
	}
	return bytes.TrimSpace(data), nil
}

// explainDoc is an explanation's JSON, decoded: what the text output
// shows, whether it comes from files or a daemon.
type explainDoc struct {
	FlagKey      string          `json:"flagKey"`
	Variant      *string         `json:"variant"`
	Value        json.RawMessage `json:"value"`
	Reason       string          `json:"reason"`
	ErrorCode    string          `json:"errorCode"`
	ErrorMessage string          `json:"errorMessage"`
	Source       string          `json:"source"`
	Shadowed     []struct {
		Source         string `json:"source"`
		FlagSetID      string `json:"flagSetId"`
		State          string `json:"state"`
		DefaultVariant string `json:"defaultVariant"`
	} `json:"shadowed"`
	FlagSetID      string          `json:"flagSetId"`
	State          string          `json:"state"`
	DefaultVariant string          `json:"defaultVariant"`
	Type           string          `json:"type"`
	Refs           []string        `json:"refs"`
	Context        json.RawMessage `json:"context"`
	Trace          *explainNode    `json:"trace"`
}

type explainNode struct {
	Op       string            `json:"op"`
	Pointer  string            `json:"pointer"`
	Args     []json.RawMessage `json:"args"`
	Result   json.RawMessage   `json:"result"`
	Error    string            `json:"error"`
	Failed   bool              `json:"failed"`
	Children []*explainNode    `json:"children"`
	Ref      string            `json:"ref"`
	Branch   string            `json:"branch"`
	Clause   *int              `json:"clause"`
	Path     *string           `json:"path"`
	Found    *bool             `json:"found"`
	BucketBy json.RawMessage   `json:"bucketBy"`
	Hash     *uint32           `json:"hash"`
	Bucket   *uint64           `json:"bucket"`
	Weights  []struct {
		Variant json.RawMessage `json:"variant"`
		Weight  int64           `json:"weight"`
	} `json:"weights"`
	TotalWeight *int64          `json:"totalWeight"`
	Variant     json.RawMessage `json:"variant"`
	Problem     string          `json:"problem"`
	SemVer      *struct {
		Version      string          `json:"version"`
		VersionValid bool            `json:"versionValid"`
		Operator     json.RawMessage `json:"operator"`
		Target       string          `json:"target"`
		TargetValid  bool            `json:"targetValid"`
	} `json:"semVer"`
	Elided int `json:"elided"`
}

// renderExplanation writes the text form of an explanation.
func renderExplanation(w *strings.Builder, x *explainDoc) {
	field := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%-9s%s\n", name, fmt.Sprintf(format, args...))
	}
	var about []string
	if x.FlagSetID != "" {
		about = append(about, "flag set "+x.FlagSetID)
	}
	if x.State != "" {
		about = append(about, "state "+x.State)
	}
	if x.DefaultVariant != "" {
		about = append(about, "default variant "+x.DefaultVariant)
	}
	if len(about) > 0 {
		field("flag", "%s (%s)", x.FlagKey, strings.Join(about, ", "))
	} else {
		field("flag", "%s", x.FlagKey)
	}
	if x.Source != "" {
		field("source", "%s", x.Source)
	}
	for _, d := range x.Shadowed {
		where := d.Source
		if d.FlagSetID != "" {
			where += ", flag set " + d.FlagSetID
		}
		field("hides", "%s (state %s, default variant %s)", where, orNone(d.State), orNone(d.DefaultVariant))
	}
	if len(x.Context) > 0 {
		field("context", "%s", compactJSON(x.Context, 200))
	}
	switch {
	case x.ErrorCode != "":
		field("result", "%s %s: %s", x.Reason, x.ErrorCode, x.ErrorMessage)
	case x.Variant != nil:
		field("result", "variant %s = %s (%s)", *x.Variant, compactJSON(x.Value, 200), x.Reason)
	default:
		field("result", "no variant: the caller's default (%s)", x.Reason)
	}
	if len(x.Refs) > 0 {
		field("refs", "%s", strings.Join(x.Refs, ", "))
	}
	if x.Trace == nil {
		switch {
		case x.ErrorCode == "FLAG_NOT_FOUND":
		case x.Reason == "DISABLED":
			w.WriteString("\nThe flag is disabled: its targeting is not evaluated.\n")
		default:
			w.WriteString("\nNo targeting rule applies.\n")
		}
		return
	}
	w.WriteString("\ntargeting\n")
	renderNode(w, x.Trace, "", "")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// renderNode writes a trace node and its children as a tree: first is the
// prefix of the node's own line, rest that of the lines below it.
func renderNode(w *strings.Builder, n *explainNode, first, rest string) {
	w.WriteString(first)
	w.WriteString(nodeLine(n))
	w.WriteByte('\n')
	var notes []string
	if n.Hash != nil || n.Problem != "" || len(n.Weights) > 0 {
		notes = fractionalNotes(n)
	}
	if n.SemVer != nil {
		s := n.SemVer
		notes = append(notes, fmt.Sprintf("versions: %s%s %s %s%s", s.Version, validity(s.VersionValid), compactJSON(s.Operator, 20), s.Target, validity(s.TargetValid)))
	}
	if n.Error != "" {
		notes = append(notes, "error: "+n.Error)
	}
	if n.Elided > 0 {
		notes = append(notes, fmt.Sprintf("%d more operators evaluated, not traced", n.Elided))
	}
	items := len(n.Children) + len(notes)
	i := 0
	for _, c := range n.Children {
		i++
		if i == items {
			renderNode(w, c, rest+"└─ ", rest+"   ")
		} else {
			renderNode(w, c, rest+"├─ ", rest+"│  ")
		}
	}
	for _, note := range notes {
		i++
		branch := "├─ "
		if i == items {
			branch = "└─ "
		}
		w.WriteString(rest + branch + note + "\n")
	}
}

func validity(ok bool) string {
	if ok {
		return ""
	}
	return " (invalid)"
}

// nodeLine is one node's line: the operator, its arguments, its result.
func nodeLine(n *explainNode) string {
	result := compactJSON(n.Result, 80)
	if n.Failed {
		result = "✗ failed"
	}
	switch n.Op {
	case "var":
		line := "var " + derefString(n.Path) + " → " + result
		if n.Found != nil && !*n.Found {
			line += "  (missing"
			if len(n.Args) == 2 {
				line += "; default " + compactJSON(n.Args[1], 40)
			}
			line += ")"
		}
		return line
	case "$ref":
		return fmt.Sprintf("$ref %q → %s", n.Ref, result)
	case "if", "?:":
		line := n.Op + " → " + result
		switch n.Branch {
		case "then":
			line += fmt.Sprintf("  (then: clause %d)", derefInt(n.Clause))
		case "else":
			line += fmt.Sprintf("  (else: clause %d)", derefInt(n.Clause))
		case "none":
			line += "  (no condition held, no else)"
		}
		return line
	}
	args := make([]string, len(n.Args))
	for i, a := range n.Args {
		args[i] = compactJSON(a, 60)
	}
	if n.Failed && len(n.Args) == 0 {
		args = []string{"…"} // it failed evaluating them
	}
	return n.Op + "(" + strings.Join(args, ", ") + ") → " + result
}

// fractionalNotes describe how fractional bucketed.
func fractionalNotes(n *explainNode) []string {
	var notes []string
	if n.Hash != nil {
		line := fmt.Sprintf("bucket by %s: hash %d", compactJSON(n.BucketBy, 80), *n.Hash)
		if n.Bucket != nil && n.TotalWeight != nil {
			line += fmt.Sprintf(", bucket %d of [0, %d)", *n.Bucket, *n.TotalWeight)
		}
		notes = append(notes, line)
	}
	if len(n.Weights) > 0 {
		var parts []string
		var start int64
		for _, b := range n.Weights {
			part := fmt.Sprintf("%s %d [%d, %d)", compactJSON(b.Variant, 40), b.Weight, start, start+b.Weight)
			if n.Bucket != nil && int64(*n.Bucket) >= start && int64(*n.Bucket) < start+b.Weight {
				part += " ←"
			}
			start += b.Weight
			parts = append(parts, part)
		}
		notes = append(notes, "weights: "+strings.Join(parts, " · "))
	}
	if n.Problem != "" {
		notes = append(notes, "null: "+n.Problem)
	}
	return notes
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	if *s == "" {
		return `""`
	}
	return *s
}

func derefInt(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// compactJSON is raw JSON on one line, keys sorted, cut past max runes.
func compactJSON(raw json.RawMessage, max int) string {
	if len(raw) == 0 {
		return "null"
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	var buf bytes.Buffer
	writeCompact(&buf, v)
	s := buf.String()
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return s
}

func writeCompact(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCompact(buf, k)
			buf.WriteByte(':')
			writeCompact(buf, x[k])
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCompact(buf, e)
		}
		buf.WriteByte(']')
	default:
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(x)
		buf.Truncate(buf.Len() - 1) // the newline Encode adds
	}
}
