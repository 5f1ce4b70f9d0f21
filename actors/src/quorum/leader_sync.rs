//! Synchronising a learner with the leader (part of [`super::Leader`]): where their histories
//! agree decides DIFF (send what it lacks), TRUNC (cut back its txns we never had, or that are
//! not committed yet once broadcasting) or SNAP (too far behind: a snapshot, with the history
//! after it kept until it is sent); then the tail, a slice per step, then NEWLEADER.

use std::sync::Arc;

use super::{Leader, LearnerPhase, Phase, SnapStream, Tail};
use crate::quorum::core::{Output, Shared};
use crate::quorum::msg::{PeerMsg, Sid, SnapshotMeta, SNAP_WINDOW};
use crate::txn::{Txn, Zxid};

impl Leader {
    /// The history a learner must have after `z`: applied (committed) history, then logged
    /// but uncommitted txns (inherited, then this epoch's proposals). The flag says committed.
    /// Both queues are in zxid order: each is entered where `z` falls.
    fn tail_after(s: &Shared, z: Zxid) -> impl Iterator<Item = (&Arc<Txn>, bool)> {
        let committed = s
            .history
            .range(s.history.partition_point(|t| t.zxid <= z)..);
        let pending = s
            .unapplied
            .range(s.unapplied.partition_point(|t| t.zxid <= z)..);
        committed
            .map(|t| (t, true))
            .chain(pending.map(|t| (t, false)))
    }

    fn known(&self, s: &Shared, z: Zxid) -> bool {
        z == s.history_base
            || s.history.iter().any(|t| t.zxid == z)
            || s.unapplied.iter().any(|t| t.zxid == z)
    }

    fn last_known(&self, s: &Shared) -> Zxid {
        s.last_logged
    }

    pub(super) fn sync_learner(&mut self, s: &mut Shared, id: Sid, out: &mut Vec<Output>) {
        let Some(x) = self.learners.get(&id).cloned() else {
            return;
        };
        let peer_last = x.last_zxid;
        let last = self.last_known(s);
        let base = s.history_base;
        // Where the learner's history and ours agree.
        // Before the epoch is established our whole history will be committed with it; after,
        // only what is committed is.
        let commit_point = if self.phase == Phase::Broadcast {
            self.committed
        } else {
            last
        };
        // Once broadcasting, a learner's history past our commit point (a proposal still in
        // flight, restored into its tree when it restarted) is cut back and sent again: it must
        // not serve a txn before it is committed (ZooKeeper's leader does the same: TRUNC to
        // its last committed zxid).
        let (start, head) = if peer_last == commit_point
            || (peer_last >= base && peer_last <= commit_point && self.known(s, peer_last))
        {
            (
                peer_last,
                PeerMsg::Diff {
                    zxid: peer_last,
                    committed: peer_last,
                },
            )
        } else if let Some(agree) = (peer_last > base)
            .then(|| {
                s.history
                    .iter()
                    .map(|t| t.zxid)
                    .chain(s.unapplied.iter().map(|t| t.zxid))
                    .filter(|z| *z < peer_last && *z <= commit_point)
                    .max()
                    .unwrap_or(base)
            })
            .filter(|agree| *agree >= x.floor)
        {
            // The learner has txns we never had: cut back to the last one we both have (never
            // below what it can rebuild; otherwise it gets a snapshot).
            (
                agree,
                PeerMsg::Trunc {
                    zxid: agree,
                    committed: agree.min(commit_point),
                },
            )
        } else {
            // Too far behind (or our history does not reach back far enough).
            tracing::info!(
                learner = id,
                mode = "SNAP",
                learner_zxid = %format!("{peer_last:#x}"),
                history_from = %format!("{base:#x}"),
                "synchronising learner"
            );
            self.await_snapshot(s, id, out);
            return;
        };
        tracing::info!(
            learner = id,
            mode = match head {
                PeerMsg::Diff { .. } => "DIFF",
                _ => "TRUNC",
            },
            learner_zxid = %format!("{peer_last:#x}"),
            from = %format!("{start:#x}"),
            to = %format!("{last:#x}"),
            "synchronising learner"
        );
        out.push(Output::Send(id, head));
        self.start_tail(s, id, start, out);
    }

