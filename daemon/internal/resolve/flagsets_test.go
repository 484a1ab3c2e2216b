package resolve_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/ofrep"
	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// flagSetGolden is a scenario of testdata/flagsets: the documents of its
// directory, loaded as flagd loads "--uri" URIs, and the answers flagd
// gave (recorded from flagd, see recordedWith) to typed resolves,
// ResolveAll and OFREP single and bulk evaluations, with and without a
// Flagd-Selector.
type flagSetGolden struct {
	RecordedWith string   `json:"recordedWith"`
	URIs         []string `json:"uris"`
	Exchanges    []struct {
		Port     string          `json:"port"` // "eval" or "ofrep"
		Path     string          `json:"path"`
		Selector *string         `json:"selector"`
		Body     json.RawMessage `json:"body"`
		Status   int             `json:"status"`
		Answer   any             `json:"answer"`
	} `json:"exchanges"`
}

// TestFlagSetsAsFlagdAnswers replays flagd's recorded answers for the same
// keys in several flag sets and sources (also of different types), flags
// flagd's store cannot keep, and selectors by flagSetId and by source
// (a file source named by its path, without "file:"), through the v1 and
// v2 evaluation services (fast path and connect-go) and OFREP, and
// compares each answer as a JSON document (the order of OFREP's bulk list
// aside).
func TestFlagSetsAsFlagdAnswers(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "flagsets", "*", "golden.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, goldenPath := range dirs {
		dir := filepath.Dir(goldenPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var g flagSetGolden
			data, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &g); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, uri := range g.URIs {
				names = append(names, strings.TrimPrefix(uri, "file:"))
			}
			st := store.New(store.Config{Sources: names})
			for _, name := range names {
				doc, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.Apply(syncsources.Update{Source: name, Data: doc, Format: evaluator.FormatForPath(name)}); err != nil {
					t.Fatalf("loading %s: %v", name, err)
				}
			}
			r := resolve.New(resolve.Config{Store: st})
			handlers := map[string][]http.Handler{
				"eval": {
					evalsvc.New(evalsvc.Config{Resolver: r}).Handler(),
					evalsvc.New(evalsvc.Config{Resolver: r, DisableFastPath: true}).Handler(),
				},
				"ofrep": {ofrep.New(ofrep.Config{Resolver: r}).Handler()},
			}
			for _, ex := range g.Exchanges {
				for i, h := range handlers[ex.Port] {
					req := httptest.NewRequest(http.MethodPost, ex.Path, bytes.NewReader(ex.Body))
					req.Header.Set("Content-Type", "application/json")
					sel := "none"
					if ex.Selector != nil {
						// As a header travels: without its surrounding
						// spaces.
						sel = strings.Trim(*ex.Selector, " \t")
						req.Header.Set(resolve.SelectorHeader, sel)
					}
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					var got any
					if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
						got = w.Body.String()
					}
					if w.Code != ex.Status || !reflect.DeepEqual(normalizeBulk(got), normalizeBulk(ex.Answer)) {
						t.Errorf("%s %s (handler %d) %s, selector %s:\n got %d %s\nwant %d %s", ex.Port, ex.Path, i, ex.Body, sel,
							w.Code, w.Body.Bytes(), ex.Status, mustJSON(t, ex.Answer))
					}
				}
			}
		})
	}
}

// normalizeBulk sorts an OFREP bulk answer's list of flags, whose order
// flagd does not define.
func normalizeBulk(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	list, ok := m["flags"].([]any)
	if !ok {
		return v
	}
	sorted := slices.Clone(list)
	slices.SortFunc(sorted, func(a, b any) int {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return bytes.Compare(ja, jb)
	})
	out := map[string]any{}
	for k, e := range m {
		out[k] = e
	}
	out["flags"] = sorted
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
