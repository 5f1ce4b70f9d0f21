#!/usr/bin/env bash
# Interop tests with real clients: Apache ZooKeeper's own (Java client, zkCli.sh, C cli_mt),
# Apache Curator's recipes and the Go client samuel/go-zookeeper (see run.py).
#   tests/java/run.sh            against zkr ($ZKR_BIN, or target/debug/zkr built here)
#   tests/java/run.sh apache     against Apache ZooKeeper 3.8.0 (the reference; must pass too)
#   tests/java/run.sh all        both
# ZK_SERVER=apache|zkr|all works as well as the argument.
set -euo pipefail
cd "$(dirname "$0")/../.."
kind="${1:-${ZK_SERVER:-zkr}}"
if [ "$kind" != apache ] && [ -z "${ZKR_BIN:-}" ]; then
    cargo build --quiet --bin zkr
fi
py=.venv/bin/python
[ -x "$py" ] || py=python3
exec "$py" tests/java/run.py --server "$kind"
