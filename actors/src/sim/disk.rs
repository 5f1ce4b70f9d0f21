//! The simulated disk of each server: its log (in segments), epochs and snapshots, written only
//! when a durable action completes (in order, after a random delay, slow now and then); a crash
//! loses every action not completed yet (the unsynced log tail); a hook may fail an action as a
//! full or failing disk does. A restart ([`Sim::boot`]) rebuilds the tree from it, as recovery
//! does: the newest snapshot, then the log after it.
//!
//! Like the node's file log, it keeps several snapshots: those a server takes of its own tree
//! ([`super::localsnap`]) and the one a leader's SNAP installs (which replaces everything); a
//! purge keeps the newest few and the log segments they need; its floor (the lowest point the
//! log can be cut back to) is the oldest snapshot's zxid, and a cut below it is refused
//! ([`LogError::BelowFloor`]) before anything is touched.
//!
//! Invariants (those of the file log, checked by the backend suite, `txnlog::suite`):
//! * the snapshots are in zxid order, each with the history it holds (for the checks);
//! * the log holds every txn after the oldest snapshot (a purge removes only whole segments
//!   every txn of which the oldest kept snapshot holds);
//! * a cut leaves no snapshot newer than the cut, and is refused below the oldest snapshot.

use std::sync::Arc;

use bytes::Bytes;

use super::hooks::{DurableHookAction, DurableStage};
use super::{Event, Sim};
use crate::pipeline::Pipeline;
use crate::quorum::core::{self, DurableAction, PersistedState};
use crate::quorum::msg::Sid;
use crate::session::expiry::ExpiryQueue;
use crate::session::SessionRegistry;
use crate::tree::DataTree;
use crate::txn::{follows, Txn, Zxid};
use crate::txnlog::{snapshot, LogBackend, LogError};

/// A snapshot on a simulated disk.
#[derive(Debug, Clone)]
pub(crate) struct Snap {
    /// The zxid it covers (`S`: the last txn applied when its scan began).
    pub zxid: Zxid,
    /// Its bytes (a fuzzy scan: exact once the txns after `zxid` are replayed over it).
    pub bytes: Bytes,
    /// For the checks: the history it holds, every txn up to `zxid`.
    pub history: Vec<Arc<Txn>>,
    /// Where its scan or encode ended (`E`, kept beside it as the node's log keeps it) when
    /// that is after `zxid`: the tree is a valid state once the log reaches it. Installed from
    /// a leader's fuzzy encode, or the server's own (a server applies txns a quorum of others
    /// committed before its own write of them completes, so its scan may hold txns its log
    /// does not have yet).
    pub end: Option<Zxid>,
    /// The server's own snapshot (not installed from a leader).
    pub own: bool,
    /// For the checks: the last txn the scanned tree had applied when the scan ended (the
    /// tree it rebuilds is exact once the log reaches it).
    pub scanned_to: Zxid,
}

/// A server's simulated disk. It is a [`LogBackend`] like the node's file log, and passes the
/// same backend suite (`txnlog::suite`): appends are durable once synced; a crash loses what
/// was not; a failed sync loses its batch; a cut below the oldest snapshot is refused.
#[derive(Default)]
pub(crate) struct Disk {
    /// The log, oldest first (a purge drops its oldest segments).
    pub log: Vec<Arc<Txn>>,
    /// The first zxid of each log segment after the first: a new one starts at the first
    /// append after a snapshot began (`LogBackend::request_roll`).
    segments: Vec<Zxid>,
    /// The next synced append starts a new segment.
    roll_next: bool,
    /// What the log continues after when it holds nothing later: a snapshot installed, or, at
    /// a restart, the newest snapshot (a leader's own snapshot may be ahead of its log: it
    /// applies txns a quorum of others committed before its own write of them completes).
    base: Zxid,
    /// (acceptedEpoch, currentEpoch).
    pub epochs: (u64, u64),
    /// The snapshots, oldest first.
    pub snapshots: Vec<Snap>,
    /// Appended, not synced (lost by a crash or a failed sync).
    unsynced: Vec<Arc<Txn>>,
    /// The next this-many syncs fail.
    pub failing_syncs: u32,
    /// A snapshot being received (the node's incoming file): not part of the state.
    pub incoming: Option<Vec<u8>>,
}

impl LogBackend for Disk {
    fn append(&mut self, txns: &[Arc<Txn>]) -> Result<u64, LogError> {
        let last = self.unsynced.last().map_or(self.last_zxid(), |t| t.zxid);
        crate::txnlog::check_follows(last, txns)?;
        self.unsynced.extend(txns.iter().cloned());
        Ok(0)
    }

