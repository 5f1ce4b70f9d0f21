//! The Zab core of one server: election, discovery, synchronisation and broadcast, as a pure
//! state machine (`step(now, input) -> outputs`).
//!
//! Roles: LOOKING (an [`Election`]), LEADING ([`leader::Leader`]), FOLLOWING / OBSERVING
//! ([`follower::Follower`]). The shell (the quorum actor, or the simulator) performs the
//! outputs: sends, durable actions (log appends, epoch files, truncation, snapshot install)
//! whose completion it reports back, applying committed txns to the tree, snapshots for
//! learners.
//!
//! Durability order is in the types: anything that must happen only after something is on
//! disk (an ACK, ACKEPOCH, the ACK of NEWLEADER) is a continuation of the durable action, run
//! when the shell reports it done. "ACK before durable" cannot be written by accident.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::config::{Membership, Timing};
use super::election::{Election, ElectionOutput};
use super::follower::Follower;
use super::leader::Leader;
use super::msg::{Notification, PeerMsg, PeerState, Sid, Vote};
use crate::txn::{Txn, Zxid};

pub use super::durable::DurableAction;

pub use super::io::{Input, Output, RoleView};

pub use super::cont::Cont;

/// The ensemble as this server sees it (for `srvr`, `mntr`, metrics).
#[derive(Debug, Clone, Default)]
pub struct QuorumStatus {
    /// The leader this server follows, or itself.
    pub leader: Option<Sid>,
    /// Leader only: its learners.
    pub leader_stats: Option<super::leader::LeaderStats>,
    /// (acceptedEpoch, currentEpoch).
    pub epochs: (u64, u64),
}

/// Settings of a core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Members.
    pub membership: Membership,
    /// Timing.
    pub timing: Timing,
    /// Committed txns kept in memory for DIFF syncs (`zookeeper.commitLogCount`).
    pub commit_log_count: usize,
    /// ... and at most about this many bytes of them (zkr: 500 txns of 1 MB are not kept).
    pub commit_log_bytes: usize,
    /// Txns of a learner's tail sent per step ([`super::msg::TAIL_SLICE`] on a node; the
    /// simulator's are small, so that its syncs go in several slices).
    pub tail_slice: usize,
    /// A single server without election (standalone): leads epoch 0 right away.
    pub standalone: bool,
}

/// What a server knows of its persisted state at start.
#[derive(Debug, Clone, Default)]
pub struct PersistedState {
    /// acceptedEpoch.
    pub accepted_epoch: u64,
    /// currentEpoch.
    pub current_epoch: u64,
    /// The last logged zxid (the tree was rebuilt up to it).
    pub last_zxid: Zxid,
    /// The last logged txns (up to `commit_log_count`), oldest first, for DIFF syncs.
    pub recent: Vec<Arc<Txn>>,
    /// The lowest zxid the log can be cut back to (the oldest snapshot's; 0 without one).
    pub floor: Zxid,
}

pub(super) enum Role {
    Looking(Election),
    Leading(Box<Leader>),
    Following(Box<Follower>),
    Standalone,
}

