package evaluator_test

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/vexilhq/vexil/evaluator"
)

func fixedClock(unix int64) func() time.Time {
	return func() time.Time { return time.Unix(unix, 0) }
}

func loadSet(t testing.TB, path string, opts evaluator.Options) *evaluator.FlagSet {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := evaluator.NewParser(opts)
	if err != nil {
		t.Fatal(err)
	}
	set, _, err := p.Parse(path, data, evaluator.FormatForPath(path))
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return set
}

type evalCase struct {
	name    string
	flag    string
	kind    evaluator.Kind
	ctx     map[string]any
	value   any
	variant string
	reason  evaluator.Reason
	code    evaluator.ErrorCode
	noValue bool
}

func TestEvaluate(t *testing.T) {
	set := loadSet(t, "testdata/flags.json", evaluator.Options{Now: fixedClock(1700000000)})
	staff := map[string]any{"email": "ana@staff.example"}
	cases := []evalCase{
		{name: "static bool", flag: "new-checkout", kind: evaluator.KindBool, value: false, variant: "off", reason: evaluator.ReasonStatic},
		{name: "static as any", flag: "new-checkout", kind: evaluator.KindAny, value: false, variant: "off", reason: evaluator.ReasonStatic},
		{name: "static wrong type", flag: "new-checkout", kind: evaluator.KindString, reason: evaluator.ReasonError, code: evaluator.CodeTypeMismatch, noValue: true, variant: "off"},
		{name: "unknown flag", flag: "nope", kind: evaluator.KindBool, reason: evaluator.ReasonError, code: evaluator.CodeFlagNotFound, noValue: true},
		{name: "targeting match", flag: "greeting", kind: evaluator.KindString, ctx: map[string]any{"email": "x@faas.com"}, value: "yo!", variant: "yo", reason: evaluator.ReasonTargetingMatch},
		{name: "targeting null gives default", flag: "greeting", kind: evaluator.KindString, ctx: map[string]any{"email": "x@other.com"}, value: "hello", variant: "hi", reason: evaluator.ReasonDefault},
		{name: "targeting without context", flag: "greeting", kind: evaluator.KindString, value: "hello", variant: "hi", reason: evaluator.ReasonDefault},
		{name: "nested $ref", flag: "page-size", kind: evaluator.KindInt, ctx: staff, value: int64(100), variant: "large", reason: evaluator.ReasonTargetingMatch},
		{name: "nested $ref other branch", flag: "page-size", kind: evaluator.KindInt, ctx: map[string]any{"role": "admin"}, value: int64(100), variant: "large", reason: evaluator.ReasonTargetingMatch},
		{name: "int from default", flag: "page-size", kind: evaluator.KindInt, value: int64(10), variant: "small", reason: evaluator.ReasonDefault},
		{name: "int truncates", flag: "page-size", kind: evaluator.KindInt, ctx: map[string]any{"plan": "weird"}, value: int64(2), variant: "fraction", reason: evaluator.ReasonTargetingMatch},
		{name: "float", flag: "page-size", kind: evaluator.KindFloat, ctx: map[string]any{"plan": "weird"}, value: 2.5, variant: "fraction", reason: evaluator.ReasonTargetingMatch},
		{name: "object", flag: "theme", kind: evaluator.KindObject, ctx: map[string]any{"appVersion": "2.1.0"}, value: map[string]any{"bg": "#000", "fg": "#fff"}, variant: "dark", reason: evaluator.ReasonTargetingMatch},
		{name: "object default", flag: "theme", kind: evaluator.KindObject, ctx: map[string]any{"appVersion": "1.9"}, value: map[string]any{"bg": "#fff", "fg": "#000"}, variant: "light", reason: evaluator.ReasonDefault},
		{name: "disabled", flag: "retired", kind: evaluator.KindBool, reason: evaluator.ReasonDisabled, noValue: true},
		{name: "disabled never mismatches", flag: "retired", kind: evaluator.KindString, reason: evaluator.ReasonDisabled, noValue: true},
		{name: "no default variant", flag: "no-default", kind: evaluator.KindString, reason: evaluator.ReasonDefault, noValue: true},
		{name: "no default variant, match", flag: "no-default", kind: evaluator.KindString, ctx: map[string]any{"targetingKey": "user-b"}, value: "B", variant: "b", reason: evaluator.ReasonTargetingMatch},
		{name: "true names variant true", flag: "bool-targeting", kind: evaluator.KindString, ctx: map[string]any{"num": true}, value: "yes", variant: "true", reason: evaluator.ReasonTargetingMatch},
		{name: "false names variant false", flag: "bool-targeting", kind: evaluator.KindString, ctx: map[string]any{"flag": false}, value: "no", variant: "false", reason: evaluator.ReasonTargetingMatch},
		{name: "number names variant", flag: "bool-targeting", kind: evaluator.KindString, ctx: map[string]any{"num": 2}, value: "two", variant: "2", reason: evaluator.ReasonTargetingMatch},
		{name: "unknown variant", flag: "unknown-variant", kind: evaluator.KindInt, ctx: map[string]any{"suffix": "x"}, reason: evaluator.ReasonError, code: evaluator.CodeGeneral, noValue: true},
		{name: "rule error only when reached", flag: "broken-rule", kind: evaluator.KindInt, value: int64(1), variant: "a", reason: evaluator.ReasonTargetingMatch},
		{name: "rule error", flag: "broken-rule", kind: evaluator.KindInt, ctx: map[string]any{"go": true}, reason: evaluator.ReasonError, code: evaluator.CodeParseError, noValue: true},
		{name: "targeting null", flag: "targeting-null", kind: evaluator.KindInt, value: int64(2), variant: "b", reason: evaluator.ReasonDefault},
		{name: "targeting {}", flag: "targeting-empty", kind: evaluator.KindInt, value: int64(2), variant: "b", reason: evaluator.ReasonStatic},
		{name: "targeting bare string", flag: "targeting-bare-string", kind: evaluator.KindInt, value: int64(1), variant: "a", reason: evaluator.ReasonTargetingMatch},
		{name: "$flagd.flagKey", flag: "flag-key-rule", kind: evaluator.KindString, value: "self", variant: "flag-key-rule", reason: evaluator.ReasonTargetingMatch},
		{name: "$flagd.flagKey cannot be spoofed", flag: "flag-key-rule", kind: evaluator.KindString, ctx: map[string]any{"$flagd": map[string]any{"flagKey": "other"}}, value: "self", variant: "flag-key-rule", reason: evaluator.ReasonTargetingMatch},
		{name: "$flagd.timestamp", flag: "expiry", kind: evaluator.KindString, value: "before", variant: "before", reason: evaluator.ReasonTargetingMatch},
		{name: "unencodable context", flag: "greeting", kind: evaluator.KindString, ctx: map[string]any{"c": make(chan int)}, reason: evaluator.ReasonError, code: evaluator.CodeGeneral, noValue: true},
		{name: "Go types in context", flag: "page-size", kind: evaluator.KindInt, ctx: map[string]any{"plan": []byte(nil), "role": stringer("admin")}, value: int64(100), variant: "large", reason: evaluator.ReasonTargetingMatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkResult(t, set.Evaluate(tc.flag, tc.kind, tc.ctx), tc)
		})
	}
}

