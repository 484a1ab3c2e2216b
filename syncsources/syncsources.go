// Package syncsources defines what a flag source is: something that
// delivers whole flag documents, first as soon as it can and then on every
// change, until its context ends. Each kind of source lives in its own
// package below this one (filesource, ...); the daemon maps URI schemes to
// them in one explicit registry.
package syncsources

import (
	"context"

	"github.com/vexilhq/vexil/evaluator"
)

// Update is what a source delivers.
type Update struct {
	// Source is the source's name: its URI as configured. Selectors and
	// readiness refer to it.
	Source string
	// Data is a whole flag document, when Err is nil and Removed is false.
	Data   []byte
	Format evaluator.Format
	// SyncContext is the context the server sent with the document (the
	// sync_context of a flagd.sync.v1 SyncFlags or FetchAllFlags
	// response: the daemon's static context), which evaluations of the
	// document start from; nil for none. Only grpcsource sets it; it is
	// never modified after it is sent.
	SyncContext map[string]any
	// Err reports an outage: the source cannot deliver (a file deleted or
	// unreadable, a server down). The flags it last delivered keep serving.
	// A source may send another during the same outage when the failure
	// changes (a refused connection, then a 500): the latest describes it.
	Err error
	// Removed reports a deliberate removal (a Kubernetes resource deleted):
	// the source now serves no flags.
	Removed bool
}

// Source is one flag source.
type Source interface {
	// Run sends a full snapshot (or an outage) as soon as it can, then one
	// on every change, and blocks until ctx ends; it returns ctx's error
	// then, or another error if it cannot run at all. It must not send
	// after returning.
	Run(ctx context.Context, updates chan<- Update) error
}
