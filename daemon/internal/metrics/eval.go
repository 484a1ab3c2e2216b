package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/evaluator"
)

// flagSeries are the series of one flag key ("" for failed evaluations
// and for the overflow): its combinations of variant, reason and error
// code, with their counters bound to their labels.
type flagSeries struct {
	combs list[evalSeries]
}

// evalSeries is one combination; impression is nil for a failed
// evaluation.
type evalSeries struct {
	variant, reason, code string
	impression            prometheus.Counter
	result                prometheus.Counter
}

func (f *flagSeries) find(variant, reason, code string) *evalSeries {
	combs := f.combs.all()
	for i := range combs {
		if s := &combs[i]; s.variant == variant && s.reason == reason && s.code == code {
			return s
		}
	}
	return nil
}

func (s *evalSeries) inc() {
	if s.impression != nil {
		s.impression.Inc()
	}
	s.result.Inc()
}

// Evaluated makes the metrics an observer of evaluations
// (resolve.Observer): it counts each as Evaluation does.
func (m *Metrics) Evaluated(_ context.Context, e resolve.Evaluation) { m.Evaluation(&e.Result) }

// Evaluation counts one flag evaluation from the evaluator's result: an
// impression and a result reason when it resolved (the variant left out
// when no variant was chosen), a result reason ERROR with the error code
// when it failed.
func (m *Metrics) Evaluation(r *evaluator.Result) {
	if m == nil || r == nil {
		return
	}
	if r.Err != nil {
		m.Impression("", "", string(evaluator.ReasonError), r.Err.Code.String())
		return
	}
	variant := r.Variant
	if r.NoValue {
		variant = ""
	}
	m.Impression(r.FlagKey, variant, string(r.Reason), "")
}

// Impression counts one flag evaluation. When errorCode is empty the
// evaluation resolved: feature_flag_flagd_impression_total{key, variant,
// reason} and feature_flag_flagd_result_reason_total{reason, key} count
// it. Otherwise it failed: only
// feature_flag_flagd_result_reason_total{reason, ExceptionTypeKeyName=errorCode}
// counts it, and key and variant are ignored, since a failed evaluation's
// key may be anything a client asked for. key and variant must come from
// the flag store, reason and errorCode from a small fixed set.
//
// After the first call for a combination, a call costs a map lookup and
// two atomic additions, and allocates nothing.
func (m *Metrics) Impression(key, variant, reason, errorCode string) {
	if m == nil {
		return
	}
	if errorCode != "" {
		key, variant = "", ""
	}
	if f, ok := m.evals.load(key); ok {
		if s := f.find(variant, reason, errorCode); s != nil {
			s.inc()
			return
		}
	}
	m.addEvalSeries(key, variant, reason, errorCode).inc()
}

// addEvalSeries finds or adds the series of a combination the read map
// did not have, or its overflow series when MaxEvaluationSeries are
// counted.
func (m *Metrics) addEvalSeries(key, variant, reason, code string) *evalSeries {
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	newFlag := func() *flagSeries { return &flagSeries{} }
	f, ok := m.evals.get(key, nil)
	if ok {
		if s := f.find(variant, reason, code); s != nil {
			return s
		}
	}
	if m.evalCount >= MaxEvaluationSeries && key != "" {
		key, variant = "", ""
		f, _ = m.evals.get(key, newFlag)
		if s := f.find(variant, reason, code); s != nil {
			return s
		}
	} else if !ok {
		f, _ = m.evals.get(key, newFlag)
	}
	s := evalSeries{variant: variant, reason: reason, code: code}
	if code == "" {
		s.impression = m.impressions.WithLabelValues(key, variant, reason)
		s.result = m.reasons.WithLabelValues(reason, key, "")
	} else {
		s.result = m.reasons.WithLabelValues(reason, "", code)
	}
	f.combs.add(s)
	m.evalCount++
	return f.find(variant, reason, code)
}
