package evaluator

import (
	"errors"
	"fmt"
)

// ErrorCode classifies why an evaluation did not resolve. The names are
// OpenFeature's error codes; the daemon maps each to a Connect code and an
// OFREP status in one place.
type ErrorCode uint8

// The error codes. The zero value means no error.
const (
	CodeNone ErrorCode = iota
	// CodeFlagNotFound: no flag with that key (in the selected flag set).
	CodeFlagNotFound
	// CodeTypeMismatch: the flag's value is not of the requested type.
	CodeTypeMismatch
	// CodeParseError: the targeting rule failed when applied.
	CodeParseError
	// CodeGeneral: anything else, such as targeting naming a variant the
	// flag does not have.
	CodeGeneral
	// CodeInvalidContext: the evaluation context cannot be used.
	CodeInvalidContext
	// CodeTargetingKeyMissing: a targeting key was required but absent.
	CodeTargetingKeyMissing
	// CodeProviderNotReady: no flags have been loaded yet.
	CodeProviderNotReady
	// CodeProviderFatal: the provider cannot recover.
	CodeProviderFatal
)

var codeNames = [...]string{
	CodeNone:                "",
	CodeFlagNotFound:        "FLAG_NOT_FOUND",
	CodeTypeMismatch:        "TYPE_MISMATCH",
	CodeParseError:          "PARSE_ERROR",
	CodeGeneral:             "GENERAL",
	CodeInvalidContext:      "INVALID_CONTEXT",
	CodeTargetingKeyMissing: "TARGETING_KEY_MISSING",
	CodeProviderNotReady:    "PROVIDER_NOT_READY",
	CodeProviderFatal:       "PROVIDER_FATAL",
}

// String returns the OpenFeature name of the code ("" for CodeNone).
func (c ErrorCode) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("ErrorCode(%d)", uint8(c))
}

// ParseErrorCode returns the code with the given OpenFeature name.
func ParseErrorCode(name string) (ErrorCode, bool) {
	for i, n := range codeNames {
		if n == name && i != 0 {
			return ErrorCode(i), true
		}
	}
	return CodeNone, false
}

// Error is the one error type of evaluation: a code and a message.
type Error struct {
	Code    ErrorCode
	FlagKey string
	Message string
}

func (e *Error) Error() string {
	if e.FlagKey == "" {
		return e.Code.String() + ": " + e.Message
	}
	return fmt.Sprintf("%s: flag %q: %s", e.Code, e.FlagKey, e.Message)
}

// CodeOf returns the code of the *Error in err's chain, CodeGeneral for any
// other non-nil error, and CodeNone for nil.
func CodeOf(err error) ErrorCode {
	if err == nil {
		return CodeNone
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeGeneral
}

func newError(code ErrorCode, key, format string, args ...any) *Error {
	return &Error{Code: code, FlagKey: key, Message: fmt.Sprintf(format, args...)}
}
