#!/usr/bin/env bash
# zkr's whole test suite: what CI runs (.ci/run) and what README.md tells you to run.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    skip the long suites (conformance, many simulation seeds)
#
# Installs what it needs first (scripts/setup.sh: Apache ZooKeeper 3.8 from Debian as the
# reference server and client, a Python venv with kazoo and pytest, Prometheus). Every suite runs
# even if an earlier one fails; the summary at the end lists each one, and the exit status is
# non-zero if any failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=0
[ "${1:-}" = "--quick" ] && quick=1

declare -a names=() results=() times=()
run() {  # name, command...
  local name=$1; shift
  echo
  echo "=== $name: $*"
  local t0=$SECONDS
  "$@"
  local rc=$?
  names+=("$name"); results+=("$rc"); times+=("$((SECONDS - t0))")
  [ $rc -eq 0 ] && echo "=== $name: ok ($((SECONDS - t0)) s)" || echo "=== $name: FAILED (exit $rc)"
}

scripts/setup.sh || { echo "setup failed"; exit 1; }
export ZKR_BIN="$root/target/debug/zkr"
export PATH="$root/.venv/bin:$PATH"

run "format"        cargo fmt --all -- --check
run "build"         cargo build --workspace --all-targets
run "clippy"        cargo clippy --workspace --all-targets -- -D warnings
if [ $quick = 1 ]; then
  export ZKR_SIM_SEEDS=${ZKR_SIM_SEEDS:-100}
fi
run "cargo tests"   cargo test --workspace --no-fail-fast -- --test-threads=2
# Fuzzing and the overload loads at CI size. Fuzzing: every decoder that takes bytes from
# outside (actors/src/fuzz, src/fuzz_config.rs) gets 1,000,000 inputs per CI run. The zoo.cfg
# and TOML targets are the zkr binary's tests: here, on the debug build the steps above made
# (~60 s of CPU for both, ~45 s of it TOML's; a release build of the binary's tests would cost
# ~7.5 min more of compiling). The decoders run on the release build after the simulation
# step, which compiles the same test binary (~35 s of CPU for 10,000,000 inputs); `--quick` has
# no release build and runs them here, on the debug build, at 100,000 inputs each. Budget for
# each fuzzing step: 1.5 min on 2 cores. Overload: tests/overload.rs at full size on
# the release build after the simulation (`--quick`: 25 % on the debug build; `cargo test` alone
# runs it at 5 %). More fuzzing inputs or other seeds: README (Testing).
# The debug steps below select both packages, zkr and zkr-actors: Cargo resolves dependency
# features per command from the packages selected, and with both it resolves them as
# `--workspace` above did, so they compile nothing (zkr alone: 10 crates again, ~20 s; zkr-actors
# alone: tokio, actix, ..., zkr-actors again, as the release steps below explain).
fuzz_inputs=${ZKR_FUZZ_INPUTS:-1000000}
cfg_fuzz_inputs=${ZKR_FUZZ_CFG_INPUTS:-1000000}
run "fuzzing: configurations (debug, $cfg_fuzz_inputs inputs per format)" \
  env ZKR_FUZZ_INPUTS=$cfg_fuzz_inputs cargo test -p zkr -p zkr-actors --bin zkr fuzz_config -- --test-threads=2 --nocapture
if [ $quick = 1 ]; then
  quick_fuzz_inputs=${ZKR_FUZZ_QUICK_INPUTS:-100000}
  run "fuzzing: decoders (debug, $quick_fuzz_inputs inputs per decoder)" \
    env ZKR_FUZZ_INPUTS=$quick_fuzz_inputs cargo test -p zkr-actors -p zkr --lib fuzz::tests::fuzz -- --test-threads=2 --nocapture
fi
if [ $quick = 1 ]; then
  run "overload (debug, 25 %: 2,500 idle sessions, 25,000 unread writes, 1 MB values, 2,500-watcher storm)" \
    env ZKR_OVERLOAD_SCALE=0.25 cargo test -p zkr -p zkr-actors --test overload load_ -- --test-threads=1 --nocapture
