#!/usr/bin/env bash
# Installs what zkr's test suite needs on a fresh Debian machine: Apache ZooKeeper 3.8 (the
# reference server and its Java and C clients), Apache Curator and the Go client
# samuel/go-zookeeper (with Go), netcat, Prometheus (for tests/ops), gnuplot and bc
# (benchmarks and their report), and a Python venv with kazoo and pytest.
# Idempotent: each step is skipped when already done.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

need_apt=()
[ -r /usr/share/java/zookeeper.jar ] || need_apt+=(zookeeper)
[ -x /usr/lib/zookeeper/bin/cli_mt ] || need_apt+=(zookeeper-bin)
# Apache ZooKeeper's Jetty AdminServer (the admin endpoint is compared with it).
[ -r /usr/share/java/jetty9-server.jar ] || need_apt+=(libjetty9-java)
[ -r /usr/share/java/jackson-databind.jar ] || need_apt+=(libjackson2-databind-java)
[ -r /usr/share/java/servlet-api.jar ] || need_apt+=(libservlet-api-java)
# Packaging checks (tests/ops/test_packaging.py): systemd-analyze verify, and a YAML parser for
# the Kubernetes manifests (Debian's, used outside the test venv).
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
/usr/bin/python3 -c "import yaml" 2>/dev/null || need_apt+=(python3-yaml)
# Curator's recipes and the Go client samuel/go-zookeeper with a Go toolchain: the interop
# tests of tests/java/run.py (CuratorInterop.java, tests/go/interop.go).
[ -r /usr/share/java/curator-recipes.jar ] || need_apt+=(libcurator-recipes-java)
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/github.com/samuel/go-zookeeper/zk ] || need_apt+=(golang-github-samuel-go-zookeeper-dev)
command -v nc >/dev/null 2>&1 || need_apt+=(netcat-openbsd)
command -v javac >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
# Prometheus and promtool: the ops tests (tests/ops) run a real Prometheus against an ensemble.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  need_apt+=(prometheus)
fi
# gnuplot: the charts of docs/benchmarks.md (benches/report.py); bc: the benchmark scripts.
command -v gnuplot >/dev/null 2>&1 || need_apt+=(gnuplot-nox)
command -v bc >/dev/null 2>&1 || need_apt+=(bc)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

venv=$root/.venv
if ! "$venv/bin/python" -c "import kazoo, pytest, pytest_timeout, OpenSSL, jks" 2>/dev/null; then
  echo "setup: python venv in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >/dev/null
  "$venv/bin/pip" install -q -r "$root/tests/requirements.txt"
fi
echo "setup: done"
