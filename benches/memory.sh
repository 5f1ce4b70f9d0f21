#!/usr/bin/env bash
# Memory and recovery against tree size, for zkr and Apache ZooKeeper 3.8 (one standalone server
# at a time, fsync on, default snapshot settings):
#
#   benches/memory.sh [sizes] [kinds]     e.g. benches/memory.sh "100000 1000000" "zkr apache"
#
# For each size N: a fresh server; zk-bench creates N znodes of 100 bytes (1,000 per parent, 16
# clients); then resident memory right after the load, its peak so far (VmHWM: the load and every
# snapshot written meanwhile), resident memory 20 s later, the largest snapshot on disk; then
# kill -9, a restart, the time from the restart until a getData of the last znode is served, and
# resident memory (and its peak) after the restart. For ZooKeeper also its live Java heap after a
# full GC. One JSON line per (server, size) on stdout ("memory" records), for benches/report.py.
#
# Then, per server, the cost of a session and of a watch: a fresh server's resident memory (and
# ZooKeeper's live heap) with $SESSIONS idle sessions open, and with $WATCH_SESSIONS sessions
# holding $WATCHES watches each (exists-watches on absent znodes), against the same server idle
# ("memory_sessions" records).
#
# Settings (environment): SETTLE_SECS (20), SESSIONS / WATCH_SESSIONS / WATCHES (5000 / 4 /
# 250000), NO_SESSIONS=1 to skip the session and watch part, RECORD (the record name, "memory"),
# ZKR_STORAGE / APACHE_CFG (extra [storage] lines / zoo.cfg lines), KEEP=1 to keep the data.
set -euo pipefail
work=$(mktemp -d "${TMPDIR:-/tmp}/zkr-memory.XXXXXX")
source "$(dirname "$0")/lib.sh"
sizes=${1-"100000 250000 500000 1000000"}
kinds=${2:-"zkr apache"}
settle=${SETTLE_SECS:-20}
bench_init

for kind in $kinds; do
  for n in $sizes; do
    dir=$work/$kind-$n
    base=$(pick_base)
    start "$kind" "$dir" 1 "$base"
    pid=$(cat "$dir/n1/pid")
    last=$(( n - 1 ))
    probe_path=$(printf '/bench-load/p%04d/n%08d' $(( last / 1000 )) "$last")
    load=$("$BENCH" --hosts "127.0.0.1:$base" --pids "$pid" --workload load --keys "$n" --value-size 100 --clients 16 --json)
    load_rate=$(echo "$load" | sed -E 's/.*"ops_per_sec":([0-9.]+).*/\1/')
    rss_load=$(rss_mb "$pid"); hwm_load=$(hwm_mb "$pid")
    sleep "$settle"
    rss_settled=$(rss_mb "$pid"); hwm_settled=$(hwm_mb "$pid")
    live_heap=null
    [ "$kind" = apache ] && live_heap=$(jvm_live_heap_mb "$pid")
    snap=$(find "$dir/n1/data" -type f -name 'snapshot.*' ! -name '*.tmp' -printf '%s\n' | sort -n | tail -1)
    # zkr logs each snapshot it writes: the last one's nodes and time
    last_snap_nodes=null; last_snap_ms=null
    if [ "$kind" = zkr ]; then
      read -r last_snap_nodes last_snap_ms < <(sed 's/\x1b\[[0-9;]*m//g' "$dir/n1/node.log" | grep 'snapshot written' | tail -1 |
        sed -E 's/.* nodes=([0-9]+) .* ms=([0-9]+).*/\1 \2/' | grep -E '^[0-9]+ [0-9]+$' || echo "null null")
    fi
    disk=$(du -sb "$dir/n1/data" | awk '{print $1}')
    kill9 "$pid"
    t0=$(now_ms)
    if [ "$kind" = zkr ]; then start_zkr_node "$dir" 1 "$base" 1; else start_apache_node "$dir" 1 "$base" 1; fi
    pid=$(cat "$dir/n1/pid")
    "$BENCH" --hosts "127.0.0.1:$base" --workload probe --path "$probe_path" --duration 600 --json >/dev/null
    ready_ms=$(( $(now_ms) - t0 ))
    # CPU time is what the restart costs on an idle machine; the wall time also counts waiting
    # for a core on a loaded one.
    restart_cpu=$(cpu_secs "$pid")
    rss_restart=$(rss_mb "$pid"); hwm_restart=$(hwm_mb "$pid")
    stop_all
    [ -n "${KEEP:-}" ] || rm -rf "$dir"
    printf '{"record":"%s","server":"%s","znodes":%d,"value_size":100,"load_ops_per_sec":%s,"rss_after_load_mb":%s,"peak_rss_load_mb":%s,"rss_settled_mb":%s,"peak_rss_settled_mb":%s,"settle_secs":%d,"live_heap_mb":%s,"largest_snapshot_bytes":%s,"last_snapshot_nodes":%s,"last_snapshot_ms":%s,"data_dir_bytes":%s,"restart_to_serving_ms":%d,"restart_cpu_secs":%s,"rss_after_restart_mb":%s,"peak_rss_restart_mb":%s,"machine_load":%s}\n' \
      "${RECORD:-memory}" "$kind" "$n" "$load_rate" "$rss_load" "$hwm_load" "$rss_settled" "$hwm_settled" "$settle" "${live_heap:-null}" "${snap:-0}" "$last_snap_nodes" "$last_snap_ms" "$disk" "$ready_ms" "$restart_cpu" "$rss_restart" "$hwm_restart" "$(cut -d' ' -f1 /proc/loadavg)"
  done
