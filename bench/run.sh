#!/usr/bin/env bash
# Load benchmark of the vexil daemon, in one command:
#
#   bench/run.sh
#
# It installs wrk and h2load if missing, builds vexil and the helpers
# (loadgen, nullserver, scale) into a temporary directory, starts vexil
# pinned to one core (taskset -c $SERVER_CPU) on the bench flag files in
# testdata/, and drives it from another core (taskset -c $CLIENT_CPU): wrk
# for HTTP/JSON and OFREP, h2load for gRPC (h2load-grpc.sh), loadgen for the
# open-loop constant-rate latency test.
# Each scenario runs $RUNS times; the report gives the median req/s, p50 and
# p99, and the ratio to a do-nothing net/http handler (nullserver) measured
# the same way. It ends with a markdown table for daemon/BENCHMARKS.md.
#
# Knobs (environment):
#   DURATION=20s      length of each run (wrk and loadgen syntax: 2s, 20s, 1m)
#   RUNS=3            runs per scenario (the median is reported)
#   CONNECTIONS=50    wrk and h2load connections
#   RATE=2000         requests/s of the open-loop scenarios
#   SCENARIOS=all     space- or comma-separated names; "all" stands for
#                     every scenario but scale (ALL_SCENARIOS below). "scale" runs
#                     bench/scale (100k-flag startup, RSS, edit
#                     latency), which takes about a minute; SCALE_CPU=none
#                     leaves vexil unpinned there, SCALE_ARGS adds flags
#                     (see go doc ./bench/scale).
#   SERVER_CPU=0 CLIENT_CPU=1   cores for the server and the load generator
#   PORT_BASE=18013   vexil uses PORT_BASE..PORT_BASE+3, the null server
#                     PORT_BASE+86
#
# Smoke run: DURATION=2s RUNS=1 bench/run.sh
set -euo pipefail

ALL_SCENARIOS="null static targeting fractional resolve-all ofrep-single ofrep-bulk13 ofrep-bulk100 grpc-null grpc rate-null rate-static rate-targeting"

DURATION=${DURATION:-20s}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-50}
RATE=${RATE:-2000}
SCENARIOS=${SCENARIOS:-all}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT_BASE=${PORT_BASE:-18013}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
LUA=$BENCH_DIR/lua
DATA=$BENCH_DIR/testdata

EVAL_PORT=$PORT_BASE
MGMT_PORT=$((PORT_BASE + 1))
SYNC_PORT=$((PORT_BASE + 2))
OFREP_PORT=$((PORT_BASE + 3))
NULL_PORT=$((PORT_BASE + 86))
EVAL=http://127.0.0.1:$EVAL_PORT
OFREP=http://127.0.0.1:$OFREP_PORT
NULL=http://127.0.0.1:$NULL_PORT

# flagd's published figures, for the ratio columns (req/s).
declare -A FLAGD=(
	[static]=10100 [targeting]=8000 [fractional]=6800 [resolve-all]=2900
	[ofrep-single]=13800 [ofrep-bulk13]=3900 [grpc]=7400
)
declare -A LABEL=(
	[null]="null net/http handler (baseline, HTTP/1.1)"
	[static]="HTTP/JSON ResolveBoolean, static"
	[targeting]="HTTP/JSON ResolveBoolean, if/in targeting"
	[fractional]="HTTP/JSON ResolveBoolean, fractional"
	[resolve-all]="HTTP/JSON ResolveAll (13 flags)"
	[ofrep-single]="OFREP single flag"
	[ofrep-bulk13]="OFREP bulk (13 flags)"
	[ofrep-bulk100]="OFREP bulk (100 flags)"
	[grpc-null]="null handler (baseline, gRPC)"
	[grpc]="gRPC ResolveBoolean, static"
	[rate-null]="null handler (baseline)"
	[rate-static]="HTTP/JSON ResolveBoolean, static"
	[rate-targeting]="HTTP/JSON ResolveBoolean, if/in targeting"
)

# --- setup -------------------------------------------------------------------

