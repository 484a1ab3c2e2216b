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
// TestProviderConformance runs the provider-level features
// (gherkin/*.feature) against package provider once per mode, with the
// tags "@MODE && ~@deprecated && ~@fractional-v1 && ~@fractional-v3", and
// fails unless every selected scenario passes and at least as many pass as
// the testbed selects (rpc 219, in-process 229, file 160). No container is
// involved: a harness plays the testbed launchpad's part. It lays out a
// working directory as the launchpad does (rawflags/ is the testbed's
// flags/, flags/allFlags.json the merge of those not named selector*), runs
// the daemon in-process with the launchpad's named configs on loopback
// ports that stay the same across restarts, and cuts the connection (stops
// the daemon and removes allFlags.json for the scenario's seconds), flips
// changing-flag, and serves TLS (@customCert), unix sockets (@unixsocket),
// a listener that answers 403 (@forbidden) and a router by authority
// (@targetURI). VEXIL_CONFORMANCE_MODES selects modes (comma-separated:
// file, in-process, rpc, their -cbor variants, or all; default all, only
// file with -short).
//
// Each mode runs again with CBOR bucketing (the daemon's FractionalCBOR,
// the provider's WithFractionalCBOR) and the tags "@MODE && ~@deprecated
// && ~@fractional-v1 && ~@fractional-v2" (expected 330, 340 and 271). By
// default these runs execute only the @fractional and @fractional-v3
// scenarios, the only ones bucketing can change, and count the others,
// which the v2 run of the mode has just run, toward the expected total;
// VEXIL_CONFORMANCE_CBOR_FULL=1 runs every scenario.
//
// Every wait of a scenario is bounded and fails with what it last saw: an
// event (15 s unless the step says), an evaluation (10 s), the provider's
// initialization (20 s; the provider itself gives up after its deadline)
// and shutdown (10 s), the daemon's start and stop (10 s). Each failed
// scenario is reported with its steps and how long each took, and each run
// logs its three slowest scenarios, so that a slow run says where its
// time went.
//
// The testbed is open-feature/flagd-testbed v3.9.0. The tests look for it in
// the directory named by FLAGD_TESTBED_DIR, or else in ../../shared/flagd-testbed
// relative to this package, and skip when neither is present:
//
//	FLAGD_TESTBED_DIR=/path/to/flagd-testbed go test ./conformance/
package conformance
