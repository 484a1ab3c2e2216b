package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/cucumber/godog"

	"github.com/vexilhq/vexil/evaluator"
)

// scenario is the state of one Gherkin scenario. It plays the part of an
// OpenFeature client backed by a provider that is the evaluator itself.
type scenario struct {
	flags *evaluator.FlagSet // the run's flags, handed to the "evaluator"

	set      *evaluator.FlagSet // set once the scenario has an evaluator
	flagType string             // Boolean, String, Integer, Float or Object
	key      string
	fallback any
	ctx      map[string]any

	evaluated bool
	res       evaluator.Result
	value     any // the resolved value: res.Value, or the fallback
}

// stepDef is one step definition: a regular expression and its function.
type stepDef struct {
	expr string
	fn   any
}

// register binds the step texts of the testbed features to s. providerSteps
// adds the provider-level Background steps, as no-ops.
func (s *scenario) register(sc *godog.ScenarioContext, providerSteps bool) {
	steps := []stepDef{
		{`^an evaluator$`, s.anEvaluator},
		{`^a ([A-Za-z]+)-flag with key "(.*)" and a (?:fallback|default) value "(.*)"$`, s.aFlag},
		{`^a context containing a key "(.*)", with type "([A-Za-z]+)" and with value "(.*)"$`, s.contextKey},
		{`^a context containing a targeting key with value "(.*)"$`, s.contextTargetingKey},
		{`^a context containing a nested property with outer key "(.*)" and inner key "(.*)", with value "(.*)"$`, s.contextNested},
		{`^the flag was evaluated with details$`, s.evaluate},
		{`^the resolved details value should be "(.*)"$`, s.valueShouldBe},
		{`^the reason should be "(.*)"$`, s.reasonShouldBe},
		{`^the error-code should be "(.*)"$`, s.errorCodeShouldBe},
		{`^the variant should be "(.*)"$`, s.variantShouldBe},
		{`^the resolved metadata should contain$`, s.metadataShouldContain},
		{`^the resolved metadata is empty$`, s.metadataIsEmpty},
	}
	if providerSteps {
		steps = append(steps,
			stepDef{`^an option "(.*)" of type "(.*)" with value "(.*)"$`, func(string, string, string) {}},
			stepDef{`^a stable flagd provider$`, s.anEvaluator},
		)
	}
	for _, st := range steps {
		sc.Step(st.expr, st.fn)
	}
}

func (s *scenario) anEvaluator() {
	s.set = s.flags
}

func (s *scenario) aFlag(typ, key, fallback string) error {
	if _, ok := kinds[typ]; !ok {
		return fmt.Errorf("unknown flag type %q", typ)
	}
	v, err := parseTyped(typ, fallback)
	if err != nil {
		return fmt.Errorf("fallback value: %w", err)
	}
	s.flagType, s.key, s.fallback = typ, key, v
	return nil
}

func (s *scenario) contextKey(key, typ, value string) error {
	v, err := parseTyped(typ, value)
	if err != nil {
		return fmt.Errorf("context value: %w", err)
	}
	s.context()[key] = v
	return nil
}

func (s *scenario) contextTargetingKey(value string) {
	s.context()["targetingKey"] = value
}

func (s *scenario) contextNested(outer, inner, value string) {
	m, ok := s.context()[outer].(map[string]any)
	if !ok {
		m = map[string]any{}
		s.ctx[outer] = m
	}
	m[inner] = value
}

func (s *scenario) context() map[string]any {
	if s.ctx == nil {
		s.ctx = map[string]any{}
	}
	return s.ctx
}

// evaluate resolves the flag as an OpenFeature provider would: the caller's
// fallback value applies whenever the evaluator chooses no value.
func (s *scenario) evaluate() error {
	if s.set == nil {
		return errors.New("no evaluator: the scenario has no Given step that creates one")
	}
	if s.flagType == "" {
		return errors.New("no flag: the scenario has no Given step that names one")
	}
	s.res = s.set.Evaluate(s.key, kinds[s.flagType], s.ctx)
	s.value = s.res.Value
	if s.res.NoValue {
		s.value = s.fallback
	}
	s.evaluated = true
	return nil
}

func (s *scenario) result() (*evaluator.Result, error) {
	if !s.evaluated {
		return nil, errors.New("the flag was not evaluated")
	}
	return &s.res, nil
}

func (s *scenario) valueShouldBe(want string) error {
	if _, err := s.result(); err != nil {
		return err
	}
	w, err := parseTyped(s.flagType, want)
	if err != nil {
		return fmt.Errorf("expected value: %w", err)
	}
	got := s.value
	if s.flagType == "Object" {
		// Compare objects as JSON sees them, whatever Go types hold them.
		if got, err = jsonRoundTrip(got); err != nil {
			return fmt.Errorf("resolved value %#v: %w", s.value, err)
		}
	}
	if !reflect.DeepEqual(got, w) {
		return fmt.Errorf("resolved value: got %#v, want %#v (%s)", s.value, w, s.describe())
	}
	return nil
}