    /// Asks for a snapshot for learner `id`. Until it is sent, the history it needs is kept
    /// (the snapshot is encoded in the background while writes go on, fuzzily: the txns
    /// committed meanwhile must all follow it, however many). The pin is taken here, before
    /// the scan begins, at the history's base, which the snapshot's zxid `S` (read when the
    /// scan begins) must reach ([`Self::on_snapshot`] re-takes it otherwise): every txn after
    /// `S` is still here when the tail is sent.
    fn await_snapshot(&mut self, s: &mut Shared, id: Sid, out: &mut Vec<Output>) {
        let Some(x) = self.learners.get_mut(&id) else {
            return;
        };
        x.phase = LearnerPhase::AwaitingSnapshot;
        x.snap_pin = Some(s.history_base);
        self.refresh_history_pin(s);
        out.push(Output::TakeSnapshot { learner: id });
    }

    /// The history is kept after the lowest pin of the learners awaiting a snapshot.
    pub(super) fn refresh_history_pin(&self, s: &mut Shared) {
        s.history_pin = self
            .learners
            .values()
            .filter(|x| {
                matches!(
                    x.phase,
                    LearnerPhase::AwaitingSnapshot
                        | LearnerPhase::Streaming
                        | LearnerPhase::Tailing
                )
            })
            .filter_map(|x| x.snap_pin)
            .min();
    }

    pub(in crate::quorum) fn on_snapshot(
        &mut self,
        s: &mut Shared,
        id: Sid,
        snap: SnapshotMeta,
        out: &mut Vec<Output>,
    ) {
        let Some(x) = self.learners.get_mut(&id) else {
            return;
        };
        if x.phase != LearnerPhase::AwaitingSnapshot {
            return;
        }
        let zxid = snap.zxid;
        if zxid < s.history_base {
            // The txns right after the snapshot are no longer in memory (the tree it was taken
            // from lagged behind the history kept): sending it with a tail would skip them.
            tracing::warn!(
                learner = id,
                snapshot = %format!("{zxid:#x}"),
                history_from = %format!("{:#x}", s.history_base),
                "snapshot older than the history kept; taking another"
            );
            self.await_snapshot(s, id, out);
            return;
        }
        tracing::info!(
            learner = id,
            snapshot = %format!("{zxid:#x}"),
            bytes = snap.bytes,
            chunks = snap.chunks,
            "streaming a snapshot to a learner"
        );
        // The history after the snapshot stays pinned until the stream ends.
        x.snap_pin = Some(zxid);
        x.phase = LearnerPhase::Streaming;
        let mut stream = SnapStream {
            snap,
            sent: 0,
            acked: 0,
        };
        out.push(Output::Send(id, PeerMsg::SnapBegin(snap)));
        Self::send_chunks(id, &mut stream, out);
        x.stream = Some(stream);
        self.refresh_history_pin(s);
    }

    /// Sends the chunks the window allows.
    fn send_chunks(id: Sid, st: &mut SnapStream, out: &mut Vec<Output>) {
        while st.sent < st.snap.chunks && st.sent < st.acked + SNAP_WINDOW {
            out.push(Output::SendSnapChunk {
                learner: id,
                zxid: st.snap.zxid,
                seq: st.sent,
            });
            st.sent += 1;
        }
    }

    /// The learner wrote chunk `seq` (the last one: installed the snapshot).
    pub(super) fn on_snap_ack(&mut self, s: &mut Shared, id: Sid, seq: u64, out: &mut Vec<Output>) {
        let Some(x) = self.learners.get_mut(&id) else {
            return;
        };
        let Some(st) = x
            .stream
            .as_mut()
            .filter(|_| x.phase == LearnerPhase::Streaming)
        else {
            return;
        };
        if seq != st.acked || seq >= st.sent {
            tracing::warn!(
                learner = id,
                seq,
                expected = st.acked,
                "unexpected snapshot chunk ACK"
            );
            return;
        }
        st.acked += 1;
        if st.acked < st.snap.chunks {
            Self::send_chunks(id, st, out);
            return;
        }
        let zxid = st.snap.zxid;
        x.stream = None;
        tracing::info!(
            learner = id,
            snapshot = %format!("{zxid:#x}"),
            "the learner installed the snapshot; sending it the txns since"
        );
        self.start_tail(s, id, zxid, out);
    }

