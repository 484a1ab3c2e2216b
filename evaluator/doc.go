// Package evaluator is Vexil's pure core: it parses, validates and compiles
// flagd flag documents into immutable flag sets, and evaluates flags against
// an evaluation context exactly as flagd does.
//
// A [Parser] turns a JSON or YAML document into a [*FlagSet]. Problems that
// flagd rejects (invalid JSON, a default variant that is not a variant,
// fields of the wrong type, an empty or cyclic evaluator) always reject the
// document, as do $refs expanding past a budget, which flagd has not;
// problems that flagd only warns about (the flag-definition JSON Schema,
// mixed variant types, unknown operators, references to missing
// evaluators) are warnings, or errors with [Options.Strict]. Every problem
// carries the document's source, the flag key and a JSON pointer.
//
// Targeting rules are compiled once at load: evaluation decodes no JSON,
// and a flag without targeting evaluates without allocating. JSONLogic
// semantics are those of github.com/diegoholiveira/jsonlogic/v3, with
// flagd's fractional, sem_ver, starts_with and ends_with operators.
//
// [FlagSet.Explain] and [Flag.Explain] evaluate a flag with the same
// compiled rule and say why it resolves as it does: an [Explanation] holds
// Evaluate's very result and a [TraceNode] per operator reached, in order
// (its arguments' values, its result, the branch an if took, the variables
// looked up, the $refs named, how fractional bucketed, how sem_ver read its
// versions). Every compiled node has an explain method beside its eval
// method, sharing the helpers that compute results; evaluation never
// looks at a tracer, so it costs nothing. A differential test over the
// flagd testbed's flags and a fuzz target hold Explain's result to
// Evaluate's.
//
// Each compiled flag carries a [Fingerprint] of its definition: what the
// daemon's store and the provider compare to tell which flags an update
// changed.
//
// The package does no I/O, starts no goroutines, logs nothing and keeps no
// mutable global state; a FlagSet is safe for concurrent use.
package evaluator
