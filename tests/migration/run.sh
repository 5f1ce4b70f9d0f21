#!/usr/bin/env bash
# The migration suite: zkr import/export against Debian's Apache ZooKeeper 3.8 (data made on
# Apache with real clients, imported, changed on zkr, exported, loaded by Apache, compared node by
# node) and the rolling migration of a 3-node ensemble (README "Migrating from ZooKeeper").
#   tests/migration/run.sh            setup, build, run
#   tests/migration/run.sh -k rolling pytest arguments pass through
# ZKR_BIN=/path/to/zkr skips the build.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bash scripts/setup.sh
if [ -z "${ZKR_BIN:-}" ]; then
  cargo build --quiet --bin zkr
  export ZKR_BIN="$root/target/debug/zkr"
fi
exec "$root/.venv/bin/python" -m pytest -q -s tests/migration "$@"
