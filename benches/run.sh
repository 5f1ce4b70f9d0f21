#!/usr/bin/env bash
# Side-by-side benchmarks of zkr and Apache ZooKeeper 3.8 (Debian) on this machine, with the
# same third-party client (benches/zk-bench, built on the `zookeeper-client` crate), then the
# report: docs/benchmarks.md with its table and charts (benches/report.py).
#
#   benches/run.sh                 the whole matrix, the memory runs, then the report
#   benches/run.sh matrix          only the throughput/latency matrix, then the report
#   benches/run.sh memory          only the memory runs (benches/memory.sh), then the report
#   benches/run.sh report DIR      the report again from the results in DIR
#   benches/run.sh durability      fsyncs per write under load (needs perf)
#   benches/run.sh failover        kill -9 the leader of a 3-node ensemble: time until a new
#                                  leader serves writes
#
# The matrix: each workload (setData, getData, create+delete, session connect+close, watch
# fan-out) at each client count ($CLIENTS, default 1 4 16 64 256), on a standalone server and on
# a 3-node ensemble, for zkr and for ZooKeeper, $SECS seconds each (default 10) after a warm-up.
# Servers run one at a time, with the same durability (fsync before acknowledging). Every
# reading is one JSON line in $OUT/results.jsonl (default benches/results/<date>), with the
# servers' CPU over the measured window (from /proc/<pid>/stat) for the CPU per operation.
# Not a test: figures depend on the machine, and on what else runs on it (machine_busy_pct).
set -euo pipefail
what=${1:-all}
work=$(mktemp -d "${TMPDIR:-/tmp}/zkr-bench.XXXXXX")
source "$(dirname "$0")/lib.sh"
cd "$root"
CLIENTS=${CLIENTS:-"1 4 16 64 256"}
SECS=${SECS:-10}
SERVERS=${SERVERS:-"zkr apache"}
MODES=${MODES:-"standalone ensemble"}
WORKLOADS=${WORKLOADS:-"write read create-delete sessions watch-fanout"}
OUT=${OUT:-$root/benches/results/$(date -u +%Y%m%dT%H%M%SZ)}

report() {
  python3 "$root/benches/report.py" "$1" --out "$root/docs"
}

# One line of context for the report: the machine, the versions, the date.
context() {
  printf '{"record":"context","date":"%s","zkr_commit":"%s","cpus":%d,"cpu_model":"%s","mem_gb":%s,"apache":"%s","secs":%d,"loadavg_start":"%s"}\n' \
    "$(date -u +%FT%TZ)" "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(nproc)" \
    "$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo | tr -d '"')" \
    "$(awk '/MemTotal/{printf "%.1f", $2/1048576}' /proc/meminfo)" \
    "$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo unknown)" "$SECS" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# bench KIND MODE N BASE DIR WORKLOAD CLIENTS: one measured run, tagged, onto stdout.
bench() {
  local kind=$1 mode=$2 n=$3 base=$4 dir=$5 w=$6 c=$7 line who=()
  # the fan-out: C watching sessions and one writer
  who=(--clients "$c"); [ "$w" = watch-fanout ] && who=(--watchers "$c" --clients 1)
  line=$("$BENCH" --hosts "$(hosts "$base" "$n")" --pids "$(server_pids "$dir" "$n")" --workload "$w" \
      "${who[@]}" --duration "$SECS" --warmup 2 --json --label "$kind-$mode" 2>>"$dir/bench.err") ||
    line="{\"workload\":\"$w\",\"clients\":$c,\"error\":true}"
  # the tags go first; zk-bench's own "clients" is the watch-fanout writer count, so the matrix's
  # client count is "matrix_clients"
  echo "{\"record\":\"bench\",\"server\":\"$kind\",\"mode\":\"$mode\",\"matrix_clients\":$c,${line#\{}"
  echo "$kind $mode $w clients=$c: $(echo "$line" | grep -o '"ops_per_sec":[0-9.]*')" >&2
}

matrix() {
  local kind mode n base dir w c
  for mode in $MODES; do
    n=1; [ "$mode" = ensemble ] && n=3
    for kind in $SERVERS; do
      dir=$work/$kind-$mode
      base=$(pick_base)
      start "$kind" "$dir" "$n" "$base"
      # warm-up (a JVM needs its JIT warm; both get the same)
      "$BENCH" --hosts "$(hosts "$base" "$n")" --workload write --clients 16 --duration 5 --warmup 0 >/dev/null 2>&1 || true
      for w in $WORKLOADS; do
        for c in $CLIENTS; do
          bench "$kind" "$mode" "$n" "$base" "$dir" "$w" "$c"
        done
      done
      # the fan-out of the issue's table: 1,000 watchers
      case " $WORKLOADS " in *" watch-fanout "*) bench "$kind" "$mode" "$n" "$base" "$dir" watch-fanout 1000 ;; esac
      stop_all
      rm -rf "$dir"
    done
  done
}

