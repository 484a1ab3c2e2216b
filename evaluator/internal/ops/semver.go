package ops

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// SemVer evaluates flagd's "sem_ver" operator on its three already-evaluated
// arguments [version, operator, target]. It returns true or false, or nil
// when the input is invalid: not exactly three arguments, an operator that
// is not a string or not one of
//
//	=  !=  <  <=  >  >=  ^ (same major)  ~ (same major and minor)
//
// or a version or target that is not a valid semantic version.
//
// Versions are read as follows. A string is used as is; any other value is
// first formatted with fmt's %v, so the number 1.2 becomes "1.2" and 2
// becomes "2" (and nil becomes "<nil>", which is invalid). A leading "v" is
// optional and a single leading "V" is accepted in its place. The result must
// then be valid for golang.org/x/mod/semver: MAJOR[.MINOR[.PATCH]] without
// leading zeros, where a missing minor or patch counts as 0 but may not be
// followed by a pre-release or build suffix ("1", "1.2", "1.2.3-rc.1+b" are
// valid; "1-rc", "2.0.0.0", "01.2.3" are not). Pre-releases order below their
// release following SemVer 2.0.0, and build metadata is ignored by every
// operator. ^ and ~ compare only the major (respectively major.minor) parts,
// with no special case for 0.x versions.
func SemVer(args []any) any {
	if len(args) != 3 {
		return nil
	}
	version, ok := semverArg(args[0])
	if !ok {
		return nil
	}
	op, ok := args[1].(string)
	if !ok {
		return nil
	}
	target, ok := semverArg(args[2])
	if !ok {
		return nil
	}
	switch op {
	case "=":
		return semver.Compare(version, target) == 0
	case "!=":
		return semver.Compare(version, target) != 0
	case "<":
		return semver.Compare(version, target) < 0
	case "<=":
		return semver.Compare(version, target) <= 0
	case ">":
		return semver.Compare(version, target) > 0
	case ">=":
		return semver.Compare(version, target) >= 0
	case "^":
		return semver.Major(version) == semver.Major(target)
	case "~":
		return semver.MajorMinor(version) == semver.MajorMinor(target)
	default:
		return nil
	}
}

// semverArg turns an operand into the "v"-prefixed form x/mod/semver wants
// and reports whether it is a valid version.
func semverArg(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		s = fmt.Sprintf("%v", v)
	}
	if !strings.HasPrefix(s, "v") {
		s = "v" + strings.TrimPrefix(s, "V")
	}
	return s, semver.IsValid(s)
}

// SemVerOperators are the operators sem_ver knows, in the order its
// documentation lists them.
var SemVerOperators = []string{"=", "!=", "<", "<=", ">", ">=", "^", "~"}

// IsSemVerOperator reports whether sem_ver knows the operator op.
func IsSemVerOperator(op string) bool {
	for _, o := range SemVerOperators {
		if o == op {
			return true
		}
	}
	return false
}

// IsSemVer reports whether sem_ver takes v as a version (see SemVer).
func IsSemVer(v any) bool {
	_, ok := semverArg(v)
	return ok
}
