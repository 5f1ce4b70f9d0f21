//! The leader role: discovery (a new epoch with a quorum), synchronisation of each learner
//! (DIFF, TRUNC or SNAP, then NEWLEADER), then broadcast (propose, count ACKs, commit in zxid
//! order), heartbeats and stepping down without a quorum.
//!
//! Invariants:
//! * nothing is proposed before a quorum (this server included) acknowledged NEWLEADER;
//! * a txn is committed only once a quorum of voters that acknowledged NEWLEADER (and so hold
//!   this epoch's history durably) acknowledged it, and only after every earlier txn; while a
//!   reconfig is pending (proposed, or inherited uncommitted), a quorum of the configuration it
//!   brings is needed too;
//! * ACKs of a learner are counted only once it acknowledged NEWLEADER; that ACK covers every
//!   proposal it was sent before NEWLEADER; when it registers again (or its link breaks) its
//!   earlier ACKs are forgotten (the sync may truncate what they acknowledged);
//! * an ACK is cumulative: a follower logs proposals in order and leaves on a gap, so its ACK of
//!   `z` says it holds every proposal up to `z` (it may send only the last ACK of a group
//!   commit); the leader keeps each voter's highest ACK, not a set per proposal. A COMMIT is
//!   cumulative too (a follower commits in order): one COMMIT of the last txn a quorum step
//!   committed goes to each follower;
//! * while a snapshot is encoded for a learner or streamed to it, the history after it is
//!   kept, so the txns that follow the snapshot can all be sent behind it (once the learner
//!   acknowledged its last chunk: installed);
//! * a learner's tail (the txns after its sync point) goes out [`super::msg::TAIL_SLICE`] txns per step,
//!   each step asking for the next (`Output::ContinueSync`), so that a long one does not hold
//!   the server's loop; until NEWLEADER it gets no proposal or COMMIT of the broadcast, only the
//!   tail (which takes in what is proposed or committed meanwhile), and the history after what
//!   it was sent is kept;
//! * observers get only committed txns and never count;
//! * it leads only while it ran its tick within syncLimit and a quorum of voting followers (it
//!   included) was heard within syncLimit by what they send as followers (an election
//!   notification is no such message); checked on every tick and before a sync is answered
//!   from its tree (`quorum_heard`; docs/architecture.md, decision 22);
//! * it answers a sync only once a quorum of voters echoed a read round started after the
//!   sync arrived (`leader_reads.rs`, decision 23).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::core::{Cont, DurableAction, Output, Shared};
use super::msg::{counter_of, epoch_of, make_zxid, PeerMsg, Sid, SnapshotMeta};
use crate::txn::follows;
use crate::txn::{Txn, Zxid};

#[path = "leader_reads.rs"]
mod reads;
#[path = "leader_sync.rs"]
mod sync;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Collecting FOLLOWERINFO from a quorum to pick the epoch.
    Discovery,
    /// Waiting for acceptedEpoch to be persisted.
    SavingEpoch,
    /// Collecting ACKEPOCH from a quorum.
    EpochAcks,
    /// Waiting for currentEpoch to be persisted.
    SavingCurrent,
    /// Learners are being synchronised; waiting for a quorum of NEWLEADER acks.
    Sync,
    /// Serving: proposals flow.
    Broadcast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum LearnerPhase {
    /// FOLLOWERINFO received.
    Registered,
    /// ACKEPOCH received, waiting for sync.
    EpochAcked,
    /// Waiting for a snapshot of our tree.
    AwaitingSnapshot,
    /// The snapshot is being streamed (its history still kept).
    Streaming,
    /// Its tail is being sent, a slice per step (the history after what was sent kept).
    Tailing,
    /// Sync data and NEWLEADER sent.
    Synced,
    /// NEWLEADER acknowledged (UPTODATE sent once broadcasting).
    Acked,
}

