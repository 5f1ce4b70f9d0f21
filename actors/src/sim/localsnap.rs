//! A server's own snapshots and purges, as the node's log actor takes them (`txnlog::actor`):
//! in the background, once enough txns were appended since the last one (a random number
//! between half and all of the run's `snap_count`, drawn again after each), then a purge that
//! keeps the newest `retain` snapshots and the log they need, then the floor (the oldest
//! snapshot's zxid) reported to the core as a pipeline input (`Input::Floor`), as the log actor
//! reports `FloorChanged` when it changed.
//!
//! The snapshot is fuzzy, as the node's (`snapshot::write` runs the one `TreeScan`): its zxid
//! `S` is the last txn applied when it begins, then a few nodes at a time are copied out, one
//! chunk per simulated event 2-12 ms apart, while the server goes on applying commits; replaying the log
//! after `S` over it gives the exact tree.
//!
//! The log actor's invariants, kept here:
//! * at most one snapshot is written at a time;
//! * none starts while a truncation or snapshot install is queued or running (in the
//!   simulator the tree is replaced when such an action completes, so a completed one is
//!   always reflected in the tree), nor of a tree waiting for the tail behind a leader's fuzzy
//!   snapshot (`DataTree::tail_pending`);
//! * a truncation, install or purge does not run while a snapshot is written: it waits in the
//!   lane, and so does everything queued behind it;
//! * the purge is queued in the lane behind the jobs queued when the snapshot ended, and runs
//!   in its turn (a crash loses it; a failed job does not drop it).
//!
//! The random draws here (interval, encode delays) come from a generator of their own, so that
//! turning local snapshots on or off changes nothing else a seed draws.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::Rng;

use super::history::{digest, first_difference};
use super::{Event, Sim};
use crate::quorum::core::{self, DurableAction};
use crate::quorum::msg::Sid;
use crate::txn::{Txn, Zxid};
use crate::txnlog::{snapshot, LogError};

/// Local snapshots of a run: every server takes one after a random number of appended txns
/// (between `every.0` and `every.1`, drawn again after each) and keeps `retain` of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SnapPolicy {
    /// Bounds of the number of txns appended between two snapshots.
    pub every: (u64, u64),
    /// Snapshots a purge keeps (at least 1).
    pub retain: usize,
}

impl SnapPolicy {
    /// The node's policy for `snap_count`: between half and all of it (`txnlog::actor`).
    pub(crate) fn node(snap_count: u64, retain: usize) -> SnapPolicy {
        let half = (snap_count / 2).max(1);
        SnapPolicy {
            every: (half, 2 * half),
            retain,
        }
    }
}

/// What the local snapshots of a run did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SnapStats {
    /// Snapshots written.
    pub taken: u64,
    /// Purges run, and the snapshots they removed.
    pub purges: u64,
    pub purged: u64,
    /// Cuts refused because they were below the oldest snapshot.
    pub refused_cuts: u64,
    /// Cuts whose log rebuilt to another txn (`LogError::CutMissed`).
    pub missed_cuts: u64,
    /// Restarts from a server's own snapshot, and those whose log stopped short of what its
    /// fuzzy scan saw (a leader applies txns a quorum of others committed before its own write
    /// of them completes): that tree is exact only once a sync replays the rest.
    pub restarts_from_own: u64,
    pub restarts_short_of_scan: u64,
}

/// A snapshot being written.
struct Writing {
    life: u64,
    trees: u64,
    scan: snapshot::TreeScan,
    data: Vec<u8>,
    /// The history it holds (every txn up to its zxid).
    history: Vec<Arc<Txn>>,
    /// Scanned whole, held by [`Sim::hold_local_snapshots`].
    scanned: bool,
}

/// One server's log actor, for its own snapshots (per life: a restart starts it anew).
#[derive(Default)]
pub(crate) struct LocalSnaps {
    /// Txns appended since the last snapshot began, and how many make the next one due.
    since: u64,
    at: u64,
    writing: Option<Writing>,
    /// A purge queued in the lane behind the job with this token (`Some(None)`: behind none).
    purge: Option<Option<u64>>,
    /// A new log segment starts at the next append batch after the job with this token (the
    /// one in flight when the snapshot began: the roll applies to the batch after it).
    pub(super) roll_behind: Option<Option<u64>>,
    /// The floor last reported to the core.
    reported: Option<Zxid>,
}

impl LocalSnaps {
    /// Is a purge queued in the lane ahead of the job `token`?
    pub(super) fn purge_ahead_of(&self, token: u64) -> bool {
        self.purge.is_some_and(|b| b.is_none_or(|b| token > b))
    }
}

/// Nodes copied out of the tree per step of a snapshot (a few: commits apply between the steps,
/// in fewer steps than a SNAP's encode takes, which the simulator runs far more often).
const LOCAL_CHUNK_NODES: usize = 8;

fn draw(policy: &SnapPolicy, rng: &mut SmallRng) -> u64 {
    rng.random_range(policy.every.0..=policy.every.1.max(policy.every.0))
}

