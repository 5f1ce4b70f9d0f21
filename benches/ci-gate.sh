#!/usr/bin/env bash
# The short benchmark CI runs (scripts/test.sh): standalone setData, 64 clients, $SECS s (10) on
# zkr and then on Apache ZooKeeper 3.8 in the same run, on the same machine, with the same client.
#
# The gate is the server CPU per setData (CPU seconds the server used over the measured window /
# writes done), which another engineer's build on the same cores disturbs much less than
# throughput: it fails if zkr's is above $GATE_CPU_RATIO (default 1.0) times ZooKeeper's, so a
# write path that became costlier than ZooKeeper's cannot land unnoticed. The throughput ratio is
# printed too, and gates only when GATE_RATIO is set (e.g. GATE_RATIO=1.5 on an idle machine).
# About 40 s plus the release builds.
#
#   benches/ci-gate.sh              (BENCH_NO_BUILD=1: use the binaries already built)
#
# One JSON line per server and a verdict line on stdout.
set -euo pipefail
work=$(mktemp -d "${TMPDIR:-/tmp}/zkr-gate.XXXXXX")
source "$(dirname "$0")/lib.sh"
GATE_RATIO=${GATE_RATIO:-}
GATE_CPU_RATIO=${GATE_CPU_RATIO:-1.0}
SECS=${SECS:-10}
bench_init

declare -A rate cpu
for kind in zkr apache; do
  base=$(pick_base)
  start "$kind" "$work/$kind" 1 "$base"
  pid=$(cat "$work/$kind/n1/pid")
  # a warm-up first: a JVM needs its JIT warm (zkr gets the same)
  "$BENCH" --hosts "127.0.0.1:$base" --workload write --clients 64 --duration 4 --warmup 0 >/dev/null 2>&1 || true
  line=$("$BENCH" --hosts "127.0.0.1:$base" --pids "$pid" --workload write --clients 64 --duration "$SECS" --warmup 1 --json --label "$kind-gate")
  echo "$line"
  rate[$kind]=$(echo "$line" | sed -E 's/.*"ops_per_sec":([0-9.]+).*/\1/')
  # server CPU per write, µs: server_cpu_pct is the server's CPU over the window, in % of a core
  cpu[$kind]=$(echo "$line" | sed -E 's/.*"server_cpu_pct":([0-9.]+).*/\1/' | awk -v r="${rate[$kind]}" '{ printf "%.2f", $1 * 10000 / r }')
  stop_all
done
rm -rf "$work"
ratio=$(echo "scale=2; ${rate[zkr]} / ${rate[apache]}" | bc | sed "s/^\./0./")
cpu_ratio=$(echo "scale=3; ${cpu[zkr]} / ${cpu[apache]}" | bc | sed "s/^\./0./")
pass=$(echo "$cpu_ratio <= $GATE_CPU_RATIO" | bc)
if [ -n "$GATE_RATIO" ] && [ "$(echo "$ratio >= $GATE_RATIO" | bc)" != 1 ]; then pass=0; fi
echo "{\"record\":\"gate\",\"zkr_ops_per_sec\":${rate[zkr]},\"apache_ops_per_sec\":${rate[apache]},\"ratio\":$ratio,\"zkr_cpu_us_per_op\":${cpu[zkr]},\"apache_cpu_us_per_op\":${cpu[apache]},\"cpu_ratio\":$cpu_ratio,\"max_cpu_ratio\":$GATE_CPU_RATIO,\"min_ratio\":\"${GATE_RATIO:-none}\",\"pass\":$([ "$pass" = 1 ] && echo true || echo false)}"
summary="zkr setData ${rate[zkr]}/s (${cpu[zkr]} µs server CPU each) vs Apache ZooKeeper ${rate[apache]}/s (${cpu[apache]} µs): throughput ${ratio}x, CPU per op ${cpu_ratio}x (at most ${GATE_CPU_RATIO}x allowed${GATE_RATIO:+, throughput at least ${GATE_RATIO}x})"
if [ "$pass" != 1 ]; then
  echo "benchmark gate FAILED: $summary" >&2
  exit 1
fi
echo "benchmark gate: $summary"