#[derive(Debug, Clone)]
struct Learner {
    observer: bool,
    accepted_epoch: u64,
    last_zxid: Zxid,
    floor: Zxid,
    current_epoch: u64,
    phase: LearnerPhase,
    last_heard: i64,
    /// Proposals up to here were sent before NEWLEADER (its ACK covers them); while its tail is
    /// sent, where the next slice starts.
    covered_up_to: Zxid,
    /// While a snapshot is encoded for it or streamed to it: the history after this zxid is
    /// kept.
    snap_pin: Option<Zxid>,
    /// The snapshot being streamed to it.
    stream: Option<SnapStream>,
    /// Its tail, while it is sent.
    tail: Option<Tail>,
    uptodate_sent: bool,
    /// The highest read round it echoed ([`reads`]).
    echoed: u64,
}

/// A snapshot being streamed to a learner: chunks below `sent` were sent, below `acked`
/// acknowledged; at most [`super::msg::SNAP_WINDOW`] are in flight.
#[derive(Debug, Clone, Copy)]
struct SnapStream {
    snap: SnapshotMeta,
    sent: u64,
    acked: u64,
}

/// A learner's tail being sent: sync number `sync` (`Shared::syncs`), a COMMIT up to
/// `committed` sent (what the learner had before it counts as committed),
/// `Leader::proposed` when its last slice went out, and the txns and slices sent so far.
#[derive(Debug, Clone, Copy)]
struct Tail {
    sync: u64,
    committed: Zxid,
    proposed: u64,
    txns: u64,
    slices: u64,
}

/// Numbers for `mntr` and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderStats {
    /// Learners connected.
    pub learners: usize,
    /// Voting followers that acknowledged NEWLEADER and were heard within syncLimit.
    pub synced_followers: usize,
    /// Observers that acknowledged NEWLEADER.
    pub synced_observers: usize,
    /// Learners still being synchronised.
    pub pending_syncs: usize,
    /// Proposals not committed yet.
    pub outstanding_proposals: usize,
    /// Whether the epoch is established (broadcasting).
    pub established: bool,
}

/// The leader.
#[derive(Debug)]
pub struct Leader {
    epoch: u64,
    phase: Phase,
    started: i64,
    learners: BTreeMap<Sid, Learner>,
    /// Proposals of this epoch not committed yet; their txns are also at the end of
    /// `Shared::unapplied`, after the inherited ones.
    proposals: VecDeque<Arc<Txn>>,
    /// How many of `Shared::unapplied`'s first txns were logged before this server led (its
    /// own history, committed when the epoch is established).
    inherited: usize,
    /// The highest zxid each voter (this server included) acknowledged in this epoch: it holds
    /// every proposal up to there. A learner's entry exists only once it acknowledged NEWLEADER.
    acked: BTreeMap<Sid, Zxid>,
    newleader_acks: BTreeSet<Sid>,
    last_ping: i64,
    /// When this leader last ran its tick. A gap longer than syncLimit means it did not run
    /// (paused, starved) for longer than its followers wait for it: what it heard on waking was
    /// sent before, and they may have elected another leader meanwhile.
    last_tick: i64,
    committed: Zxid,
    /// (currentEpoch, last logged zxid) when this server became leader.
    my_history: (u64, Zxid),
    /// A reconfig proposed, not committed: its zxid and the membership it brings. Until it
    /// commits, it and every later proposal need a quorum of both configurations.
    pending_reconfig: Option<(Zxid, super::config::Membership)>,
    /// Proposals made in this term (how fast the history grows while a learner's tail is sent).
    proposed: u64,
    /// The last read round a quorum confirmed (`Shared::read_round` when this term began: none
    /// of this term's yet) ([`reads`]).
    read_confirmed: u64,
    /// A sync waits for the round after the one in flight.
    read_wanted: bool,
}

