#!/usr/bin/env bash
# A follower catching up by a streamed SNAP (issue 16) on a big tree, while clients write to the
# leader: a 3-node zkr ensemble; one follower is killed; zk-bench loads N znodes of 100 bytes
# (so the follower is far behind: SNAP); the follower restarts while zk-bench runs setData
# (16 clients) on the leader. Figures: the time from the restart until the follower serves with
# the leader's last zxid of the load, the peak resident memory (VmHWM, reset just before the
# restart) of the leader and the follower during the catch-up, their RSS after the load, and
# the leader's write throughput and p99 while the follower catches up, and the same write load
# for BASELINE_SECS (default 10) just before the restart, on the same tree and machine, to
# tell what the catch-up adds from what the machine gives anyway.
#
#   benches/snap-catchup.sh [znodes]     default: 1000000
#
# One "snap_catchup" JSON line on stdout. Throughput and latency are noisy on a shared machine
# (the JSON says the load average).
set -euo pipefail
work=$(mktemp -d "${TMPDIR:-/tmp}/zkr-snapcatchup.XXXXXX")
source "$(dirname "$0")/lib.sh"
n=${1:-1000000}
write_secs=${WRITE_SECS:-30}
bench_init

base=$(pick_base)
dir=$work/zkr
start zkr "$dir" 3 "$base"
leader=""
for i in 1 2 3; do
  fourlw $((base + i - 1)) srvr | grep -q "Mode: leader" && leader=$i
done
[ -n "$leader" ] || { echo "no leader" >&2; exit 1; }
follower=$(( leader % 3 + 1 ))
lpid=$(cat "$dir/n$leader/pid")
kill9 "$(cat "$dir/n$follower/pid")"
"$BENCH" --hosts "127.0.0.1:$((base + leader - 1))" --pids "$lpid" --workload load --keys "$n" --value-size 100 --clients 16 --json > "$work/load.json"
target=$(srvr_zxid $((base + leader - 1)))
rss_leader_load=$(rss_mb "$lpid")
baseline_secs=${BASELINE_SECS:-10}
"$BENCH" --hosts "127.0.0.1:$((base + leader - 1))" --pids "$lpid" --workload write --clients 16 --keys 1000 --value-size 100 --warmup 1 --duration "$baseline_secs" --json > "$work/baseline.json"
echo 5 > "/proc/$lpid/clear_refs"   # VmHWM from here on: the catch-up
"$BENCH" --hosts "127.0.0.1:$((base + leader - 1))" --pids "$lpid" --workload write --clients 16 --keys 1000 --value-size 100 --warmup 0 --duration "$write_secs" --json > "$work/write.json" &
bench=$!
sleep 1
t0=$(now_ms)
start_zkr_node "$dir" 3 "$base" "$follower"
fpid=$(cat "$dir/n$follower/pid")
fhwm=0
caught=null
for _ in $(seq 1 6000); do
  h=$(hwm_mb "$fpid"); [ "$h" != null ] && fhwm=$h
  z=$(srvr_zxid $((base + follower - 1)) || true)
  if [ -n "$z" ] && fourlw $((base + follower - 1)) srvr | grep -q "Mode: follower" && [ $((z)) -ge $((target)) ]; then
    caught=$(( $(now_ms) - t0 )); break
  fi
  sleep 0.1
done
fhwm=$(hwm_mb "$fpid"); lhwm=$(hwm_mb "$lpid")
wait $bench || true
chunks=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/n$leader/node.log" | grep 'streaming a snapshot to a learner' | tail -1 | sed -E 's/.* bytes=([0-9]+) chunks=([0-9]+).*/\1 \2/')
stop_all
write=$(cat "$work/write.json")
baseline=$(cat "$work/baseline.json")
printf '{"record":"snap_catchup","znodes":%d,"catch_up_ms":%s,"snapshot_bytes_chunks":"%s","rss_leader_after_load_mb":%s,"peak_rss_leader_catch_up_mb":%s,"peak_rss_follower_mb":%s,"leader_write_before_catch_up":%s,"leader_write_during_catch_up":%s,"machine_load":%s}\n' \
  "$n" "$caught" "$chunks" "$rss_leader_load" "$lhwm" "$fhwm" "$baseline" "$write" "$(cut -d' ' -f1 /proc/loadavg)"
[ -n "${KEEP:-}" ] || rm -rf "$work"