/// Shared state of the server, across roles.
pub(super) struct Shared {
    pub cfg: CoreConfig,
    pub accepted_epoch: u64,
    pub current_epoch: u64,
    /// The epochs on disk (accepted, current): those of the last save that completed. A save
    /// that fails was promised to nobody (a leader announces, a follower acknowledges, an epoch
    /// only once it is saved), so after a failed durable action the epochs in memory go back
    /// to these: a server that kept an unsaved, higher acceptedEpoch would refuse every leader
    /// the others elect without it.
    saved_epochs: (u64, u64),
    /// Saves of epochs in flight, by token.
    epoch_saves: BTreeMap<u64, (u64, u64)>,
    /// Last zxid appended to the log (maybe not durable yet).
    pub last_logged: Zxid,
    /// Last zxid known durable in the log.
    pub last_durable: Zxid,
    /// The lowest zxid the log can be cut back to.
    pub floor: Zxid,
    /// Last zxid applied to the tree.
    pub last_applied: Zxid,
    /// After a failed write, the tree may hold committed txns the log does not (a leader
    /// commits with a quorum of others before its own write completes): up to here, txns a
    /// new leader sends again are logged but not applied twice.
    pub applied_ahead_of_log: Zxid,
    /// Logged txns not applied yet (uncommitted, or committed but not durable here yet).
    pub unapplied: VecDeque<Arc<Txn>>,
    /// Recently committed (applied) txns, for DIFF, and the zxid just before the first.
    pub history: VecDeque<Arc<Txn>>,
    /// About how many bytes `history` holds ([`Txn::weight`]).
    pub history_bytes: usize,
    pub history_base: Zxid,
    /// The leader is encoding a snapshot for a learner: the history after this zxid is kept
    /// whatever its length, so the txns after the snapshot can all be sent behind it.
    pub history_pin: Option<Zxid>,
    next_token: u64,
    /// Continuations by token, with the term (role instance) that asked for them.
    pub continuations: BTreeMap<u64, (u64, Vec<Cont>)>,
    /// Where each queued truncation or snapshot install will leave the log, oldest first: the
    /// log writer runs actions in order, so each `Input::Reloaded` answers the front one, even
    /// when the role that asked for it is gone.
    pub resets: VecDeque<Zxid>,
    /// FOLLOWERINFOs that arrived while this server was still looking: a peer that decided
    /// first registers at once; if this server then leads, they are taken as if just received
    /// (instead of waiting a tick for the peer to send again).
    pub early_infos: BTreeMap<Sid, PeerMsg>,
    /// Increases every time the server leaves a role: continuations of an older term only do
    /// their durability bookkeeping (an ACK asked for by a previous sync must never be sent:
    /// the leader could count it for a later one).
    pub term: u64,
    /// Learner syncs this server started as leader, in any term: numbers each one, so that
    /// a continuation of an earlier sync (`Input::ContinueSync`) is told apart.
    pub syncs: u64,
    round: u64,
    /// The last read round this server started as leader, in any term (`leader_reads.rs`):
    /// only grows, so a round confirmed in one term is below every round of a later one.
    pub read_round: u64,
    /// The vote this server follows or leads (reported to looking peers).
    pub decided: Option<Vote>,
}

impl Shared {
    /// A durable action with continuations.
    pub fn durably(&mut self, out: &mut Vec<Output>, action: DurableAction, then: Vec<Cont>) {
        self.next_token += 1;
        let token = self.next_token;
        match &action {
            DurableAction::SaveEpochs { accepted, current } => {
                self.epoch_saves.insert(token, (*accepted, *current));
            }
            DurableAction::Truncate { to } => self.resets.push_back(*to),
            DurableAction::InstallSnapshot(m) => {
                self.resets.push_back(m.zxid);
                // The install leaves its snapshot as the only one, and `last_logged` is its
                // zxid from now on: a FOLLOWERINFO sent before the log reports the new floor
                // (the install may still be on its way to the disk when the leader that sent
                // it dies) must not offer a cut below it, which the log could not make. Too
                // high if the install fails: that only costs a SNAP instead of a TRUNC.
                self.floor = m.zxid;
            }
            _ => {}
        }
        self.continuations.insert(token, (self.term, then));
        out.push(Output::Durably { token, action });
    }

