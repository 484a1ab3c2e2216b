package evaluator_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

// flagdAnswers is testdata/flagd_answers.json: a flag document, and the
// answers upstream flagd gave over HTTP JSON to evaluations of its flags.
type flagdAnswers struct {
	Flagd    string          `json:"flagd"`
	Document json.RawMessage `json:"document"`
	Cases    []struct {
		Flag     string         `json:"flag"`
		Kind     string         `json:"kind"`
		Context  map[string]any `json:"context"`
		Protocol string         `json:"protocol"` // "ofrep" (kind any) or "flagd.evaluation.v2"
		Status   int            `json:"status"`
		Answer   map[string]any `json:"answer"`
	} `json:"cases"`
}

// flagdErrorMessages are the messages of flagd's Connect errors, by code.
var flagdErrorMessages = map[string]evaluator.ErrorCode{
	"Flag not found":                       evaluator.CodeFlagNotFound,
	"Type mismatch error":                  evaluator.CodeTypeMismatch,
	"Error parsing input or configuration": evaluator.CodeParseError,
	"General error":                        evaluator.CodeGeneral,
}

// ofrepCode is the error code flagd's OFREP answers give for an
// evaluation error: every code but these two is sent as GENERAL.
func ofrepCode(c evaluator.ErrorCode) string {
	switch c {
	case evaluator.CodeFlagNotFound, evaluator.CodeParseError:
		return c.String()
	}
	return evaluator.CodeGeneral.String()
}

// TestFlagdAnswers evaluates each recorded case and compares the outcome
// (value, variant, reason, error code) with flagd's answer.
func TestFlagdAnswers(t *testing.T) {
	data, err := os.ReadFile("testdata/flagd_answers.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec flagdAnswers
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set, _, err := p.Parse("flagd_answers.json", rec.Document, evaluator.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range rec.Cases {
		kind, ok := evaluator.ParseKind(c.Kind)
		if !ok {
			t.Fatalf("case %d: kind %q", i, c.Kind)
		}
		ctxText, _ := json.Marshal(c.Context)
		t.Run(c.Flag+"/"+c.Kind+"/"+string(ctxText), func(t *testing.T) {
			got := set.Evaluate(c.Flag, kind, c.Context)
			code := evaluator.CodeNone
			if got.Err != nil {
				code = got.Err.Code
			}
			switch {
			case c.Status != 200 && c.Protocol == "ofrep":
				if want := c.Answer["errorCode"]; code == evaluator.CodeNone || ofrepCode(code) != want {
					t.Errorf("got %s (%v), flagd answered error %v", describeResult(got), got.Err, want)
				}
			case c.Status != 200:
				want, known := flagdErrorMessages[c.Answer["message"].(string)]
				if !known || code != want {
					t.Errorf("got %s (%v), flagd answered %v", describeResult(got), got.Err, c.Answer)
				}
			default:
				wantValue, hasValue := c.Answer["value"]
				if kind == evaluator.KindInt && hasValue {
					n, err := strconv.ParseInt(wantValue.(string), 10, 64)
					if err != nil {
						t.Fatal(err)
					}
					wantValue = n
				}
				wantVariant, _ := c.Answer["variant"].(string)
				if code != evaluator.CodeNone || string(got.Reason) != c.Answer["reason"] || got.NoValue == hasValue ||
					hasValue && !reflect.DeepEqual(got.Value, wantValue) || !got.NoValue && got.Variant != wantVariant {
					t.Errorf("got %s (%v), flagd answered %v", describeResult(got), got.Err, c.Answer)
				}
			}
		})
	}
}

func describeResult(r evaluator.Result) string {
	return "value=" + strconv.Quote(jsonText(r.Value)) + " variant=" + strconv.Quote(r.Variant) + " reason=" + string(r.Reason) + " noValue=" + strconv.FormatBool(r.NoValue)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
