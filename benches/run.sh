#!/usr/bin/env bash
# Side-by-side benchmarks of zkr and Apache ZooKeeper 3.8 (Debian) on this machine, with the
# same third-party client (benches/zk-bench, built on the `zookeeper-client` crate).
#
#   benches/run.sh standalone [clients] [seconds]   read + write workloads, one server
#   benches/run.sh ensemble   [clients] [seconds]   the same against 3-server ensembles
#   benches/run.sh durability                       fsyncs per write under load (needs perf); restart time and
#                                                   snapshot size with 1,000,000 znodes of 100 bytes
#   benches/run.sh failover                         kill -9 the leader of a 3-node ensemble:
#                                                   time until a new leader serves writes
#
# Servers run one at a time, with the same durability (fsync before acknowledging). Results are
# JSON lines on stdout (zk-bench's), labelled zkr / apache. Not a test: figures depend on the machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
what=${1:-standalone}
clients=${2:-16}
secs=${3:-15}
work=$(mktemp -d "${TMPDIR:-/tmp}/zkr-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

cargo build --release --quiet --bin zkr
(cd benches/zk-bench && CARGO_TARGET_DIR=target cargo build --release --quiet)
ZKR=${CARGO_TARGET_DIR:-$root/target}/release/zkr
BENCH=$root/benches/zk-bench/target/release/zk-bench
J=/usr/share/java
APACHE_CP="$J/zookeeper.jar:$J/zookeeper-jute.jar:$J/netty-handler.jar:$J/netty-transport.jar:$J/netty-buffer.jar:$J/netty-common.jar:$J/netty-codec.jar:$J/netty-resolver.jar:$J/netty-transport-native-unix-common.jar:$J/slf4j-api.jar:$J/slf4j-log4j12.jar:$J/log4j-1.2.jar:$J/metrics-core.jar:$J/snappy-java.jar:$J/commons-cli.jar"

port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
wait_ruok() { for _ in $(seq 1 600); do [ "$(timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; echo ruok >&3; cat <&3" 2>/dev/null)" = imok ] && return 0; sleep 0.1; done; echo "port $1 not serving" >&2; return 1; }
wait_mode() { for _ in $(seq 1 600); do timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; echo srvr >&3; cat <&3" 2>/dev/null | grep -q "Mode: $2" && return 0; sleep 0.1; done; return 1; }

# start_zkr DIR N BASE: N nodes (1 = standalone), client ports BASE.., peers BASE+100..
start_zkr() {
  local dir=$1 n=$2 base=$3
  for i in $(seq 1 "$n"); do
    mkdir -p "$dir/n$i"
    {
      echo "[node]"; echo "id = $([ "$n" = 1 ] && echo 0 || echo "$i")"; echo "data_dir = \"$dir/n$i/data\""
      echo "client_port = $((base + i - 1))"; echo 'client_address = "127.0.0.1"'; echo "tick_time_ms = 2000"
      echo 'four_letter_words = ["*"]'; echo "max_client_connections = 0"
      if [ "$n" -gt 1 ]; then
        echo "[ensemble]"; echo "servers = ["
        for j in $(seq 1 "$n"); do echo "  { id = $j, host = \"127.0.0.1\", peer_port = $((base + 100 + j - 1)), client_port = $((base + j - 1)) },"; done
        echo "]"
      fi
      echo "[metrics]"; echo "port = $((base + 200 + i - 1))"; echo 'address = "127.0.0.1"'
    } > "$dir/n$i/zkr.toml"
    "$ZKR" node --config "$dir/n$i/zkr.toml" > "$dir/n$i/node.log" 2>&1 &
    pids+=($!); echo $! > "$dir/n$i/pid"
  done
  for i in $(seq 1 "$n"); do wait_ruok $((base + i - 1)); done
  if [ -z "${no_settle:-}" ]; then sleep 2; fi
}

start_apache() {
  local dir=$1 n=$2 base=$3
  for i in $(seq 1 "$n"); do
    mkdir -p "$dir/n$i/data"; echo "$i" > "$dir/n$i/data/myid"
    {
      echo "tickTime=2000"; echo "initLimit=10"; echo "syncLimit=5"; echo "dataDir=$dir/n$i/data"
      echo "clientPort=$((base + i - 1))"; echo "clientPortAddress=127.0.0.1"; echo "maxClientCnxns=0"
      echo "admin.enableServer=false"; echo "4lw.commands.whitelist=*"
      if [ "$n" -gt 1 ]; then
        for j in $(seq 1 "$n"); do echo "server.$j=127.0.0.1:$((base + 100 + j - 1)):$((base + 150 + j - 1))"; done
      fi
    } > "$dir/n$i/zoo.cfg"
    printf 'log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\nlog4j.appender.F.File=%s\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n' "$dir/n$i/server.log" > "$dir/n$i/log4j.properties"
    java -Xmx2g -Dlog4j.configuration="file:$dir/n$i/log4j.properties" -cp "$APACHE_CP" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/n$i/zoo.cfg" > "$dir/n$i/out.log" 2>&1 &
    pids+=($!); echo $! > "$dir/n$i/pid"
  done
  for i in $(seq 1 "$n"); do wait_ruok $((base + i - 1)); done
  if [ -z "${no_settle:-}" ]; then sleep 3; fi
}

stop_all() { cleanup; pids=(); sleep 1; }
srvr_zxid() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; echo srvr >&3; cat <&3" | awk '/^Zxid:/{print $2}'; }

hosts() { local base=$1 n=$2; local h=""; for i in $(seq 1 "$n"); do h="$h${h:+,}127.0.0.1:$((base + i - 1))"; done; echo "$h"; }
server_pids() { local dir=$1 n=$2; local p=""; for i in $(seq 1 "$n"); do p="$p${p:+,}$(cat "$dir/n$i/pid")"; done; echo "$p"; }

workloads() {  # label dir n base
  local label=$1 dir=$2 n=$3 base=$4
  for w in write read; do
    # a short warm-up (a JVM needs its JIT warm), then the measured run
    "$BENCH" --hosts "$(hosts "$base" "$n")" --workload $w --clients "$clients" --duration 5 --warmup 2 >/dev/null 2>&1 || true
    "$BENCH" --hosts "$(hosts "$base" "$n")" --pids "$(server_pids "$dir" "$n")" --workload $w \
      --clients "$clients" --duration "$secs" --warmup 3 --json --label "$label-$n" || echo "{\"label\":\"$label-$n\",\"workload\":\"$w\",\"error\":true}"
  done
}

case $what in
  standalone|ensemble)
    n=1; [ "$what" = ensemble ] && n=3
    start_zkr "$work/zkr" $n 24100; workloads zkr "$work/zkr" $n 24100; stop_all
    start_apache "$work/apache" $n 24400; workloads apache "$work/apache" $n 24400; stop_all
    ;;
  durability)
    # fsyncs per committed write under a write load (group commit at work): fsync/fdatasync
    # calls counted by perf (kernel tracepoints, no slowdown) over the whole run, txns by zxid
    for kind in zkr apache; do
      base=24100; [ $kind = apache ] && base=24400
      start_$kind "$work/$kind" 1 $base
      pid=$(cat "$work/$kind/n1/pid")
      z0=$(srvr_zxid $base)
      perf stat -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync -p "$pid" -o "$work/$kind-fsync.csv" -- sleep 14 &
      perf_pid=$!
      "$BENCH" --hosts 127.0.0.1:$base --workload write --clients 64 --duration 10 --warmup 0 --json --label $kind-fsync
      wait $perf_pid || true
      z1=$(srvr_zxid $base)
      f=$(awk -F, '/sys_enter_f/{s+=$1} END{print s+0}' "$work/$kind-fsync.csv")
      t=$(( (z1 & 0xffffffff) - (z0 & 0xffffffff) ))
      echo "{\"label\":\"$kind\",\"fsyncs\":$f,\"txns\":$t,\"fsyncs_per_txn\":$(echo "scale=4; $f/$t" | bc)}"
      stop_all
    done
    # 1,000,000 znodes of 100 bytes: snapshot size and restart time
    for kind in zkr apache; do
      base=24100; [ $kind = apache ] && base=24400
      start_$kind "$work/$kind-load" 1 $base
      "$BENCH" --hosts 127.0.0.1:$base --pids "$(cat "$work/$kind-load/n1/pid")" --workload load --keys 1000000 --value-size 100 --clients 16 --json --label "$kind-load"
      stop_all   # SIGTERM: both write what they have
      du -sb "$work/$kind-load/n1/data" | awk -v k=$kind '{print "{\"label\":\"" k "\",\"data_dir_bytes\":" $1 "}"}'
      # the largest snapshot, the one with the most znodes (zkr: data/snap/snapshot.<zxid>,
      # ZooKeeper: data/version-2/snapshot.<zxid>); the zxid says how many txns it holds
      find "$work/$kind-load/n1/data" -type f -name 'snapshot.*' -printf '%s %f\n' | sort -n | tail -1 |
        awk -v k=$kind '{print "{\"label\":\"" k "\",\"largest_snapshot\":\"" $2 "\",\"bytes\":" $1 "}"}'
      t0=$(date +%s%N)
      no_settle=1 start_$kind "$work/$kind-load" 1 $base
      "$BENCH" --hosts 127.0.0.1:$base --workload probe --path /bench-load/p0999/n00999999 --duration 300 --json --label "$kind-restart" || true
      echo "{\"label\":\"$kind\",\"restart_to_serving_ms\":$(( ($(date +%s%N) - t0) / 1000000 ))}"
      stop_all
    done
    ;;
  failover)
    for kind in zkr apache; do
      base=24100; [ $kind = apache ] && base=24400
      start_$kind "$work/$kind-fo" 3 $base
      leader=""
      for i in 1 2 3; do wait_mode $((base + i - 1)) "leader|follower" || true; timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$((base + i - 1)); echo srvr >&3; cat <&3" 2>/dev/null | grep -q "Mode: leader" && leader=$i; done
      kill -9 "$(cat "$work/$kind-fo/n$leader/pid")"
      t0=$(date +%s%N)
      others=""; for i in 1 2 3; do [ $i = "$leader" ] || others="$others${others:+,}127.0.0.1:$((base + i - 1))"; done
      "$BENCH" --hosts "$others" --workload probe --path / --duration 120 --json --label "$kind-failover-probe" >/dev/null || true
      until "$BENCH" --hosts "$others" --workload write --clients 1 --keys 1 --duration 1 --warmup 0 --json >/dev/null 2>&1; do sleep 0.05; done
      echo "{\"label\":\"$kind\",\"leader_killed\":$leader,\"failover_to_first_write_ms\":$(( ($(date +%s%N) - t0) / 1000000 ))}"
      stop_all
    done
    ;;
  *) echo "usage: $0 standalone|ensemble|durability|failover [clients] [seconds]" >&2; exit 2 ;;
esac
