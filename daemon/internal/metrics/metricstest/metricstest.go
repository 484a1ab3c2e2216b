// Package metricstest reads metrics back for tests: it scrapes a
// /metrics handler and parses the Prometheus text exposition.
package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
)

// Sample is one line of the exposition: a series and its value. Labels
// with an empty value are left out, as Prometheus leaves them out.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Scrape is what one scrape exposed: the samples, and the family types
// ("# TYPE name type").
type Scrape struct {
	Samples []Sample
	Types   map[string]string
}

// Do scrapes h as Prometheus does and parses the text exposition.
func Do(t testing.TB, h http.Handler) *Scrape {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	s, err := Parse(rec.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return s
}

// Of scrapes m's handler.
func Of(t testing.TB, m *metrics.Metrics) *Scrape {
	t.Helper()
	return Do(t, m.Handler())
}

// Parse parses the text exposition format (version 0.0.4).
func Parse(r io.Reader) (*Scrape, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	s := &Scrape{Types: map[string]string{}}
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			s.Types[name] = typ
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		sample, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q: %w", i+1, line, err)
		}
		s.Samples = append(s.Samples, sample)
	}
	return s, nil
}

func parseSample(line string) (Sample, error) {
	smp := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return smp, fmt.Errorf("no value")
	}
	smp.Name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			if line == "" {
				return smp, fmt.Errorf("unterminated labels")
			}
			if line[0] == '}' {
				line = line[1:]
				break
			}
			if line[0] == ',' {
				line = line[1:]
				continue
			}
			eq := strings.Index(line, `="`)
			if eq < 0 {
				return smp, fmt.Errorf("bad label")
			}
			name := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			for {
				if line == "" {
					return smp, fmt.Errorf("unterminated label value")
				}
				c := line[0]
				line = line[1:]
				if c == '"' {
					break
				}
				if c == '\\' && line != "" {
					switch line[0] {
					case 'n':
						c = '\n'
					default:
						c = line[0]
					}
					line = line[1:]
				}
				val.WriteByte(c)
			}
			if val.Len() > 0 {
				smp.Labels[name] = val.String()
			}
		}
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return smp, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return smp, err
	}
	smp.Value = v
	return smp, nil
}

// Find returns the samples of name that have the given labels (name,
// value pairs; an empty value means the label is absent) among others.
func (s *Scrape) Find(name string, labels ...string) []Sample {
	var out []Sample
	for _, smp := range s.Samples {
		if smp.Name == name && matches(smp.Labels, labels) {
			out = append(out, smp)
		}
	}
	return out
}

func matches(have map[string]string, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		if have[want[i]] != want[i+1] {
			return false
		}
	}
	return true
}

// Value returns the value of the one sample of name whose labels are
// exactly the given ones (name, value pairs; empty values mean absent),
// and whether there is one.
func (s *Scrape) Value(name string, labels ...string) (float64, bool) {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		if labels[i+1] != "" {
			want[labels[i]] = labels[i+1]
		}
	}
	for _, smp := range s.Samples {
		if smp.Name == name && len(smp.Labels) == len(want) && matches(smp.Labels, labels) {
			return smp.Value, true
		}
	}
	return 0, false
}

// Sum returns the sum of the values of the samples Find returns.
func (s *Scrape) Sum(name string, labels ...string) float64 {
	var sum float64
	for _, smp := range s.Find(name, labels...) {
		sum += smp.Value
	}
	return sum
}

// LabelValues returns the sorted distinct values of label among the
// samples of name (an absent label gives "").
func (s *Scrape) LabelValues(name, label string) []string {
	var out []string
	for _, smp := range s.Samples {
		if smp.Name == name && !slices.Contains(out, smp.Labels[label]) {
			out = append(out, smp.Labels[label])
		}
	}
	slices.Sort(out)
	return out
}
