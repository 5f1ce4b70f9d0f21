//! The simulated disk of each server: its log, epochs and snapshot, written only when a
//! durable action completes (in order, after a random delay, slow now and then); a crash loses
//! every action not completed yet (the unsynced log tail). A restart rebuilds the tree from it.

use std::sync::Arc;

use bytes::Bytes;

use super::hooks::{DurableHookAction, DurableStage};
use super::{Event, Sim};
use crate::quorum::core::{self, DurableAction};
use crate::quorum::msg::Sid;
use crate::tree::DataTree;
use crate::txn::{Txn, Zxid};
use crate::txnlog::snapshot;

/// A server's simulated disk.
pub(crate) struct Disk {
    /// The log, oldest first (after the snapshot, if any).
    pub log: Vec<Arc<Txn>>,
    /// (acceptedEpoch, currentEpoch).
    pub epochs: (u64, u64),
    /// A snapshot: its zxid, bytes, and (for the checks) the history it holds.
    pub snapshot: Option<(Zxid, Bytes, Vec<Arc<Txn>>)>,
}

impl Disk {
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

/// The tree and history a disk holds: its snapshot, then its log after it.
pub(crate) fn rebuild(disk: &Disk) -> (DataTree, Vec<Arc<Txn>>, Zxid) {
    let (mut tree, mut history, base) = match &disk.snapshot {
        Some((z, bytes, h)) => (
            snapshot::decode_tree(bytes).expect("snapshot decodes"),
            h.clone(),
            *z,
        ),
        None => (DataTree::new(), Vec::new(), 0),
    };
    for t in disk.log.iter().filter(|t| t.zxid > base) {
        tree.apply(t);
        history.push(t.clone());
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
            None => {}
        }
        let s = self.servers.get_mut(&id).expect("server");
        s.pending.pop_front();
        match action.clone() {
            DurableAction::Append(txns) => {
                for t in txns {
                    let last = s
                        .disk
                        .log
                        .last()
                        .map_or(s.disk.snapshot.as_ref().map_or(0, |x| x.0), |l| l.zxid);
                    assert!(
                        crate::txn::follows(last, t.zxid),
                        "s{id}: log append {:#x} does not follow {:#x}",
                        t.zxid,
                        last
                    );
                    s.disk.log.push(t);
                }
            }
            DurableAction::SaveEpochs { accepted, current } => s.disk.epochs = (accepted, current),
            DurableAction::Truncate { to } => {
                s.disk.log.retain(|t| t.zxid <= to);
                if s.disk.snapshot.as_ref().is_some_and(|(z, _, _)| *z > to) {
                    s.disk.snapshot = None;
                }
                // Reload the tree from disk.
                let (tree, applied, _) = rebuild(&s.disk);
                let rebuilt = applied.last().map_or(0, |t| t.zxid);
                assert_eq!(rebuilt, to, "s{id}: truncation below the floor");
                s.tree = tree;
                s.applied = applied;
                self.step(id, core::Input::Reloaded { zxid: rebuilt });
            }
            DurableAction::InstallSnapshot(blob) => {
                let history = self.snapshot_histories[&blob.zxid].clone();
                let s = self.servers.get_mut(&id).expect("server");
                s.disk.snapshot = Some((blob.zxid, blob.data.clone(), history.clone()));
                s.disk.log.clear();
                s.tree = snapshot::decode_tree(&blob.data).expect("snapshot");
                s.applied = history;
                self.step(id, core::Input::Floor(blob.zxid));
                self.step(id, core::Input::Reloaded { zxid: blob.zxid });
            }
        }
        let s = &self.servers[&id];
        self.completions.push(Completion {
            at: self.now,
            id,
            action: action.clone(),
            disk_last: s.disk.last_zxid(),
            epochs: s.disk.epochs,
        });
        if self.durable_hook(id, DurableStage::Persisted, &action) == Some(DurableHookAction::Crash)
        {
            self.run_event(Event::Crash(id));
            return;
        }
        self.step(id, core::Input::Durable(token));
    }
}