/// Does this action replace the tree (and so never run beside a snapshot being written)?
fn resets_tree(a: &DurableAction) -> bool {
    matches!(
        a,
        DurableAction::Truncate { .. } | DurableAction::InstallSnapshot(_)
    )
}

impl Sim {
    /// Server `id`'s log actor starts (at boot).
    pub(super) fn start_local_snapshots(&mut self, id: Sid) {
        let at = match &self.local_snapshots {
            Some(p) => draw(p, &mut self.snap_rng),
            None => u64::MAX,
        };
        let s = self.servers.get_mut(&id).expect("server");
        s.local = LocalSnaps {
            at,
            ..LocalSnaps::default()
        };
    }

    /// Scripted scenarios: server `id`'s next snapshot is due after `n` more appended txns
    /// (at once if `n` is 0).
    pub(crate) fn snapshot_after(&mut self, id: Sid, n: u64) {
        let s = self.servers.get_mut(&id).expect("server");
        s.local.at = s.local.since + n;
        self.maybe_snapshot(id);
    }

    /// `n` txns were handed to `id`'s log.
    pub(super) fn appended(&mut self, id: Sid, n: usize) {
        let s = self.servers.get_mut(&id).expect("server");
        s.local.since += n as u64;
    }

    /// Starts a snapshot of `id`'s tree if one is due and may start (`maybe_snapshot`).
    pub(super) fn maybe_snapshot(&mut self, id: Sid) {
        if self.local_snapshots.is_none() {
            return;
        }
        let s = &self.servers[&id];
        if s.pipeline.is_none()
            || s.frozen
            || s.local.writing.is_some()
            || s.local.since < s.local.at
            || s.pending.iter().any(|(_, a)| resets_tree(a))
            || s.tree.tail_pending()
        {
            return;
        }
        let scan = snapshot::TreeScan::begin(&s.tree, LOCAL_CHUNK_NODES);
        assert_eq!(s.applied.last().map_or(0, |t| t.zxid), scan.zxid());
        let writing = Writing {
            life: s.life,
            trees: s.trees,
            scan,
            data: Vec::new(),
            history: s.applied.clone(),
            scanned: false,
        };
        let policy = self.local_snapshots.expect("on");
        let at = draw(&policy, &mut self.snap_rng);
        let delay = self.snap_rng.random_range(2..12);
        let s = self.servers.get_mut(&id).expect("server");
        s.local.since = 0;
        s.local.at = at;
        s.local.writing = Some(writing);
        // The next batch (after the one in flight) starts a new segment.
        s.local.roll_behind = Some(s.pending.front().map(|(t, _)| *t));
        let life = s.life;
        if self.trace {
            eprintln!("{:>6} s{id} local snapshot begins", self.now);
        }
        self.schedule(delay, Event::LocalSnap { id, life });
    }

    /// The next chunk of `id`'s snapshot; the last one writes it, then queues a purge.
    pub(super) fn local_snapshot_chunk(&mut self, id: Sid, life: u64) {
        let s = self.servers.get_mut(&id).expect("server");
        if s.life != life || s.pipeline.is_none() || s.frozen {
            return; // dead, or being killed: its snapshot is never finished
        }
        let Some(w) = s.local.writing.as_mut() else {
            return;
        };
        assert_eq!(
            w.trees, s.trees,
            "s{id}: the tree was replaced while its snapshot was written"
        );
        let chunk = w.scan.take(&s.tree);
        w.scan.write(chunk, &mut w.data).expect("in memory");
        if !w.scan.scanned() {
            let delay = self.snap_rng.random_range(2..12);
            self.schedule(delay, Event::LocalSnap { id, life });
            return;
        }
        w.scanned = true;
        if !self.hold_local_snapshots {
            self.write_local_snapshot(id);
        }
    }

    /// Writes `id`'s scanned snapshot, reports the floor if it changed, and queues a purge.
    fn write_local_snapshot(&mut self, id: Sid) {
        let s = self.servers.get_mut(&id).expect("server");
        let Some(w) = s.local.writing.take() else {
            return;
        };
        let zxid = w.scan.zxid();
        let mut data = w.data;
        w.scan.finish(&mut data).expect("in memory");
        let scanned_to = s.applied.last().map_or(0, |t| t.zxid);
        s.disk
            .add_snapshot(zxid, data.into(), w.history, scanned_to);
        // Behind the jobs queued now.
        let behind = s.pending.back().map(|(t, _)| *t);
        s.local.purge = Some(s.local.purge.unwrap_or(behind));
        self.snap_stats.taken += 1;
        if self.trace {
            eprintln!("{:>6} s{id} local snapshot {zxid:#x} written", self.now);
        }
        self.report_floor(id);
        self.lane_next(id);
    }

    /// Scripted scenarios: writes the snapshots held by [`Sim::hold_local_snapshots`] (those
    /// of servers that did not crash since), and stops holding.
    pub(crate) fn release_local_snapshots(&mut self) {
        self.hold_local_snapshots = false;
        let ids: Vec<Sid> = self.servers.keys().copied().collect();
        for id in ids {
            let held = self.servers[&id]
                .local
                .writing
                .as_ref()
                .is_some_and(|w| w.scanned && w.life == self.servers[&id].life);
            if held {
                self.write_local_snapshot(id);
            }
        }
    }

