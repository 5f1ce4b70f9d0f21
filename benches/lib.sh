# Shared pieces of the benchmark scripts (sourced, not run): building zkr and zk-bench, starting
# zkr and Apache ZooKeeper 3.8 (Debian) standalone or as ensembles on free loopback ports,
# stopping only what we started, and reading a process's CPU and memory from /proc.
#
# The caller sets `work` (a scratch directory) and calls `bench_init` first.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZKR=${ZKR:-${CARGO_TARGET_DIR:-$root/target}/release/zkr}
BENCH=$root/benches/zk-bench/target/release/zk-bench
J=/usr/share/java
APACHE_CP="$J/zookeeper.jar:$J/zookeeper-jute.jar:$J/netty-handler.jar:$J/netty-transport.jar:$J/netty-buffer.jar:$J/netty-common.jar:$J/netty-codec.jar:$J/netty-resolver.jar:$J/netty-transport-native-unix-common.jar:$J/slf4j-api.jar:$J/slf4j-log4j12.jar:$J/log4j-1.2.jar:$J/metrics-core.jar:$J/snappy-java.jar:$J/commons-cli.jar"
# Apache ZooKeeper's heap: enough for 10M znodes; the JVM only takes what it uses (RSS is measured).
APACHE_HEAP=${APACHE_HEAP:-2g}
pids=()

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

# Builds the release binaries (once per script run) and sets the exit trap.
bench_init() {
  trap bench_cleanup EXIT
  if [ -z "${BENCH_NO_BUILD:-}" ]; then
    (cd "$root" && cargo build --release --quiet --bin zkr)
    (cd "$root/benches/zk-bench" && CARGO_TARGET_DIR=target cargo build --release --quiet)
  fi
}

port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# A base port B such that B..B+9 (clients), B+100.. (peers), B+150.. (elections) and B+200..
# (metrics) are free: others run servers on this machine too. B is in 31000-32540, so every
# port is above the tests' port picker (below 30000, tests/support/ports.py), above the
# conformance cluster's block (30000-30999) and below the kernel's ephemeral range (32768).
pick_base() {
  local b p ok
  for _ in $(seq 1 50); do
    b=$(( 31000 + (RANDOM % 78) * 20 ))
    ok=1
    for off in 0 1 2 100 101 102 150 151 152 200 201 202; do
      p=$((b + off)); port_free $p || { ok=0; break; }
    done
    [ $ok = 1 ] && { echo $b; return 0; }
  done
  echo "no free port range" >&2; return 1
}

