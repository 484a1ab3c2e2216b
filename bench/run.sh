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
#   BASE_REV=REV      also build vexil at git revision REV ("base") and
#                     measure it side by side: each run of a scenario
#                     measures every server in turn (vexil, base, flagd),
#                     so that the ratios come from one stretch of time
#   FLAGD_BIN=PATH    also measure upstream flagd, built as the oracle
#                     (conformance/oracle/build-flagd.sh), in the same way;
#                     without it the flagd columns show flagd's published
#                     figures
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

# flagd's published figures, for the ratio columns when FLAGD_BIN is not
# given (req/s).
declare -A FLAGD_PUBLISHED=(
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

SERVERS=(vexil)
if [[ -n ${BASE_REV:-} ]]; then SERVERS+=(base); fi
if [[ -n ${FLAGD_BIN:-} ]]; then
	[[ -x $FLAGD_BIN ]] || { echo "run.sh: FLAGD_BIN=$FLAGD_BIN is not an executable" >&2; exit 1; }
	SERVERS+=(flagd)
fi

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
if [[ -n ${BASE_REV:-} ]]; then
	echo "== building vexil at $BASE_REV" >&2
	mkdir "$TMP/base-src"
	git -C "$ROOT" archive "$BASE_REV" | tar -x -C "$TMP/base-src"
	(cd "$TMP/base-src" && go build -o "$TMP/base" ./daemon/cmd/vexil)
	BASE_DESC=$(git -C "$ROOT" log -1 --format='%h %s' "$BASE_REV" | cut -c1-72)
fi

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

# start_server SERVER FILE: SERVER (vexil, base or flagd) on FILE, pinned,
# serving once /readyz says so.
CURRENT=
start_server() {
	local server=$1 file=$2
	if [[ $CURRENT == "$server:$file" ]]; then return; fi
	stop_server
	for p in $EVAL_PORT $MGMT_PORT $SYNC_PORT $OFREP_PORT; do
		port_free "$p" || { echo "run.sh: port $p is in use (set PORT_BASE)" >&2; exit 1; }
	done
	local cmd
	case $server in
	vexil | base) cmd=("$TMP/$server" start --bind-address 127.0.0.1) ;;
	flagd) cmd=("$FLAGD_BIN" start) ;; # flagd has no bind address option
	esac
	taskset -c "$SERVER_CPU" "${cmd[@]}" --uri "file:$file" \
		-p "$EVAL_PORT" -m "$MGMT_PORT" -g "$SYNC_PORT" -r "$OFREP_PORT" >>"$TMP/$server.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_http "http://127.0.0.1:$MGMT_PORT/readyz" || { tail -50 "$TMP/$server.log" >&2; exit 1; }
	CURRENT=$server:$file
}

