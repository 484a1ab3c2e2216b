package evaluator

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says whether a problem rejects a document.
type Severity uint8

const (
	// SeverityWarning: flagd serves the document anyway, and so does Vexil
	// unless Options.Strict is set.
	SeverityWarning Severity = iota
	// SeverityError: the document is rejected whole.
	SeverityError
)

func (s Severity) String() string {
	if s == SeverityError {
		return "error"
	}
	return "warning"
}

// Problem is one thing wrong with a flag document.
type Problem struct {
	Severity Severity `json:"severity"`
	// Source names the document (a file path or URI), when known.
	Source string `json:"source,omitempty"`
	// FlagKey is the flag the problem is in, when it is in one.
	FlagKey string `json:"flagKey,omitempty"`
	// Pointer is a JSON pointer into the document ("/flags/a/variants").
	Pointer string `json:"pointer"`
	Message string `json:"message"`
	// Line and Column are where Pointer is in the document's text (1-based,
	// the column in characters), when it could be found: the member's name
	// for a member of an object, the value for an element of an array.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Check names the lint check that found a mistake flagd accepts
	// (CheckVariant, CheckUnreachable, ...); "" for other problems.
	Check string `json:"check,omitempty"`
}

// String formats the problem as "source:line:column: flags/a/variants:
// message" (without line and column when the problem has none).
func (p Problem) String() string {
	var b strings.Builder
	if p.Source != "" {
		b.WriteString(p.Source)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", p.Line, p.Column)
	}
	ptr := strings.TrimPrefix(p.Pointer, "/")
	if ptr == "" {
		ptr = "(document)"
	}
	b.WriteString(ptr)
	if p.FlagKey != "" && !strings.HasPrefix(p.Pointer, "/flags/"+escapeToken(p.FlagKey)) {
		fmt.Fprintf(&b, " (flag %q)", p.FlagKey)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// LoadError rejects a document: it holds every problem found, errors and
// warnings, so that all can be fixed at once.
type LoadError struct {
	Source   string
	Problems []Problem
}

func (e *LoadError) Error() string {
	var errs []string
	for _, p := range e.Problems {
		if p.Severity == SeverityError {
			errs = append(errs, p.String())
		}
	}
	what := "flag document"
	if e.Source != "" {
		what = e.Source
	}
	if len(errs) == 1 {
		return "invalid " + what + ": " + errs[0]
	}
	return fmt.Sprintf("invalid %s: %d problems:\n  %s", what, len(errs), strings.Join(errs, "\n  "))
}

func escapeToken(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func sortProblems(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Pointer != ps[j].Pointer {
			return ps[i].Pointer < ps[j].Pointer
		}
		return ps[i].Message < ps[j].Message
	})
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && p.Pointer == ps[i-1].Pointer && p.Message == ps[i-1].Message {
			if p.Severity > out[len(out)-1].Severity {
				out[len(out)-1].Severity = p.Severity
			}
			continue
		}
		out = append(out, p)
	}
	return out
}
