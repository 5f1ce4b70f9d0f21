#!/usr/bin/env bash
# Apache ZooKeeper 3.8 (Debian's `zookeeper` package) as a conformance target: the reference
# implementation of the ZKCONF_CTL interface (README.md). Configured like kazoo's own harness
# (kazoo/testing/harness.py + common.py) so that kazoo's suite sees the same servers.
#
#   apache-zk-cluster.sh start          start nodes 1..N on fresh data; return when all serve
#   apache-zk-cluster.sh stop           stop every node it started; delete their data (logs kept)
#   apache-zk-cluster.sh start-node I   start node I again on its kept data; return when it serves
#   apache-zk-cluster.sh stop-node I    SIGTERM node I (SIGKILL after 15 s); return once it exited
#   apache-zk-cluster.sh status         pid and `srvr` mode of each node
#
# Environment: ZKCONF_NODES (3), ZKCONF_BASE_PORT (30000), ZKCONF_STATE_DIR (where nodes live,
# default ${TMPDIR:-/tmp}/zkconf-apache-BASE), ZKCONF_TLS_DIR (gen_tls.py output; needed for the
# TLS port), ZKCONF_LOCAL_SESSIONS (false; true = localSessionsEnabled + Upgrading, asked for by
# the plugin around kazoo's TestReadOnlyMode), ZKCONF_4LW (the 4lw whitelist, default *),
# ZKCONF_START_WAIT (30 s: how long start-node waits for the node to serve).
# Node I: client port BASE+10*I, TLS client port BASE+10*I+1, quorum BASE+10*I+2,
# election BASE+10*I+3, all on 127.0.0.1.
set -u
here=$(cd "$(dirname "$0")" && pwd)
venv=${ZKCONF_VENV:-$(cd "$here/../.." && pwd)/.venv}
N=${ZKCONF_NODES:-3}
BASE=${ZKCONF_BASE_PORT:-30000}
dir=${ZKCONF_STATE_DIR:-${TMPDIR:-/tmp}/zkconf-apache-$BASE}
tls=${ZKCONF_TLS_DIR:-$dir/tls}
j=/usr/share/java
# Debian's zookeeper.jar manifest omits netty-codec & co. (needed by the Netty connection factory,
# which the TLS port requires); slf4j-log4j12 + log4j give us log files.
CP="$j/zookeeper.jar:$j/netty-codec.jar:$j/netty-resolver.jar:$j/netty-transport-native-unix-common.jar:$j/slf4j-log4j12.jar:$j/log4j-1.2.jar"

port() { echo $((BASE + 10 * $1 + $2)); }  # node, offset: 0 client, 1 tls, 2 quorum, 3 election

write_config() {
  local i=$1 n=$dir/n$1
  mkdir -p "$n/data"
  echo "$i" > "$n/data/myid"
  {
    echo "tickTime=2000"
    echo "initLimit=4"
    echo "syncLimit=2"
    echo "dataDir=$n/data"
    echo "clientPort=$(port "$i" 0)"
    echo "clientPortAddress=127.0.0.1"
    echo "secureClientPort=$(port "$i" 1)"
    echo "secureClientPortAddress=127.0.0.1"
    echo "maxClientCnxns=0"
    echo "admin.enableServer=false"
    echo "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory"
    echo "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
    echo "ssl.keyStore.location=$tls/keystore.jks"
    echo "ssl.keyStore.password=apassword"
    echo "ssl.trustStore.location=$tls/truststore.jks"
    echo "ssl.trustStore.password=apassword"
    echo "4lw.commands.whitelist=${ZKCONF_4LW:-*}"
    echo "reconfigEnabled=true"
    echo "localSessionsEnabled=${ZKCONF_LOCAL_SESSIONS:-false}"
    echo "localSessionsUpgradingEnabled=${ZKCONF_LOCAL_SESSIONS:-false}"
    if [ "$N" -gt 1 ]; then
      for k in $(seq 1 "$N"); do
        echo "server.$k=127.0.0.1:$(port "$k" 2):$(port "$k" 3):participant"
      done
    fi
  } > "$n/zoo.cfg"
  cat > "$n/log4j.properties" <<EOF
log4j.rootLogger=INFO, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=$dir/node-$i.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n
EOF
}

