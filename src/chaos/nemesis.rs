//! The nemesis: a seeded schedule of faults on a running [`Ensemble`]. Each round waits a
//! little, applies one fault (sometimes two of different kinds at once) to a leader or a
//! follower, holds it, heals everything, and waits until the ensemble has a leader and every
//! member serves again. The choices come from the seed; which server is the leader comes from
//! the ensemble, so a replay repeats the schedule, not every timing.
//!
//! A member that exits on its own (a panic is a broken invariant and aborts the process; a node
//! that cannot start again after a kill), or an ensemble that has no leader long after
//! healing, is a violation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

use super::client::Run;
use super::disk::FaultyDisk;
use super::ensemble::Ensemble;

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// kill -9, restart after a while.
    Kill,
    /// SIGSTOP for longer than syncLimit (one time in three longer than the session timeout),
    /// then SIGCONT.
    Pause,
    /// A minority cut off from the majority (connections closed or silently stalled).
    Partition,
    /// Two sides that reach each other only through one member in the middle.
    Bridge,
    /// One member's messages to the others (or theirs to it) stop; the other direction flows.
    OneWay,
    /// The clients cannot reach one member (connections closed or stalled).
    ClientPartition,
    /// A member's fsyncs fail with EIO.
    DiskEio,
    /// A member's disk is full.
    DiskFull,
    /// A member's fsyncs are slow.
    DiskSlow,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 9] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Bridge,
        FaultKind::OneWay,
        FaultKind::ClientPartition,
        FaultKind::DiskEio,
        FaultKind::DiskFull,
        FaultKind::DiskSlow,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Partition => "partition",
            FaultKind::Bridge => "bridge",
            FaultKind::OneWay => "one-way",
            FaultKind::ClientPartition => "client-partition",
            FaultKind::DiskEio => "disk-eio",
            FaultKind::DiskFull => "disk-full",
            FaultKind::DiskSlow => "disk-slow",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Result<FaultKind, String> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown fault {s:?} (known: {})", names.join(", "))
            })
    }

    /// Needs the FUSE disks.
    pub fn is_disk(self) -> bool {
        matches!(
            self,
            FaultKind::DiskEio | FaultKind::DiskFull | FaultKind::DiskSlow
        )
    }
}

/// The nemesis and the ensemble it owns.
pub struct Nemesis {
    /// The ensemble.
    pub ens: Ensemble,
    /// Fault-injecting disks by member (empty when unavailable).
    pub disks: BTreeMap<u8, FaultyDisk>,
    rng: SmallRng,
    kinds: Vec<FaultKind>,
    run: Arc<Run>,
    /// syncLimit in time.
    sync_time: Duration,
    /// Faults applied.
    pub faults: u64,
    /// Members we took down (killed) and have not restarted.
    down: BTreeSet<u8>,
    /// What happened, one line a fault.
    pub log: Vec<String>,
}

impl Nemesis {
    /// A nemesis over `ens` with the fault kinds `kinds`.
    pub fn new(
        ens: Ensemble,
        disks: BTreeMap<u8, FaultyDisk>,
        rng: SmallRng,
        kinds: Vec<FaultKind>,
        run: Arc<Run>,
        sync_time: Duration,
    ) -> Nemesis {
        Nemesis {
            ens,
            disks,
            rng,
            kinds,
            run,
            sync_time,
            faults: 0,
            down: BTreeSet::new(),
            log: Vec::new(),
        }
    }

    /// Runs rounds until the run's deadline, then heals everything and waits for a leader.
    pub fn run(&mut self) {
        while !self.run.over() {
            let quiet = Duration::from_millis(self.rng.random_range(500..3000));
            self.sleep(quiet);
            if self.run.over() {
                break;
            }
            self.round();
        }
        self.heal();
        self.settle();
    }

