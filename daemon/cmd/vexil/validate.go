package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/vexilhq/vexil/evaluator"
)

func newValidateCmd() *cobra.Command {
	var (
		lax    bool
		rules  bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check flag documents",
		Long: `Validate parses and checks each flag document (JSON, or YAML for .yaml and
.yml files) and prints every problem found, one a line, as
"severity: file:line:column: pointer: message", then a summary. A directory
stands for the .json, .yaml and .yml files below it (hidden files and
directories, such as a ConfigMap's ..data, left out).

By default it is strict: what flagd only warns about (the flag-definition
JSON Schema, or the one the document's $schema names; variants of mixed
types; unknown operators; and the lint: targeting that can return a
variant the flag does not have, unreachable branches, members flagd
ignores or reads twice, ...) is an error. With --lax, only what flagd
itself rejects is an error.

With --rules, each file is a targeting rule alone (what a flag's
"targeting" holds, as flagd-schemas' targeting.json describes it) and is
checked as the targeting of a flag would be, but for what needs the flag
itself: the variants it can return and the branches its conditions make
unreachable are not judged.

The exit code is 1 when a file cannot be read or has an error, else 0.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("validate needs at least one file or directory")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageErrorf("--output must be text or json, not %q", output)
			}
			p, err := evaluator.NewParser(evaluator.Options{Strict: !lax})
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			reports := make([]fileReport, 0, len(args))
			for _, arg := range args {
				files, err := flagFiles(arg)
				if err != nil {
					reports = append(reports, fileReport{Path: arg, Problems: []evaluator.Problem{{
						Severity: evaluator.SeverityError,
						Source:   arg,
						Message:  err.Error(),
					}}})
					continue
				}
				for _, path := range files {
					if rules {
						reports = append(reports, validateRule(p, path))
					} else {
						reports = append(reports, validateFile(p, path))
					}
				}
			}
			if output == "json" {
				err = writeValidateJSON(cmd.OutOrStdout(), reports)
			} else {
				err = writeValidateText(cmd.OutOrStdout(), reports)
			}
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			for _, r := range reports {
				if !r.Valid {
					return failed
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&lax, "lax", false, "accept what flagd accepts: its warnings are not errors")
	cmd.Flags().BoolVar(&rules, "rules", false, "each file is a targeting rule, not a flag document")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// fileReport is what validate found in one file.
type fileReport struct {
	Path     string
	Valid    bool
	Problems []evaluator.Problem
}

func validateFile(p *evaluator.Parser, path string) fileReport {
	data, err := os.ReadFile(path)
	if err != nil {
		return fileReport{Path: path, Problems: []evaluator.Problem{{
			Severity: evaluator.SeverityError,
			Source:   path,
			Message:  "cannot read the file: " + readError(err),
		}}}
	}
	_, problems, err := p.Parse(path, data, evaluator.FormatForPath(path))
	return fileReport{Path: path, Valid: err == nil, Problems: problems}
}

// ruleFlag is the flag a rule of validate --rules is checked in: the rule
// goes where %s is.
const ruleFlag = `{"flags": {"rule": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "targeting": %s}}}`

// rulePointer is the pointer of the rule in ruleFlag's document.
const rulePointer = "/flags/rule/targeting"

// validateRule checks the targeting rule in path as the targeting of a
// flag, leaving out the checks that need the flag (which variants it has)
// or that a rule alone cannot be judged by (constant conditions, as a
// rule written to show the operators has), and reports the problems with
// pointers, lines and columns in the rule's own text.
func validateRule(p *evaluator.Parser, path string) fileReport {
	data, err := os.ReadFile(path)
	if err != nil {
		return fileReport{Path: path, Problems: []evaluator.Problem{{
			Severity: evaluator.SeverityError,
			Source:   path,
			Message:  "cannot read the file: " + readError(err),
		}}}
	}
	format := evaluator.FormatForPath(path)
	text := data
	if format == evaluator.FormatYAML {
		// A YAML rule is checked as the JSON it decodes to; its positions
		// are found in the YAML text.
		if text, err = yaml.YAMLToJSON(data); err != nil {
			return fileReport{Path: path, Problems: []evaluator.Problem{{
				Severity: evaluator.SeverityError,
				Source:   path,
				Message:  "not a YAML rule: " + err.Error(),
			}}}
		}
	} else {
		format = evaluator.FormatJSON
	}
	if !json.Valid(text) {
		var rule any
		err := json.Unmarshal(text, &rule)
		return fileReport{Path: path, Problems: []evaluator.Problem{{
			Severity: evaluator.SeverityError,
			Source:   path,
			Message:  "not a JSON rule: " + err.Error(),
		}}}
	}
	doc := fmt.Sprintf(ruleFlag, strings.TrimSpace(string(text)))
	_, problems, err := p.Parse(path, []byte(doc), evaluator.FormatJSON)
	valid := err == nil
	var kept []evaluator.Problem
	var pointers []string
	for _, pr := range problems {
		if pr.Check == evaluator.CheckVariant || pr.Check == evaluator.CheckUnreachable {
			continue
		}
		pr.FlagKey, pr.Line, pr.Column = "", 0, 0
		if rest, ok := strings.CutPrefix(pr.Pointer, rulePointer); ok && (rest == "" || rest[0] == '/') {
			pr.Pointer = rest
			pointers = append(pointers, rest)
		}
		kept = append(kept, pr)
	}
	pos := evaluator.Locate(data, format, pointers)
	errs := 0
	for i := range kept {
		if at, ok := pos[kept[i].Pointer]; ok {
			kept[i].Line, kept[i].Column = at.Line, at.Column
		}
		if kept[i].Severity == evaluator.SeverityError {
			errs++
		}
	}
	if !valid && errs == 0 {
		// Only the left-out checks refused the document.
		valid = true
	}
	return fileReport{Path: path, Valid: valid, Problems: kept}
}

// flagFiles is path, or when it is a directory, the flag files below it:
// .json, .yaml and .yml files (in any case), in lexical order, leaving out
// hidden files and directories (a Kubernetes ConfigMap volume's ..data and
// timestamped directories hold the same files again). A symbolic link to a
// file counts as the file.
func flagFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil || !info.IsDir() {
		return []string{path}, nil // read, and reported, as a file
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || evaluator.FormatForPath(p) == evaluator.FormatAuto {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
				return nil
			}
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the directory: %s", readError(err))
	}
	if len(files) == 0 {
		return nil, errors.New("the directory holds no flag file (.json, .yaml, .yml)")
	}
	return files, nil
}

// readError describes a failed read without repeating the path.
func readError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func writeValidateText(w io.Writer, reports []fileReport) error {
	var b strings.Builder
	valid, errs, warns := 0, 0, 0
	for _, r := range reports {
		if r.Valid {
			valid++
		}
		for _, p := range r.Problems {
			if p.Severity == evaluator.SeverityError {
				errs++
			} else {
				warns++
			}
			fmt.Fprintf(&b, "%s: %s\n", p.Severity, p.String())
		}
	}
	fmt.Fprintf(&b, "%s checked: %d valid, %d invalid (%s, %s)\n",
		plural(len(reports), "file"), valid, len(reports)-valid, plural(errs, "error"), plural(warns, "warning"))
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// The JSON output of validate.
type (
	validateJSON struct {
		Files []fileJSON `json:"files"`
	}
	fileJSON struct {
		Path     string        `json:"path"`
		Valid    bool          `json:"valid"`
		Problems []problemJSON `json:"problems"`
	}
	problemJSON struct {
		Severity string `json:"severity"`
		Source   string `json:"source,omitempty"`
		FlagKey  string `json:"flagKey,omitempty"`
		Pointer  string `json:"pointer"`
		Message  string `json:"message"`
		Line     int    `json:"line,omitempty"`
		Column   int    `json:"column,omitempty"`
		Check    string `json:"check,omitempty"`
	}
)

func writeValidateJSON(w io.Writer, reports []fileReport) error {
	doc := validateJSON{Files: make([]fileJSON, 0, len(reports))}
	for _, r := range reports {
		f := fileJSON{Path: r.Path, Valid: r.Valid, Problems: make([]problemJSON, 0, len(r.Problems))}
		for _, p := range r.Problems {
			f.Problems = append(f.Problems, problemJSON{
				Severity: p.Severity.String(),
				Source:   p.Source,
				FlagKey:  p.FlagKey,
				Pointer:  p.Pointer,
				Message:  p.Message,
				Line:     p.Line,
				Column:   p.Column,
				Check:    p.Check,
			})
		}
		doc.Files = append(doc.Files, f)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}
