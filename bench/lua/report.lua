-- Shared by the scenario scripts: after the run, print one line that
-- bench/run.sh parses. wrk reports latencies in microseconds; errors
-- include non-2xx/3xx answers.
function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("BENCH rps=%.1f p50_us=%d p99_us=%d max_us=%d requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max,
    summary.requests, errors))
end