    /// Starts sending learner `id` its tail: the history after `after` (which it holds, and
    /// which counts as committed), then NEWLEADER.
    fn start_tail(&mut self, s: &mut Shared, id: Sid, after: Zxid, out: &mut Vec<Output>) {
        let Some(x) = self.learners.get_mut(&id) else {
            return;
        };
        s.syncs += 1;
        x.phase = LearnerPhase::Tailing;
        x.covered_up_to = after;
        x.tail = Some(Tail {
            sync: s.syncs,
            committed: after,
            proposed: self.proposed,
            txns: 0,
            slices: 0,
        });
        self.send_slice(s, id, out);
    }

    /// The continuation of sync `sync` of learner `id` (nothing if that sync is over).
    pub(in crate::quorum) fn continue_tail(
        &mut self,
        s: &mut Shared,
        id: Sid,
        sync: u64,
        out: &mut Vec<Output>,
    ) {
        let current = self.learners.get(&id).is_some_and(|x| {
            x.phase == LearnerPhase::Tailing && x.tail.is_some_and(|t| t.sync == sync)
        });
        if current {
            self.send_slice(s, id, out);
        }
    }

    /// Sends the next `tail_slice` txns of learner `id`'s tail (or twice what was proposed
    /// since its last slice, if more) and a COMMIT of what of them is committed (cumulative:
    /// one per slice), then asks to continue; after the last slice, NEWLEADER. What is
    /// proposed or committed between slices comes with the next ones; as a slice takes at least
    /// twice what was added since the one before, at any steady write rate the rest shrinks by
    /// half a slice or more per step and the tail ends (a fixed slice would never end once more
    /// than a slice is proposed per step, as with many clients in flight).
    fn send_slice(&mut self, s: &mut Shared, id: Sid, out: &mut Vec<Output>) {
        let Some(x) = self.learners.get_mut(&id) else {
            return;
        };
        let Some(mut tail) = x.tail else {
            return;
        };
        // Once broadcasting, observers get only committed txns (as INFORM, once committed).
        let committed_only = x.observer && self.phase == Phase::Broadcast;
        let grown = usize::try_from(self.proposed - tail.proposed).unwrap_or(usize::MAX);
        let limit = s.cfg.tail_slice.max(1).max(grown.saturating_mul(2));
        tail.proposed = self.proposed;
        let mut covered = x.covered_up_to;
        let mut more = false;
        for (sent, (t, committed)) in Self::tail_after(s, covered).enumerate() {
            if committed_only && !committed {
                break; // the uncommitted ones come last
            }
            if sent == limit {
                more = true;
                break;
            }
            out.push(Output::Send(id, PeerMsg::Proposal(t.clone())));
            covered = t.zxid;
            tail.txns += 1;
        }
        tail.slices += 1;
        let commit = self.committed.min(covered);
        if commit > tail.committed {
            out.push(Output::Send(id, PeerMsg::Commit { zxid: commit }));
            tail.committed = commit;
        }
        x.covered_up_to = covered;
        if more {
            x.snap_pin = Some(covered);
            x.tail = Some(tail);
            out.push(Output::ContinueSync {
                learner: id,
                sync: tail.sync,
            });
        } else {
            x.snap_pin = None;
            x.tail = None;
            x.phase = LearnerPhase::Synced;
            tracing::info!(
                learner = id,
                txns = tail.txns,
                slices = tail.slices,
                to = %format!("{covered:#x}"),
                "the learner's tail is sent: NEWLEADER"
            );
            out.push(Output::Send(id, PeerMsg::NewLeader { epoch: self.epoch }));
        }
        self.refresh_history_pin(s);
    }
}
