package evaluator

// Reason says why an evaluation resolved as it did. The values are
// OpenFeature's resolution reasons.
type Reason string

// The reasons an evaluation gives.
const (
	ReasonStatic         Reason = "STATIC"
	ReasonTargetingMatch Reason = "TARGETING_MATCH"
	ReasonDefault        Reason = "DEFAULT"
	ReasonDisabled       Reason = "DISABLED"
	ReasonError          Reason = "ERROR"
)

// Kind is the type of value a caller asks for.
type Kind uint8

// The kinds of value. KindAny accepts whatever the variant holds.
const (
	KindAny Kind = iota
	KindBool
	KindString
	KindInt
	KindFloat
	KindObject
)

var kindNames = [...]string{"any", "boolean", "string", "integer", "float", "object"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// ParseKind reads a kind by name: boolean|bool, string, integer|int,
// float|number, object, any.
func ParseKind(s string) (Kind, bool) {
	switch s {
	case "any", "":
		return KindAny, true
	case "boolean", "bool":
		return KindBool, true
	case "string":
		return KindString, true
	case "integer", "int":
		return KindInt, true
	case "float", "number":
		return KindFloat, true
	case "object":
		return KindObject, true
	}
	return KindAny, false
}

// ValueType is the type of a flag's variants.
type ValueType uint8

// The variant types. ValueMixed means the variants do not share one type
// (flagd serves such flags; strict mode rejects them).
const (
	ValueNone ValueType = iota // no variants
	ValueBool
	ValueString
	ValueNumber
	ValueObject
	ValueMixed
)

var valueTypeNames = [...]string{"none", "boolean", "string", "number", "object", "mixed"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return "unknown"
}

// Metadata is flag or flag-set metadata: values are string, float64 or bool
// (what the document holds). It is shared and must not be modified.
type Metadata map[string]any

// Result is the outcome of one evaluation.
type Result struct {
	FlagKey string
	// Value is the resolved value: bool, string, int64 (KindInt), float64,
	// map[string]any, or for KindAny whatever the variant holds. It is nil
	// when NoValue is set.
	Value any
	// Variant is the chosen variant's name ("" when none was chosen).
	Variant string
	Reason  Reason
	// NoValue is set when no variant was chosen and the caller's default
	// applies: the flag is disabled, has no default variant and targeting
	// did not pick one, or an error occurred.
	NoValue bool
	// Err is set when the evaluation failed; Reason is then ReasonError.
	Err *Error
	// Metadata is the flag set's metadata overlaid with the flag's.
	Metadata Metadata
}
