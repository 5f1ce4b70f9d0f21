//! The random runs: a seeded simulation of a 3-server ensemble, or of 5 voters and an
//! observer, with faults (crashes, partitions, link breaks, duplicates, slow disks), skewed
//! clocks and the client workload ([`super::workload`]), then healed, settled and checked.
//! Seven runs in eight take local snapshots and purge ([`super::localsnap`]), with a
//! `snap_count` (40-200: a snapshot every 20-200 appended txns) and a retain count (1-3) of
//! their own, drawn from a generator of their own: the rest of what a seed draws is the same
//! with or without them.
//!
//! Seeds: a fixed range (`0..ZKR_SIM_SEEDS`, the same on every run) and fresh ones
//! (`ZKR_SIM_FRESH` seeds from a random base, different on every run); a failure names its
//! seed and the command that replays it (`ZKR_SIM_SEED=<seed>` runs that seed alone;
//! `ZKR_SIM_BASE=<seed>` makes the fresh range start there, to replay a whole printed range).
//! CI runs the release build with many seeds (scripts/test.sh); `cargo test` alone runs a
//! few of each.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{Sim, SnapPolicy};

/// Simulated milliseconds of faults and workload before the settling.
const RUN_MS: i64 = 3000;

/// What one run did: txns committed, write replies (and how many were errors), reads
/// checked, sessions expired.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    committed: u64,
    replies: u64,
    errors: u64,
    reads: u64,
    expiries: u64,
    /// Snapshots encoded for learners, and those during whose encode commits applied.
    snaps: u64,
    fuzzy_snaps: u64,
    /// Restarts from a fuzzy snapshot whose log stopped short of where its encode ended.
    restarts_short_of_e: u64,
    /// Pauses, and sessions a leader's tracker expired as it woke from one (before its tick
    /// could find it had lost its quorum).
    pauses: u64,
    wake_expiries: u64,
    /// Clients that dropped a silent server on their read timeout, and the writes a server ran
    /// after their client had left (their replies lost), of which refused with SessionMoved.
    read_timeouts: u64,
    unheard: u64,
    moved: u64,
    /// Runs with local snapshots; snapshots written, purges (and the snapshots they removed),
    /// cuts refused below a floor, cuts that rebuilt short, restarts from a server's own
    /// snapshot (and those whose log stopped short of what its scan saw).
    snap_runs: u64,
    local_snaps: u64,
    purges: u64,
    purged: u64,
    refused_cuts: u64,
    missed_cuts: u64,
    restarts_from_own: u64,
    restarts_short_of_scan: u64,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, o: Totals) {
        self.committed += o.committed;
        self.replies += o.replies;
        self.errors += o.errors;
        self.reads += o.reads;
        self.expiries += o.expiries;
        self.snaps += o.snaps;
        self.fuzzy_snaps += o.fuzzy_snaps;
        self.restarts_short_of_e += o.restarts_short_of_e;
        self.pauses += o.pauses;
        self.wake_expiries += o.wake_expiries;
        self.read_timeouts += o.read_timeouts;
        self.unheard += o.unheard;
        self.moved += o.moved;
        self.snap_runs += o.snap_runs;
        self.local_snaps += o.local_snaps;
        self.purges += o.purges;
        self.purged += o.purged;
        self.refused_cuts += o.refused_cuts;
        self.missed_cuts += o.missed_cuts;
        self.restarts_from_own += o.restarts_from_own;
        self.restarts_short_of_scan += o.restarts_short_of_scan;
    }
}

/// The faults and disk behaviour a run has: pauses, and local snapshots and purges. A seed
/// runs with those of the day it was found: the schedule that found it.
#[derive(Clone, Copy)]
struct Day {
    pauses: bool,
    snapshots: bool,
}

/// Today's runs.
const TODAY: Day = Day {
    pauses: true,
    snapshots: true,
};

/// One random run.
pub(crate) fn run_seed(seed: u64, voters: usize, observers: usize) -> Totals {
    run_seed_with(seed, voters, observers, TODAY)
}

/// A seed found before the simulator paused servers and took local snapshots, run with the
/// faults of its day: the schedule that found it.
fn run_seed_as_found(seed: u64, voters: usize, observers: usize) -> Totals {
    let day = Day {
        pauses: false,
        snapshots: false,
    };
    run_seed_with(seed, voters, observers, day)
}