start_null() {
	if [[ $CURRENT == null ]]; then return; fi
	stop_server
	port_free "$NULL_PORT" || { echo "run.sh: port $NULL_PORT is in use (set PORT_BASE)" >&2; exit 1; }
	taskset -c "$SERVER_CPU" "$TMP/nullserver" -addr "127.0.0.1:$NULL_PORT" >>"$TMP/null.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_http "$NULL/"
	CURRENT=null
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -n "s/.*[ ]$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

declare -A RPS P50 P99 MAX ERRS DUEP99 ALL_RPS ALL_P50 ALL_P99 ALL_MAX ALL_DUEP99
# measure_once NAME COMMAND...: run COMMAND once on the client core, which
# prints a BENCH line, and keep its figures under NAME.
measure_once() {
	local name=$1 out line
	shift
	out=$(taskset -c "$CLIENT_CPU" "$@" 2>&1) || true
	line=$(grep '^BENCH ' <<<"$out" | tail -1)
	if [[ -z $line ]]; then
		echo "run.sh: $name produced no result:" >&2
		echo "$out" >&2
		exit 1
	fi
	ALL_RPS[$name]+=" $(field rps "$line")"
	ALL_P50[$name]+=" $(field p50_us "$line")"
	ALL_P99[$name]+=" $(field p99_us "$line")"
	ALL_MAX[$name]+=" $(field max_us "$line")"
	local due
	due=$(field due_p99_us "$line")
	if [[ -n $due ]]; then ALL_DUEP99[$name]+=" $due"; fi
	ERRS[$name]=$((${ERRS[$name]:-0} + $(field errors "$line")))
	printf '   %-22s %s\n' "$name" "${line#BENCH }" >&2
}

# summarize NAME: the medians of NAME's runs.
summarize() {
	local name=$1
	# shellcheck disable=SC2086 # the lists are space-separated numbers
	{
		RPS[$name]=$(median ${ALL_RPS[$name]})
		P50[$name]=$(median ${ALL_P50[$name]})
		P99[$name]=$(median ${ALL_P99[$name]})
		MAX[$name]=$(median ${ALL_MAX[$name]})
		if [[ -n ${ALL_DUEP99[$name]:-} ]]; then DUEP99[$name]=$(median ${ALL_DUEP99[$name]}); fi
	}
}

# --- scenarios -----------------------------------------------------------------

RESOLVE=/flagd.evaluation.v1.Service
BODY_STATIC='{"flagKey":"static-bool","context":{"targetingKey":"user-123","email":"ana@example.com"}}'
BODY_TARGETING='{"flagKey":"targeting-bool","context":{"targetingKey":"user-123","email":"ana@example.com"}}'
H2LOAD_GRPC=$BENCH_DIR/h2load-grpc.sh
GRPC_BODY=$TMP/grpc-static.bin
"$TMP/loadgen" -mode grpc-body -flag static-bool -context '{"targetingKey":"user-123","email":"ana@example.com"}' >"$GRPC_BODY"

wrk_cmd() { # LUA URL
	CMD=(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA/$1" "$2")
}
rate_cmd() { # URL BODY
	CMD=("$TMP/loadgen" -mode rate -url "$1" -body "$2" -rate "$RATE" -d "$DURATION")
}
# setup_scenario S: sets FILE (the flag file, or "null" for the null
# server) and CMD (the load generator's command) of scenario S.
setup_scenario() {
	FILE=$DATA/bench.flags.json
	case $1 in
	null) FILE=null; wrk_cmd static.lua "$NULL$RESOLVE/ResolveBoolean" ;;
	static) wrk_cmd static.lua "$EVAL$RESOLVE/ResolveBoolean" ;;
	targeting) wrk_cmd targeting.lua "$EVAL$RESOLVE/ResolveBoolean" ;;
	fractional) wrk_cmd fractional.lua "$EVAL$RESOLVE/ResolveBoolean" ;;
	resolve-all) wrk_cmd resolve_all.lua "$EVAL$RESOLVE/ResolveAll" ;;
	ofrep-single) wrk_cmd ofrep.lua "$OFREP/ofrep/v1/evaluate/flags/static-bool" ;;
	ofrep-bulk13) wrk_cmd ofrep.lua "$OFREP/ofrep/v1/evaluate/flags" ;;
	ofrep-bulk100) FILE=$DATA/bench100.flags.json; wrk_cmd ofrep.lua "$OFREP/ofrep/v1/evaluate/flags" ;;
	grpc-null) FILE=null; CMD=("$H2LOAD_GRPC" "$NULL$RESOLVE/ResolveBoolean" "$GRPC_BODY" "$CONNECTIONS" "$DURATION") ;;
	grpc) CMD=("$H2LOAD_GRPC" "$EVAL$RESOLVE/ResolveBoolean" "$GRPC_BODY" "$CONNECTIONS" "$DURATION") ;;
	rate-null) FILE=null; rate_cmd "$NULL$RESOLVE/ResolveBoolean" "$BODY_STATIC" ;;
	rate-static) rate_cmd "$EVAL$RESOLVE/ResolveBoolean" "$BODY_STATIC" ;;
	rate-targeting) rate_cmd "$EVAL$RESOLVE/ResolveBoolean" "$BODY_TARGETING" ;;
	esac
}

echo "== machine: nproc $(nproc), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for s in $SCENARIOS; do
	[[ $s == scale ]] && continue
	echo "== $s: ${LABEL[$s]}" >&2
	setup_scenario "$s"
	servers=("${SERVERS[@]}")
	if [[ $FILE == null ]]; then servers=(null); fi
	# Each run measures every server in turn, so that a slower stretch of
	# the shared machine falls on all of them.
	for run in $(seq "$RUNS"); do
		for server in "${servers[@]}"; do
			if [[ $server == null ]]; then
				start_null
				name=$s
			else
				start_server "$server" "$FILE"
				name=$server:$s
				if [[ $s == grpc ]]; then
					# h2load does not read the answers' gRPC status: check
					# one with grpc-go.
					"$TMP/loadgen" -mode grpc -addr "127.0.0.1:$EVAL_PORT" -flag static-bool -c 1 -d 100ms >/dev/null
				fi
			fi
			measure_once "$name" "${CMD[@]}"
		done
	done
	for server in "${servers[@]}"; do
		if [[ $server == null ]]; then summarize "$s"; else summarize "$server:$s"; fi
	done
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
extra=""
if [[ -n ${BASE_REV:-} ]]; then extra+=" BASE_REV=$BASE_REV"; fi
if [[ -n ${FLAGD_BIN:-} ]]; then extra+=" FLAGD_BIN=$FLAGD_BIN"; fi
echo "- command: \`DURATION=$DURATION RUNS=$RUNS CONNECTIONS=$CONNECTIONS RATE=$RATE SCENARIOS=\"${SCENARIOS}\"$extra bench/run.sh\`"
echo "- machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load average $LOAD_BEFORE before, $LOAD_AFTER after"
echo "- servers: ${SERVERS[*]}, each run measuring them in turn"
echo "- vexil pinned to core $SERVER_CPU, load generator to core $CLIENT_CPU; medians of $RUNS runs of $DURATION; wrk -t1 -c$CONNECTIONS; gRPC: h2load -t1 -c$CONNECTIONS -m1 (bench/h2load-grpc.sh)"