done

# held KIND SESSIONS WATCHES_EACH: "idle_rss held_rss idle_heap held_heap" (MB; heaps null for
# zkr) of a fresh server idle, then while zk-bench holds the sessions and their watches.
held() {
  local kind=$1 sessions=$2 each=$3 dir=$work/$kind-hold base pid idle_rss idle_heap=null rss heap=null bench
  base=$(pick_base)
  start "$kind" "$dir" 1 "$base"
  pid=$(cat "$dir/n1/pid")
  sleep 2
  [ "$kind" = apache ] && idle_heap=$(jvm_live_heap_mb "$pid")
  idle_rss=$(rss_mb "$pid")
  "$BENCH" --hosts "127.0.0.1:$base" --pids "$pid" --workload hold --clients "$sessions" --watches "$each" --duration 20 --json > "$dir/hold.json" &
  bench=$!
  # zk-bench prints its line (with the server's RSS) once everything is set, then holds on
  until [ -s "$dir/hold.json" ] || ! kill -0 $bench 2>/dev/null; do sleep 0.2; done
  rss=$(sed -E 's/.*"server_rss_mb":([0-9.]+).*/\1/' "$dir/hold.json")
  [ "$kind" = apache ] && heap=$(jvm_live_heap_mb "$pid")
  wait $bench || true
  echo "$idle_rss $rss $idle_heap $heap"
  stop_all
  rm -rf "$dir"
}

[ -n "${NO_SESSIONS:-}" ] && exit 0
sessions=${SESSIONS:-5000}
watch_sessions=${WATCH_SESSIONS:-4}
watches=${WATCHES:-250000}
for kind in $kinds; do
  read -r s0 s1 sh0 sh1 <<< "$(held "$kind" "$sessions" 0)"
  read -r w0 w1 wh0 wh1 <<< "$(held "$kind" "$watch_sessions" "$watches")"
  per() { [ "$1" = null ] || [ "$2" = null ] && { echo null; return; }; echo "scale=1; ($2 - $1) * 1048576 / $3" | bc; }
  printf '{"record":"memory_sessions","server":"%s","sessions":%d,"rss_idle_mb":%s,"rss_sessions_mb":%s,"bytes_per_session_rss":%s,"bytes_per_session_heap":%s,"watches":%d,"rss_watches_mb":%s,"bytes_per_watch_rss":%s,"bytes_per_watch_heap":%s}\n' \
    "$kind" "$sessions" "$s0" "$s1" "$(per "$s0" "$s1" "$sessions")" "$(per "$sh0" "$sh1" "$sessions")" \
    "$((watch_sessions * watches))" "$w1" "$(per "$w0" "$w1" $((watch_sessions * watches)))" "$(per "$wh0" "$wh1" $((watch_sessions * watches)))"
done