/// A seed found with the first pauses, before local snapshots.
fn run_seed_found_with_pauses(seed: u64, voters: usize, observers: usize) -> Totals {
    let day = Day {
        pauses: true,
        snapshots: false,
    };
    run_seed_with(seed, voters, observers, day)
}

/// The local snapshots of a run of `seed`: seven in eight runs take them.
fn snap_policy(seed: u64) -> Option<SnapPolicy> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x10ca_15ee_d000_0000);
    rng.random_ratio(7, 8).then(|| {
        let snap_count = rng.random_range(40..=200);
        SnapPolicy::node(snap_count, rng.random_range(1..=3))
    })
}

fn run_seed_with(seed: u64, voters: usize, observers: usize, day: Day) -> Totals {
    let mut sim = Sim::new_unbooted(seed, voters, observers);
    sim.pause_faults = day.pauses;
    if day.snapshots {
        sim.local_snapshots = snap_policy(seed);
    }
    sim.skew_clocks();
    sim.clients_on = true;
    sim.settle_writes_ms = 1000;
    sim.slow_disks = seed % 4 == 0;
    sim.boot_all();
    sim.run(RUN_MS, true);
    sim.settle_and_check();
    let w = &sim.workload;
    let moved = crate::tree::OpResult::Error(crate::proto::ErrorCode::SessionMoved.code());
    Totals {
        committed: sim.committed.len() as u64,
        replies: w.answers.len() as u64,
        errors: w
            .answers
            .iter()
            .filter(|a| matches!(a.result, crate::tree::OpResult::Error(_)))
            .count() as u64,
        reads: w.reads.len() as u64,
        expiries: w.expiries as u64,
        snaps: sim.snaps_encoded.0,
        fuzzy_snaps: sim.snaps_encoded.1,
        restarts_short_of_e: sim.snaps_encoded.2,
        pauses: sim.pauses(),
        wake_expiries: sim.wake_expiries.values().sum(),
        read_timeouts: w.timeouts.len() as u64,
        unheard: w.unheard.len() as u64,
        moved: w.unheard.iter().filter(|a| a.result == moved).count() as u64,
        snap_runs: u64::from(sim.local_snapshots.is_some()),
        local_snaps: sim.snap_stats.taken,
        purges: sim.snap_stats.purges,
        purged: sim.snap_stats.purged,
        refused_cuts: sim.snap_stats.refused_cuts,
        missed_cuts: sim.snap_stats.missed_cuts,
        restarts_from_own: sim.snap_stats.restarts_from_own,
        restarts_short_of_scan: sim.snap_stats.restarts_short_of_scan,
    }
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .map(|s| s.parse().unwrap_or_else(|_| panic!("{name} is a number")))
}

/// The seeds to run: `ZKR_SIM_SEED` alone, or the fixed ones (`fixed`: `ZKR_SIM_SEEDS`,
/// default `default`) from `offset`, or `ZKR_SIM_FRESH` (default `default`) fresh ones.
fn seeds(fixed: bool, offset: u64, default: u64) -> Vec<u64> {
    if let Some(s) = env("ZKR_SIM_SEED") {
        return vec![s];
    }
    if fixed {
        let n = env("ZKR_SIM_SEEDS").unwrap_or(default);
        return (offset..offset + n).collect();
    }
    let n = env("ZKR_SIM_FRESH").unwrap_or(default);
    let base: u64 = env("ZKR_SIM_BASE").unwrap_or_else(|| rand::random::<u64>() >> 16);
    eprintln!("fresh simulation seeds {base}..{}", base + n);
    (base..base + n).collect()
}

/// Runs every seed; the first failure panics with its seed and the replay command.
fn run_all(test: &str, seeds: Vec<u64>, voters: usize, observers: usize) -> Totals {
    let mut totals = Totals::default();
    let n = seeds.len();
    for seed in seeds {
        match std::panic::catch_unwind(|| run_seed(seed, voters, observers)) {
            Ok(t) => totals += t,
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!(
                    "seed {seed} failed: {msg}\nreplay: ZKR_SIM_SEED={seed} cargo test -p zkr-actors --lib sim::random::{test} -- --nocapture"
                );
            }
        }
    }
    eprintln!("{test}: {n} runs, {totals:?}");
    totals
}