    fn sync(&mut self) -> Result<(), LogError> {
        crate::txnlog::injected_sync_failure(&mut self.failing_syncs, "<sim disk>")?;
        if let Some(first) = self.unsynced.first() {
            if std::mem::take(&mut self.roll_next) {
                self.segments.push(first.zxid);
            }
        }
        self.log.append(&mut self.unsynced);
        Ok(())
    }

    fn discard_unsynced(&mut self) -> Result<(), LogError> {
        self.unsynced.clear();
        Ok(())
    }

    fn request_roll(&mut self) {
        self.roll_next = true;
    }

    fn truncate_after(&mut self, to: Zxid) -> Result<(), LogError> {
        // As the file log: never below the oldest snapshot (the log before it may be purged),
        // refused before anything is touched.
        let floor = self.floor();
        if floor > to {
            return Err(LogError::BelowFloor { to, floor });
        }
        self.unsynced.clear();
        self.snapshots.retain(|s| s.zxid <= to);
        self.log.retain(|t| t.zxid <= to);
        self.segments.retain(|s| *s <= to);
        self.base = self.snapshots.last().map_or(0, |s| s.zxid);
        Ok(())
    }

    fn install_snapshot(&mut self, zxid: Zxid, bytes: &[u8]) -> Result<(), LogError> {
        self.unsynced.clear();
        self.snapshots = vec![Snap {
            zxid,
            bytes: Bytes::copy_from_slice(bytes),
            history: Vec::new(),
            end: Some(zxid),
            own: false,
            scanned_to: zxid,
        }];
        self.log.clear();
        self.segments.clear();
        self.base = zxid;
        Ok(())
    }

    fn last_zxid(&self) -> Zxid {
        self.unsynced
            .last()
            .map_or(Disk::last_zxid(self), |t| t.zxid)
    }
}

impl Disk {
    /// Appends `txns` and syncs them: the completion of server `id`'s append job (contiguous by
    /// construction; anything else is a broken simulator).
    fn append_synced(&mut self, id: Sid, txns: &[Arc<Txn>]) {
        if let Err(e) = self.append(txns).and_then(|_| self.sync()) {
            panic!("s{id}: log append: {e}");
        }
    }

    /// A crash: what was not synced is lost; the restarted log continues after what recovery
    /// finds (the newest snapshot, or the log's last txn after it).
    pub fn crash(&mut self) {
        self.unsynced.clear();
        self.roll_next = false;
        self.base = self.newest().map_or(0, |s| s.zxid);
        self.incoming = None; // removed at restart, as the node's log actor does
    }

    /// The last zxid on disk (the log's, or what it continues after).
    pub fn last_zxid(&self) -> Zxid {
        self.log.last().map_or(self.base, |t| t.zxid.max(self.base))
    }

    /// The lowest zxid the log can be cut back to: the oldest snapshot's (0 without one).
    pub fn floor(&self) -> Zxid {
        self.snapshots.first().map_or(0, |s| s.zxid)
    }

    /// The newest snapshot (the one recovery starts from).
    pub fn newest(&self) -> Option<&Snap> {
        self.snapshots.last()
    }

    /// A snapshot of the server's own tree, written beside the log (it replaces one at the
    /// same zxid, whose `E` stays beside it, as the node's file does).
    pub fn add_snapshot(
        &mut self,
        zxid: Zxid,
        bytes: Bytes,
        history: Vec<Arc<Txn>>,
        scanned_to: Zxid,
    ) {
        // As `snapshot::write`: `E` recorded beside it when the scan saw txns after `S` (a
        // stale record of a snapshot it replaces goes).
        let snap = Snap {
            zxid,
            bytes,
            history,
            end: (scanned_to > zxid).then_some(scanned_to),
            own: true,
            scanned_to,
        };
        match self.snapshots.binary_search_by_key(&zxid, |s| s.zxid) {
            Ok(i) => self.snapshots[i] = snap,
            Err(i) => self.snapshots.insert(i, snap),
        }
    }

    /// Purge (autopurge, `txnlog::purge`): keeps the newest `keep` (at least 1) snapshots and
    /// the log segments they need (every segment but those whose successor starts at or before
    /// the txn after the oldest kept snapshot). Returns how many snapshots it removed.
    pub fn purge(&mut self, keep: usize) -> usize {
        let keep = keep.max(1);
        let old = self.snapshots.len().saturating_sub(keep);
        self.snapshots.drain(..old);
        let Some(oldest) = self.snapshots.first().map(|s| s.zxid) else {
            return old;
        };
        if let Some(first_kept) = self
            .segments
            .iter()
            .copied()
            .filter(|s| *s <= oldest + 1)
            .max()
        {
            self.log.retain(|t| t.zxid >= first_kept);
            self.segments.retain(|s| *s > first_kept);
        }
        old
    }