    /// Records applied txns in the history and emits them.
    pub fn apply(&mut self, out: &mut Vec<Output>, txns: Vec<Arc<Txn>>) {
        let txns: Vec<Arc<Txn>> = if self.applied_ahead_of_log > 0 {
            let ahead = self.applied_ahead_of_log.min(self.last_applied);
            txns.into_iter().filter(|t| t.zxid > ahead).collect()
        } else {
            txns
        };
        if txns.is_empty() {
            return;
        }
        for t in &txns {
            assert!(
                t.zxid > self.last_applied,
                "applying {:#x} after {:#x}",
                t.zxid,
                self.last_applied
            );
            self.last_applied = t.zxid;
            self.history_bytes += t.weight();
            self.history.push_back(t.clone());
            if let crate::txn::TxnOp::Reconfig { data, .. } = &t.op {
                self.reconfigure(data);
            }
        }
        let pin = self.history_pin.unwrap_or(Zxid::MAX);
        while (self.history.len() > self.cfg.commit_log_count.max(1)
            || (self.history_bytes > self.cfg.commit_log_bytes && self.history.len() > 1))
            && self.history.front().is_some_and(|t| t.zxid <= pin)
        {
            if let Some(t) = self.history.pop_front() {
                self.history_bytes = self.history_bytes.saturating_sub(t.weight());
                self.history_base = t.zxid;
            }
        }
        out.push(Output::Apply(txns));
    }

    /// A committed configuration becomes the membership.
    pub fn reconfigure(&mut self, data: &[u8]) {
        match super::dynconfig::parse(&String::from_utf8_lossy(data)) {
            Ok(c) => {
                let me = self.cfg.membership.me;
                self.cfg.membership = c.membership(me);
                tracing::info!(version = %format!("{:#x}", c.version), voters = ?self.cfg.membership.voters(), "new ensemble configuration");
            }
            Err(e) => {
                tracing::error!(error = %e, "committed configuration cannot be parsed; membership unchanged")
            }
        }
    }

    /// Forgets the history (after a truncation or a snapshot install).
    pub fn reset_history(&mut self, zxid: Zxid) {
        self.history.clear();
        self.history_bytes = 0;
        self.unapplied.clear();
        self.history_base = zxid;
        self.last_applied = zxid;
        self.last_logged = zxid;
        self.applied_ahead_of_log = 0;
    }

    /// A durable append of txns up to `z` completed.
    pub fn durable_to(&mut self, z: Zxid) {
        self.last_durable = self.last_durable.max(z);
    }
}

/// The core of one server.
pub struct PeerCore {
    pub(super) s: Shared,
    pub(super) role: Role,
}

impl PeerCore {
    /// A core restarting from `persisted`; it starts LOOKING (or leading, standalone).
    pub fn new(cfg: CoreConfig, persisted: PersistedState, now: i64) -> (PeerCore, Vec<Output>) {
        let history_base = persisted
            .recent
            .first()
            .map_or(persisted.last_zxid, |t| t.zxid - 1);
        let mut history: VecDeque<Arc<Txn>> = persisted.recent.into_iter().collect();
        // The first entry's predecessor is not known exactly across epochs; start the usable
        // history at the first txn itself.
        let history_base = match history.front() {
            Some(first) if history_base != persisted.last_zxid => {
                let base = first.zxid;
                history.pop_front();
                base
            }
            _ => history_base,
        };
        let mut core = PeerCore {
            s: Shared {
                cfg,
                accepted_epoch: persisted.accepted_epoch,
                current_epoch: persisted.current_epoch,
                saved_epochs: (persisted.accepted_epoch, persisted.current_epoch),
                epoch_saves: BTreeMap::new(),
                last_logged: persisted.last_zxid,
                last_durable: persisted.last_zxid,
                floor: persisted.floor,
                last_applied: persisted.last_zxid,
                applied_ahead_of_log: 0,
                unapplied: VecDeque::new(),
                history_bytes: history.iter().map(|t| t.weight()).sum(),
                history,
                history_base,
                history_pin: None,
                next_token: 0,
                continuations: BTreeMap::new(),
                resets: VecDeque::new(),
                early_infos: BTreeMap::new(),
                term: 0,
                syncs: 0,
                round: 0,
                read_round: 0,
                decided: None,
            },
            role: Role::Standalone,
        };
        let mut out = Vec::new();
        if core.s.cfg.standalone {
            out.push(Output::Role(RoleView::Standalone));
            out.push(Output::Serving(true));
        } else {
            core.look(now, &mut out);
        }
        (core, out)
    }