impl Leader {
    /// Becomes leader: discovery starts (a standalone-sized quorum may finish at once).
    pub(super) fn start(s: &mut Shared, now: i64) -> (Leader, Vec<Output>) {
        let mut l = Leader {
            epoch: s.accepted_epoch,
            phase: Phase::Discovery,
            started: now,
            learners: BTreeMap::new(),
            proposals: VecDeque::new(),
            inherited: 0,
            acked: BTreeMap::from([(s.cfg.membership.me, s.last_logged)]),
            newleader_acks: BTreeSet::new(),
            last_ping: now,
            last_tick: now,
            committed: s.last_applied,
            my_history: (s.current_epoch, s.last_logged),
            pending_reconfig: None,
            proposed: 0,
            read_confirmed: s.read_round,
            read_wanted: false,
        };
        l.inherited = s.unapplied.len();
        let mut out = Vec::new();
        l.try_choose_epoch(s, &mut out);
        (l, out)
    }

    /// The epoch (proposed, then established).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Voters that acknowledged NEWLEADER and were heard recently, and this leader.
    pub(super) fn synced_voters(&self, s: &Shared) -> BTreeSet<Sid> {
        let mut v: BTreeSet<Sid> = self
            .learners
            .iter()
            .filter(|(_, x)| x.phase == LearnerPhase::Acked && !x.observer)
            .map(|(id, _)| *id)
            .collect();
        v.insert(s.cfg.membership.me);
        v
    }

    /// Is the epoch established (a quorum acknowledged NEWLEADER)?
    pub(super) fn phase_is_broadcast(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    /// Is a reconfig in flight?
    pub(super) fn reconfig_pending(&self) -> bool {
        self.pending_reconfig.is_some()
    }

    /// Statistics.
    pub fn stats(&self) -> LeaderStats {
        LeaderStats {
            learners: self.learners.len(),
            synced_followers: self
                .learners
                .values()
                .filter(|x| !x.observer && x.phase == LearnerPhase::Acked)
                .count(),
            synced_observers: self
                .learners
                .values()
                .filter(|x| x.observer && x.phase == LearnerPhase::Acked)
                .count(),
            pending_syncs: self
                .learners
                .values()
                .filter(|x| x.phase != LearnerPhase::Acked)
                .count(),
            outstanding_proposals: self.proposals.len(),
            established: self.phase == Phase::Broadcast,
        }
    }

    fn try_choose_epoch(&mut self, s: &mut Shared, out: &mut Vec<Output>) {
        if self.phase != Phase::Discovery {
            return;
        }
        let me = s.cfg.membership.me;
        let voters = self
            .learners
            .iter()
            .filter(|(_, x)| !x.observer)
            .map(|(id, _)| id)
            .chain(std::iter::once(&me));
        if !s.cfg.membership.is_quorum(voters) {
            return;
        }
        let max_accepted = self
            .learners
            .values()
            .map(|x| x.accepted_epoch)
            .chain(std::iter::once(s.accepted_epoch))
            .max()
            .unwrap_or(0);
        self.epoch = max_accepted + 1;
        s.accepted_epoch = self.epoch;
        self.phase = Phase::SavingEpoch;
        s.durably(
            out,
            DurableAction::SaveEpochs {
                accepted: s.accepted_epoch,
                current: s.current_epoch,
            },
            vec![Cont::LeaderEpochSaved],
        );
    }

    pub(super) fn on_epoch_saved(&mut self, s: &mut Shared, _now: i64, out: &mut Vec<Output>) {
        self.phase = Phase::EpochAcks;
        for (id, _) in self.learners.iter() {
            out.push(Output::Send(
                *id,
                PeerMsg::LeaderInfo {
                    new_epoch: self.epoch,
                },
            ));
        }
        self.try_establish(s, out);
    }

    fn try_establish(&mut self, s: &mut Shared, out: &mut Vec<Output>) {
        if self.phase != Phase::EpochAcks {
            return;
        }
        let me = s.cfg.membership.me;
        // Only a learner that accepted the epoch from us counts (ZooKeeper's -1 epoch ACK): one
        // that had accepted it already, from another attempt that chose the same number, would
        // let a single server's acceptance establish the epoch for two leaders.
        let epoch = self.epoch;
        let acked = self
            .learners
            .iter()
            .filter(|(_, x)| {
                !x.observer && x.phase >= LearnerPhase::EpochAcked && x.accepted_epoch < epoch
            })
            .map(|(id, _)| id)
            .chain(std::iter::once(&me));
        if !s.cfg.membership.is_quorum(acked) {
            return;
        }
        s.current_epoch = self.epoch;
        self.phase = Phase::SavingCurrent;
        s.durably(
            out,
            DurableAction::SaveEpochs {
                accepted: s.accepted_epoch,
                current: s.current_epoch,
            },
            vec![Cont::LeaderCurrentEpochSaved],
        );
    }

    pub(super) fn on_current_epoch_saved(
        &mut self,
        s: &mut Shared,
        _now: i64,
        out: &mut Vec<Output>,
    ) {
        self.phase = Phase::Sync;
        self.newleader_acks.insert(s.cfg.membership.me);
        let ready: Vec<Sid> = self
            .learners
            .iter()
            .filter(|(_, x)| x.phase == LearnerPhase::EpochAcked)
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            self.sync_learner(s, id, out);
        }
        self.try_broadcast(s, out);
    }