    /// Reports `id`'s floor to its core if it changed since the last report (`FloorChanged`).
    pub(super) fn report_floor(&mut self, id: Sid) {
        let s = self.servers.get_mut(&id).expect("server");
        let floor = s.disk.floor();
        if s.local.reported != Some(floor) {
            s.local.reported = Some(floor);
            self.step(id, core::Input::Floor(floor));
        }
    }

    /// Starts a new log segment before `id`'s append job `token` if it is the first batch
    /// after the one in flight when a snapshot began.
    pub(super) fn roll_before(&mut self, id: Sid, token: u64) {
        let s = self.servers.get_mut(&id).expect("server");
        if s.local
            .roll_behind
            .is_some_and(|b| b.is_none_or(|b| token > b))
        {
            s.local.roll_behind = None;
            crate::txnlog::LogBackend::request_roll(&mut s.disk);
        }
    }

    /// Must the job `token` (`action`) of `id` wait for the snapshot being written? A
    /// truncation or install does, and so does everything behind a purge, which does.
    pub(super) fn waits_for_snapshot(&self, id: Sid, token: u64, action: &DurableAction) -> bool {
        let l = &self.servers[&id].local;
        l.writing.is_some() && (resets_tree(action) || l.purge_ahead_of(token))
    }

    /// The lane moved on at `id`: runs the purge queued in it if its turn came (every job
    /// ahead of it is done) and no snapshot is being written.
    pub(super) fn lane_next(&mut self, id: Sid) {
        let Some(policy) = self.local_snapshots else {
            return;
        };
        let s = self.servers.get_mut(&id).expect("server");
        let Some(behind) = s.local.purge else {
            return;
        };
        let turn = match (behind, s.pending.front()) {
            (_, None) | (None, _) => true,
            (Some(b), Some((head, _))) => *head > b,
        };
        if !turn || s.local.writing.is_some() || s.pipeline.is_none() || s.frozen {
            return;
        }
        s.local.purge = None;
        let removed = s.disk.purge(policy.retain);
        self.snap_stats.purges += 1;
        self.snap_stats.purged += removed as u64;
        self.report_floor(id);
    }

    /// `id`'s cut (job `token`) was refused: below its oldest snapshot. As the log actor does,
    /// nothing changed; the floor is reported, every job queued behind it is dropped, and the
    /// core is told the job failed: it leaves its role and syncs again with its floor as it is.
    pub(super) fn cut_refused(&mut self, id: Sid, token: u64, e: LogError) {
        assert!(matches!(e, LogError::BelowFloor { .. }), "s{id}: {e}");
        if self.trace {
            eprintln!("{:>6} s{id} cut refused: {e}", self.now);
        }
        self.snap_stats.refused_cuts += 1;
        let s = self.servers.get_mut(&id).expect("server");
        s.pending.clear();
        self.report_floor(id);
        self.step(id, core::Input::DurableFailed(token));
        self.lane_next(id);
    }
}

impl Sim {
    /// After `id` rebuilt its tree from its disk: unless the tree is not a valid state yet (its
    /// log stops short of where its snapshot's scan or encode ended: a leader's snapshot whose
    /// tail never came, or its own snapshot having scanned txns its log then lost), it equals
    /// its history replayed from nothing, node by node; and if it is not, it is held back
    /// (`tail_pending`: nothing is served from it, not even read-only, until a sync).
    pub(super) fn check_recovered(&mut self, id: Sid) {
        let s = &self.servers[&id];
        let own = s.disk.newest().is_some_and(|n| n.own);
        self.snap_stats.restarts_from_own += u64::from(own);
        let last = s.applied.last().map_or(0, |t| t.zxid);
        if s.disk.newest().is_some_and(|n| last < n.scanned_to) {
            self.snap_stats.restarts_short_of_scan += u64::from(own);
            assert!(
                s.tree.tail_pending(),
                "s{id}: its log stops at {last:#x}, short of where its snapshot's scan ended \
                 ({:#x}), and the tree rebuilt from them is not held back until a sync",
                s.disk.newest().map_or(0, |n| n.scanned_to)
            );
            return;
        }
        let mut replayed = crate::tree::DataTree::new();
        for t in &s.applied {
            replayed.apply(t);
        }
        let (want, got) = (digest(&replayed), digest(&s.tree));
        assert!(
            want == got,
            "s{id}: the tree rebuilt from its disk is not its history ({} txns to {last:#x}): {}",
            s.applied.len(),
            first_difference(&want, &got)
        );
    }
}

impl Sim {
    /// The zxid of `id`'s snapshot scanned whole and held by [`Sim::hold_local_snapshots`].
    pub(crate) fn local_snapshot_held(&self, id: Sid) -> Option<Zxid> {
        let s = &self.servers[&id];
        let w = s.local.writing.as_ref()?;
        (w.scanned && w.life == s.life).then(|| w.scan.zxid())
    }
}
