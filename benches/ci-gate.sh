#!/usr/bin/env bash
# The short benchmark CI runs (scripts/test.sh, step "benchmark gate"): standalone setData,
# $CLIENTS clients (256), 100-byte values, on zkr and on Apache ZooKeeper 3.8 in the same run, on
# the same machine, with the same third-party client (benches/zk-bench).
#
# Both servers run side by side (an idle server takes next to no CPU); after a warm-up of each (a
# JVM needs its JIT warm; zkr gets the same), the measured windows alternate, zkr then Apache,
# $ROUNDS times (3), $SECS seconds each (10), so a slow spell of the machine hits both. The
# figures compared are each server's median window.
#
# It fails if
#   * zkr's setData throughput is below $GATE_RATIO (1.2) times Apache ZooKeeper's, or
#   * zkr's server CPU per setData (CPU seconds the server used over the window / writes done)
#     is above $GATE_CPU_RATIO (0.6) times ZooKeeper's,
# in two measurements in a row: a first one that misses a bound is measured again, on fresh
# servers, and both are printed (a real regression fails both; one slow spell of Apache or the
# disk does not fail the run). Issue 16's target, 1.5x Apache's throughput ($TARGET_RATIO), is
# measured and printed in every verdict ("target met" or "target missed") but does not fail the
# run, for the reason below.
#
# Why the CPU bound decides and the rate bound is a floor: both servers share the machine's two
# cores with the client, whose CPU per write (~14 µs here) is the same for both, so the client's
# share dilutes the rate ratio: on a host whose kernel paths are slower (loopback TCP, wake-ups)
# the client costs more, zkr (mostly kernel time per write) loses more of its lead than Apache
# (mostly JVM time), and the same build measured 1.58x on one 2-core machine and 1.20-1.45x on
# another, at 0.40-0.48x Apache's CPU per write on both (benches/notes.md, "The gate on a slower
# host"). A gate that fails because the machine is slow blocks every change without finding a
# regression; server CPU per write is what the host does not dilute (0.6x is a server that
# would do 1.67x Apache's rate with the machine to itself), and the 1.2x floor still fails a
# change that stalls the pipeline without spending CPU (a lost group commit, a sleep).
#
# The client: one tokio worker thread (`--threads 1`). With its default two workers (plus its
# reactor thread) the client's threads contend with the server's event loop for the two cores:
# zkr's loop was measured always runnable and preempted 5,400 times a second with the machine a
# quarter idle; with one worker the machine is ~90 % busy under zkr and Apache's rate is the same
# (it is CPU-bound either way; benches/notes.md).
#
# Why 256 clients: with 64 (256 requests in flight) both servers wait on the client's own share
# of the round trip and on the disk (benches/notes.md, "Where a standalone setData waits"), and
# zkr measures 1.25-1.45x Apache there (CI runs of 2026-12-06/07); with 256 clients group commit
# has deeper queues to batch and zkr measured 1.63-1.83x in nine gate runs on an idle machine
# (2026-12-07; the published sweep: 1.74x), at 0.34-0.36x Apache's CPU per write (0.39-0.41x at
# 64 clients). About 100 s (200 s when it measures again) plus the release builds
# (BENCH_NO_BUILD=1: use the binaries already built).
#
#   benches/ci-gate.sh
#   GATE_RATIO=1.5 benches/ci-gate.sh      issue 16's bound as a failing one
#
# One JSON line per window, a verdict JSON line per measurement on stdout, a summary line on
# stderr or stdout.
set -euo pipefail
work=$(mktemp -d "${TMPDIR:-/tmp}/zkr-gate.XXXXXX")
source "$(dirname "$0")/lib.sh"
GATE_RATIO=${GATE_RATIO:-1.2}
TARGET_RATIO=${TARGET_RATIO:-1.5}
BENCH_THREADS=${BENCH_THREADS:-1}
GATE_CPU_RATIO=${GATE_CPU_RATIO:-0.6}
CLIENTS=${CLIENTS:-256}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-3}
bench_init

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure ATTEMPT: fresh servers, the alternated windows, a verdict line; sets $pass and $summary.
measure() {
  local attempt=$1 kind round line rate cpu
  local -A base pid rates cpus
  mkdir -p "$work/$attempt"

  for kind in zkr apache; do
    base[$kind]=$(pick_base)
    start "$kind" "$work/$attempt/$kind" 1 "${base[$kind]}"
    pid[$kind]=$(cat "$work/$attempt/$kind/n1/pid")
    "$BENCH" --hosts "127.0.0.1:${base[$kind]}" --workload write --clients "$CLIENTS" --duration 5 --warmup 0 >/dev/null 2>&1 || true
  done

  for round in $(seq 1 "$ROUNDS"); do
    for kind in zkr apache; do
      line=$("$BENCH" --hosts "127.0.0.1:${base[$kind]}" --pids "${pid[$kind]}" --workload write --clients "$CLIENTS" \
        --duration "$SECS" --warmup 1 --threads "$BENCH_THREADS" --json --label "$kind-gate-$attempt-$round")
      echo "$line"
      rate=$(echo "$line" | sed -E 's/.*"ops_per_sec":([0-9.]+).*/\1/')
      # server CPU per write, µs: server_cpu_pct is the server's CPU over the window, in % of a core
      cpu=$(echo "$line" | sed -E 's/.*"server_cpu_pct":([0-9.]+).*/\1/' | awk -v r="$rate" '{ printf "%.2f", $1 * 10000 / r }')
      rates[$kind]="${rates[$kind]:-} $rate"
      cpus[$kind]="${cpus[$kind]:-} $cpu"
    done
  done
  stop_all

  local -A med_rate med_cpu
  for kind in zkr apache; do
    med_rate[$kind]=$(echo "${rates[$kind]}" | tr ' ' '\n' | grep . | median)
    med_cpu[$kind]=$(echo "${cpus[$kind]}" | tr ' ' '\n' | grep . | median)
  done
  ratio=$(echo "scale=2; ${med_rate[zkr]} / ${med_rate[apache]}" | bc | sed "s/^\./0./")
  cpu_ratio=$(echo "scale=3; ${med_cpu[zkr]} / ${med_cpu[apache]}" | bc | sed "s/^\./0./")
  pass=1
  [ "$(echo "$cpu_ratio <= $GATE_CPU_RATIO" | bc)" = 1 ] || pass=0
  [ "$(echo "$ratio >= $GATE_RATIO" | bc)" = 1 ] || pass=0
  local target=missed
  [ "$(echo "$ratio >= $TARGET_RATIO" | bc)" = 1 ] && target=met
  echo "{\"record\":\"gate\",\"attempt\":$attempt,\"clients\":$CLIENTS,\"rounds\":$ROUNDS,\"secs\":$SECS,\"zkr_ops_per_sec\":${med_rate[zkr]},\"apache_ops_per_sec\":${med_rate[apache]},\"zkr_windows\":\"${rates[zkr]# }\",\"apache_windows\":\"${rates[apache]# }\",\"ratio\":$ratio,\"min_ratio\":$GATE_RATIO,\"target_ratio\":$TARGET_RATIO,\"target_met\":$([ "$target" = met ] && echo true || echo false),\"client_threads\":$BENCH_THREADS,\"zkr_cpu_us_per_op\":${med_cpu[zkr]},\"apache_cpu_us_per_op\":${med_cpu[apache]},\"cpu_ratio\":$cpu_ratio,\"max_cpu_ratio\":$GATE_CPU_RATIO,\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"pass\":$([ "$pass" = 1 ] && echo true || echo false)}"
  summary="zkr setData ${med_rate[zkr]}/s (${med_cpu[zkr]} µs server CPU each) vs Apache ZooKeeper ${med_rate[apache]}/s (${med_cpu[apache]} µs), $CLIENTS clients, medians of $ROUNDS windows of $SECS s: throughput ${ratio}x (at least ${GATE_RATIO}x required; issue 16 target ${TARGET_RATIO}x $target), CPU per op ${cpu_ratio}x (at most ${GATE_CPU_RATIO}x allowed)"
}

measure 1
if [ "$pass" != 1 ]; then
  echo "benchmark gate: the first measurement missed a bound ($summary); measuring again" >&2
  first=$summary
  measure 2
  if [ "$pass" != 1 ]; then
    echo "benchmark gate FAILED twice: $first; then $summary" >&2
    rm -rf "$work"
    exit 1
  fi
fi
rm -rf "$work"
echo "benchmark gate: $summary"
