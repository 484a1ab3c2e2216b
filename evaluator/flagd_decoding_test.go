package evaluator_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

// flagdDecodingAnswers is a golden file of testdata/flagd-decoding: the OFREP
// single-flag answers upstream flagd gave for each key of the document of
// the same name (recorded facts; see the file's "flagd" for the commit).
type flagdDecodingAnswers struct {
	Flagd   string `json:"flagd"`
	Answers map[string]struct {
		Status int            `json:"status"`
		Body   map[string]any `json:"body"`
	} `json:"answers"`
}

// ofrepBody is the OFREP answer a result makes, without "errorDetails"
// (its wording is the daemon's): every error code but FLAG_NOT_FOUND and
// PARSE_ERROR is GENERAL there.
func ofrepBody(t *testing.T, key string, r evaluator.Result) map[string]any {
	t.Helper()
	b := map[string]any{"key": key, "metadata": map[string]any{}}
	if len(r.Metadata) > 0 {
		b["metadata"] = map[string]any(r.Metadata)
	}
	if r.Err != nil {
		code := evaluator.CodeOf(r.Err)
		switch code {
		case evaluator.CodeFlagNotFound:
			// The daemon answers a missing flag without metadata.
			b["errorCode"], b["metadata"] = code.String(), map[string]any{}
		case evaluator.CodeParseError:
			b["errorCode"] = code.String()
		default:
			b["errorCode"] = evaluator.CodeGeneral.String()
		}
	} else {
		b["reason"] = string(r.Reason)
		if !r.NoValue {
			b["value"], b["variant"] = r.Value, r.Variant
		}
	}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFlagdDecoding evaluates documents that flagd decodes in its own way
// (field names matched ignoring case, repeated fields merged, $ref
// substituted anywhere in a flag, null values) and compares every flag
// with flagd's recorded answer. Documents named casefold* hold a field
// flagd honours by mistake: the default mode warns about it, strict mode
// rejects the document.
func TestFlagdDecoding(t *testing.T) {
	docs, err := filepath.Glob("testdata/flagd-decoding/*.json")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no documents: %v", err)
	}
	for _, doc := range docs {
		name := strings.TrimSuffix(filepath.Base(doc), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(doc)
			if err != nil {
				t.Fatal(err)
			}
			golden, err := os.ReadFile(strings.TrimSuffix(doc, ".json") + ".flagd")
			if err != nil {
				t.Fatal(err)
			}
			var want flagdDecodingAnswers
			if err := json.Unmarshal(golden, &want); err != nil {
				t.Fatal(err)
			}
			p, err := evaluator.NewParser(evaluator.Options{})
			if err != nil {
				t.Fatal(err)
			}
			set, problems, err := p.Parse("file:"+filepath.Base(doc), data, evaluator.FormatJSON)
			if err != nil {
				t.Fatalf("flagd loads the document; Vexil: %v", err)
			}
			keys := make([]string, 0, len(want.Answers))
			for k := range want.Answers {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, key := range keys {
				w := want.Answers[key]
				wb := w.Body
				delete(wb, "errorDetails")
				got := ofrepBody(t, key, set.Evaluate(key, evaluator.KindAny, nil))
				if !reflect.DeepEqual(got, wb) {
					t.Errorf("flag %q:\n got %v\nflagd %v", key, got, wb)
				}
			}
			if !strings.HasPrefix(name, "casefold") {
				return
			}
			warned := false
			for _, pr := range problems {
				if pr.Severity == evaluator.SeverityWarning && strings.Contains(pr.Message, "ignores case") && pr.Pointer != "" {
					warned = true
				}
			}
			if !warned {
				t.Errorf("no warning about a field matched ignoring case: %v", problems)
			}
			sp, err := evaluator.NewParser(evaluator.Options{Strict: true})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = sp.Parse("file:"+filepath.Base(doc), data, evaluator.FormatJSON)
			var le *evaluator.LoadError
			if !errors.As(err, &le) {
				t.Errorf("strict mode loads the document: %v", err)
			}
		})
	}
}

// TestFlagdDropsEmptyKey: flagd's store does not keep a flag whose key is
// "" (flagd bbb05d4 answers ResolveBoolean {"flagKey":""} on
// testdata/flagd-decoding/key-empty.json with 404 not_found, and leaves it
// out of ResolveAll and OFREP bulk).
func TestFlagdDropsEmptyKey(t *testing.T) {
	set := loadSet(t, "testdata/flagd-decoding/key-empty.json", evaluator.Options{})
	if _, ok := set.Flag(""); ok {
		t.Errorf("the flag keyed \"\" is served")
	}
	for _, f := range set.Flags() {
		if f.Key() == "" {
			t.Errorf("the flag keyed \"\" is listed")
		}
	}
}
