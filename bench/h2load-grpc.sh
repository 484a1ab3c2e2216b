#!/usr/bin/env bash
# h2load-grpc.sh URL BODY CONNECTIONS DURATION
#
# Closed-loop gRPC load with h2load (Debian's nghttp2-client): CONNECTIONS
# connections, one call in flight on each, for DURATION (such as 20s),
# each call a POST of the file BODY (a gRPC-framed request: loadgen
# -mode grpc-body) to URL (http://HOST:PORT/package.Service/Method). h2load
# is C, so one core of it drives a server harder than a Go client can.
#
# Prints h2load's summary and the line bench/run.sh parses:
#
#	BENCH rps=… p50_us=… p99_us=… max_us=… requests=… errors=…
#
# The latencies come from h2load's per-request log. errors counts the
# requests that failed or were not answered 200; h2load does not read gRPC
# trailers, so run.sh checks the answer itself once before the load.
set -euo pipefail
if (($# != 4)); then
	echo "usage: $0 URL BODY CONNECTIONS DURATION" >&2
	exit 2
fi
url=$1 body=$2 conns=$3 duration=$4
secs=$(awk -v d="$duration" 'BEGIN {
	n = d + 0
	if (d ~ /ms$/) n /= 1000; else if (d ~ /m$/) n *= 60
	printf "%g", n
}')
log=$(mktemp -t h2load-grpc.XXXXXX)
trap 'rm -f "$log"' EXIT
out=$(h2load -c "$conns" -m 1 -t 1 -D "$secs" -d "$body" \
	-H 'content-type: application/grpc' -H 'te: trailers' --log-file="$log" "$url")
echo "$out"
rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
read -r done failed errored < <(sed -n 's/^requests: .* \([0-9]*\) done, [0-9]* succeeded, \([0-9]*\) failed, \([0-9]*\) errored.*/\1 \2 \3/p' <<<"$out")
non2xx=$(sed -n 's/^status codes: [0-9]* 2xx, \([0-9]*\) 3xx, \([0-9]*\) 4xx, \([0-9]*\) 5xx.*/\1 \2 \3/p' <<<"$out" | awk '{print $1 + $2 + $3}')
# The log: start time, status, latency in microseconds, tab-separated.
read -r p50 p99 max < <(awk -F'\t' '$2 >= 200 && $2 < 300 {print $3}' "$log" | sort -n | awk '
	{ v[NR] = $1 }
	END {
		if (NR == 0) { print 0, 0, 0; exit }
		i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
		i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
		print v[i50], v[i99], v[NR]
	}')
echo "BENCH rps=${rps:-0} p50_us=$p50 p99_us=$p99 max_us=$max requests=${done:-0} errors=$((failed + errored + non2xx))"
