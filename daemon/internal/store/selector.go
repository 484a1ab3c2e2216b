package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/vexilhq/vexil/evaluator"
)

// ErrInvalidSelector is wrapped by every error ParseSelector returns.
// flagd answers such a request with InvalidArgument (gRPC, Connect) or 400
// (OFREP).
var ErrInvalidSelector = errors.New("invalid selector")

// unknownKeyError is a selector with a key flagd does not know. Its
// message is flagd's (store.NewSelector's), which flagd's gRPC and Connect
// services answer as is and its OFREP service after "invalid selector: ".
type unknownKeyError struct{ key string }

func (e *unknownKeyError) Error() string {
	return fmt.Sprintf("invalid selector key %q, valid keys: %q, %q", e.key, selectorKeyFlagSetID, selectorKeySource)
}

func (e *unknownKeyError) Unwrap() error { return ErrInvalidSelector }

type selectorKind uint8

const (
	selectAll selectorKind = iota
	selectFlagSet
	selectSource
)

// Selector narrows a query to one flag set or one source. The zero value
// selects everything. Selectors are comparable.
type Selector struct {
	kind  selectorKind
	value string
}

// The selector keys flagd accepts (core/pkg/store/query.go).
const (
	selectorKeyFlagSetID = "flagSetId"
	selectorKeySource    = "source"
)

// ParseSelector reads a selector expression as flagd's store.NewSelector
// does, from the Flagd-Selector header or a request's selector field
// (flagd's sync service prefers the header when it is present at all):
//
//   - "" selects everything;
//   - "flagSetId=ID" selects the flag set ID, and "flagSetId=" the flags
//     that belong to no flag set;
//   - "source=URI" selects the flags a source serves (those not shadowed by
//     a higher-priority source), and "source=" selects nothing;
//   - a value without "=" is a source, for backwards compatibility.
//
// The expression is split at its first "="; the key is case-sensitive and
// nothing is trimmed. Any other key is an error wrapping ErrInvalidSelector,
// with flagd's message: `invalid selector key "KEY", valid keys:
// "flagSetId", "source"`.
// Only one key=value pair is supported, as in flagd: "flagSetId=a,source=b"
// selects the flag set "a,source=b".
func ParseSelector(expr string) (Selector, error) {
	if expr == "" {
		return Selector{}, nil
	}
	key, value, found := strings.Cut(expr, "=")
	if !found {
		return Selector{kind: selectSource, value: expr}, nil
	}
	switch key {
	case selectorKeyFlagSetID:
		return Selector{kind: selectFlagSet, value: value}, nil
	case selectorKeySource:
		return Selector{kind: selectSource, value: value}, nil
	}
	return Selector{}, &unknownKeyError{key: key}
}

// FlagSetSelector selects the flag set id ("" selects the flags that
// belong to no flag set).
func FlagSetSelector(id string) Selector { return Selector{kind: selectFlagSet, value: id} }

// SourceSelector selects the flags a source serves.
func SourceSelector(name string) Selector { return Selector{kind: selectSource, value: name} }

// IsZero reports whether the selector selects everything.
func (s Selector) IsZero() bool { return s.kind == selectAll }

// FlagSetID returns the selected flag set, if the selector selects one.
func (s Selector) FlagSetID() (string, bool) { return s.value, s.kind == selectFlagSet }

// Source returns the selected source, if the selector selects one.
func (s Selector) Source() (string, bool) { return s.value, s.kind == selectSource }

// String returns the selector's canonical expression: "", "flagSetId=ID"
// or "source=URI". ParseSelector reads it back as the same selector.
func (s Selector) String() string {
	switch s.kind {
	case selectFlagSet:
		return selectorKeyFlagSetID + "=" + s.value
	case selectSource:
		return selectorKeySource + "=" + s.value
	}
	return ""
}

// NoFlagSetID is what the metadata of a "flagSetId=" selection names as
// its flag set: a random UUID drawn once per process, as flagd draws its
// internal id of the flags of no flag set at startup and answers it there.
var NoFlagSetID = newUUID()

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// metadata is what flagd returns as the metadata of a selection
// (store.Selector.ToMetadata): the selector's own key and value, when the
// value is not empty; for "flagSetId=", flagd's id of the flags of no
// flag set ({"flagSetId": NoFlagSetID}).
func (s Selector) metadata() evaluator.Metadata {
	if s.kind == selectFlagSet && s.value == "" {
		return evaluator.Metadata{selectorKeyFlagSetID: NoFlagSetID}
	}
	if s.value == "" {
		return evaluator.Metadata{}
	}
	switch s.kind {
	case selectFlagSet:
		return evaluator.Metadata{selectorKeyFlagSetID: s.value}
	case selectSource:
		return evaluator.Metadata{selectorKeySource: s.value}
	}
	return evaluator.Metadata{}
}