func (s *scenario) reasonShouldBe(want string) error {
	res, err := s.result()
	if err != nil {
		return err
	}
	if got := string(res.Reason); got != want {
		return fmt.Errorf("reason: got %q, want %q (%s)", got, want, s.describe())
	}
	return nil
}

func (s *scenario) errorCodeShouldBe(want string) error {
	res, err := s.result()
	if err != nil {
		return err
	}
	got := ""
	if res.Err != nil {
		got = res.Err.Code.String()
	}
	if got != want {
		return fmt.Errorf("error code: got %q, want %q (%s)", got, want, s.describe())
	}
	return nil
}

func (s *scenario) variantShouldBe(want string) error {
	res, err := s.result()
	if err != nil {
		return err
	}
	if res.Variant != want {
		return fmt.Errorf("variant: got %q, want %q (%s)", res.Variant, want, s.describe())
	}
	return nil
}

func (s *scenario) metadataShouldContain(table *godog.Table) error {
	res, err := s.result()
	if err != nil {
		return err
	}
	return checkMetadata(table, res.Metadata, s.describe())
}

// checkMetadata checks a result's metadata against a scenario's table of
// key, type and value rows; describe names the evaluation in the error.
func checkMetadata(table *godog.Table, metadata map[string]any, describe string) error {
	if len(table.Rows) < 2 {
		return errors.New("metadata table has no rows")
	}
	var errs []error
	for _, row := range table.Rows[1:] {
		if len(row.Cells) != 3 {
			return fmt.Errorf("metadata table row has %d cells, want 3", len(row.Cells))
		}
		key, typ, raw := row.Cells[0].Value, row.Cells[1].Value, row.Cells[2].Value
		want, err := parseTyped(typ, raw)
		if err != nil {
			return fmt.Errorf("metadata %q: %w", key, err)
		}
		got, ok := metadata[key]
		if !ok {
			errs = append(errs, fmt.Errorf("metadata %q missing", key))
			continue
		}
		if !sameScalar(got, want) {
			errs = append(errs, fmt.Errorf("metadata %q: got %#v, want %#v", key, got, want))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w (%s; metadata %v)", errors.Join(errs...), describe, metadata)
	}
	return nil
}

func (s *scenario) metadataIsEmpty() error {
	res, err := s.result()
	if err != nil {
		return err
	}
	if len(res.Metadata) != 0 {
		return fmt.Errorf("metadata: got %v, want none (%s)", res.Metadata, s.describe())
	}
	return nil
}

// describe summarises the evaluation for failure messages.
func (s *scenario) describe() string {
	ctx, _ := json.Marshal(s.ctx)
	errText := "none"
	if s.res.Err != nil {
		errText = s.res.Err.Code.String() + ": " + s.res.Err.Message
	}
	return fmt.Sprintf("flag %q as %s, context %s: value %#v, variant %q, reason %s, error %s",
		s.key, s.flagType, ctx, s.res.Value, s.res.Variant, s.res.Reason, errText)
}

// kinds maps the testbed's type names to evaluator kinds.
var kinds = map[string]evaluator.Kind{
	"Boolean": evaluator.KindBool,
	"String":  evaluator.KindString,
	"Integer": evaluator.KindInt,
	"Float":   evaluator.KindFloat,
	"Object":  evaluator.KindObject,
}

// parseTyped reads a step value of one of the testbed's types as the Go value
// an OpenFeature SDK would hold: bool, string, int64, float64, or decoded JSON.
// Strings are taken as written: the testbed's expected results treat escapes
// such as \u0000 in String values as literal text.
func parseTyped(typ, raw string) (any, error) {
	switch typ {
	case "Boolean":
		return strconv.ParseBool(raw)
	case "String":
		return raw, nil
	case "Integer":
		return strconv.ParseInt(raw, 10, 64)
	case "Float":
		return strconv.ParseFloat(raw, 64)
	case "Object":
		// Objects are JSON, in some features with their quotes escaped
		// as in {\"a\": 1}.
		var v any
		if json.Unmarshal([]byte(raw), &v) == nil {
			return v, nil
		}
		if err := json.Unmarshal([]byte(strings.ReplaceAll(raw, `\"`, `"`)), &v); err != nil {
			return nil, fmt.Errorf("invalid JSON %q: %w", raw, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("unknown type %q", typ)
}

func jsonRoundTrip(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(data, &out)
	return out, err
}

// sameScalar compares a metadata value with an expected one; numbers compare
// by value whatever their Go type.
func sameScalar(got, want any) bool {
	if g, ok := toFloat(got); ok {
		w, ok := toFloat(want)
		return ok && g == w
	}
	return got == want
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	}
	return 0, false
}