    /// Is txn `z` on this disk (in the log or in a snapshot's history)?
    pub fn holds(&self, z: Zxid) -> bool {
        // All in zxid order (appends must follow the log's last txn).
        let has = |txns: &[Arc<Txn>]| txns.binary_search_by_key(&z, |t| t.zxid).is_ok();
        has(&self.log) || self.snapshots.iter().any(|s| has(&s.history))
    }
}

/// A durable action that completed, with the disk right after.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    /// When.
    pub at: i64,
    /// The server.
    pub id: Sid,
    /// The action.
    pub action: DurableAction,
    /// The last zxid on its disk after it.
    pub disk_last: Zxid,
    /// Its epochs after it.
    pub epochs: (u64, u64),
}

impl Completion {
    /// `action` of server `id` completed at `at`, leaving `disk`.
    fn of(at: i64, id: Sid, action: DurableAction, disk: &Disk) -> Completion {
        Completion {
            at,
            id,
            action,
            disk_last: disk.last_zxid(),
            epochs: disk.epochs,
        }
    }
}

/// The tree and history a disk holds, and the zxid the log is replayed after: its newest
/// snapshot, then its log after it. As recovery does, a leader's fuzzy snapshot whose log
/// stops short of where its encode ended keeps its orphans and waits for the rest of its tail
/// (`DataTree::tail_pending`). A gap in the log after the snapshot is recovery's `Gap` (data
/// is missing: the node refuses to start): the simulation fails.
pub(crate) fn rebuild(disk: &Disk) -> (DataTree, Vec<Arc<Txn>>, Zxid) {
    let newest = disk.newest();
    let (mut tree, mut history, base) = match newest {
        Some(s) => (
            snapshot::decode_fuzzy(&s.bytes).expect("snapshot decodes"),
            s.history.clone(),
            s.zxid,
        ),
        None => (DataTree::new(), Vec::new(), 0),
    };
    let mut prev = base;
    for t in disk.log.iter().filter(|t| t.zxid > base) {
        assert!(
            follows(prev, t.zxid),
            "recovery finds a gap in the log after {base:#x}: {:#x} follows {prev:#x} (data is missing)",
            t.zxid
        );
        tree.apply(t);
        history.push(t.clone());
        prev = t.zxid;
    }
    // As recovery does: the quotas are recounted when the node serves (`finish_replay`).
    if newest
        .and_then(|s| s.end)
        .is_some_and(|end| tree.last_zxid() < end)
    {
        tree.expect_tail();
    } else {
        tree.drop_orphans();
    }
    (tree, history, base)
}

impl Sim {
    /// (Re)starts a server from its disk.
    pub(super) fn boot(&mut self, id: Sid) {
        let cfg = self.pipeline_config(id);
        let now = self.clock(id);
        let keep = self.commit_log_count;
        let s = self.servers.get_mut(&id).expect("server");
        s.life += 1;
        s.pending.clear();
        s.serving = false;
        s.frozen = false;
        let (tree, applied, base) = rebuild(&s.disk);
        self.snaps_encoded.2 += u64::from(tree.tail_pending());
        let floor = s.disk.floor();
        let last = applied.last().map_or(0, |t| t.zxid);
        let after: Vec<Arc<Txn>> = s
            .disk
            .log
            .iter()
            .filter(|t| t.zxid > base)
            .cloned()
            .collect();
        let recent = after[after.len().saturating_sub(keep)..].to_vec();
        s.tree = tree;
        s.trees += 1;
        s.applied = applied;
        s.sessions = SessionRegistry::new(self.timing.tick_ms);
        s.expiry = ExpiryQueue::new(self.timing.tick_ms);
        self.sessions_follow_tree(id);
        self.check_recovered(id);
        self.start_local_snapshots(id);
        let s = self.servers.get_mut(&id).expect("server");
        let persisted = PersistedState {
            accepted_epoch: s.disk.epochs.0,
            current_epoch: s.disk.epochs.1,
            last_zxid: last,
            recent,
            floor,
        };
        let (pipeline, out) = Pipeline::new(cfg, persisted, now, &s.tree);
        s.pipeline = Some(pipeline);
        self.outputs(id, out);
    }