#[test]
fn sim_three_servers() {
    let seeds = seeds(true, 0, 150);
    if seeds.is_empty() {
        return; // ZKR_SIM_SEEDS=0: the fresh seeds only
    }
    let t = run_all("sim_three_servers", seeds, 3, 0);
    assert!(t.committed > 0, "nothing was ever committed");
    assert!(
        t.reads > 0 && t.replies > t.errors,
        "the workload did nothing"
    );
}

#[test]
fn sim_three_servers_fresh_seeds() {
    run_all("sim_three_servers_fresh_seeds", seeds(false, 0, 50), 3, 0);
}

#[test]
fn sim_five_servers_and_an_observer() {
    run_all(
        "sim_five_servers_and_an_observer",
        seeds(true, 1_000_000, 80),
        5,
        1,
    );
}

#[test]
fn sim_five_servers_and_an_observer_fresh_seeds() {
    run_all(
        "sim_five_servers_and_an_observer_fresh_seeds",
        seeds(false, 0, 30),
        5,
        1,
    );
}

/// Found by the fresh seeds in CI: 16 sessions expire near the end of the quiet period, and a
/// follower's slow disk holds the last close-session past the fixed settling window (it applies
/// it 373 ms after the window ended). Converging late is not diverging: the check waits until
/// every server has applied the last commit, for a bounded time.
#[test]
fn a_follower_whose_slow_disk_holds_the_last_commit_past_the_quiet_window_still_converges() {
    let t = run_seed_as_found(93_990_049_817_956, 3, 0);
    assert!(t.expiries > 0 && t.committed > 0, "{t:?}");
}

/// The same, with 5 voters and an observer (one voter applies the last two commits 25 ms
/// after the window).
#[test]
fn a_voter_whose_slow_disk_holds_the_last_commits_past_the_quiet_window_still_converges() {
    let t = run_seed_as_found(10_294_080_858_540, 5, 1);
    assert!(t.committed > 0, "{t:?}");
}

/// Found by the fresh seeds: two voters accepted a failed leader attempt's epoch, above the one
/// the leader that stayed had established, and never served again (see the scenario
/// `scenario_voters_that_accepted_a_failed_leaders_higher_epoch_rejoin_the_ensemble`).
#[test]
fn voters_that_accepted_a_failed_leaders_higher_epoch_serve_again_after_settling() {
    let t = run_seed_as_found(105_114_208_876_228, 5, 1);
    assert!(t.committed > 0, "{t:?}");
}

/// Found by the fresh seeds (2026-12-07): a leader that died while its SNAP was still being
/// installed by a learner (its slow disk held the install); the learner, already at the
/// snapshot's zxid, registered with the next leader (whose history ended below it) offering
/// the floor of before the install, and was sent a TRUNC below its only snapshot, which its log
/// could not make. The learner now offers the snapshot's zxid as its floor from the moment it
/// asks for the install, and gets a SNAP.
#[test]
fn a_learner_whose_snapshot_install_is_still_on_its_disk_is_not_asked_to_cut_below_it() {
    let t = run_seed_as_found(168_799_733_614_476, 3, 0);
    assert!(t.committed > 0, "{t:?}");
}

/// Found by the fresh seeds (2026-12-07), a false alarm of the expiry check, kept as its test:
/// a client moved its session to a follower and pinged at the same instant; the follower's one
/// report of both touches was in flight when its link to the leader broke, so the leader
/// expired the session on the touch it had last heard (4.6 s before the expiry, 6-s timeout).
/// The check now counts only touches a tick apart (each in a report of its own).
#[test]
fn a_session_whose_two_touches_rode_one_lost_report_may_expire() {
    let t = run_seed_as_found(192_438_447_318_500, 3, 0);
    assert!(t.expiries > 0 && t.committed > 0, "{t:?}");
}

/// Found by the fresh seeds (2026-12-07), with the first pauses: a client's sync waited on a
/// server paused for 6.3 s; with no other server to move to, the client's session expired
/// meanwhile (its client record goes with it), and the server, waking, answered the sync. The
/// workload then looked for the client of that read and found none. A reply on an expired
/// session is not that client's read any more; the workload skips it, as it does a write's.
#[test]
fn a_sync_answered_on_waking_after_its_session_expired_is_no_read_of_a_live_client() {
    let t = run_seed_found_with_pauses(116_385_643_037_636, 3, 0);
    assert!(t.pauses > 0 && t.expiries > 0, "{t:?}");
}