SCENARIOS=${SCENARIOS//,/ }
expanded=
for s in $SCENARIOS; do
	if [[ $s == all ]]; then expanded+=" $ALL_SCENARIOS"; else expanded+=" $s"; fi
done
SCENARIOS=${expanded# }
for s in $SCENARIOS; do
	if [[ $s != scale && " $ALL_SCENARIOS " != *" $s "* ]]; then
		echo "run.sh: unknown scenario $s (known: $ALL_SCENARIOS scale)" >&2
		exit 2
	fi
done
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }

install() { # COMMAND PACKAGE
	if ! command -v "$1" >/dev/null; then
		echo "== installing $2" >&2
		apt-get install -y "$2" >/dev/null || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
	fi
}
install wrk wrk
install h2load nghttp2-client
for tool in taskset curl go; do
	command -v $tool >/dev/null || { echo "run.sh: $tool is needed" >&2; exit 1; }
done

TMP=$(mktemp -d -t vexil-bench.XXXXXX)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building into $TMP" >&2
(cd "$ROOT" &&
	go build -o "$TMP/vexil" ./daemon/cmd/vexil &&
	go build -o "$TMP/loadgen" ./bench/loadgen &&
	go build -o "$TMP/nullserver" ./bench/nullserver &&
	go build -o "$TMP/scale" ./bench/scale)

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http URL: poll until URL answers 200 (30 s at most).
wait_http() {
	for _ in $(seq 600); do
		if [[ $(curl -s -o /dev/null -w '%{http_code}' "$1" || true) == 200 ]]; then
			return 0
		fi
		sleep 0.05
	done
	echo "run.sh: $1 never answered 200" >&2
	return 1
}

SERVER_PID=
stop_server() {
	if [[ -n $SERVER_PID ]]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=
	fi
}

# start_vexil FILE: vexil on FILE, pinned, serving once /readyz says so.
CURRENT_FILE=
start_vexil() {
	if [[ $CURRENT_FILE == "$1" ]]; then return; fi
	stop_server
	for p in $EVAL_PORT $MGMT_PORT $SYNC_PORT $OFREP_PORT; do
		port_free "$p" || { echo "run.sh: port $p is in use (set PORT_BASE)" >&2; exit 1; }
	done
	taskset -c "$SERVER_CPU" "$TMP/vexil" start --uri "file:$1" --bind-address 127.0.0.1 \
		-p "$EVAL_PORT" -m "$MGMT_PORT" -g "$SYNC_PORT" -r "$OFREP_PORT" >>"$TMP/vexil.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_http "http://127.0.0.1:$MGMT_PORT/readyz" || { cat "$TMP/vexil.log" >&2; exit 1; }
	CURRENT_FILE=$1
}

start_null() {
	if [[ $CURRENT_FILE == null ]]; then return; fi
	stop_server
	port_free "$NULL_PORT" || { echo "run.sh: port $NULL_PORT is in use (set PORT_BASE)" >&2; exit 1; }
	taskset -c "$SERVER_CPU" "$TMP/nullserver" -addr "127.0.0.1:$NULL_PORT" >>"$TMP/null.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_http "$NULL/"
	CURRENT_FILE=null
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -n "s/.*[ ]$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

declare -A RPS P50 P99 MAX ERRS DUEP99
# measure NAME COMMAND...: run COMMAND $RUNS times on the client core, each
# printing a BENCH line; keep the medians.
measure() {
	local name=$1
	shift
	local rps=() p50=() p99=() max=() duep99=() errs=0 out line
	for run in $(seq "$RUNS"); do
		out=$(taskset -c "$CLIENT_CPU" "$@" 2>&1) || true
		line=$(grep '^BENCH ' <<<"$out" | tail -1)
		if [[ -z $line ]]; then
			echo "run.sh: $name run $run produced no result:" >&2
			echo "$out" >&2
			exit 1
		fi
		rps+=("$(field rps "$line")")
		p50+=("$(field p50_us "$line")")
		p99+=("$(field p99_us "$line")")
		max+=("$(field max_us "$line")")
		duep99+=("$(field due_p99_us "$line")")
		errs=$((errs + $(field errors "$line")))
		printf '   %-15s run %d: %s\n' "$name" "$run" "${line#BENCH }" >&2
	done
	RPS[$name]=$(median "${rps[@]}")
	P50[$name]=$(median "${p50[@]}")
	P99[$name]=$(median "${p99[@]}")
	MAX[$name]=$(median "${max[@]}")
	if [[ -n ${duep99[0]} ]]; then DUEP99[$name]=$(median "${duep99[@]}"); fi
	ERRS[$name]=$errs
}

run_wrk() { # NAME LUA URL
	measure "$1" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA/$2" "$3"
}

# --- scenarios -----------------------------------------------------------------

RESOLVE=/flagd.evaluation.v1.Service
BODY_STATIC='{"flagKey":"static-bool","context":{"targetingKey":"user-123","email":"ana@example.com"}}'
BODY_TARGETING='{"flagKey":"targeting-bool","context":{"targetingKey":"user-123","email":"ana@example.com"}}'
H2LOAD_GRPC=$BENCH_DIR/h2load-grpc.sh
GRPC_BODY=$TMP/grpc-static.bin
"$TMP/loadgen" -mode grpc-body -flag static-bool -context '{"targetingKey":"user-123","email":"ana@example.com"}' >"$GRPC_BODY"

echo "== machine: nproc $(nproc), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for s in $SCENARIOS; do
	[[ $s == scale ]] && continue
	echo "== $s: ${LABEL[$s]}" >&2
	case $s in
	null) start_null; run_wrk null static.lua "$NULL$RESOLVE/ResolveBoolean" ;;
	static) start_vexil "$DATA/bench.flags.json"; run_wrk static static.lua "$EVAL$RESOLVE/ResolveBoolean" ;;
	targeting) start_vexil "$DATA/bench.flags.json"; run_wrk targeting targeting.lua "$EVAL$RESOLVE/ResolveBoolean" ;;
	fractional) start_vexil "$DATA/bench.flags.json"; run_wrk fractional fractional.lua "$EVAL$RESOLVE/ResolveBoolean" ;;
	resolve-all) start_vexil "$DATA/bench.flags.json"; run_wrk resolve-all resolve_all.lua "$EVAL$RESOLVE/ResolveAll" ;;
	ofrep-single) start_vexil "$DATA/bench.flags.json"; run_wrk ofrep-single ofrep.lua "$OFREP/ofrep/v1/evaluate/flags/static-bool" ;;
	ofrep-bulk13) start_vexil "$DATA/bench.flags.json"; run_wrk ofrep-bulk13 ofrep.lua "$OFREP/ofrep/v1/evaluate/flags" ;;
	ofrep-bulk100) start_vexil "$DATA/bench100.flags.json"; run_wrk ofrep-bulk100 ofrep.lua "$OFREP/ofrep/v1/evaluate/flags" ;;
	grpc-null) start_null; measure grpc-null "$H2LOAD_GRPC" "$NULL$RESOLVE/ResolveBoolean" "$GRPC_BODY" "$CONNECTIONS" "$DURATION" ;;
	grpc)
		start_vexil "$DATA/bench.flags.json"
		# h2load does not read the answers' gRPC status: check one with grpc-go.
		"$TMP/loadgen" -mode grpc -addr "127.0.0.1:$EVAL_PORT" -flag static-bool -c 1 -d 100ms >/dev/null
		measure grpc "$H2LOAD_GRPC" "$EVAL$RESOLVE/ResolveBoolean" "$GRPC_BODY" "$CONNECTIONS" "$DURATION"
		;;
	rate-null) start_null; measure rate-null "$TMP/loadgen" -mode rate -url "$NULL$RESOLVE/ResolveBoolean" -body "$BODY_STATIC" -rate "$RATE" -d "$DURATION" ;;
	rate-static) start_vexil "$DATA/bench.flags.json"; measure rate-static "$TMP/loadgen" -mode rate -url "$EVAL$RESOLVE/ResolveBoolean" -body "$BODY_STATIC" -rate "$RATE" -d "$DURATION" ;;
	rate-targeting) start_vexil "$DATA/bench.flags.json"; measure rate-targeting "$TMP/loadgen" -mode rate -url "$EVAL$RESOLVE/ResolveBoolean" -body "$BODY_TARGETING" -rate "$RATE" -d "$DURATION" ;;
	esac
