#!/usr/bin/env bash
# The short benchmark CI runs (scripts/test.sh): standalone setData, 64 clients, 10 s on zkr and
# then on Apache ZooKeeper 3.8 in the same run, on the same machine, with the same client. Fails
# if zkr's throughput is below $GATE_RATIO (default 1.5) times ZooKeeper's, so a regression of
# the write path cannot land unnoticed. About 40 s plus the release builds.
#
#   benches/ci-gate.sh              (BENCH_NO_BUILD=1: use the binaries already built)
#
# One JSON line per server and a verdict line on stdout.
set -euo pipefail
work=$(mktemp -d "${TMPDIR:-/tmp}/zkr-gate.XXXXXX")
source "$(dirname "$0")/lib.sh"
GATE_RATIO=${GATE_RATIO:-1.5}
SECS=${SECS:-10}
bench_init

declare -A rate
for kind in zkr apache; do
  base=$(pick_base)
  start "$kind" "$work/$kind" 1 "$base"
  pid=$(cat "$work/$kind/n1/pid")
  # a warm-up first: a JVM needs its JIT warm (zkr gets the same)
  "$BENCH" --hosts "127.0.0.1:$base" --workload write --clients 64 --duration 4 --warmup 0 >/dev/null 2>&1 || true
  line=$("$BENCH" --hosts "127.0.0.1:$base" --pids "$pid" --workload write --clients 64 --duration "$SECS" --warmup 1 --json --label "$kind-gate")
  echo "$line"
  rate[$kind]=$(echo "$line" | sed -E 's/.*"ops_per_sec":([0-9.]+).*/\1/')
  stop_all
done
rm -rf "$work"
verdict=$(echo "${rate[zkr]} >= $GATE_RATIO * ${rate[apache]}" | bc)
ratio=$(echo "scale=2; ${rate[zkr]} / ${rate[apache]}" | bc)
echo "{\"record\":\"gate\",\"zkr_ops_per_sec\":${rate[zkr]},\"apache_ops_per_sec\":${rate[apache]},\"ratio\":$ratio,\"required\":$GATE_RATIO,\"pass\":$([ "$verdict" = 1 ] && echo true || echo false)}"
if [ "$verdict" != 1 ]; then
  echo "benchmark gate: zkr setData ${rate[zkr]}/s is ${ratio}x Apache ZooKeeper's ${rate[apache]}/s, below the required ${GATE_RATIO}x" >&2
  exit 1
fi
echo "benchmark gate: zkr setData ${rate[zkr]}/s is ${ratio}x Apache ZooKeeper's ${rate[apache]}/s (required ${GATE_RATIO}x)"
