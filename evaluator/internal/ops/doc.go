// Package ops holds the pure building blocks of flagd's custom JSONLogic
// operators: the fractional bucketing hashes and bucket walk (v2 string
// hashing and v3 canonical-CBOR hashing), sem_ver, starts_with and ends_with.
//
// Every function here is a leaf: it takes arguments that the JSONLogic engine
// has already evaluated (nested rules replaced by their results, numbers as
// float64, objects as map[string]any, arrays as []any) and returns a plain
// value. Nothing in this package logs, performs I/O, starts goroutines or
// keeps mutable package state, so all functions are safe for concurrent use.
//
// ExplainFractional and SemVerVersion show the steps fractional and sem_ver
// take, for the evaluator's Explain.
//
// Error convention: an operator that cannot evaluate its input returns nil
// (JSON null), never false, so that the surrounding rule falls back to the
// flag's default variant the way flagd does.
package ops