fourlw() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; echo $2 >&3; cat <&3" 2>/dev/null; }
wait_ruok() {
  local limit=${2:-600}
  for _ in $(seq 1 "$limit"); do [ "$(fourlw "$1" ruok)" = imok ] && return 0; sleep 0.1; done
  echo "port $1 not serving" >&2; return 1
}
wait_mode() { for _ in $(seq 1 600); do fourlw "$1" srvr | grep -Eq "Mode: ($2)" && return 0; sleep 0.1; done; return 1; }
srvr_zxid() { fourlw "$1" srvr | awk '/^Zxid:/{print $2}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# /proc figures of a process, in MB: resident now, and the peak resident (VmHWM).
rss_mb() { awk '/^VmRSS:/{printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo null; }
hwm_mb() { awk '/^VmHWM:/{printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo null; }
# CPU seconds (user + system, all threads) a process has used.
cpu_secs() { awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); split($0, f, " "); printf "%.2f", (f[12] + f[13]) / t }' "/proc/$1/stat"; }

# zkr_config DIR N BASE I: the config of node I of N (1 = standalone); extra TOML lines for the
# [storage] section come from $ZKR_STORAGE (e.g. "snap_count = 1000000").
zkr_config() {
  local dir=$1 n=$2 base=$3 i=$4
  echo "[node]"; echo "id = $([ "$n" = 1 ] && echo 0 || echo "$i")"; echo "data_dir = \"$dir/n$i/data\""
  echo "client_port = $((base + i - 1))"; echo 'client_address = "127.0.0.1"'; echo "tick_time_ms = 2000"
  echo 'four_letter_words = ["*"]'; echo "max_client_connections = 0"
  if [ "$n" -gt 1 ]; then
    echo "[ensemble]"; echo "servers = ["
    for j in $(seq 1 "$n"); do echo "  { id = $j, host = \"127.0.0.1\", peer_port = $((base + 100 + j - 1)), client_port = $((base + j - 1)) },"; done
    echo "]"
  fi
  echo "[storage]"; [ -n "${ZKR_STORAGE:-}" ] && printf '%s\n' "$ZKR_STORAGE"
  echo "[metrics]"; echo "port = $((base + 200 + i - 1))"; echo 'address = "127.0.0.1"'
}

# start_zkr_node DIR N BASE I: starts node I of N (config written once), its pid in DIR/nI/pid.
start_zkr_node() {
  local dir=$1 n=$2 base=$3 i=$4
  mkdir -p "$dir/n$i"
  [ -f "$dir/n$i/zkr.toml" ] || zkr_config "$dir" "$n" "$base" "$i" > "$dir/n$i/zkr.toml"
  "$ZKR" node --config "$dir/n$i/zkr.toml" >> "$dir/n$i/node.log" 2>&1 &
  pids+=($!); echo $! > "$dir/n$i/pid"
}


start_apache_node() {
  local dir=$1 n=$2 base=$3 i=$4
  mkdir -p "$dir/n$i/data"; echo "$i" > "$dir/n$i/data/myid"
  if [ ! -f "$dir/n$i/zoo.cfg" ]; then
    {
      echo "tickTime=2000"; echo "initLimit=10"; echo "syncLimit=5"; echo "dataDir=$dir/n$i/data"
      echo "clientPort=$((base + i - 1))"; echo "clientPortAddress=127.0.0.1"; echo "maxClientCnxns=0"
      echo "admin.enableServer=false"; echo "4lw.commands.whitelist=*"
      [ -n "${APACHE_CFG:-}" ] && printf '%s\n' "$APACHE_CFG"
      if [ "$n" -gt 1 ]; then
        for j in $(seq 1 "$n"); do echo "server.$j=127.0.0.1:$((base + 100 + j - 1)):$((base + 150 + j - 1))"; done
      fi
    } > "$dir/n$i/zoo.cfg"
    printf 'log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\nlog4j.appender.F.File=%s\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n' "$dir/n$i/server.log" > "$dir/n$i/log4j.properties"
  fi
  java -Xmx"$APACHE_HEAP" -Dlog4j.configuration="file:$dir/n$i/log4j.properties" -cp "$APACHE_CP" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/n$i/zoo.cfg" >> "$dir/n$i/out.log" 2>&1 &
  pids+=($!); echo $! > "$dir/n$i/pid"
}

# start KIND DIR N BASE: N servers of KIND (zkr or apache; 1 = standalone), client ports
# BASE.., peers BASE+100.., elections BASE+150..; returns when all serve (and have a leader).
start() {
  local kind=$1 dir=$2 n=$3 base=$4
  for i in $(seq 1 "$n"); do "start_${kind}_node" "$dir" "$n" "$base" "$i"; done
  for i in $(seq 1 "$n"); do wait_ruok $((base + i - 1)); done
  [ "$n" = 1 ] || for i in $(seq 1 "$n"); do wait_mode $((base + i - 1)) "leader|follower"; done
}

# Stops (SIGTERM) every server we started and waits for them.
stop_all() { bench_cleanup; }

# kill -9 of one server we started (no shutdown work at all).
kill9() { kill -9 "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

hosts() { local base=$1 n=$2 h=""; for i in $(seq 1 "$n"); do h="$h${h:+,}127.0.0.1:$((base + i - 1))"; done; echo "$h"; }
server_pids() { local dir=$1 n=$2 p=""; for i in $(seq 1 "$n"); do p="$p${p:+,}$(cat "$dir/n$i/pid")"; done; echo "$p"; }

# Live Java heap of a JVM after a full GC, in MB (what ZooKeeper's tree really holds).
jvm_live_heap_mb() {
  jcmd "$1" GC.run >/dev/null 2>&1 || { echo null; return; }
  jcmd "$1" GC.heap_info 2>/dev/null | awk '/used/ && /total/ { for (i = 1; i <= NF; i++) if ($i == "used") { v = $(i + 1); sub(/K,?$/, "", v); printf "%.1f", v / 1024; exit } }'
}