    fn try_broadcast(&mut self, s: &mut Shared, out: &mut Vec<Output>) {
        if self.phase != Phase::Sync {
            return;
        }
        if !s.cfg.membership.is_quorum(self.newleader_acks.iter()) {
            return;
        }
        // An inherited reconfig is committed with the epoch: the configuration it brings must
        // have a quorum among the NEWLEADER ACKs too (ZooKeeper waits for both).
        let me = s.cfg.membership.me;
        let next = s
            .unapplied
            .iter()
            .take(self.inherited)
            .rev()
            .find_map(|t| match &t.op {
                crate::txn::TxnOp::Reconfig { data, .. } => {
                    super::dynconfig::parse(&String::from_utf8_lossy(data)).ok()
                }
                _ => None,
            });
        if next.is_some_and(|c| !c.membership(me).is_quorum(self.newleader_acks.iter())) {
            return;
        }
        self.phase = Phase::Broadcast;
        // Our whole history is committed in the new epoch.
        let n = std::mem::take(&mut self.inherited);
        let inherited: Vec<Arc<Txn>> = s.unapplied.drain(..n).collect();
        if let Some(last) = inherited.last() {
            self.committed = last.zxid;
        }
        for t in &inherited {
            for (id, x) in &self.learners {
                if x.phase >= LearnerPhase::Synced {
                    out.push(Output::Send(*id, PeerMsg::Commit { zxid: t.zxid }));
                }
            }
        }
        s.apply(out, inherited);
        for (id, x) in self.learners.iter_mut() {
            if x.phase == LearnerPhase::Acked && !x.uptodate_sent {
                x.uptodate_sent = true;
                out.push(Output::Send(*id, PeerMsg::UpToDate));
            }
        }
        out.push(Output::Serving(true));
    }

    /// Next zxid, `Ok(None)` when not broadcasting, `Err` when the counter is exhausted.
    pub(super) fn allocate(&mut self, s: &Shared) -> Result<Option<Zxid>, ()> {
        if self.phase != Phase::Broadcast {
            return Ok(None);
        }
        let last = s.last_logged;
        let next = if epoch_of(last) == self.epoch {
            if counter_of(last) >= 0xffff_fffe {
                return Err(());
            }
            last + 1
        } else {
            make_zxid(self.epoch, 1)
        };
        Ok(Some(next))
    }