type stringer string

func (s stringer) MarshalText() ([]byte, error) { return []byte(s), nil }

func checkResult(t *testing.T, got evaluator.Result, tc evalCase) {
	t.Helper()
	code := evaluator.CodeNone
	if got.Err != nil {
		code = got.Err.Code
	}
	if !reflect.DeepEqual(got.Value, tc.value) || got.Variant != tc.variant || got.Reason != tc.reason || code != tc.code || got.NoValue != tc.noValue {
		t.Errorf("got value=%#v variant=%q reason=%s code=%s noValue=%v (err %v)\nwant value=%#v variant=%q reason=%s code=%s noValue=%v",
			got.Value, got.Variant, got.Reason, code, got.NoValue, got.Err, tc.value, tc.variant, tc.reason, tc.code, tc.noValue)
	}
	if got.FlagKey != tc.flag {
		t.Errorf("flag key %q, want %q", got.FlagKey, tc.flag)
	}
}

func TestClockIsInjected(t *testing.T) {
	set := loadSet(t, "testdata/flags.json", evaluator.Options{Now: fixedClock(1800000000)})
	got := set.Evaluate("expiry", evaluator.KindString, nil)
	checkResult(t, got, evalCase{flag: "expiry", value: "after", variant: "after", reason: evaluator.ReasonTargetingMatch})
}

