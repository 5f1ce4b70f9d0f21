#!/usr/bin/env bash
# The ops tests: zkr's Prometheus metrics, mntr, the Grafana dashboards and the alerting rules,
# against a real 3-node ensemble and a real Prometheus (Debian's package).
#   tests/ops/run.sh              setup (installs prometheus if missing), build, run everything
#   tests/ops/run.sh -k static    pytest arguments pass through
# ZKR_BIN=/path/to/zkr skips the build.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bash scripts/setup.sh
if [ -z "${ZKR_BIN:-}" ]; then
  cargo build --quiet --bin zkr
  export ZKR_BIN="$root/target/debug/zkr"
fi
exec "$root/.venv/bin/python" -m pytest -q tests/ops "$@"
