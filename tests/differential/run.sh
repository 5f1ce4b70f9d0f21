#!/usr/bin/env bash
# Differential test: the scripted scenario in Scenario.java, run with Apache's Java client against
# zkr and against Apache ZooKeeper 3.8.0 (both started here, standalone), must give identical
# normalised transcripts. Exit status 0 = identical, non-zero = any difference or failure.
#
#   tests/differential/run.sh            # builds zkr (debug) unless ZKR_BIN is set
#   DIFF_OUT=/some/dir tests/differential/run.sh   # where transcripts and logs are kept
#
# The transcripts (apache.txt, zkr.txt), the client and server logs are left in the output
# directory (a new temp dir by default) for inspection.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ -z "${ZKR_BIN:-}" ]; then
  (cd "$root" && cargo build -q --bin zkr)
  export ZKR_BIN="$root/target/debug/zkr"
fi
[ -x "$ZKR_BIN" ] || { echo "run.sh: no zkr binary at $ZKR_BIN" >&2; exit 2; }

out=${DIFF_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/zkr-differential.XXXXXX")}
mkdir -p "$out/classes"
jars=/usr/share/java
cp="$jars/zookeeper.jar:$jars/zookeeper-jute.jar:$jars/slf4j-api.jar"
javac -nowarn -d "$out/classes" -cp "$cp" "$here/Scenario.java"

py="$root/.venv/bin/python"
[ -x "$py" ] || py=python3
exec "$py" "$here/run.py" "$out/classes" "$out"