    /// The role.
    pub fn role(&self) -> RoleView {
        match &self.role {
            Role::Looking(_) => RoleView::Looking,
            Role::Leading(l) => RoleView::Leading { epoch: l.epoch() },
            Role::Following(f) if f.observer() => RoleView::Observing { leader: f.leader() },
            Role::Following(f) => RoleView::Following { leader: f.leader() },
            Role::Standalone => RoleView::Standalone,
        }
    }

    /// The last zxid appended to the log.
    pub fn last_logged(&self) -> Zxid {
        self.s.last_logged
    }

    /// The last zxid applied.
    pub fn last_applied(&self) -> Zxid {
        self.s.last_applied
    }

    /// (acceptedEpoch, currentEpoch).
    pub fn epochs(&self) -> (u64, u64) {
        (self.s.accepted_epoch, self.s.current_epoch)
    }

    /// The leader's view of its learners, for `mntr` (leader only).
    pub fn leader_stats(&self) -> Option<super::leader::LeaderStats> {
        match &self.role {
            Role::Leading(l) => Some(l.stats()),
            _ => None,
        }
    }

    /// The ensemble as this server sees it now.
    pub fn status(&self) -> QuorumStatus {
        QuorumStatus {
            leader: self.leader_id(),
            leader_stats: self.leader_stats(),
            epochs: self.epochs(),
        }
    }

    /// The leader being followed, if any.
    pub fn leader_id(&self) -> Option<Sid> {
        match &self.role {
            Role::Following(f) => Some(f.leader()),
            Role::Leading(_) | Role::Standalone => Some(self.s.cfg.membership.me),
            Role::Looking(_) => None,
        }
    }

    pub(super) fn look(&mut self, now: i64, out: &mut Vec<Output>) {
        if !matches!(self.role, Role::Looking(_)) {
            out.push(Output::Serving(false));
        }
        if matches!(&self.role, Role::Following(f) if f.receiving_snapshot()) {
            self.s
                .durably(out, DurableAction::AbortSnapshot, Vec::new());
        }
        self.s.term += 1;
        self.s.history_pin = None;
        self.s.round += 1;
        self.s.decided = None;
        self.s.early_infos.clear();
        let (e, eo) = Election::start(
            &self.s.cfg.membership,
            self.s.round,
            self.s.last_logged,
            self.s.current_epoch,
            now,
        );
        self.role = Role::Looking(e);
        out.push(Output::Role(RoleView::Looking));
        self.election_outputs(now, eo, out);
    }

    fn election_outputs(&mut self, now: i64, eo: Vec<ElectionOutput>, out: &mut Vec<Output>) {
        for o in eo {
            match o {
                ElectionOutput::Send(to, n) => out.push(Output::Send(to, PeerMsg::Vote(n))),
                ElectionOutput::Decided(v) => {
                    if let Role::Looking(e) = &self.role {
                        self.s.round = self.s.round.max(e.round());
                    }
                    self.s.decided = Some(v);
                    let me = self.s.cfg.membership.me;
                    if v.leader == me {
                        let (l, lo) = Leader::start(&mut self.s, now);
                        self.role = Role::Leading(Box::new(l));
                        out.push(Output::Role(self.role()));
                        out.extend(lo);
                        let early = std::mem::take(&mut self.s.early_infos);
                        for (from, info) in early {
                            self.on_message(now, from, info, out);
                        }
                    } else {
                        let observer = self.s.cfg.membership.listed_as_observer() == Some(true);
                        let (f, fo) = Follower::start(&mut self.s, v.leader, observer, now);
                        self.role = Role::Following(Box::new(f));
                        out.push(Output::Role(self.role()));
                        out.extend(fo);
                    }
                    return;
                }
            }
        }
    }