# key SERVER S: the name a scenario's figures are kept under.
key() { if [[ $2 == null || $2 == grpc-null || $2 == rate-null ]]; then echo "$2"; else echo "$1:$2"; fi; }
has() { [[ " ${SERVERS[*]} " == *" $1 "* ]]; }
errnote() { if ((${ERRS[$1]:-0} > 0)); then echo " (${ERRS[$1]} errors)"; fi; }

closed=0
for s in $SCENARIOS; do if [[ $s != rate-* && $s != scale ]]; then closed=1; fi; done
if ((closed)); then
	head="| scenario | req/s (median) | p50 | p99 | × null handler"
	rule="|---|---:|---:|---:|---:"
	if has base; then head+=" | base req/s | × base"; rule+="|---:|---:"; fi
	if has flagd; then head+=" | flagd req/s (measured) | × flagd"; else head+=" | flagd req/s (published) | × flagd"; fi
	head+=" | ≥ 4× flagd |"
	rule+="|---:|---:|:---:|"
	echo
	if has base; then echo "base: $BASE_REV ($BASE_DESC)"; echo; fi
	echo "$head"
	echo "$rule"
	for s in $SCENARIOS; do
		[[ $s == rate-* || $s == scale ]] && continue
		k=$(key vexil "$s")
		null=null
		if [[ $s == grpc* ]]; then null=grpc-null; fi
		vsnull="—"
		if [[ $s != "$null" && -n ${RPS[$null]:-} ]]; then vsnull="$(ratio "${RPS[$k]}" "${RPS[$null]}")"; fi
		row="| ${LABEL[$s]} | $(num "${RPS[$k]}")$(errnote "$k") | $(ms "${P50[$k]}") | $(ms "${P99[$k]}") | $vsnull"
		if has base; then
			if [[ $k == "$s" ]]; then row+=" | — | —"; else row+=" | $(num "${RPS[base:$s]}")$(errnote "base:$s") | $(ratio "${RPS[$k]}" "${RPS[base:$s]}")"; fi
		fi
		f=
		if [[ $k != "$s" ]]; then
			if has flagd; then f=${RPS[flagd:$s]}; else f=${FLAGD_PUBLISHED[$s]:-}; fi
		fi
		if [[ -n $f ]]; then
			mark="✗"
			if awk -v a="${RPS[$k]}" -v f="$f" 'BEGIN {exit !(a >= 4 * f)}'; then mark="✓"; fi
			fe=""
			if has flagd; then fe=$(errnote "flagd:$s"); fi
			row+=" | $(num "$f")$fe | $(ratio "${RPS[$k]}" "$f") | $mark |"
		else
			row+=" | — | — | — |"
		fi
		echo "$row"
	done
fi

open=0
for s in $SCENARIOS; do if [[ $s == rate-* ]]; then open=1; fi; done
if ((open)); then
	echo
	echo "Open loop, a steady $RATE req/s for $DURATION (latency from each request's sending; target p99 ≤ 1 ms; the last column from the time it was due, which adds the generator's lateness):"
	echo
	head="| scenario | p50 | p99 | max | p99 × null handler | p99 from the time due"
	rule="|---|---:|---:|---:|---:|---:"
	for srv in base flagd; do
		if has $srv; then head+=" | $srv p99"; rule+="|---:"; fi
	done
	echo "$head |"
	echo "$rule|"
	for s in $SCENARIOS; do
		[[ $s == rate-* ]] || continue
		k=$(key vexil "$s")
		vsnull="—"
		if [[ $s != rate-null && -n ${P99[rate-null]:-} ]]; then vsnull="$(ratio "${P99[$k]}" "${P99[rate-null]}")"; fi
		row="| ${LABEL[$s]}$(errnote "$k") | $(ms "${P50[$k]}") | $(ms "${P99[$k]}") | $(ms "${MAX[$k]}") | $vsnull | $(ms "${DUEP99[$k]:-0}")"
		for srv in base flagd; do
			if has $srv; then
				if [[ $k == "$s" ]]; then row+=" | —"; else row+=" | $(ms "${P99[$srv:$s]}")$(errnote "$srv:$s")"; fi
			fi
		done
		echo "$row |"
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