    fn sleep(&self, d: Duration) {
        let end = (Instant::now() + d).min(self.run.deadline);
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20).min(end - Instant::now()));
        }
    }

    fn note(&mut self, what: String) {
        let line = format!("{:>8} ms  {what}", self.run.now() / 1000);
        eprintln!("zkr chaos: {line}");
        self.log.push(line);
    }

    /// The leader, if exactly one member says so.
    fn leader(&self) -> Option<u8> {
        let ids: Vec<u8> = self
            .ens
            .ids()
            .into_iter()
            .filter(|id| !self.down.contains(id) && !self.ens.member(*id).paused)
            .collect();
        let leaders: Vec<u8> = ids
            .into_iter()
            .filter(|id| self.ens.mode(*id).as_deref() == Some("leader"))
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    /// The leader half of the time (when there is one), another member otherwise; never one
    /// that an earlier fault of the round took down or paused (when another is left).
    fn target(&mut self) -> (u8, &'static str) {
        let leader = self.leader();
        let mut ids: Vec<u8> = self
            .ens
            .ids()
            .into_iter()
            .filter(|id| !self.down.contains(id) && !self.ens.member(*id).paused)
            .collect();
        if ids.is_empty() {
            ids = self.ens.ids();
        }
        if let Some(l) = leader {
            if self.rng.random_bool(0.5) {
                return (l, "leader");
            }
            let others: Vec<u8> = ids.into_iter().filter(|i| *i != l).collect();
            return (*others.choose(&mut self.rng).unwrap_or(&l), "follower");
        }
        (*ids.choose(&mut self.rng).unwrap_or(&1), "member")
    }

    fn round(&mut self) {
        let mut kinds = vec![*self.kinds.choose(&mut self.rng).unwrap_or(&FaultKind::Kill)];
        if self.kinds.len() > 1 && self.rng.random_bool(0.3) {
            let other: Vec<FaultKind> = self
                .kinds
                .iter()
                .copied()
                .filter(|k| *k != kinds[0])
                .collect();
            if let Some(k) = other.choose(&mut self.rng) {
                kinds.push(*k);
            }
        }
        let mut hold = Duration::from_millis(self.rng.random_range(1000..6000));
        for k in kinds {
            let (what, min_hold) = self.apply(k);
            self.faults += 1;
            self.note(what);
            hold = hold.max(min_hold);
        }
        self.sleep(hold);
        self.heal();
        self.settle();
    }

    /// Applies one fault; returns what it did and how long it must at least last.
    fn apply(&mut self, k: FaultKind) -> (String, Duration) {
        let n = self.ens.ids().len();
        match k {
            FaultKind::Kill => {
                let (id, role) = self.target();
                self.ens.kill9(id);
                self.down.insert(id);
                (format!("kill -9 {role} {id}"), Duration::ZERO)
            }
            FaultKind::Pause => {
                let (id, role) = self.target();
                self.ens.pause(id);
                // Past syncLimit; one pause in three past the clients' session timeout too: a
                // leader then wakes with every session it tracked overdue by its own clock.
                let past = if self.rng.random_bool(1.0 / 3.0) {
                    self.run.session_timeout
                } else {
                    self.sync_time
                };
                let hold = past + Duration::from_millis(self.rng.random_range(200..2500));
                (
                    format!("SIGSTOP {role} {id} for {} ms", hold.as_millis()),
                    hold,
                )
            }
            FaultKind::Partition => {
                let mut ids = self.ens.ids();
                ids.shuffle(&mut self.rng);
                let m = self.rng.random_range(1..=(n - 1) / 2);
                let (minority, majority) = ids.split_at(m);
                let stall = self.rng.random_bool(0.5);
                self.between(minority, majority, stall);
                (
                    format!(
                        "partition {minority:?} | {majority:?} ({})",
                        if stall { "silent" } else { "closed" }
                    ),
                    Duration::ZERO,
                )
            }
            FaultKind::Bridge => {
                let mut ids = self.ens.ids();
                ids.shuffle(&mut self.rng);
                let half = (n - 1) / 2;
                let (left, rest) = ids.split_at(half);
                let (bridge, right) = rest.split_at(1);
                let stall = self.rng.random_bool(0.5);
                self.between(left, right, stall);
                (
                    format!(
                        "bridge {left:?} - {bridge:?} - {right:?} ({})",
                        if stall { "silent" } else { "closed" }
                    ),
                    Duration::ZERO,
                )
            }
            FaultKind::OneWay => {
                let (id, role) = self.target();
                let others: Vec<u8> = self.ens.ids().into_iter().filter(|i| *i != id).collect();
                let outgoing = self.rng.random_bool(0.5);
                for o in &others {
                    let (from, to) = if outgoing { (id, *o) } else { (*o, id) };
                    // `from`'s bytes to `to` stop on both connections between them.
                    if let Some(p) = self.ens.proxies.get(&(from, to)) {
                        p.stall_one_way(true);
                    }
                    if let Some(p) = self.ens.proxies.get(&(to, from)) {
                        p.stall_one_way(false);
                    }
                }
                (
                    format!(
                        "one-way: {role} {id} {} the others",
                        if outgoing {
                            "cannot send to"
                        } else {
                            "cannot hear"
                        }
                    ),
                    Duration::ZERO,
                )
            }
            FaultKind::ClientPartition => {
                let (id, role) = self.target();
                let stall = self.rng.random_bool(0.5);
                if let Some(p) = self.ens.client_proxies.get(&id) {
                    if stall {
                        p.stall();
                    } else {
                        p.cut();
                    }
                }
                (
                    format!(
                        "clients cut off from {role} {id} ({})",
                        if stall { "silent" } else { "closed" }
                    ),
                    Duration::ZERO,
                )
            }
            FaultKind::DiskEio | FaultKind::DiskFull | FaultKind::DiskSlow => {
                let (id, role) = self.target();
                let Some(d) = self.disks.get(&id) else {
                    return (format!("{} unavailable", k.name()), Duration::ZERO);
                };
                let what = match k {
                    FaultKind::DiskEio => {
                        d.faults.fail_fsync.store(true, Ordering::SeqCst);
                        format!("fsync fails with EIO on {role} {id}")
                    }
                    FaultKind::DiskFull => {
                        d.faults.full.store(true, Ordering::SeqCst);
                        format!("disk full on {role} {id}")
                    }
                    _ => {
                        let ms = self.rng.random_range(100..1500);
                        d.faults.slow_fsync_ms.store(ms, Ordering::SeqCst);
                        format!("fsync takes {ms} ms on {role} {id}")
                    }
                };
                (what, Duration::ZERO)
            }
        }
    }

    /// Cuts (or stalls) every peer connection between `a` and `b`.
    fn between(&self, a: &[u8], b: &[u8], stall: bool) {
        for x in a {
            for y in b {
                for key in [(*x, *y), (*y, *x)] {
                    if let Some(p) = self.ens.proxies.get(&key) {
                        if stall {
                            p.stall();
                        } else {
                            p.cut();
                        }
                    }
                }
            }
        }
    }

    /// Members that exited on their own are violations (then restarted by [`Nemesis::heal`]).
    fn check_exits(&mut self) {
        for id in self.ens.ids() {
            if let Some(status) = self.ens.reap_exited(id) {
                let log = self.ens.log(id);
                let why = panic_message(&log).unwrap_or_else(|| {
                    let lines: Vec<&str> = log.lines().collect();
                    lines[lines.len().saturating_sub(10)..].join("\n")
                });
                self.run
                    .violation(format!("node {id} exited on its own ({status}): {why}"));
            }
        }
    }

    /// Ends every fault: disks and proxies healed, paused members continued, members down
    /// started again.
    pub fn heal(&mut self) {
        self.check_exits();
        for d in self.disks.values() {
            d.faults.heal();
        }
        for p in self
            .ens
            .proxies
            .values()
            .chain(self.ens.client_proxies.values())
        {
            p.heal();
        }
        for id in self.ens.ids() {
            if self.ens.member(id).paused {
                self.ens.resume(id);
            }
            // Down (killed, or exited and reaped by `check_exits`): start it again.
            if self.ens.member(id).pid().is_none() {
                self.ens.spawn(id);
            }
        }
        self.down.clear();
    }

    /// Waits until the ensemble has a leader and every member serves; a violation if it does
    /// not within a minute. Then, as an operator would, restarts the members that do not serve
    /// (kill -9 and start) so that the run goes on testing the rest.
    pub fn settle(&mut self) {
        if let Err(e) = self.wait_serving(Duration::from_secs(60)) {
            self.run.violation(format!("60 s after healing: {e}"));
            let ids = self.ens.ids();
            for (id, mode) in self.ens.modes(&ids) {
                if !matches!(mode.as_deref(), Some("leader" | "follower" | "observer")) {
                    self.note(format!(
                        "restarting member {id}, which does not serve ({mode:?})"
                    ));
                    self.ens.kill9(id);
                    self.ens.spawn(id);
                }
            }
            if let Err(e) = self.wait_serving(Duration::from_secs(60)) {
                self.run.note(format!(
                    "still no stable ensemble after restarting members: {e}"
                ));
            }
        }
    }

    fn wait_serving(&mut self, within: Duration) -> Result<u8, String> {
        let ids = self.ens.ids();
        let end = Instant::now() + within;
        loop {
            match self.ens.try_wait_leader(&ids, Duration::from_secs(5)) {
                Ok(l) => return Ok(l),
                Err(e) => {
                    self.heal();
                    if Instant::now() >= end {
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// The last panic in a node's log: the "panicked at" line and the message after it.
pub fn panic_message(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    let i = lines.iter().rposition(|l| l.contains("panicked at"))?;
    Some(lines[i..(i + 2).min(lines.len())].join(" "))
}
