#!/usr/bin/env bash
# Conformance suite: kazoo 2.10.0's own test suite (kazoo/tests, shipped in the wheel) run against
# a ZooKeeper-compatible ensemble. See README.md beside this file.
#
#   run.sh [--apache | --harness] [--baseline FILE [--expected-failures FILE]] [pytest args...]
#
#   (default)   external target: the ensemble is driven by $ZKCONF_CTL (start | stop |
#               start-node I | stop-node I), or, without a CTL, already runs at $ZKCONF_HOSTS.
#   --apache    external target = Apache ZooKeeper 3.8 via apache-zk-cluster.sh (the reference).
#   --harness   kazoo's own harness launches the Debian ZooKeeper jars itself (upstream's way).
#   --baseline FILE   also list every test id in FILE (e.g. baseline/apache-zk-3.8.0.passing)
#               that did not pass; exit 1 if there is one.
#   --expected-failures FILE   baseline tests known not to pass on the target yet (one id a line,
#               `#` comments): printed, not counted as regressions; one that passes is an error.
#   pytest args e.g. -k test_lock, or kazoo/tests/test_client.py::TestClient::test_create
#               (paths relative to the venv's site-packages).
#
# Prints a per-file table and, as its last line:  N passed, M failed, K skipped
# Exit status: 0 when nothing failed (with --baseline: when no baseline test regressed).
set -u
t0=$(date +%s)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# The project's venv and pinned packages (scripts/setup.sh makes the same venv).
venv=${ZKCONF_VENV:-$root/.venv}
requirements=$root/tests/requirements.txt
mode=external
baseline=
expected=
while [ $# -gt 0 ]; do
  case $1 in
    --apache) mode=external; export ZKCONF_CTL="$here/apache-zk-cluster.sh"; shift ;;
    --harness) mode=harness; shift ;;
    --baseline) baseline=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    --expected-failures) expected=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    *) break ;;
  esac
done

