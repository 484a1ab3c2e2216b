package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var _ = prometheus.NewRegistry
var _ = collectors.NewGoCollector
var _ = promhttp.HandlerFor
var _ = testutil.ToFloat64