    pub(super) fn propose(
        &mut self,
        s: &mut Shared,
        _now: i64,
        txn: Arc<Txn>,
        out: &mut Vec<Output>,
    ) {
        assert_eq!(
            self.phase,
            Phase::Broadcast,
            "proposing before the epoch is established"
        );
        assert!(
            follows(s.last_logged, txn.zxid),
            "proposal {:#x} does not follow {:#x}",
            txn.zxid,
            s.last_logged
        );
        s.last_logged = txn.zxid;
        self.proposed += 1;
        for (id, x) in &self.learners {
            if !x.observer && x.phase >= LearnerPhase::Synced {
                out.push(Output::Send(*id, PeerMsg::Proposal(txn.clone())));
            }
        }
        let z = txn.zxid;
        if let crate::txn::TxnOp::Reconfig { data, .. } = &txn.op {
            if let Ok(c) = super::dynconfig::parse(&String::from_utf8_lossy(data)) {
                self.pending_reconfig = Some((z, c.membership(s.cfg.membership.me)));
            }
        }
        self.proposals.push_back(txn.clone());
        s.unapplied.push_back(txn.clone());
        s.durably(
            out,
            DurableAction::Append(vec![txn]),
            vec![Cont::SelfAck(z)],
        );
    }

    pub(super) fn on_self_ack(&mut self, s: &mut Shared, z: Zxid, out: &mut Vec<Output>) {
        self.ack(s.cfg.membership.me, z);
        self.try_commit(s, out);
    }

    /// `voter` holds every proposal up to `z`.
    fn ack(&mut self, voter: Sid, z: Zxid) {
        let a = self.acked.entry(voter).or_insert(z);
        *a = (*a).max(z);
    }

    /// The voters holding `z`.
    fn holders(&self, z: Zxid) -> impl Iterator<Item = &Sid> {
        self.acked
            .iter()
            .filter(move |(_, a)| **a >= z)
            .map(|(id, _)| id)
    }

    fn try_commit(&mut self, s: &mut Shared, out: &mut Vec<Output>) {
        let mut applied = Vec::new();
        while let Some(p) = self.proposals.front() {
            let z = p.zxid;
            if !s.cfg.membership.is_quorum(self.holders(z)) {
                break;
            }
            if let Some((rz, next)) = &self.pending_reconfig {
                if z >= *rz && !next.is_quorum(self.holders(z)) {
                    break;
                }
                if z == *rz {
                    self.pending_reconfig = None;
                }
            }
            let txn = self.proposals.pop_front().expect("front");
            self.committed = z;
            for (id, x) in &self.learners {
                let informed = x.phase == LearnerPhase::Acked || x.covered_up_to < z;
                if x.observer && x.phase >= LearnerPhase::Synced && informed {
                    out.push(Output::Send(*id, PeerMsg::Inform(txn.clone())));
                }
            }
            let front = s.unapplied.pop_front().expect("a proposal is unapplied");
            assert_eq!(front.zxid, z, "commit order matches the log");
            applied.push(txn);
        }
        // One cumulative COMMIT per follower: of the last txn committed here.
        if let Some(z) = applied.last().map(|t| t.zxid) {
            for (id, x) in &self.learners {
                if !x.observer && x.phase >= LearnerPhase::Synced {
                    out.push(Output::Send(*id, PeerMsg::Commit { zxid: z }));
                }
            }
        }
        s.apply(out, applied);
    }

    pub(super) fn on_link_reset(&mut self, s: &mut Shared, peer: Sid) {
        // Messages may be lost: the learner must register and sync again.
        self.learners.remove(&peer);
        self.forget_acks(peer);
        self.refresh_history_pin(s);
    }

    /// A learner registers again (or its link broke): the sync that follows may cut its log
    /// back below proposals it acknowledged, so those ACKs no longer say it holds them. Its
    /// NEWLEADER ACK counts again for what it is sent.
    fn forget_acks(&mut self, peer: Sid) {
        self.newleader_acks.remove(&peer);
        self.acked.remove(&peer);
    }