    /// A zxid for a new proposal, if this server leads an established epoch (or is standalone).
    /// `None` also when the epoch's counter is exhausted: the leader then steps down, and a new
    /// epoch starts (ZOOKEEPER-1277).
    pub fn allocate_zxid(&mut self, now: i64, out: &mut Vec<Output>) -> Option<Zxid> {
        match &mut self.role {
            Role::Standalone => Some(self.s.last_logged + 1),
            Role::Leading(l) => match l.allocate(&self.s) {
                Ok(z) => z,
                Err(()) => {
                    tracing::warn!(
                        "zxid counter exhausted in this epoch: stepping down for a new epoch"
                    );
                    self.look(now, out);
                    None
                }
            },
            _ => None,
        }
    }

    /// Proposes a txn (its zxid from `allocate_zxid`).
    pub fn propose(&mut self, now: i64, txn: Arc<Txn>, out: &mut Vec<Output>) {
        match &mut self.role {
            Role::Standalone => {
                assert_eq!(
                    txn.zxid,
                    self.s.last_logged + 1,
                    "standalone zxids are dense"
                );
                self.s.last_logged = txn.zxid;
                let z = txn.zxid;
                self.s.unapplied.push_back(txn.clone());
                self.s.durably(
                    out,
                    DurableAction::Append(vec![txn]),
                    vec![Cont::SelfAck(z)],
                );
            }
            Role::Leading(l) => l.propose(&mut self.s, now, txn, out),
            _ => panic!("propose while not leading"),
        }
    }

    /// One step.
    pub fn step(&mut self, now: i64, input: Input) -> Vec<Output> {
        let mut out = self.step_inner(now, input);
        if !self.s.cfg.standalone
            && !self.s.cfg.membership.is_voter(self.s.cfg.membership.me)
            && matches!(self.role, Role::Leading(_))
        {
            tracing::warn!("this server is no longer a voter: it stops leading");
            self.look(now, &mut out);
        }
        if let Role::Following(f) = &self.role {
            let listed = self.s.cfg.membership.listed_as_observer();
            if listed.is_some_and(|observer| observer != f.observer()) {
                // A committed reconfig changed this server's role: it registers again as what
                // it is now (the leader counts a follower's ACKs, sends an observer INFORMs).
                tracing::info!(
                    observer = listed,
                    "a reconfig changed this server's role: registering again"
                );
                self.look(now, &mut out);
            }
        }
        out
    }

    /// Voters synced with this leader (itself included); empty when not leading.
    pub fn synced_voters(&self) -> std::collections::BTreeSet<Sid> {
        match &self.role {
            Role::Leading(l) => l.synced_voters(&self.s),
            _ => Default::default(),
        }
    }

    /// Before a leader answers a sync from its own tree: if a quorum of its followers was not
    /// heard within syncLimit (it may have been paused and replaced meanwhile), it steps down
    /// now instead of at its next tick. Does nothing in any other role.
    pub fn confirm_leading(&mut self, now: i64) -> Vec<Output> {
        let mut out = Vec::new();
        if let Role::Leading(l) = &self.role {
            if l.phase_is_broadcast() && !l.quorum_heard(&self.s, now) {
                tracing::info!("a sync found no quorum heard within syncLimit: stepping down");
                self.look(now, &mut out);
            }
        }
        out
    }

    /// A sync reached this server: the read round it must wait for besides the writes logged
    /// before it ([`Output::ReadConfirmed`]). A leader starts one (or has it start after the
    /// one in flight); in any other role there is nothing to confirm (0, never waited for).
    pub fn read_round_for_sync(&mut self) -> (u64, Vec<Output>) {
        let mut out = Vec::new();
        let round = match &mut self.role {
            Role::Leading(l) => l.read_round_for_sync(&mut self.s, &mut out),
            _ => 0,
        };
        (round, out)
    }

