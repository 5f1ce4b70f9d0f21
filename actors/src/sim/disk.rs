//! The simulated disk of each server: its log, epochs and snapshot, written only when a
//! durable action completes (in order, after a random delay, slow now and then); a crash loses
//! every action not completed yet (the unsynced log tail); a hook may fail an action as a full
//! or failing disk does. A restart rebuilds the tree from it.

use std::sync::Arc;

use bytes::Bytes;

use super::hooks::{DurableHookAction, DurableStage};
use super::{Event, Sim};
use crate::quorum::core::{self, DurableAction};
use crate::quorum::msg::Sid;
use crate::tree::DataTree;
use crate::txn::{Txn, Zxid};
use crate::txnlog::{snapshot, LogBackend, LogError};

/// A server's simulated disk. It is a [`LogBackend`] like the node's file log, and passes the
/// same backend suite (`txnlog::suite`): appends are durable once synced; a crash loses what
/// was not; a failed sync loses its batch.
#[derive(Default)]
pub(crate) struct Disk {
    /// The log, oldest first (after the snapshot, if any).
    pub log: Vec<Arc<Txn>>,
    /// (acceptedEpoch, currentEpoch).
    pub epochs: (u64, u64),
    /// A snapshot: its zxid, bytes, and (for the checks) the history it holds.
    pub snapshot: Option<(Zxid, Bytes, Vec<Arc<Txn>>)>,
    /// Where the leader's fuzzy encode of that snapshot ended (`E`, kept beside it as the
    /// node's log keeps it): the tree is a valid state once the log reaches it.
    pub snapshot_end: Zxid,
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
        self.log.append(&mut self.unsynced);
        Ok(())
    }

    fn discard_unsynced(&mut self) -> Result<(), LogError> {
        self.unsynced.clear();
        Ok(())
    }

    fn truncate_after(&mut self, to: Zxid) -> Result<(), LogError> {
        self.unsynced.clear();
        self.log.retain(|t| t.zxid <= to);
        if self.snapshot.as_ref().is_some_and(|(z, _, _)| *z > to) {
            self.snapshot = None;
        }
        Ok(())
    }

    fn install_snapshot(&mut self, zxid: Zxid, bytes: &[u8]) -> Result<(), LogError> {
        self.unsynced.clear();
        self.snapshot = Some((zxid, Bytes::copy_from_slice(bytes), Vec::new()));
        self.snapshot_end = zxid;
        self.log.clear();
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

    /// A crash: what was not synced is lost.
    pub fn crash(&mut self) {
        self.unsynced.clear();
        self.incoming = None; // removed at restart, as the node's log actor does
    }

    /// The last zxid on disk (log, else snapshot).
    pub fn last_zxid(&self) -> Zxid {
        self.log
            .last()
            .map_or(self.snapshot.as_ref().map_or(0, |s| s.0), |t| t.zxid)
    }

    /// Is txn `z` on this disk (in the log or in the snapshot's history)?
    pub fn holds(&self, z: Zxid) -> bool {
        // Both are in zxid order (appends must follow the log's last txn).
        let has = |txns: &[Arc<Txn>]| txns.binary_search_by_key(&z, |t| t.zxid).is_ok();
        has(&self.log) || self.snapshot.as_ref().is_some_and(|(_, _, h)| has(h))
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

/// The tree and history a disk holds: its snapshot, then its log after it. As recovery does,
/// a fuzzy snapshot whose log stops short of where its encode ended keeps its orphans and
/// waits for the rest of its tail (`DataTree::tail_pending`).
pub(crate) fn rebuild(disk: &Disk) -> (DataTree, Vec<Arc<Txn>>, Zxid) {
    let (mut tree, mut history, base) = match &disk.snapshot {
        Some((z, bytes, h)) => (
            snapshot::decode_fuzzy(bytes).expect("snapshot decodes"),
            h.clone(),
            *z,
        ),
        None => (DataTree::new(), Vec::new(), 0),
    };
    for t in disk.log.iter().filter(|t| t.zxid > base) {
        tree.apply(t);
        history.push(t.clone());
    }
    // As recovery does: the quotas are recounted when the node serves (`finish_replay`).
    if disk.snapshot.is_some() && tree.last_zxid() < disk.snapshot_end {
        tree.expect_tail();
    } else {
        tree.drop_orphans();
    }
    (tree, history, base)
}

impl Sim {
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
        if t != token {
            // An earlier one is still pending: retry this one later.
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
                return;
            }
            Some(DurableHookAction::LoseRecordBeforeCut) => {
                self.cut_short(id, token, &action);
                return;
            }
            None => {}
        }
        let s = self.servers.get_mut(&id).expect("server");
        s.pending.pop_front();
        match action.clone() {
            DurableAction::Append(txns) => s.disk.append_synced(id, &txns),
            DurableAction::SaveEpochs { accepted, current } => s.disk.epochs = (accepted, current),
            DurableAction::Truncate { to } => {
                s.disk.truncate_after(to).expect("truncate");
                let rebuilt = self.reload_from_disk(id);
                assert_eq!(rebuilt, to, "s{id}: truncation below the floor");
                self.step(id, core::Input::Reloaded { zxid: rebuilt });
            }
            DurableAction::SnapChunk { seq, data } => self.write_snap_chunk(id, seq, &data),
            DurableAction::AbortSnapshot => s.disk.incoming = None,
            DurableAction::InstallSnapshot(m) => {
                let data = self.take_incoming(id, &m);
                let history = self.snapshot_history(m.zxid);
                let s = self.servers.get_mut(&id).expect("server");
                s.disk.install_snapshot(m.zxid, &data).expect("install");
                s.disk.snapshot_end = m.end;
                if let Some(snap) = &mut s.disk.snapshot {
                    snap.2 = history.clone();
                }
                // Fuzzy: orphans stay until the tail behind it is applied (`finish_replay`).
                s.tree = snapshot::decode_fuzzy(&data).expect("snapshot");
                s.tree.expect_tail();
                s.trees += 1;
                s.applied = history;
                self.sessions_follow_tree(id);
                self.step(id, core::Input::Floor(m.zxid));
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
        let floor = s.disk.snapshot.as_ref().map_or(0, |(z, _, _)| *z);
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
        let s = self.servers.get_mut(&id).expect("server");
        if let Some((behind, _)) = s.pending.front().cloned() {
            s.pending.clear();
            self.step(id, core::Input::DurableFailed(behind));
        }
    }

    /// As the log actor does, the appends queued behind one that completed are synced with it
    /// (unless a scripted scenario's durable hooks are armed: they see each action alone).
    fn group_commit(&mut self, id: Sid, tokens: &mut Vec<u64>) {
        if self.durable_hooks.iter().any(|h| h.times > 0) {
            return;
        }
        let s = self.servers.get_mut(&id).expect("server");
        while let Some((t, DurableAction::Append(txns))) = s.pending.front().cloned() {
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
            memory_recovered(b.snapshot.as_ref().map(|s| s.0), &b.log)
        }
        fn fail_next_sync(&mut self, b: &mut Disk) {
            b.failing_syncs = 1;
        }
        fn take_snapshot(&mut self, b: &mut Disk, zxid: Zxid, bytes: &[u8]) {
            b.snapshot = Some((zxid, bytes::Bytes::copy_from_slice(bytes), Vec::new()));
        }
        fn purge(&mut self, b: &mut Disk, _keep: usize) {
            if let Some((z, _, _)) = &b.snapshot {
                let z = *z;
                b.log.retain(|t| t.zxid > z);
            }
        }
    }

    #[test]
    fn the_simulated_disk_passes_the_backend_suite() {
        run_all(&mut SimDiskHarness);
    }
}
