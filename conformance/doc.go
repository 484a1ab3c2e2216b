// Package conformance runs the flagd testbed's conformance suites against
// Vexil.
//
// The package holds only tests. They execute the testbed's Gherkin features
// with godog inside go test: the evaluator-level features
// (evaluator/gherkin/*.feature, with evaluator/flags/testkit-flags.json) are
// run directly against package evaluator, once with the default fractional
// bucketing (testbed tag @fractional-v2) and once with CBOR bucketing
// (@fractional-v3). The @fractional-v3 rows of the provider-level
// gherkin/targeting.feature are also run against the evaluator, since the
// evaluator features carry none.
//
// The testbed is open-feature/flagd-testbed v3.9.0. The tests look for it in
// the directory named by FLAGD_TESTBED_DIR, or else in ../../shared/flagd-testbed
// relative to this package, and skip when neither is present:
//
//	FLAGD_TESTBED_DIR=/path/to/flagd-testbed go test ./conformance/
package conformance