done
stop_server
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report --------------------------------------------------------------------

ms() { awk -v us="$1" 'BEGIN {printf "%.2f ms", us/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else printf "—"}'; }
num() { awk -v x="$1" 'BEGIN {printf "%.0f", x}' | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

echo
echo "## Vexil load benchmark"
echo
echo "- command: \`DURATION=$DURATION RUNS=$RUNS CONNECTIONS=$CONNECTIONS RATE=$RATE SCENARIOS=\"${SCENARIOS}\" bench/run.sh\`"
echo "- machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load average $LOAD_BEFORE before, $LOAD_AFTER after"
echo "- vexil pinned to core $SERVER_CPU, load generator to core $CLIENT_CPU; medians of $RUNS runs of $DURATION; wrk -t1 -c$CONNECTIONS; gRPC: h2load -t1 -c$CONNECTIONS -m1 (bench/h2load-grpc.sh)"

closed=0
for s in $SCENARIOS; do if [[ $s != rate-* && $s != scale ]]; then closed=1; fi; done
if ((closed)); then
	echo
	echo "| scenario | req/s (median) | p50 | p99 | × null handler | flagd req/s | × flagd | target (4× flagd) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for s in $SCENARIOS; do
		[[ $s == rate-* || $s == scale ]] && continue
		base=null
		if [[ $s == grpc* ]]; then base=grpc-null; fi
		vsnull="—"
		if [[ $s != "$base" && -n ${RPS[$base]:-} ]]; then vsnull="$(ratio "${RPS[$s]}" "${RPS[$base]}")"; fi
		f=${FLAGD[$s]:-}
		vsflagd="—" target="—" flagd="—"
		if [[ -n $f ]]; then
			flagd=$(num "$f")
			vsflagd="$(ratio "${RPS[$s]}" "$f")"
			target="$(num $((4 * f)))"
			if awk -v a="${RPS[$s]}" -v t=$((4 * f)) 'BEGIN {exit !(a >= t)}'; then target+=" ✓"; else target+=" ✗"; fi
		fi
		errnote=""
		if ((ERRS[$s] > 0)); then errnote=" (${ERRS[$s]} errors)"; fi
		echo "| ${LABEL[$s]} | $(num "${RPS[$s]}")$errnote | $(ms "${P50[$s]}") | $(ms "${P99[$s]}") | $vsnull | $flagd | $vsflagd | $target |"
	done
fi

open=0
for s in $SCENARIOS; do if [[ $s == rate-* ]]; then open=1; fi; done
if ((open)); then
	echo
	echo "Open loop, a steady $RATE req/s for $DURATION (latency from each request's sending; target p99 ≤ 1 ms; the last column from the time it was due, which adds the generator's lateness):"
	echo
	echo "| scenario | p50 | p99 | max | p99 × null handler | p99 from the time due |"
	echo "|---|---:|---:|---:|---:|---:|"
	for s in $SCENARIOS; do
		[[ $s == rate-* ]] || continue
		vsnull="—"
		if [[ $s != rate-null && -n ${P99[rate-null]:-} ]]; then vsnull="$(ratio "${P99[$s]}" "${P99[rate-null]}")"; fi
		errnote=""
		if ((ERRS[$s] > 0)); then errnote=" (${ERRS[$s]} errors)"; fi
		echo "| ${LABEL[$s]}$errnote | $(ms "${P50[$s]}") | $(ms "${P99[$s]}") | $(ms "${MAX[$s]}") | $vsnull | $(ms "${DUEP99[$s]:-0}") |"
	done
fi

if want scale; then
	echo "== scale: 100k-flag startup and RSS, edit latency" >&2
	scale_cpu=${SCALE_CPU:-$SERVER_CPU}
	[[ $scale_cpu == none ]] && scale_cpu=
	scale_args=(-vexil "$TMP/vexil" -cpu "$scale_cpu")
	if [[ -n ${SCALE_ARGS:-} ]]; then
		read -r -a extra <<<"$SCALE_ARGS"
		scale_args+=("${extra[@]}")
	fi
	taskset -c "$CLIENT_CPU" "$TMP/scale" "${scale_args[@]}"
	echo
	echo "(scale: load average $(cut -d' ' -f1-3 /proc/loadavg) after)"
fi