durability() {
  # fsyncs per committed write under a write load (group commit at work): fsync/fdatasync
  # calls counted by perf (kernel tracepoints, no slowdown) over the whole run, txns by zxid
  local kind base pid z0 z1 f t perf_pid
  for kind in $SERVERS; do
    base=$(pick_base)
    start "$kind" "$work/$kind" 1 "$base"
    pid=$(cat "$work/$kind/n1/pid")
    z0=$(srvr_zxid "$base")
    perf stat -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync -p "$pid" -o "$work/$kind-fsync.csv" -- sleep 14 &
    perf_pid=$!
    "$BENCH" --hosts "127.0.0.1:$base" --workload write --clients 64 --duration 10 --warmup 0 --json --label "$kind-fsync"
    wait $perf_pid || true
    z1=$(srvr_zxid "$base")
    f=$(awk -F, '/sys_enter_f/{s+=$1} END{print s+0}' "$work/$kind-fsync.csv")
    t=$(( (z1 & 0xffffffff) - (z0 & 0xffffffff) ))
    echo "{\"record\":\"durability\",\"server\":\"$kind\",\"fsyncs\":$f,\"txns\":$t,\"fsyncs_per_txn\":$(echo "scale=4; $f/$t" | bc)}"
    stop_all
  done
}

failover() {
  local kind base leader i others t0
  for kind in $SERVERS; do
    base=$(pick_base)
    start "$kind" "$work/$kind-fo" 3 "$base"
    leader=""
    for i in 1 2 3; do fourlw $((base + i - 1)) srvr | grep -q "Mode: leader" && leader=$i; done
    kill9 "$(cat "$work/$kind-fo/n$leader/pid")"
    t0=$(now_ms)
    others=""; for i in 1 2 3; do [ $i = "$leader" ] || others="$others${others:+,}127.0.0.1:$((base + i - 1))"; done
    "$BENCH" --hosts "$others" --workload probe --path / --duration 120 --json >/dev/null || true
    for _ in $(seq 1 1200); do
      "$BENCH" --hosts "$others" --workload write --clients 1 --keys 1 --duration 1 --warmup 0 --json >/dev/null 2>&1 && break
      sleep 0.05
    done
    echo "{\"record\":\"failover\",\"server\":\"$kind\",\"leader_killed\":$leader,\"failover_to_first_write_ms\":$(( $(now_ms) - t0 ))}"
    stop_all
  done
}

case $what in
  all|matrix|memory)
    bench_init
    mkdir -p "$OUT"
    context >> "$OUT/results.jsonl"
    # (no pipe around matrix: the servers it starts must stay in this shell, for the exit trap)
    if [ "$what" != memory ]; then matrix >> "$OUT/results.jsonl"; fi
    if [ "$what" != matrix ]; then
      BENCH_NO_BUILD=1 "$root/benches/memory.sh" "${SIZES:-100000 250000 500000 1000000}" "$SERVERS" | tee -a "$OUT/results.jsonl"
    fi
    report "$OUT"
    ;;
  report) report "${2:?results directory}" ;;
  durability) bench_init; durability ;;
  failover) bench_init; failover ;;
  *) echo "usage: $0 [all|matrix|memory|report DIR|durability|failover]" >&2; exit 2 ;;
esac