# The plugin runs the CTL from pytest's directory (site-packages): make a relative path absolute.
if [ -n "${ZKCONF_CTL:-}" ]; then
  read -r ctl0 ctlrest <<<"$ZKCONF_CTL"
  case $ctl0 in
    /*) ;;
    *) [ -e "$ctl0" ] && ZKCONF_CTL="$(cd "$(dirname "$ctl0")" && pwd)/$(basename "$ctl0")${ctlrest:+ $ctlrest}" ;;
  esac
  export ZKCONF_CTL
fi

# 1. the venv (kazoo + its test dependencies), made once
if ! "$venv/bin/python" -c "import kazoo.tests, pytest, pytest_timeout, OpenSSL, jks" 2>/dev/null; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$requirements" \
    || { echo "venv setup failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
fi
site=$("$venv/bin/python" -c 'import kazoo, os; print(os.path.dirname(os.path.dirname(kazoo.__file__)))')

work=$(mktemp -d "${TMPDIR:-/tmp}/zkconf.XXXXXX")
printf '[pytest]\n' > "$work/pytest.ini"
# kazoo's tests behave differently under CI=... (test_build runs, the server version is taken from
# ZOOKEEPER_VERSION instead of asking the server, test_read_only sleeps longer): keep every run alike.
unset CI
export ZOOKEEPER_VERSION=${ZOOKEEPER_VERSION:-3.8.0}
export ZKCONF_NODES=${ZKCONF_NODES:-3}
export ZKCONF_BASE_PORT=${ZKCONF_BASE_PORT:-30000}
total_limit=${ZKCONF_TOTAL_TIMEOUT:-3600}   # seconds for the whole pytest run
# seconds for one test (pytest-timeout): the longest passing test takes ~24 s (test_read_only,
# mostly its own sleeps); when kazoo 2.10's own race in test_rw_lock hits (known-flaky.txt), its
# teardown joins a thread that waits forever, so this limit is what that race costs the run.
test_limit=${ZKCONF_TEST_TIMEOUT:-90}
plugin=()
cluster_up=0
pid=

cleanup() {
  if [ -n "$pid" ]; then  # pytest's own process group (and the harness' JVMs in it), if still there
    kill -INT -- "-$pid" 2>/dev/null && sleep 3
    kill -KILL -- "-$pid" 2>/dev/null
    pid=
  fi
  if [ "$cluster_up" = 1 ]; then
    $ZKCONF_CTL stop >>"$work/ctl.log" 2>&1 || echo "warning: '$ZKCONF_CTL stop' failed (see $work/ctl.log)"
    cluster_up=0
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$mode" = harness ]; then
  # Debian's zookeeper.jar manifest lacks netty-codec & co, which the harness' Netty server factory
  # (needed for its TLS port) loads; slf4j-log4j12 + log4j make the harness' log4j file logging work.
  j=/usr/share/java
  export ZOOKEEPER_CLASSPATH=${ZOOKEEPER_CLASSPATH:-$j/zookeeper.jar:$j/netty-codec.jar:$j/netty-resolver.jar:$j/netty-transport-native-unix-common.jar:$j/slf4j-log4j12.jar:$j/log4j-1.2.jar}
  export ZOOKEEPER_PORT_OFFSET=${ZOOKEEPER_PORT_OFFSET:-24000}
  [ -r /usr/share/java/zookeeper.jar ] || { echo "needs: apt-get install -y zookeeper"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
  echo "target: kazoo harness, Apache ZooKeeper jars from /usr/share/java, ports from $ZOOKEEPER_PORT_OFFSET"
else
  export ZKCONF_STATE_DIR=${ZKCONF_STATE_DIR:-$work/cluster}
  if [ -n "${ZKCONF_CTL:-}" ] && [ -z "${ZKCONF_TLS_DIR:-}" ]; then
    # fresh CA / server / client certs for this run; the CTL's servers load them
    export ZKCONF_TLS_DIR="$work/tls"
    "$venv/bin/python" "$here/gen_tls.py" "$ZKCONF_TLS_DIR" >"$work/gen_tls.log" 2>&1 \
      || { cat "$work/gen_tls.log"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
  fi
  if [ -n "${ZKCONF_CTL:-}" ]; then
    echo "target: ZKCONF_CTL=$ZKCONF_CTL, $ZKCONF_NODES nodes, base port $ZKCONF_BASE_PORT"
    cluster_up=1
    if ! timeout 300 $ZKCONF_CTL start >"$work/ctl.log" 2>&1; then
      cat "$work/ctl.log"; echo "cluster start failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1
    fi
  elif [ -n "${ZKCONF_HOSTS:-}" ]; then
    echo "target: ZKCONF_HOSTS=$ZKCONF_HOSTS (no ZKCONF_CTL: tests that stop/start nodes are skipped)"
  else
    echo "set ZKCONF_CTL or ZKCONF_HOSTS, or use --apache / --harness (see README.md)"; echo "0 passed, 1 failed, 0 skipped"; exit 2
  fi
  plugin=(-p zkconf_plugin)
  export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
fi

start=$(date +%s)
args=("$@"); has_path=0
for a in "$@"; do case $a in kazoo/tests*|"$site"/kazoo/tests*) has_path=1 ;; esac; done
[ $has_path = 1 ] || args=("$site/kazoo/tests" "${args[@]}")
# pytest runs in its own session / process group, so whatever it leaves behind (the harness' JVMs)
# can be stopped by that group id and nothing else.
# TMPDIR: kazoo's tests leave temp folders behind (TestSSLClient's PEM copies); keep them in $work.
mkdir -p "$work/tmp"
(
  export TMPDIR="$work/tmp"
  cd "$site" && exec setsid timeout -s INT -k 60 "$total_limit" "$venv/bin/python" -m pytest \
    -c "$work/pytest.ini" --rootdir "$site" -p no:cacheprovider "${plugin[@]}" \
    --timeout "$test_limit" -q -rfE -W ignore::DeprecationWarning \
    --junitxml "$work/junit.xml" "${args[@]}"
) >"$work/pytest.log" 2>&1 &
pid=$!
wait $pid; rc=$?
end=$(date +%s)
cleanup

echo "pytest exit $rc after $((end - start)) s; full log: $work/pytest.log"
grep -E "^(FAILED|ERROR) kazoo/" "$work/pytest.log" | head -60
if [ ! -s "$work/junit.xml" ]; then
  tail -30 "$work/pytest.log"; echo "0 passed, 1 failed, 0 skipped"; exit 1
fi
"$venv/bin/python" "$here/summarize.py" "$work/junit.xml" --passing-out "$work/passing.txt" \
  ${baseline:+--baseline "$baseline"} ${expected:+--expected-failures "$expected"} \
  $([ $# -gt 0 ] && echo --subset) >"$work/summary.txt"; src=$?
echo "wall time: $(( $(date +%s) - t0 )) s (pytest $((end - start)) s, the rest: venv check, certs, ensemble start/stop)"
cat "$work/summary.txt"
if [ -n "$baseline" ]; then exit $src; fi
tail -1 "$work/summary.txt" | grep -q " 0 failed" && exit 0 || exit 1