    pub(crate) fn durable_done(&mut self, id: Sid, token: u64, life: u64) {
        let s = self.servers.get_mut(&id).expect("server");
        if s.life != life || s.pipeline.is_none() || s.frozen {
            return;
        }
        // Actions complete in order: the head must be this token.
        let Some((t, action)) = s.pending.front().cloned() else {
            return;
        };
        if token < t {
            return; // completed already, in a group commit with an earlier one
        }
        if t != token || self.waits_for_snapshot(id, token, &action) {
            // An earlier one is still pending, or a snapshot is being written: retry later.
            self.schedule(5, Event::DurableDone { id, token, life });
            return;
        }
        match self.durable_hook(id, DurableStage::Completing, &action) {
            Some(DurableHookAction::Crash) => {
                self.run_event(Event::Crash(id));
                return;
            }
            Some(DurableHookAction::Hold) => {
                self.held_durable.entry(id).or_default().push((token, life));
                return;
            }
            Some(DurableHookAction::Fail) => {
                let s = self.servers.get_mut(&id).expect("server");
                if let DurableAction::Append(txns) = &action {
                    s.disk.append(txns).expect("contiguous append");
                    s.disk.failing_syncs += 1;
                    assert!(s.disk.sync().is_err());
                    s.disk.discard_unsynced().expect("cut back");
                }
                // The log actor drops every job queued behind a failed one.
                s.pending.clear();
                self.step(id, core::Input::DurableFailed(token));
                self.lane_next(id);
                return;
            }
            Some(DurableHookAction::LoseRecordBeforeCut) => {
                self.cut_short(id, token, &action);
                return;
            }
            None => {}
        }
        let s = self.servers.get_mut(&id).expect("server");
        let mut missed = false;
        match action.clone() {
            DurableAction::Append(txns) => {
                s.pending.pop_front();
                self.roll_before(id, token);
                let s = self.servers.get_mut(&id).expect("server");
                s.disk.append_synced(id, &txns);
            }
            DurableAction::SaveEpochs { accepted, current } => {
                s.pending.pop_front();
                s.disk.epochs = (accepted, current);
            }
            DurableAction::Truncate { to } => {
                if let Err(e) = s.disk.truncate_after(to) {
                    self.cut_refused(id, token, e);
                    return;
                }
                s.pending.pop_front();
                let rebuilt = self.reload_from_disk(id);
                self.report_floor(id);
                self.step(id, core::Input::Reloaded { zxid: rebuilt });
                missed = rebuilt != to;
            }
            DurableAction::SnapChunk { seq, data } => {
                s.pending.pop_front();
                self.write_snap_chunk(id, seq, &data);
            }
            DurableAction::AbortSnapshot => {
                s.pending.pop_front();
                s.disk.incoming = None;
            }
            DurableAction::InstallSnapshot(m) => {
                s.pending.pop_front();
                let data = self.take_incoming(id, &m);
                let history = self.snapshot_history(m.zxid);
                let s = self.servers.get_mut(&id).expect("server");
                s.disk.install_snapshot(m.zxid, &data).expect("install");
                if let Some(snap) = s.disk.snapshots.last_mut() {
                    snap.end = Some(m.end);
                    snap.scanned_to = m.end;
                    snap.history = history.clone();
                }
                // Fuzzy: orphans stay until the tail behind it is applied (`finish_replay`).
                s.tree = snapshot::decode_fuzzy(&data).expect("snapshot");
                s.tree.expect_tail();
                s.trees += 1;
                s.applied = history;
                self.sessions_follow_tree(id);
                self.report_floor(id);
                self.step(id, core::Input::Reloaded { zxid: m.zxid });
            }
        }
        let done = Completion::of(self.now, id, action.clone(), &self.servers[&id].disk);
        self.completions.push(done);
        if self.durable_hook(id, DurableStage::Persisted, &action) == Some(DurableHookAction::Crash)
        {
            self.run_event(Event::Crash(id));
            return;
        }
        let mut tokens = vec![token];
        if matches!(action, DurableAction::Append(_)) {
            self.group_commit(id, &mut tokens);
        }
        self.step(id, core::Input::Durable(tokens));
        if missed {
            self.fail_behind_cut(id);
        }
        self.lane_next(id);
        self.maybe_snapshot(id);
    }