    /// Returns true to step down.
    pub(super) fn on_message(
        &mut self,
        s: &mut Shared,
        now: i64,
        from: Sid,
        msg: PeerMsg,
        out: &mut Vec<Output>,
    ) -> bool {
        // What a learner sends while it follows us says it is there; an election notification
        // says it is looking for (or has) another leader, and one it sent while this leader
        // was paused arrives late: neither counts as hearing a follower.
        if !matches!(msg, PeerMsg::Vote(_)) {
            if let Some(x) = self.learners.get_mut(&from) {
                x.last_heard = now;
            }
        }
        match msg {
            PeerMsg::FollowerInfo {
                accepted_epoch,
                last_zxid,
                floor,
                observer,
            } => {
                if observer && s.cfg.membership.is_voter(from) {
                    tracing::warn!(peer = from, "a voter registers as an observer; ignored");
                    return false;
                }
                if !observer && !s.cfg.membership.is_voter(from) {
                    // A server not (yet) a voter learning as a follower, as ZooKeeper's joining
                    // servers do: it gets proposals and ACKs them; its ACKs count only for a
                    // configuration it votes in (a pending reconfig, then the committed one).
                    tracing::info!(peer = from, "a non-voting follower registers");
                }
                if self.phase != Phase::Discovery && accepted_epoch > self.epoch {
                    // It accepted the epoch of a leader attempt that failed after ours was
                    // chosen, and must refuse ours (Zab: never an epoch below one accepted), so it
                    // could never follow us and the ensemble would run without it. Step down:
                    // the next election chooses an epoch above it.
                    tracing::warn!(
                        peer = from,
                        accepted_epoch,
                        epoch = self.epoch,
                        "a learner accepted a higher epoch than ours; stepping down so that it can follow the next leader"
                    );
                    return true;
                }
                self.learners.insert(
                    from,
                    Learner {
                        observer,
                        accepted_epoch,
                        last_zxid,
                        floor,
                        current_epoch: 0,
                        phase: LearnerPhase::Registered,
                        last_heard: now,
                        covered_up_to: 0,
                        snap_pin: None,
                        stream: None,
                        tail: None,
                        uptodate_sent: false,
                        echoed: 0,
                    },
                );
                self.forget_acks(from);
                self.refresh_history_pin(s);
                if self.phase == Phase::Discovery {
                    self.try_choose_epoch(s, out);
                } else if self.phase != Phase::SavingEpoch {
                    out.push(Output::Send(
                        from,
                        PeerMsg::LeaderInfo {
                            new_epoch: self.epoch,
                        },
                    ));
                }
            }
            PeerMsg::AckEpoch {
                new_epoch,
                current_epoch,
                last_zxid,
            } => {
                if new_epoch != self.epoch {
                    return false;
                }
                let Some(x) = self.learners.get_mut(&from) else {
                    return false;
                };
                if x.phase != LearnerPhase::Registered {
                    return false;
                }
                x.current_epoch = current_epoch;
                x.last_zxid = last_zxid;
                x.phase = LearnerPhase::EpochAcked;
                // While establishing the epoch, the election must have picked the most recent
                // history: a voter with a more recent one means it did not (ZooKeeper's
                // "Follower is ahead of the leader").
                if self.phase <= Phase::EpochAcks
                    && !x.observer
                    && (current_epoch, last_zxid) > self.my_history
                {
                    tracing::warn!(
                        peer = from,
                        "a follower has a more recent history than this leader: stepping down"
                    );
                    return true;
                }
                match self.phase {
                    Phase::EpochAcks => self.try_establish(s, out),
                    Phase::Sync | Phase::Broadcast => self.sync_learner(s, from, out),
                    _ => {}
                }
            }
            PeerMsg::Ack { zxid } => {
                let Some(x) = self.learners.get_mut(&from) else {
                    return false;
                };
                if zxid == make_zxid(self.epoch, 0) {
                    // ACK of NEWLEADER: the learner holds our history durably.
                    if x.phase != LearnerPhase::Synced {
                        return false;
                    }
                    x.phase = LearnerPhase::Acked;
                    let covered = x.covered_up_to;
                    let observer = x.observer;
                    self.newleader_acks.insert(from);
                    if !observer {
                        self.ack(from, covered);
                    }
                    if self.phase == Phase::Broadcast {
                        let x = self.learners.get_mut(&from).expect("learner");
                        if !x.uptodate_sent {
                            x.uptodate_sent = true;
                            out.push(Output::Send(from, PeerMsg::UpToDate));
                        }
                        // Proposals committed while it was syncing, that it has not seen
                        // committed, are committed by what follows; nothing to resend.
                        self.try_commit(s, out);
                    } else {
                        self.try_broadcast(s, out);
                    }
                } else if x.phase == LearnerPhase::Acked && !x.observer {
                    self.ack(from, zxid);
                    self.try_commit(s, out);
                }
            }
            PeerMsg::SnapAck { seq } => self.on_snap_ack(s, from, seq, out),
            PeerMsg::PingReply { touched, round } => {
                if !touched.is_empty() {
                    out.push(Output::TouchSessions(touched));
                }
                self.on_read_echo(s, from, round, out);
            }
            _ => {}
        }
        false
    }

