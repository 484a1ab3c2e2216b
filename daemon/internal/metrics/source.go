package metrics

import "time"

// The results of a source update (the result label of
// vexil_source_updates_total): the store's events.
const (
	SourceLoaded   = "loaded"   // a document was loaded
	SourceRejected = "rejected" // a document was rejected; the last good flags keep serving
	SourceOutage   = "outage"   // the source cannot deliver; the last good flags keep serving
	SourceRemoved  = "removed"  // the source's flags were removed deliberately
)

// SourceAdded makes a configured source's series exist before its first
// update: no updates, no flags, not up. Without it they appear with the
// first update, so that a source that never delivers has no
// vexil_source_up series to alert on.
func (m *Metrics) SourceAdded(source string) {
	if m == nil {
		return
	}
	for _, r := range []string{SourceLoaded, SourceRejected, SourceOutage, SourceRemoved} {
		m.sourceUpdates.WithLabelValues(source, r)
	}
	m.sourceFlags.WithLabelValues(source).Set(0)
	m.sourceUp.WithLabelValues(source).Set(0)
}

// SourceUpdate records one update of a source: its result (SourceLoaded,
// SourceRejected, SourceOutage or SourceRemoved), the number of flags the
// source serves after it, and when it arrived. The source is up when
// result is SourceLoaded. source should be the configured name (URI) of
// the source, result one of the four: both become labels.
func (m *Metrics) SourceUpdate(source, result string, flags int, at time.Time) {
	if m == nil {
		return
	}
	m.sourceUpdates.WithLabelValues(source, result).Inc()
	m.sourceFlags.WithLabelValues(source).Set(float64(flags))
	up := 0.0
	if result == SourceLoaded {
		up = 1
	}
	m.sourceUp.WithLabelValues(source).Set(up)
	m.sourceLast.WithLabelValues(source).Set(float64(at.Unix()) + float64(at.Nanosecond())/1e9)
}