    /// Rebuilds server `id`'s tree from its disk after a cut, as the log actor's recovery does,
    /// and returns the rebuilt log's last zxid.
    fn reload_from_disk(&mut self, id: Sid) -> Zxid {
        let s = self.servers.get_mut(&id).expect("server");
        let (tree, applied, _) = rebuild(&s.disk);
        let rebuilt = applied.last().map_or(0, |t| t.zxid);
        s.tree = tree;
        s.trees += 1;
        s.applied = applied;
        self.sessions_follow_tree(id);
        rebuilt
    }

    /// A cut rebuilt to another txn than its own (`LogError::CutMissed`): as the log actor
    /// does, what was queued behind it fails.
    fn fail_behind_cut(&mut self, id: Sid) {
        self.snap_stats.missed_cuts += 1;
        let s = self.servers.get_mut(&id).expect("server");
        if let Some((behind, _)) = s.pending.front().cloned() {
            s.pending.clear();
            self.step(id, core::Input::DurableFailed(behind));
        }
    }

    /// Server `id`'s truncation `action` (its pending head, `token`) on a disk that lost the
    /// last record at or before the cut: it rebuilds one txn short, reports that, and fails
    /// what is queued behind it, as the log actor does (`LogError::CutMissed`).
    fn cut_short(&mut self, id: Sid, token: u64, action: &DurableAction) {
        let DurableAction::Truncate { to } = action else {
            panic!("s{id}: a lost record before a cut needs a truncation, not {action:?}");
        };
        let s = self.servers.get_mut(&id).expect("server");
        s.pending.pop_front();
        s.disk.truncate_after(*to).expect("truncate");
        let floor = s.disk.newest().map_or(0, |s| s.zxid);
        let lost = s.disk.log.pop().expect("a record to lose");
        assert!(
            lost.zxid > floor,
            "s{id}: the lost record is in the snapshot"
        );
        let rebuilt = self.reload_from_disk(id);
        assert!(rebuilt < *to, "s{id}: the cut rebuilt at {rebuilt:#x}");
        let done = Completion::of(self.now, id, action.clone(), &self.servers[&id].disk);
        self.completions.push(done);
        self.step(id, core::Input::Reloaded { zxid: rebuilt });
        self.step(id, core::Input::Durable(vec![token]));
        self.fail_behind_cut(id);
        self.lane_next(id);
    }

    /// As the log actor does, the appends queued behind one that completed are synced with it
    /// (unless a scripted scenario's durable hooks are armed: they see each action alone), up
    /// to a purge queued in the lane: a batch is consecutive appends.
    fn group_commit(&mut self, id: Sid, tokens: &mut Vec<u64>) {
        if self.durable_hooks.iter().any(|h| h.times > 0) {
            return;
        }
        let s = self.servers.get_mut(&id).expect("server");
        while let Some((t, DurableAction::Append(txns))) = s.pending.front().cloned() {
            if s.local.purge_ahead_of(t) {
                break;
            }
            s.pending.pop_front();
            s.disk.append_synced(id, &txns);
            let done = Completion::of(self.now, id, DurableAction::Append(txns), &s.disk);
            self.completions.push(done);
            tokens.push(t);
        }
    }
}

/// The simulator's disk under the backend suite every log backend passes.
#[cfg(test)]
mod disk_suite {
    use super::Disk;
    use crate::txn::Zxid;
    use crate::txnlog::suite::{memory_recovered, run_all, Harness, Recovered};
    use crate::txnlog::LogBackend;

    struct SimDiskHarness;

    impl Harness for SimDiskHarness {
        type B = Disk;
        fn fresh(&mut self) -> Disk {
            Disk::default()
        }
        fn restart(&mut self, mut b: Disk) -> Disk {
            b.crash();
            b
        }
        fn recovered(&mut self, b: &Disk) -> Recovered {
            memory_recovered(b.newest().map(|s| s.zxid), &b.log)
        }
        fn fail_next_sync(&mut self, b: &mut Disk) {
            b.failing_syncs = 1;
        }
        fn take_snapshot(&mut self, b: &mut Disk, zxid: Zxid, bytes: &[u8]) {
            // As the log actor: the next append starts a new segment.
            b.add_snapshot(zxid, bytes::Bytes::copy_from_slice(bytes), Vec::new(), zxid);
            b.request_roll();
        }
        fn purge(&mut self, b: &mut Disk, keep: usize) {
            b.purge(keep);
        }
        fn snapshots(&mut self, b: &Disk) -> Vec<Zxid> {
            b.snapshots.iter().map(|s| s.zxid).collect()
        }
    }

    #[test]
    fn the_simulated_disk_passes_the_backend_suite() {
        run_all(&mut SimDiskHarness);
    }
}