    /// Whether this leader, with the voting followers synced and heard within syncLimit, is a
    /// quorum at `now`, and it has run its tick within syncLimit: what it needs to keep
    /// leading, checked on every tick and before it answers a sync from its own tree (a leader
    /// woken from a pause may have been replaced, and reads on waking what was sent before).
    pub(super) fn quorum_heard(&self, s: &Shared, now: i64) -> bool {
        let t = s.cfg.timing;
        if now - self.last_tick > t.sync_ms() {
            return false;
        }
        let alive = self.synced_voters_and_me(s, |x| now - x.last_heard <= t.sync_ms());
        s.cfg.membership.is_quorum(&alive)
    }

    /// This leader and its synced voting followers (NEWLEADER acknowledged) that `keep`
    /// selects: the ids its liveness quorums (heard within syncLimit, a read round echoed) are
    /// counted from.
    fn synced_voters_and_me(&self, s: &Shared, keep: impl Fn(&Learner) -> bool) -> Vec<Sid> {
        self.learners
            .iter()
            .filter(|(_, x)| !x.observer && x.phase == LearnerPhase::Acked && keep(x))
            .map(|(id, _)| *id)
            .chain(std::iter::once(s.cfg.membership.me))
            .collect()
    }

    /// Returns true to step down.
    pub(super) fn on_tick(&mut self, s: &mut Shared, now: i64, out: &mut Vec<Output>) -> bool {
        let t = s.cfg.timing;
        let held = self.quorum_heard(s, now);
        self.last_tick = now;
        if self.phase != Phase::Broadcast {
            if now - self.started > t.init_ms() {
                tracing::info!(phase = ?self.phase, "no quorum within initLimit: stepping down");
                return true;
            }
        } else if !held {
            tracing::info!("not sufficient followers synced within syncLimit: stepping down");
            return true;
        }
        // Learners silent too long are dropped (they register again).
        let limit = if self.phase == Phase::Broadcast {
            t.sync_ms()
        } else {
            t.init_ms()
        };
        let gone: Vec<Sid> = self
            .learners
            .iter()
            .filter(|(_, x)| now - x.last_heard > limit.max(t.sync_ms()))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.learners.remove(&id);
            self.newleader_acks.remove(&id);
        }
        self.refresh_history_pin(s);
        if now - self.last_ping >= t.tick_ms / 2 {
            self.last_ping = now;
            for id in self.learners.keys() {
                out.push(Output::Send(
                    *id,
                    PeerMsg::Ping {
                        touched: Vec::new(),
                        round: s.read_round,
                    },
                ));
            }
        }
        false
    }
}