fi
# The random simulation runs, in the release build: fixed seeds (the same on every push) and
# fresh ones (printed), 4 x (ZKR_SIM_SEEDS or ZKR_SIM_FRESH) runs; README "Tests" gives the
# long form.
# `-p zkr` beside `-p zkr-actors`: Cargo resolves dependency features per command, from the
# packages it selects, and zkr's dependencies turn on features of crates zkr-actors uses too
# (libc, rustix, tokio, ...). With zkr-actors alone, the overload step below built tokio, actix,
# serde, zkr-actors, ... a second time (the three release builds: 376 crates compiled, ~10 min
# at nice 19 on 2 cores); with both, it only compiles what zkr-actors' dev-dependency proptest
# turns on differently (getrandom, the regex crates, uuid and what uses them: 9 crates) and zkr,
# and the gate's build nothing (302 crates, ~7 min). The filters match no test of zkr's
# library: its `running 0 tests` is that library.
if [ $quick = 0 ]; then
  run "simulation (10,000 random runs, release)" env ZKR_SIM_SEEDS=2500 ZKR_SIM_FRESH=2500 \
    cargo test --release -p zkr-actors -p zkr --lib sim::random -- --test-threads=2 --nocapture
  # The same release test binary (and the same package selection, or Cargo would resolve and
  # build the tree again): no extra compile.
  run "fuzzing: decoders (release, $fuzz_inputs inputs per decoder)" \
    env ZKR_FUZZ_INPUTS=$fuzz_inputs cargo test --release -p zkr-actors -p zkr --lib fuzz::tests::fuzz -- --test-threads=2 --nocapture
  # The overload loads at full size on the release build (its server binary is the one the
  # benchmark gate below measures: one release build for both, as zkr's dev-dependencies add
  # no feature (Cargo.toml); the loads take ~20 s).
  run "overload (release, full size: 10,000 idle sessions, 100,000 unread writes, 1 MB values, 10,000-watcher storm)" \
    cargo test --release -p zkr --test overload load_ -- --test-threads=1 --nocapture
  # zk-bench, the benchmark gate's client (a workspace of its own: ~80 s of compiling on 2
  # cores), compiles from here on at the lowest CPU priority, in the time the steps below leave
  # the cores idle (their waits, pauses and timeouts); the gate builds it with the same command
  # (benches/lib.sh), which waits for this build's lock and then finds nothing left to do.
  (cd benches/zk-bench && CARGO_TARGET_DIR=target nice -n 19 cargo build --release --quiet \
    > "$root/target/zk-bench-build.log" 2>&1 &)
fi
run "chaos (nemesis on real processes)" scripts/chaos-ci.sh
run "kazoo tests"   .venv/bin/python -m pytest -q tests/kazoo
run "differential"  tests/differential/run.sh
run "java, zkCli, C, Curator, Go clients" tests/java/run.sh
[ -x tests/ops/run.sh ] && run "ops (Prometheus, dashboards, alerts)" tests/ops/run.sh
run "migration (import/export and a rolling migration vs Apache 3.8)" tests/migration/run.sh
if [ $quick = 0 ] && [ -x tests/conformance/run-zkr.sh ]; then
  run "conformance (kazoo's own suite, 3-node ensemble)" tests/conformance/run-zkr.sh
fi
# The benchmark gate (issue 16): release builds of zkr and of zk-bench, then standalone setData,
# 256 clients, on zkr and on Apache ZooKeeper 3.8 side by side, 3 alternating 10-s windows each:
# fails if zkr's server CPU per write is above 0.6x Apache's or its median throughput below 1.2x
# Apache's, in two measurements in a row, and prints whether issue 16's 1.5x throughput target was
# met (benches/ci-gate.sh says why the target does not fail the run, and why 256 clients; ~100 s,
# 200 s when it measures again, plus the builds). Last, so nothing else shares the cores.
if [ $quick = 0 ]; then
  run "benchmark gate (release, standalone setData vs Apache 3.8: CPU <= 0.6x, rate >= 1.2x, target 1.5x)" benches/ci-gate.sh
fi

echo
echo "=== summary"
failed=0
for i in "${!names[@]}"; do
  status=ok; [ "${results[$i]}" -ne 0 ] && { status=FAILED; failed=1; }
  printf '%-55s %-7s %5s s\n' "${names[$i]}" "$status" "${times[$i]}"
done
exit $failed