start_node() {
  local i=$1 n=$dir/n$1
  if [ -f "$n/pid" ] && kill -0 "$(cat "$n/pid")" 2>/dev/null; then return 0; fi
  # kazoo's harness: digest superuser super:test, SASL DIGEST-MD5 users (super, jaasuser),
  # read-only mode allowed, UTF-8 for digest credentials.
  ( cd "$n" && exec setsid java -Xmx1g -Dfile.encoding=UTF-8 -Djava.awt.headless=true \
      -Dreadonlymode.enabled=true \
      -Dzookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU= \
      -Djava.security.auth.login.config="$dir/jaas.conf" \
      -Dzookeeper.log.dir="$n" -Dlog4j.configuration="file:$n/log4j.properties" \
      -cp "$CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$n/zoo.cfg" \
      >>"$n/out.log" 2>&1 </dev/null ) &
  echo $! > "$n/pid"
}

mode_of() {  # prints the node's `srvr` Mode (leader/follower/standalone/read-only) or nothing
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$(port "$1" 0) && echo srvr >&3 && cat <&3" 2>/dev/null \
    | sed -n 's/^Mode: //p'
}

wait_serving() {  # node, seconds
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    [ -n "$(mode_of "$1")" ] && return 0
    sleep 0.3
  done
  return 1
}

stop_node() {
  local i=$1 n=$dir/n$1 pid
  [ -f "$n/pid" ] || return 0
  pid=$(cat "$n/pid")
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { echo "node $i ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null; sleep 0.5; }
  rm -f "$n/pid"
}

case ${1:-} in
  start)
    [ -r $j/zookeeper.jar ] || { echo "needs: apt-get install -y zookeeper" >&2; exit 1; }
    mkdir -p "$dir"
    [ -f "$tls/keystore.jks" ] || "$venv/bin/python" "$here/gen_tls.py" "$tls" >/dev/null \
      || { echo "cannot make TLS certs: run run.sh once (it creates .venv) or set ZKCONF_TLS_DIR" >&2; exit 1; }
    cat > "$dir/jaas.conf" <<'EOF'
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};
EOF
    for i in $(seq 1 "$N"); do rm -rf "$dir/n$i"; write_config "$i"; done
    for i in $(seq "$N" -1 1); do start_node "$i"; done
    for i in $(seq 1 "$N"); do
      wait_serving "$i" 90 || { echo "node $i not serving after 90 s" >&2; "$0" stop; exit 1; }
    done
    echo "started $N nodes in $dir: client ports $(for i in $(seq 1 "$N"); do printf '%s ' "$(port "$i" 0)"; done)"
    ;;
  stop)
    for i in $(seq 1 "$N"); do stop_node "$i" & done
    wait
    for i in $(seq 1 "$N"); do rm -rf "$dir/n$i/data"; done
    ;;
  start-node)
    i=${2:?node index}
    start_node "$i"
    # A node that cannot reach a quorum never serves: give up waiting, but do not fail.
    wait_serving "$i" "${ZKCONF_START_WAIT:-30}" || echo "node $i started, not serving yet"
    ;;
  stop-node)
    stop_node "${2:?node index}"
    ;;
  status)
    for i in $(seq 1 "$N"); do
      echo "node $i pid $(cat "$dir/n$i/pid" 2>/dev/null || echo -) port $(port "$i" 0) mode $(mode_of "$i")"
    done
    ;;
  *)
    echo "usage: $0 start | stop | start-node I | stop-node I | status" >&2; exit 2 ;;
esac