func TestMetadata(t *testing.T) {
	set := loadSet(t, "testdata/flags.json", evaluator.Options{})
	got := set.Evaluate("new-checkout", evaluator.KindBool, nil).Metadata
	want := evaluator.Metadata{"flagSetId": "checkout", "version": "8", "team": "payments", "owner": "ana"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("flag metadata %v, want %v", got, want)
	}
	got = set.Evaluate("greeting", evaluator.KindString, nil).Metadata
	want = evaluator.Metadata{"flagSetId": "checkout", "version": "7", "team": "payments"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("set metadata %v, want %v", got, want)
	}
	if f, _ := set.Flag("greeting"); f.FlagSetID() != "checkout" {
		t.Errorf("flag set id %q", f.FlagSetID())
	}
}

// TestFractionalAssignments pins bucket assignments that must match flagd
// bit for bit: murmur3 x86_32 (seed 0) of flagKey+email, scaled by
// (hash * totalWeight) >> 32. The first four are flagd's documented
// examples; the rest were computed with an independent implementation of
// the hash, not with this code.
func TestFractionalAssignments(t *testing.T) {
	set := loadSet(t, "testdata/flags.json", evaluator.Options{})
	cases := map[string]string{
		"rachel@faas.com":   "blue",
		"monica@faas.com":   "yellow",
		"joey@faas.com":     "red",
		"ross@faas.com":     "blue",
		"chandler@faas.com": "yellow",
		"phoebe@faas.com":   "red",
		"gunther@faas.com":  "red",
		"janice@faas.com":   "green",
		"ursula@faas.com":   "green",
		"carol@faas.com":    "yellow",
		"susan@faas.com":    "green",
		"richard@faas.com":  "yellow",
		"":                  "yellow",
	}
	for email, want := range cases {
		got := set.Evaluate("headerColor", evaluator.KindString, map[string]any{"email": email})
		if got.Variant != want || got.Reason != evaluator.ReasonTargetingMatch {
			t.Errorf("%q: variant %q reason %s, want %q", email, got.Variant, got.Reason, want)
		}
	}
	// Without a bucketing argument the targeting key is used; without one,
	// fractional yields null and the default variant applies.
	got := set.Evaluate("rollout", evaluator.KindBool, nil)
	if got.Reason != evaluator.ReasonDefault || got.Variant != "off" {
		t.Errorf("rollout without targeting key: %+v", got)
	}
	on := 0
	for i := 0; i < 1000; i++ {
		r := set.Evaluate("rollout", evaluator.KindBool, map[string]any{"targetingKey": "user-" + itoa(i)})
		if r.Value == true {
			on++
		}
	}
	if on < 70 || on > 130 {
		t.Errorf("a 10%% rollout gave %d of 1000", on)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

func TestConcurrentEvaluation(t *testing.T) {
	set := loadSet(t, "testdata/flags.json", evaluator.Options{})
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				set.Evaluate("page-size", evaluator.KindInt, map[string]any{"email": "a@staff.example"})
				set.Evaluate("headerColor", evaluator.KindString, map[string]any{"email": "x@faas.com"})
				set.Evaluate("new-checkout", evaluator.KindBool, nil)
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

func TestTargetingHasRefsResolved(t *testing.T) {
	set := loadSet(t, "testdata/flags.json", evaluator.Options{})
	f, _ := set.Flag("page-size")
	rule, present := f.Targeting()
	got, _ := json.Marshal(rule)
	want := `{"if":[{"or":[{"ends_with":[{"var":"email"},"@staff.example"]},{"==":[{"var":"role"},"admin"]}]},"large",{"==":[{"var":"plan"},"weird"]},"fraction",null]}`
	if !present || string(got) != want {
		t.Errorf("targeting %s, want %s", got, want)
	}
	if _, present := mustFlag(t, set, "new-checkout").Targeting(); present {
		t.Error("a flag without targeting reports one")
	}
	if rule, present := mustFlag(t, set, "targeting-null").Targeting(); !present || rule != nil {
		t.Errorf("targeting null: %v %v", rule, present)
	}
}

func mustFlag(t *testing.T, set *evaluator.FlagSet, key string) *evaluator.Flag {
	t.Helper()
	f, ok := set.Flag(key)
	if !ok {
		t.Fatalf("no flag %q", key)
	}
	return f
}