    /// Is a reconfig proposed and not yet committed?
    pub fn reconfig_in_progress(&self) -> bool {
        match &self.role {
            Role::Leading(l) => l.reconfig_pending(),
            _ => false,
        }
    }

    fn step_inner(&mut self, now: i64, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Durable(tokens) => {
                let mut live = Vec::new();
                for token in tokens {
                    if let Some(saved) = self.s.epoch_saves.remove(&token) {
                        self.s.saved_epochs = saved;
                    }
                    let (term, conts) = self.s.continuations.remove(&token).unwrap_or_default();
                    if term == self.s.term {
                        live.extend(conts);
                    } else {
                        for c in conts {
                            if let Cont::SelfAck(z) | Cont::Logged(z) = c {
                                self.s.durable_to(z);
                            }
                        }
                    }
                }
                for c in super::cont::merge_cumulative(live) {
                    self.continuation(now, c, &mut out);
                }
            }
            Input::DurableFailed(_token) => {
                // The log writer drops everything queued after a failure: forget it all.
                self.s.continuations.clear();
                self.s.resets.clear();
                self.s.epoch_saves.clear();
                (self.s.accepted_epoch, self.s.current_epoch) = self.s.saved_epochs;
                let durable = self.s.last_durable;
                self.s.unapplied.retain(|t| t.zxid <= durable);
                self.s.last_logged = durable;
                if self.s.last_applied > durable {
                    // Committed by the others and applied here, but not in our log: the next
                    // sync sends them again; they are logged, not applied twice.
                    self.s.applied_ahead_of_log = self.s.last_applied;
                }
                if matches!(self.role, Role::Standalone) {
                    // A standalone node keeps serving reads; the next writes try the disk again.
                    tracing::error!(durable = %format!("{durable:#x}"), "a durable action failed: in-flight writes fail");
                } else {
                    tracing::error!(durable = %format!("{durable:#x}"), "a durable action failed: leaving the current role");
                    self.look(now, &mut out);
                }
            }
            Input::Message { from, msg } => self.on_message(now, from, msg, &mut out),
            Input::LinkReset { peer } => {
                let leave = match &mut self.role {
                    Role::Leading(l) => {
                        l.on_link_reset(&mut self.s, peer);
                        false
                    }
                    Role::Following(f) => f.leader() == peer,
                    _ => false,
                };
                if leave {
                    self.look(now, &mut out);
                }
            }
            Input::Tick => {
                let leave = match &mut self.role {
                    Role::Looking(e) => {
                        let eo = e.on_tick(&self.s.cfg.membership, now);
                        self.election_outputs(now, eo, &mut out);
                        false
                    }
                    Role::Leading(l) => l.on_tick(&mut self.s, now, &mut out),
                    Role::Following(f) => f.on_tick(&mut self.s, now, &mut out),
                    Role::Standalone => false,
                };
                if leave {
                    self.look(now, &mut out);
                }
            }
            Input::Reloaded { zxid } => {
                // The truncation target is always at or above the floor we reported (and the
                // file log refuses one below its oldest snapshot, as a failed job), so the
                // rebuilt log ends exactly there; anything else is a broken disk.
                self.s.last_durable = zxid;
                let expected = self.s.resets.pop_front();
                if expected != Some(zxid) {
                    tracing::error!(
                        rebuilt = %format!("{zxid:#x}"),
                        expected = ?expected.map(|z| format!("{z:#x}")),
                        "the log could not be cut back where the leader asked"
                    );
                    self.s.continuations.clear();
                    self.s.reset_history(zxid);
                    self.look(now, &mut out);
                }
            }
            Input::Floor(z) => self.s.floor = z,
            Input::Membership(m) => self.s.cfg.membership = m,
            Input::SnapshotTaken { learner, snap } => {
                if let Role::Leading(l) = &mut self.role {
                    l.on_snapshot(&mut self.s, learner, snap, &mut out);
                }
            }
            Input::ContinueSync { learner, sync } => {
                if let Role::Leading(l) = &mut self.role {
                    l.continue_tail(&mut self.s, learner, sync, &mut out);
                }
            }
        }
        out
    }

    fn continuation(&mut self, now: i64, c: Cont, out: &mut Vec<Output>) {
        match c {
            Cont::Send(to, m) => out.push(Output::Send(to, m)),
            Cont::SelfAck(z) => {
                self.s.durable_to(z);
                self.self_ack(z, out);
            }
            Cont::LeaderEpochSaved => {
                if let Role::Leading(l) = &mut self.role {
                    l.on_epoch_saved(&mut self.s, now, out);
                }
            }
            Cont::LeaderCurrentEpochSaved => {
                if let Role::Leading(l) = &mut self.role {
                    l.on_current_epoch_saved(&mut self.s, now, out);
                }
            }
            Cont::Logged(z) => {
                if let Role::Following(f) = &mut self.role {
                    f.on_logged(&mut self.s, z, out);
                }
            }
            Cont::Reset(z) => {
                let leave = match &mut self.role {
                    Role::Following(f) => f.on_reset(&self.s, z),
                    _ => false,
                };
                if leave {
                    self.look(now, out);
                }
            }
        }
    }

    fn self_ack(&mut self, z: Zxid, out: &mut Vec<Output>) {
        match &mut self.role {
            Role::Standalone => {
                // An ensemble of one: durable here is committed.
                let mut ready = Vec::new();
                while self.s.unapplied.front().is_some_and(|t| t.zxid <= z) {
                    ready.push(self.s.unapplied.pop_front().expect("front"));
                }
                self.s.apply(out, ready);
            }
            Role::Leading(l) => l.on_self_ack(&mut self.s, z, out),
            _ => {}
        }
    }

    fn on_message(&mut self, now: i64, from: Sid, msg: PeerMsg, out: &mut Vec<Output>) {
        if let PeerMsg::Vote(n) = &msg {
            self.on_vote(now, from, n, out);
            return;
        }
        let leave = match &mut self.role {
            Role::Leading(l) => l.on_message(&mut self.s, now, from, msg, out),
            Role::Following(f) => f.on_message(&mut self.s, now, from, msg, out),
            Role::Looking(_) => {
                if matches!(msg, PeerMsg::FollowerInfo { .. }) {
                    self.s.early_infos.insert(from, msg);
                }
                false
            }
            Role::Standalone => false,
        };
        if leave {
            self.look(now, out);
        }
    }

    fn on_vote(&mut self, now: i64, from: Sid, n: &Notification, out: &mut Vec<Output>) {
        match &mut self.role {
            Role::Looking(e) => {
                let eo = e.on_notification(&self.s.cfg.membership, from, n, now);
                self.election_outputs(now, eo, out);
            }
            Role::Standalone => {}
            Role::Following(f) if f.leader() == from && n.state == PeerState::Looking => {
                // Our leader is looking again: so are we (it will not lead this term).
                self.look(now, out);
                if let Role::Looking(e) = &mut self.role {
                    let eo = e.on_notification(&self.s.cfg.membership, from, n, now);
                    self.election_outputs(now, eo, out);
                }
            }
            _ => {
                // Established: tell a looking peer who leads.
                if n.state == PeerState::Looking {
                    if let Some(v) = self.s.decided {
                        let state = match &self.role {
                            Role::Leading(_) => PeerState::Leading,
                            Role::Following(f) if f.observer() => PeerState::Observing,
                            _ => PeerState::Following,
                        };
                        out.push(Output::Send(
                            from,
                            PeerMsg::Vote(Notification {
                                vote: v,
                                round: self.s.round,
                                state,
                            }),
                        ));
                    }
                }
            }
        }
    }
}
