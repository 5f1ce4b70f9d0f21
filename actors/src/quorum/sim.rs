//! Deterministic simulation of N servers' cores in one thread.
//!
//! A seeded scheduler delivers messages with random delays over FIFO links, breaks links
//! (dropping what is in flight, and telling both ends, as a broken TCP connection does),
//! duplicates messages now and then, partitions servers, crashes them (losing every durable
//! action not completed yet: the unsynced log tail) and restarts them from their simulated
//! disk. Clients propose writes to whoever leads. After every step the invariants are checked:
//!
//! * at most one leader establishes each epoch;
//! * every txn a server applies was committed by a leader, with the same content;
//! * every serving server's applied history is a prefix of the committed history (no holes,
//!   no reordering);
//! * at the end, healed and quiet, every server has applied the same history and holds the
//!   same tree, and every txn any leader committed is in it.
//!
//! A failing seed replays exactly: `ZKR_SIM_SEED=<seed> cargo test -p zkr-actors sim_ -- --nocapture`.
//!
//! Scripted scenarios (`scenarios.rs`) drive the same simulator by hand, with hooks that fire
//! at precise points: when a server sends a given message ([`MsgHook`]: drop it, hold the link,
//! crash the sender or the receiver before or right after it, start client writes), and when
//! a durable action completes ([`DurableHook`]: crash before it is on disk, or once it is on
//! disk but before its continuation runs, or hold it). A session workload (createSession,
//! ephemeral creates, closeSession) checks that no ephemeral outlives its session.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::config::{Membership, Timing};
use super::core::{CoreConfig, DurableAction, Input, Output, PeerCore, PersistedState, RoleView};
use super::msg::{PeerMsg, Sid, SnapshotBlob};
use crate::pipeline::prep::{Prep, PrepConfig, WriteRequest};
use crate::proto::records::{CreateRequest, SetDataRequest};
use crate::proto::{Acl, Request};
use crate::tree::{DataTree, NodeKind};
use crate::txn::{SessionId, Txn, Zxid};
use crate::txnlog::{snapshot, LogBackend, LogError};

#[derive(Debug, Clone)]
enum Event {
    Deliver {
        from: Sid,
        to: Sid,
        gen: u64,
        msg: PeerMsg,
        /// Crash this server right after the delivery (or when the message is lost).
        then_crash: Option<Sid>,
    },
    Tick(Sid),
    DurableDone {
        id: Sid,
        token: u64,
        life: u64,
    },
    Crash(Sid),
    Restart(Sid),
    Partition(Vec<Sid>),
    Heal,
    BreakLink(Sid, Sid),
    ClientWrite,
    ClientOp(ClientOp),
}

/// A server's simulated disk. It is a [`LogBackend`] like the node's file log, and passes the
/// same backend suite (`txnlog::suite`): appends are durable once synced; a crash loses what
/// was not; a failed sync loses its batch.
#[derive(Default)]
pub(super) struct Disk {
    /// The log, oldest first (after the snapshot, if any).
    pub log: Vec<Arc<Txn>>,
    /// (acceptedEpoch, currentEpoch).
    pub epochs: (u64, u64),
    /// A snapshot: its zxid, bytes, and (for the checks) the history it holds.
    pub snapshot: Option<(Zxid, Bytes, Vec<Arc<Txn>>)>,
    /// Appended, not synced (lost by a crash or a failed sync).
    unsynced: Vec<Arc<Txn>>,
    /// The next this-many syncs fail.
    pub failing_syncs: u32,
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
    /// A crash: what was not synced is lost.
    pub fn crash(&mut self) {
        self.unsynced.clear();
    }

    /// The last zxid on disk (log, else snapshot).
    pub fn last_zxid(&self) -> Zxid {
        self.log
            .last()
            .map_or(self.snapshot.as_ref().map_or(0, |s| s.0), |t| t.zxid)
    }

    /// Is txn `z` on this disk (in the log or in the snapshot's history)?
    pub fn holds(&self, z: Zxid) -> bool {
        self.log.iter().any(|t| t.zxid == z)
            || self
                .snapshot
                .as_ref()
                .is_some_and(|(_, _, h)| h.iter().any(|t| t.zxid == z))
    }
}

pub(super) struct Server {
    id: Sid,
    core: Option<PeerCore>,
    pub disk: Disk,
    /// Durable actions submitted, not completed (lost on crash), in order.
    pending: VecDeque<(u64, DurableAction)>,
    pub tree: DataTree,
    /// The whole history reflected in the tree, from the first txn.
    pub applied: Vec<Arc<Txn>>,
    serving: bool,
    life: u64,
    prep: Prep,
    /// Being killed: it does nothing more (no steps, no disk writes) until its crash.
    frozen: bool,
}

/// A client request the simulator submits to the serving leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ClientOp {
    /// create(path, data) with these flags (1 = ephemeral) by `session` (0: no session).
    Create {
        /// Path.
        path: String,
        /// Data.
        data: String,
        /// Create flags.
        flags: i32,
        /// Owner session.
        session: SessionId,
    },
    /// setData(path, data, -1).
    SetData {
        /// Path.
        path: String,
        /// Data.
        data: String,
    },
    /// A new session.
    CreateSession(SessionId),
    /// closeSession.
    CloseSession(SessionId),
    /// A new configuration of voters (ids), proposed as a reconfig txn as is (no checks).
    Reconfig(Vec<Sid>),
}

/// What a [`MsgHook`] does to the message it matches.
pub(super) enum MsgAction {
    /// The message is lost (the link stays up).
    Drop,
    /// This message and every later one on the same directed link wait until
    /// [`Sim::release`]; a link break meanwhile loses them.
    Hold,
    /// The sender is killed instead of sending it (nothing it does afterwards happens).
    CrashSenderBefore,
    /// The message is sent and delivered; the sender is killed at once after sending (it does
    /// nothing more) and is dead when the message arrives.
    CrashSenderAfter,
    /// The receiver is killed before it reads the message.
    CrashReceiverBefore,
    /// The receiver handles the message and is killed right after (before any durable action
    /// it started completes).
    CrashReceiverAfter,
    /// `n` client writes are submitted right after this step.
    Writes(usize),
    /// These client requests are submitted right after this step.
    Ops(Vec<ClientOp>),
}

/// A hook on messages sent: from/to filters, a predicate, an action, how many times.
pub(super) struct MsgHook {
    /// Only messages from this server.
    pub from: Option<Sid>,
    /// Only messages to this server.
    pub to: Option<Sid>,
    /// Which messages.
    pub pred: Box<dyn FnMut(&PeerMsg) -> bool>,
    /// What happens.
    pub action: MsgAction,
    /// Fires at most this many more times.
    pub times: usize,
    /// Times it fired.
    pub fired: usize,
}

/// When a [`DurableHook`] looks at a durable action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DurableStage {
    /// About to be written: nothing of it is on disk yet.
    Completing,
    /// On disk; its continuation (the ACK, the next step) has not run.
    Persisted,
}

/// What a [`DurableHook`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DurableHookAction {
    /// Kill the server.
    Crash,
    /// Keep the action (and every one after it) from completing until
    /// [`Sim::release_durable`] (only at [`DurableStage::Completing`]).
    Hold,
    /// The disk fails it (an fsync error, a full disk; only at [`DurableStage::Completing`]):
    /// nothing of it is kept, every action queued after it is dropped, and the server is told
    /// (`Input::DurableFailed`), as the log actor does.
    Fail,
}

/// A hook on one server's durable actions.
pub(super) struct DurableHook {
    /// The server.
    pub server: Sid,
    /// Which actions.
    pub pred: Box<dyn FnMut(&DurableAction) -> bool>,
    /// When.
    pub stage: DurableStage,
    /// What happens.
    pub action: DurableHookAction,
    /// Fires at most this many more times.
    pub times: usize,
    /// Times it fired.
    pub fired: usize,
}

/// A durable action that completed, with the disk right after.
#[derive(Debug, Clone)]
pub(super) struct Completion {
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

pub(super) struct Sim {
    rng: SmallRng,
    pub now: i64,
    seq: u64,
    queue: BinaryHeap<Reverse<(i64, u64, usize)>>,
    events: HashMap<usize, Event>,
    next_event: usize,
    pub servers: BTreeMap<Sid, Server>,
    voters: Vec<Sid>,
    observers: Vec<Sid>,
    gens: HashMap<(Sid, Sid), u64>,
    link_free_at: HashMap<(Sid, Sid), i64>,
    partition: Option<BTreeSet<Sid>>,
    pub committed: BTreeMap<Zxid, Arc<Txn>>,
    /// Who established each epoch.
    pub leaders: BTreeMap<u64, Sid>,
    /// The history each snapshot sent to a learner holds, by its zxid.
    snapshot_histories: HashMap<Zxid, Vec<Arc<Txn>>>,
    timing: Timing,
    writes: u64,
    trace: bool,
    /// Random link breaks and duplicates on (off while settling).
    pub chaos: bool,
    /// Random client writes while running (on by default).
    pub auto_writes: bool,
    /// Random client writes include sessions, ephemerals and closeSession.
    pub session_workload: bool,
    /// Now and then a durable action takes 100-1000 ms instead of 1-30 ms.
    pub slow_disks: bool,
    /// Committed txns kept for DIFF (`commit_log_count`).
    pub commit_log_count: usize,
    /// Encoded messages larger than this break their link, as the peer codec does.
    pub frame_limit: Option<usize>,
    /// Hooks on sent messages.
    pub msg_hooks: Vec<MsgHook>,
    /// Hooks on durable actions.
    pub durable_hooks: Vec<DurableHook>,
    held_links: BTreeSet<(Sid, Sid)>,
    held: Vec<(Sid, Sid, u64, PeerMsg)>,
    /// Tokens held by a [`DurableHookAction::Hold`], by server.
    held_durable: BTreeMap<Sid, Vec<(u64, u64)>>,
    /// Messages sent, by (from, to, kind).
    pub sent: HashMap<(Sid, Sid, &'static str), usize>,
    /// Every role change: (time, server, role).
    pub roles: Vec<(i64, Sid, RoleView)>,
    /// Every durable action completed.
    pub completions: Vec<Completion>,
    /// Crashes (time, server).
    pub crashes: Vec<(i64, Sid)>,
    next_write: i64,
    next_session: SessionId,
    open_sessions: Vec<SessionId>,
    /// closeSession txns committed, by session.
    pub closed_sessions: BTreeSet<SessionId>,
    /// Record every message sent on these directed links, in order, in `link_log`.
    pub traced_links: BTreeSet<(Sid, Sid)>,
    /// (time, from, to, message) of the traced links.
    pub link_log: Vec<(i64, Sid, Sid, String)>,
    /// Snapshots for learners are taken when asked but handed to the core only at
    /// [`Sim::release_snapshots`] (a snapshot still being encoded while writes go on).
    pub hold_snapshots: bool,
    /// (leader, learner, leader's life, snapshot) held by `hold_snapshots`.
    held_snapshots: Vec<(Sid, Sid, u64, Arc<SnapshotBlob>)>,
}

/// The kind of a message, for counts and hooks.
pub(super) fn kind(m: &PeerMsg) -> &'static str {
    match m {
        PeerMsg::Vote(_) => "Vote",
        PeerMsg::FollowerInfo { .. } => "FollowerInfo",
        PeerMsg::LeaderInfo { .. } => "LeaderInfo",
        PeerMsg::AckEpoch { .. } => "AckEpoch",
        PeerMsg::Diff { .. } => "Diff",
        PeerMsg::Trunc { .. } => "Trunc",
        PeerMsg::Snap(_) => "Snap",
        PeerMsg::Proposal(_) => "Proposal",
        PeerMsg::Ack { .. } => "Ack",
        PeerMsg::Commit { .. } => "Commit",
        PeerMsg::Inform(_) => "Inform",
        PeerMsg::NewLeader { .. } => "NewLeader",
        PeerMsg::UpToDate => "UpToDate",
        PeerMsg::Ping { .. } => "Ping",
        PeerMsg::PingReply { .. } => "PingReply",
        PeerMsg::Request { .. } => "Request",
        PeerMsg::CreateSession { .. } => "CreateSession",
        PeerMsg::SyncRequest { .. } => "SyncRequest",
        PeerMsg::SyncDone { .. } => "SyncDone",
        PeerMsg::Revalidate { .. } => "Revalidate",
    }
}

fn pair(a: Sid, b: Sid) -> (Sid, Sid) {
    (a.min(b), a.max(b))
}

impl Sim {
    pub(super) fn new(seed: u64, voters: usize, observers: usize) -> Sim {
        let mut sim = Sim::new_unbooted(seed, voters, observers);
        sim.boot_all();
        sim
    }

    /// A simulator whose servers have empty disks and are not started ([`Sim::boot_all`]).
    pub(super) fn new_unbooted(seed: u64, voters: usize, observers: usize) -> Sim {
        let voter_ids: Vec<Sid> = (1..=voters as u64).collect();
        let observer_ids: Vec<Sid> = (voters as u64 + 1..=(voters + observers) as u64).collect();
        let mut sim = Sim {
            rng: SmallRng::seed_from_u64(seed),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            next_event: 0,
            servers: BTreeMap::new(),
            voters: voter_ids.clone(),
            observers: observer_ids.clone(),
            gens: HashMap::new(),
            link_free_at: HashMap::new(),
            partition: None,
            committed: BTreeMap::new(),
            leaders: BTreeMap::new(),
            snapshot_histories: HashMap::new(),
            timing: Timing {
                tick_ms: 100,
                init_limit: 10,
                sync_limit: 5,
            },
            writes: 0,
            trace: std::env::var("ZKR_SIM_TRACE").is_ok(),
            chaos: true,
            auto_writes: true,
            session_workload: false,
            slow_disks: false,
            commit_log_count: 20,
            frame_limit: None,
            msg_hooks: Vec::new(),
            durable_hooks: Vec::new(),
            held_links: BTreeSet::new(),
            held: Vec::new(),
            held_durable: BTreeMap::new(),
            sent: HashMap::new(),
            roles: Vec::new(),
            completions: Vec::new(),
            crashes: Vec::new(),
            next_write: 0,
            next_session: 0x1000,
            open_sessions: Vec::new(),
            closed_sessions: BTreeSet::new(),
            traced_links: BTreeSet::new(),
            link_log: Vec::new(),
            hold_snapshots: false,
            held_snapshots: Vec::new(),
        };
        for id in voter_ids.iter().chain(observer_ids.iter()) {
            sim.servers.insert(
                *id,
                Server {
                    id: *id,
                    core: None,
                    disk: Disk::default(),
                    pending: VecDeque::new(),
                    tree: DataTree::new(),
                    applied: Vec::new(),
                    serving: false,
                    life: 0,
                    prep: Prep::new(PrepConfig::default()),
                    frozen: false,
                },
            );
        }
        sim
    }

    /// Starts every server from its disk, with jittered ticks.
    pub(super) fn boot_all(&mut self) {
        let ids: Vec<Sid> = self.servers.keys().copied().collect();
        for id in ids {
            self.boot(id);
            let jitter = self.rng.random_range(0..50);
            self.schedule(jitter, Event::Tick(id));
        }
    }

    fn schedule(&mut self, delay: i64, e: Event) {
        self.seq += 1;
        let k = self.next_event;
        self.next_event += 1;
        self.events.insert(k, e);
        self.queue.push(Reverse((self.now + delay, self.seq, k)));
    }

    fn core_config(&self, id: Sid) -> CoreConfig {
        CoreConfig {
            membership: Membership::new(id, &self.voters, &self.observers),
            timing: self.timing,
            commit_log_count: self.commit_log_count,
            standalone: false,
        }
    }

    /// (Re)starts a server from its disk.
    fn boot(&mut self, id: Sid) {
        let cfg = self.core_config(id);
        let now = self.now;
        let keep = self.commit_log_count;
        let s = self.servers.get_mut(&id).expect("server");
        s.life += 1;
        s.pending.clear();
        s.serving = false;
        s.frozen = false;
        let (tree, applied, base) = rebuild(&s.disk);
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
        s.applied = applied;
        s.prep = Prep::new(PrepConfig::default());
        let persisted = PersistedState {
            accepted_epoch: s.disk.epochs.0,
            current_epoch: s.disk.epochs.1,
            last_zxid: last,
            recent,
            floor: base,
        };
        let (core, out) = PeerCore::new(cfg, persisted, now);
        s.core = Some(core);
        self.outputs(id, out);
    }

    fn linked(&self, a: Sid, b: Sid) -> bool {
        match &self.partition {
            None => true,
            Some(side) => side.contains(&a) == side.contains(&b),
        }
    }

    /// Sends `msg`; returns the time it will be delivered (None: it will not be).
    fn send(&mut self, from: Sid, to: Sid, msg: PeerMsg) -> Option<i64> {
        if !self.linked(from, to)
            || self.servers[&to].core.is_none()
            || self.servers[&from].core.is_none()
        {
            return None;
        }
        let roll: f64 = if self.chaos { self.rng.random() } else { 0.5 };
        if roll < 0.002 {
            // The connection breaks: in-flight messages of both directions are lost.
            self.break_link(from, to);
            return None;
        }
        if let Some(limit) = self.frame_limit {
            let len = rmp_serde::to_vec(&msg).map_or(usize::MAX, |b| b.len());
            if len > limit {
                // The peer codec refuses the frame: the link task fails and the connection
                // drops (both ends see it go down once the current step is over).
                if self.trace {
                    eprintln!(
                        "{:>6} s{from} -> s{to} {} of {len} bytes exceeds the frame limit: link breaks",
                        self.now,
                        kind(&msg)
                    );
                }
                self.schedule(0, Event::BreakLink(from, to));
                return None;
            }
        }
        let gen = *self.gens.entry(pair(from, to)).or_insert(0);
        if self.held_links.contains(&(from, to)) {
            self.held.push((from, to, gen, msg));
            return None;
        }
        Some(self.schedule_delivery(from, to, gen, msg, roll > 0.999, None))
    }

    fn schedule_delivery(
        &mut self,
        from: Sid,
        to: Sid,
        gen: u64,
        msg: PeerMsg,
        dup: bool,
        then_crash: Option<Sid>,
    ) -> i64 {
        let delay = self.rng.random_range(1..20);
        let at = (self.now + delay).max(*self.link_free_at.get(&(from, to)).unwrap_or(&0));
        self.link_free_at.insert((from, to), at);
        let ev = Event::Deliver {
            from,
            to,
            gen,
            msg,
            then_crash,
        };
        if dup {
            self.schedule(at - self.now, ev.clone());
        }
        self.schedule(at - self.now, ev);
        at
    }

    /// Holds every message from `from` to `to` until [`Sim::release`].
    pub(super) fn hold(&mut self, from: Sid, to: Sid) {
        self.held_links.insert((from, to));
    }

    /// Delivers what the link `from` → `to` held (unless the link broke meanwhile), in order,
    /// and stops holding it.
    pub(super) fn release(&mut self, from: Sid, to: Sid) {
        self.held_links.remove(&(from, to));
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(f, t, _, _)| *f == from && *t == to);
        self.held = rest;
        let gen = self.gens.get(&pair(from, to)).copied().unwrap_or(0);
        for (f, t, g, msg) in mine {
            if g == gen && self.servers[&t].core.is_some() && self.servers[&f].core.is_some() {
                self.schedule_delivery(f, t, g, msg, false, None);
            }
        }
    }

    /// Lets the durable actions a hook held on `id` complete.
    pub(super) fn release_durable(&mut self, id: Sid) {
        for (token, life) in self.held_durable.remove(&id).unwrap_or_default() {
            self.schedule(1, Event::DurableDone { id, token, life });
        }
    }

    /// Runs the message hooks on a send; returns whether the message still goes out, and what
    /// to do with it.
    fn msg_hook(&mut self, from: Sid, to: Sid, msg: &PeerMsg) -> Option<usize> {
        for (i, h) in self.msg_hooks.iter_mut().enumerate() {
            if h.times == 0
                || h.from.is_some_and(|f| f != from)
                || h.to.is_some_and(|t| t != to)
                || !(h.pred)(msg)
            {
                continue;
            }
            h.times -= 1;
            h.fired += 1;
            return Some(i);
        }
        None
    }

    /// Sends with the hooks applied (the message as the core output it).
    fn hooked_send(&mut self, from: Sid, to: Sid, msg: PeerMsg) {
        let Some(i) = self.msg_hook(from, to, &msg) else {
            self.send(from, to, msg);
            return;
        };
        let action = std::mem::replace(&mut self.msg_hooks[i].action, MsgAction::Drop);
        if self.trace {
            eprintln!(
                "{:>6} hook #{i} on s{from} -> s{to} {}: {}",
                self.now,
                short_msg(&msg),
                match &action {
                    MsgAction::Drop => "drop".to_string(),
                    MsgAction::Hold => "hold the link".to_string(),
                    MsgAction::CrashSenderBefore => format!("crash s{from} before it is sent"),
                    MsgAction::CrashSenderAfter => format!("crash s{from} once it is sent"),
                    MsgAction::CrashReceiverBefore => format!("crash s{to} before it reads it"),
                    MsgAction::CrashReceiverAfter => format!("crash s{to} once it handled it"),
                    MsgAction::Writes(n) => format!("{n} client writes"),
                    MsgAction::Ops(ops) => format!("client ops {ops:?}"),
                }
            );
        }
        match &action {
            MsgAction::Drop => {}
            MsgAction::Hold => {
                self.hold(from, to);
                self.send(from, to, msg);
            }
            MsgAction::CrashSenderBefore => {
                self.servers.get_mut(&from).expect("server").frozen = true;
                self.schedule(0, Event::Crash(from));
            }
            MsgAction::CrashSenderAfter | MsgAction::CrashReceiverAfter => {
                let victim = if matches!(action, MsgAction::CrashSenderAfter) {
                    from
                } else {
                    to
                };
                let gen = *self.gens.entry(pair(from, to)).or_insert(0);
                let deliverable = self.linked(from, to)
                    && self.servers[&to].core.is_some()
                    && !self.held_links.contains(&(from, to));
                if deliverable {
                    self.schedule_delivery(from, to, gen, msg, false, Some(victim));
                } else {
                    self.schedule(0, Event::Crash(victim));
                }
                if victim == from {
                    self.servers.get_mut(&from).expect("server").frozen = true;
                }
            }
            MsgAction::CrashReceiverBefore => {
                self.servers.get_mut(&to).expect("server").frozen = true;
                self.schedule(0, Event::Crash(to));
            }
            MsgAction::Writes(n) => {
                self.send(from, to, msg);
                for _ in 0..*n {
                    self.schedule(0, Event::ClientWrite);
                }
            }
            MsgAction::Ops(ops) => {
                self.send(from, to, msg);
                for op in ops.clone() {
                    self.schedule(0, Event::ClientOp(op));
                }
            }
        }
        self.msg_hooks[i].action = action;
    }

    /// Breaks the connection between `a` and `b` (both ends see it; in-flight messages lost).
    pub(super) fn break_link(&mut self, a: Sid, b: Sid) {
        *self.gens.entry(pair(a, b)).or_insert(0) += 1;
        for (x, y) in [(a, b), (b, a)] {
            if self.servers[&x].core.is_some() {
                self.step(x, Input::LinkReset { peer: y });
            }
        }
    }

    fn step(&mut self, id: Sid, input: Input) {
        let now = self.now;
        let Some(s) = self.servers.get_mut(&id) else {
            return;
        };
        if s.frozen {
            return;
        }
        let Some(core) = s.core.as_mut() else {
            return;
        };
        let out = core.step(now, input);
        self.outputs(id, out);
    }

    fn outputs(&mut self, id: Sid, out: Vec<Output>) {
        for o in out {
            if self.servers[&id].frozen || self.servers[&id].core.is_none() {
                // Killed while performing these: the rest never happens.
                return;
            }
            if self.trace {
                eprintln!("{:>6} s{id} {:?}", self.now, short(&o));
            }
            match o {
                Output::Send(to, msg) => {
                    *self.sent.entry((id, to, kind(&msg))).or_insert(0) += 1;
                    if self.traced_links.contains(&(id, to)) {
                        self.link_log.push((self.now, id, to, short_msg(&msg)));
                    }
                    self.hooked_send(id, to, msg);
                }
                Output::Durably { token, action } => {
                    let s = self.servers.get_mut(&id).expect("server");
                    s.pending.push_back((token, action));
                    let life = s.life;
                    let delay = if self.slow_disks && self.rng.random_bool(0.05) {
                        // An fsync that stalls (a busy disk).
                        self.rng.random_range(100..1000)
                    } else {
                        self.rng.random_range(1..30)
                    };
                    self.schedule(delay, Event::DurableDone { id, token, life });
                }
                Output::Apply(txns) => self.apply(id, txns),
                Output::TakeSnapshot { learner } => {
                    let s = &self.servers[&id];
                    let blob = Arc::new(SnapshotBlob {
                        zxid: s.tree.last_zxid(),
                        data: snapshot::encode_tree(&s.tree),
                    });
                    assert_eq!(s.applied.last().map_or(0, |t| t.zxid), blob.zxid);
                    let history = s.applied.clone();
                    if let Some(h) = self.snapshot_histories.insert(blob.zxid, history.clone()) {
                        assert_eq!(
                            h, history,
                            "two snapshots at {:#x} with different histories",
                            blob.zxid
                        );
                    }
                    if self.hold_snapshots {
                        let life = self.servers[&id].life;
                        self.held_snapshots.push((id, learner, life, blob));
                    } else {
                        self.step(id, Input::SnapshotTaken { learner, blob });
                    }
                }
                Output::Role(r) => {
                    self.roles.push((self.now, id, r));
                    if r == RoleView::Looking {
                        self.servers.get_mut(&id).expect("server").prep =
                            Prep::new(PrepConfig::default());
                    }
                }
                Output::Serving(on) => {
                    self.servers.get_mut(&id).expect("server").serving = on;
                    if on {
                        if let Some(RoleView::Leading { epoch }) =
                            self.servers[&id].core.as_ref().map(|c| c.role())
                        {
                            if let Some(prev) = self.leaders.insert(epoch, id) {
                                assert_eq!(prev, id, "two leaders established epoch {epoch}");
                            }
                            // An established leader's whole history is committed.
                            let history: Vec<Arc<Txn>> = self.servers[&id].applied.clone();
                            for t in history {
                                self.commit(&t);
                            }
                        }
                        self.check_prefix(id);
                    }
                }
                Output::TouchSessions(_) | Output::SessionsAlive(_) => {}
            }
        }
    }

    fn apply(&mut self, id: Sid, txns: Vec<Arc<Txn>>) {
        // The role as the outputs performed so far show it: a leader that commits a reconfig
        // removing itself applies it, then steps down, in one step.
        let is_leader = matches!(
            self.roles.iter().rev().find(|(_, s, _)| *s == id),
            Some((_, _, RoleView::Leading { .. }))
        );
        if is_leader {
            // A leader commits its whole history before anything new.
            let history: Vec<Arc<Txn>> = self.servers[&id].applied.clone();
            for t in history {
                self.commit(&t);
            }
        }
        for t in txns {
            if is_leader {
                self.commit(&t);
            } else {
                let c = self.committed.get(&t.zxid);
                assert_eq!(
                    c,
                    Some(&t),
                    "s{id} applied {:#x}, which no leader committed (or different)",
                    t.zxid
                );
            }
            let s = self.servers.get_mut(&id).expect("server");
            s.tree.apply(&t);
            s.applied.push(t);
        }
        if self.servers[&id].serving {
            self.check_prefix(id);
        }
    }

    fn commit(&mut self, t: &Arc<Txn>) {
        if let Some(prev) = self.committed.get(&t.zxid) {
            assert_eq!(prev, t, "zxid {:#x} committed with two contents", t.zxid);
        } else {
            if let Some((last, _)) = self.committed.last_key_value() {
                assert!(
                    t.zxid > *last,
                    "commit {:#x} after {:#x}: a committed txn was skipped",
                    t.zxid,
                    last
                );
            }
            if matches!(t.op, crate::txn::TxnOp::CloseSession { .. }) {
                self.closed_sessions.insert(t.session_id);
            }
            self.committed.insert(t.zxid, t.clone());
        }
    }

    /// The server's applied history must be exactly the committed history up to its last zxid.
    fn check_prefix(&self, id: Sid) {
        let s = &self.servers[&id];
        let last = s.applied.last().map_or(0, |t| t.zxid);
        let expected: Vec<&Arc<Txn>> = self.committed.range(..=last).map(|(_, t)| t).collect();
        let mine: Vec<&Arc<Txn>> = s.applied.iter().collect();
        if mine != expected {
            let z = |v: &[&Arc<Txn>]| {
                v.iter()
                    .map(|t| format!("{:#x}", t.zxid))
                    .collect::<Vec<_>>()
            };
            panic!(
                "s{id} (serving) applied history differs from the committed one:\n mine: {:?}\n committed: {:?}",
                z(&mine),
                z(&expected)
            );
        }
    }

    /// The first durable hook of `id` at `stage` matching `action`, counted as fired.
    fn durable_hook(
        &mut self,
        id: Sid,
        stage: DurableStage,
        action: &DurableAction,
    ) -> Option<DurableHookAction> {
        for (i, h) in self.durable_hooks.iter_mut().enumerate() {
            if h.times == 0 || h.server != id || h.stage != stage || !(h.pred)(action) {
                continue;
            }
            h.times -= 1;
            h.fired += 1;
            if self.trace {
                eprintln!(
                    "{:>6} durable hook #{i} on s{id} {stage:?} {}: {:?}",
                    self.now,
                    short(&Output::Durably {
                        token: 0,
                        action: action.clone()
                    }),
                    h.action
                );
            }
            return Some(h.action);
        }
        None
    }

    fn durable_done(&mut self, id: Sid, token: u64, life: u64) {
        let s = self.servers.get_mut(&id).expect("server");
        if s.life != life || s.core.is_none() || s.frozen {
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
                self.step(id, Input::DurableFailed(token));
                return;
            }
            None => {}
        }
        let s = self.servers.get_mut(&id).expect("server");
        s.pending.pop_front();
        match action.clone() {
            DurableAction::Append(txns) => {
                if let Err(e) = s.disk.append(&txns).and_then(|_| s.disk.sync()) {
                    panic!("s{id}: log append: {e}");
                }
            }
            DurableAction::SaveEpochs { accepted, current } => s.disk.epochs = (accepted, current),
            DurableAction::Truncate { to } => {
                s.disk.truncate_after(to).expect("truncate");
                // Reload the tree from disk.
                let (tree, applied, _) = rebuild(&s.disk);
                let rebuilt = applied.last().map_or(0, |t| t.zxid);
                assert_eq!(rebuilt, to, "s{id}: truncation below the floor");
                s.tree = tree;
                s.applied = applied;
                self.step(id, Input::Reloaded { zxid: rebuilt });
            }
            DurableAction::InstallSnapshot(blob) => {
                let history = self.snapshot_histories[&blob.zxid].clone();
                let s = self.servers.get_mut(&id).expect("server");
                s.disk
                    .install_snapshot(blob.zxid, &blob.data)
                    .expect("install");
                if let Some(snap) = &mut s.disk.snapshot {
                    snap.2 = history.clone();
                }
                s.tree = snapshot::decode_tree(&blob.data).expect("snapshot");
                s.applied = history;
                self.step(id, Input::Floor(blob.zxid));
                self.step(id, Input::Reloaded { zxid: blob.zxid });
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
        self.step(id, Input::Durable(token));
    }

    /// The serving leader (the first, should there be several).
    pub(super) fn leader(&self) -> Option<Sid> {
        self.servers
            .values()
            .find(|s| {
                s.serving
                    && matches!(
                        s.core.as_ref().map(|c| c.role()),
                        Some(RoleView::Leading { .. })
                    )
            })
            .map(|s| s.id)
    }

    /// A random client write to whoever leads (dropped without a serving leader).
    fn client_write(&mut self) {
        let Some(id) = self.leader() else { return };
        if self.session_workload && self.rng.random_bool(0.4) {
            let op = self.random_session_op();
            self.writes += 1;
            self.submit_to(id, op);
            return;
        }
        let k = self.rng.random_range(0..8);
        let path = format!("/k{k}");
        let data = format!("v{}", self.writes);
        let op = if self.rng.random_bool(0.5) {
            ClientOp::Create {
                path,
                data,
                flags: if self.rng.random_bool(0.3) { 2 } else { 0 },
                session: 0,
            }
        } else {
            ClientOp::SetData { path, data }
        };
        self.writes += 1;
        self.submit_to(id, op);
    }

    fn random_session_op(&mut self) -> ClientOp {
        let n = self.open_sessions.len();
        match self.rng.random_range(0..5) {
            1 | 2 if n > 0 => {
                let session = self.open_sessions[self.rng.random_range(0..n)];
                ClientOp::Create {
                    path: format!("/e{}", self.rng.random_range(0..12)),
                    data: format!("v{}", self.writes),
                    flags: 1,
                    session,
                }
            }
            3 if n > 0 => {
                let session = self.open_sessions.remove(self.rng.random_range(0..n));
                ClientOp::CloseSession(session)
            }
            _ => {
                self.next_session += 1;
                self.open_sessions.push(self.next_session);
                ClientOp::CreateSession(self.next_session)
            }
        }
    }

    /// Submits a client request to the serving leader; returns its txn's zxid (None: no
    /// serving leader, or it could not allocate one).
    pub(super) fn submit(&mut self, op: ClientOp) -> Option<Zxid> {
        let id = self.leader()?;
        self.writes += 1;
        self.submit_to(id, op)
    }

    fn submit_to(&mut self, id: Sid, op: ClientOp) -> Option<Zxid> {
        let now = self.now;
        let cxid = self.writes as i32;
        let s = self.servers.get_mut(&id).expect("server");
        let mut out = Vec::new();
        let core = s.core.as_mut().expect("core");
        let Some(zxid) = core.allocate_zxid(now, &mut out) else {
            self.outputs(id, out);
            return None;
        };
        let (session_id, txn_op) = match op {
            ClientOp::Reconfig(voters) => {
                let text: String = voters
                    .iter()
                    .map(|v| format!("server.{v}=127.0.0.1:{v}:{v}:participant\n"))
                    .collect();
                let mut cfg = super::dynconfig::parse(&text).expect("a valid configuration");
                cfg.version = zxid;
                (
                    0,
                    crate::txn::TxnOp::Reconfig {
                        data: Bytes::from(cfg.text()),
                        version: zxid,
                    },
                )
            }
            ClientOp::CreateSession(session) => (
                session,
                s.prep
                    .prep_create_session(session, 10_000, Bytes::from_static(b"pw")),
            ),
            other => {
                let (session_id, request) = match other {
                    ClientOp::Create {
                        path,
                        data,
                        flags,
                        session,
                    } => (
                        session,
                        Request::Create(
                            1,
                            CreateRequest {
                                path,
                                data: Some(Bytes::from(data)),
                                acl: Acl::open_unsafe(),
                                flags,
                            },
                        ),
                    ),
                    ClientOp::SetData { path, data } => (
                        0,
                        Request::SetData(SetDataRequest {
                            path,
                            data: Some(Bytes::from(data)),
                            version: -1,
                        }),
                    ),
                    ClientOp::CloseSession(session) => (session, Request::CloseSession),
                    ClientOp::CreateSession(_) | ClientOp::Reconfig(_) => {
                        unreachable!("handled above")
                    }
                };
                let op = s.prep.prep(
                    &s.tree,
                    &WriteRequest {
                        session_id,
                        ids: Vec::new(),
                        request,
                    },
                    zxid,
                    now,
                );
                (session_id, op)
            }
        };
        let txn = Arc::new(Txn {
            zxid,
            time_ms: now,
            session_id,
            cxid,
            op: txn_op,
        });
        s.core.as_mut().expect("core").propose(now, txn, &mut out);
        self.outputs(id, out);
        Some(zxid)
    }

    fn run_event(&mut self, e: Event) {
        match e {
            Event::Deliver {
                from,
                to,
                gen,
                msg,
                then_crash,
            } => {
                if self.gens.get(&pair(from, to)).copied().unwrap_or(0) == gen
                    && self.linked(from, to)
                {
                    self.step(to, Input::Message { from, msg });
                }
                if let Some(victim) = then_crash {
                    self.run_event(Event::Crash(victim));
                }
            }
            Event::Tick(id) => {
                self.step(id, Input::Tick);
                self.schedule(self.timing.tick_ms / 4, Event::Tick(id));
            }
            Event::DurableDone { id, token, life } => self.durable_done(id, token, life),
            Event::Crash(id) => {
                let s = self.servers.get_mut(&id).expect("server");
                if s.core.take().is_some() {
                    if self.trace {
                        eprintln!("{:>6} s{id} CRASH", self.now);
                    }
                    self.crashes.push((self.now, id));
                    self.held_durable.remove(&id);
                    s.pending.clear();
                    s.disk.crash();
                    s.serving = false;
                    s.life += 1;
                    let peers: Vec<Sid> =
                        self.servers.keys().copied().filter(|p| *p != id).collect();
                    for p in peers {
                        self.break_link(id, p);
                    }
                }
            }
            Event::Restart(id) => {
                if self.servers[&id].core.is_none() {
                    self.boot(id);
                }
            }
            Event::Partition(side) => {
                let all: Vec<Sid> = self.servers.keys().copied().collect();
                self.partition = Some(side.into_iter().collect());
                for a in &all {
                    for b in &all {
                        if a < b && !self.linked(*a, *b) {
                            self.break_link(*a, *b);
                        }
                    }
                }
            }
            Event::Heal => {
                if let Some(side) = self.partition.take() {
                    let all: Vec<Sid> = self.servers.keys().copied().collect();
                    for a in &all {
                        for b in &all {
                            if a < b && side.contains(a) != side.contains(b) {
                                self.break_link(*a, *b);
                            }
                        }
                    }
                }
            }
            Event::BreakLink(a, b) => self.break_link(a, b),
            Event::ClientWrite => self.client_write(),
            Event::ClientOp(op) => {
                if self.submit(op.clone()).is_none() && self.trace {
                    eprintln!(
                        "{:>6} client op {op:?} dropped: no serving leader",
                        self.now
                    );
                }
            }
        }
    }

    /// Runs `duration_ms` of simulated time, with faults when `faults`.
    fn run(&mut self, duration_ms: i64, faults: bool) {
        let end = self.now + duration_ms;
        let mut next_fault = self.now + 500;
        let mut next_write = self.now + 10;
        while let Some(Reverse((at, _, k))) = self.queue.peek().copied() {
            if at > end {
                break;
            }
            if faults && at >= next_fault {
                self.now = next_fault;
                self.inject_fault();
                next_fault = self.now + self.rng.random_range(200..1500);
                continue;
            }
            if self.auto_writes && at >= next_write {
                self.now = next_write;
                self.client_write();
                next_write = self.now + self.rng.random_range(2..25);
                continue;
            }
            self.queue.pop();
            self.now = at;
            let e = self.events.remove(&k).expect("event");
            self.run_event(e);
        }
        self.now = end;
    }

    /// Runs `ms` of simulated time with random faults (and random writes if `auto_writes`).
    pub(super) fn run_random(&mut self, ms: i64) {
        self.run(ms, true);
    }

    /// Runs (no injected faults; random writes if `auto_writes`) until `done` holds, at most
    /// `limit_ms` of simulated time. Returns whether `done` held.
    pub(super) fn run_until(&mut self, limit_ms: i64, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit_ms;
        self.next_write = self.next_write.max(self.now);
        loop {
            if done(self) {
                return true;
            }
            let Some(Reverse((at, _, k))) = self.queue.peek().copied() else {
                break;
            };
            if at > end {
                break;
            }
            if self.auto_writes && at >= self.next_write {
                self.now = self.next_write;
                self.client_write();
                self.next_write = self.now + self.rng.random_range(2..25);
                continue;
            }
            self.queue.pop();
            self.now = at;
            let e = self.events.remove(&k).expect("event");
            self.run_event(e);
        }
        self.now = end;
        done(self)
    }

    /// Runs `ms` of simulated time (no injected faults).
    pub(super) fn run_for(&mut self, ms: i64) {
        self.run_until(ms, |_| false);
    }

    /// Kills `id` now (its unsynced disk writes are lost).
    pub(super) fn crash(&mut self, id: Sid) {
        self.run_event(Event::Crash(id));
    }

    /// Restarts `id` from its disk (if it is down).
    pub(super) fn restart(&mut self, id: Sid) {
        self.run_event(Event::Restart(id));
    }

    /// Is `id` running?
    pub(super) fn alive(&self, id: Sid) -> bool {
        self.servers[&id].core.is_some()
    }

    /// Does `id` serve clients?
    pub(super) fn serving(&self, id: Sid) -> bool {
        self.servers[&id].serving
    }

    /// `id`'s role (None: down).
    pub(super) fn role(&self, id: Sid) -> Option<RoleView> {
        self.servers[&id].core.as_ref().map(|c| c.role())
    }

    /// `id`'s last logged zxid (None: down).
    pub(super) fn last_logged(&self, id: Sid) -> Option<Zxid> {
        self.servers[&id].core.as_ref().map(|c| c.last_logged())
    }

    /// `id`'s last applied zxid.
    pub(super) fn last_applied(&self, id: Sid) -> Zxid {
        self.servers[&id].applied.last().map_or(0, |t| t.zxid)
    }

    /// The last committed zxid.
    pub(super) fn last_committed(&self) -> Zxid {
        self.committed.keys().next_back().copied().unwrap_or(0)
    }

    /// Is there one serving leader and does every running server serve?
    pub(super) fn stable(&self) -> bool {
        self.leader().is_some() && self.servers.values().all(|s| s.core.is_none() || s.serving)
    }

    /// Messages of `kind` sent from `from` to `to` so far.
    pub(super) fn sent_count(&self, from: Sid, to: Sid, kind: &str) -> usize {
        self.sent
            .iter()
            .filter(|((f, t, k), _)| *f == from && *t == to && *k == kind)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Times `id` went back to LOOKING since `since`.
    pub(super) fn lookings_since(&self, id: Sid, since: i64) -> usize {
        self.roles
            .iter()
            .filter(|(t, s, r)| *t >= since && *s == id && *r == RoleView::Looking)
            .count()
    }

    /// Snapshots held by [`Sim::hold_snapshots`] (and not lost with a crash of their leader).
    pub(super) fn held_snapshot_count(&self) -> usize {
        self.held_snapshots
            .iter()
            .filter(|(id, _, life, _)| self.servers[id].life == *life && self.alive(*id))
            .count()
    }

    /// Hands the held snapshots to their leaders' cores (those whose leader has not crashed
    /// since), and stops holding.
    pub(super) fn release_snapshots(&mut self) {
        self.hold_snapshots = false;
        for (id, learner, life, blob) in std::mem::take(&mut self.held_snapshots) {
            if self.servers[&id].life == life {
                self.step(id, Input::SnapshotTaken { learner, blob });
            }
        }
    }

    /// Adds a message hook; returns its index (for [`Sim::msg_fired`]).
    pub(super) fn on_msg(
        &mut self,
        from: Option<Sid>,
        to: Option<Sid>,
        pred: impl FnMut(&PeerMsg) -> bool + 'static,
        action: MsgAction,
        times: usize,
    ) -> usize {
        self.msg_hooks.push(MsgHook {
            from,
            to,
            pred: Box::new(pred),
            action,
            times,
            fired: 0,
        });
        self.msg_hooks.len() - 1
    }

    /// Times message hook `i` fired.
    pub(super) fn msg_fired(&self, i: usize) -> usize {
        self.msg_hooks[i].fired
    }

    /// Adds a durable-action hook on `server`; returns its index (for [`Sim::durable_fired`]).
    pub(super) fn on_durable(
        &mut self,
        server: Sid,
        stage: DurableStage,
        pred: impl FnMut(&DurableAction) -> bool + 'static,
        action: DurableHookAction,
        times: usize,
    ) -> usize {
        self.durable_hooks.push(DurableHook {
            server,
            pred: Box::new(pred),
            stage,
            action,
            times,
            fired: 0,
        });
        self.durable_hooks.len() - 1
    }

    /// Times durable hook `i` fired.
    pub(super) fn durable_fired(&self, i: usize) -> usize {
        self.durable_hooks[i].fired
    }

    /// Checks the trees' session invariants: every ephemeral's owner is a live session (never
    /// one whose closeSession committed), on every running server.
    pub(super) fn check_no_orphan_ephemerals(&self) {
        for s in self.servers.values().filter(|s| s.core.is_some()) {
            for (path, node) in s.tree.paths() {
                if let NodeKind::Ephemeral(owner) = node.kind() {
                    // A closed session is gone from the table: its ephemerals must be too.
                    assert!(
                        s.tree.sessions().contains_key(&owner),
                        "s{}: ephemeral {path} belongs to {owner:#x}, which is not a live session{}",
                        s.id,
                        if self.closed_sessions.contains(&owner) {
                            " (its closeSession committed)"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
    }

    fn inject_fault(&mut self) {
        let ids: Vec<Sid> = self.servers.keys().copied().collect();
        let pick = ids[self.rng.random_range(0..ids.len())];
        match self.rng.random_range(0..10) {
            0..=2 => {
                self.run_event(Event::Crash(pick));
                let back = self.rng.random_range(100..2000);
                self.schedule(back, Event::Restart(pick));
            }
            3..=4 => {
                let mut side: Vec<Sid> = ids
                    .iter()
                    .copied()
                    .filter(|_| self.rng.random_bool(0.4))
                    .collect();
                if side.is_empty() {
                    side.push(pick);
                }
                self.run_event(Event::Partition(side));
                let heal = self.rng.random_range(200..2500);
                self.schedule(heal, Event::Heal);
            }
            5..=6 => {
                let other = ids[self.rng.random_range(0..ids.len())];
                if other != pick {
                    self.run_event(Event::BreakLink(pick, other));
                }
            }
            _ => {}
        }
    }

    /// Heals everything, restarts crashed servers, lets the ensemble settle, and checks that
    /// everyone converged on the committed history.
    pub(super) fn settle_and_check(&mut self) {
        self.chaos = false;
        // Scripted faults end here: hooks off, held links and disk writes released.
        self.msg_hooks.iter_mut().for_each(|h| h.times = 0);
        self.durable_hooks.iter_mut().for_each(|h| h.times = 0);
        let held: Vec<(Sid, Sid)> = self.held_links.iter().copied().collect();
        for (a, b) in held {
            self.release(a, b);
        }
        let held: Vec<Sid> = self.held_durable.keys().copied().collect();
        for id in held {
            self.release_durable(id);
        }
        self.run_event(Event::Heal);
        let ids: Vec<Sid> = self.servers.keys().copied().collect();
        for id in &ids {
            self.run_event(Event::Restart(*id));
        }
        // Quiet period: no faults, writes continue briefly, then stop.
        self.run(4000, false);
        let end = self.now + 8000;
        while let Some(Reverse((at, _, k))) = self.queue.peek().copied() {
            if at > end {
                break;
            }
            self.queue.pop();
            self.now = at;
            let e = self.events.remove(&k).expect("event");
            self.run_event(e);
        }
        let serving: Vec<Sid> = self
            .servers
            .values()
            .filter(|s| s.serving)
            .map(|s| s.id)
            .collect();
        assert_eq!(
            serving.len(),
            ids.len(),
            "not everyone serves after settling: {serving:?}"
        );
        let last = self.committed.keys().next_back().copied().unwrap_or(0);
        for id in &ids {
            self.check_prefix(*id);
            let s = &self.servers[id];
            let mine = s.applied.last().map_or(0, |t| t.zxid);
            assert_eq!(mine, last, "s{id} has not applied every committed txn");
        }
        let digest = |t: &DataTree| {
            let mut v: Vec<(String, Option<Bytes>, i32, i64)> = t
                .paths()
                .map(|(p, n)| {
                    (
                        p,
                        n.data().map(Bytes::copy_from_slice),
                        n.version,
                        n.ephemeral_owner(),
                    )
                })
                .collect();
            v.sort();
            let sessions: Vec<SessionId> = t.sessions().keys().copied().collect();
            (v, sessions)
        };
        let first = digest(&self.servers[&ids[0]].tree);
        for id in &ids[1..] {
            assert!(
                digest(&self.servers[id].tree) == first,
                "s{id}'s tree differs"
            );
        }
        self.check_no_orphan_ephemerals();
    }
}

/// The tree and history a disk holds: its snapshot, then its log after it.
fn rebuild(disk: &Disk) -> (DataTree, Vec<Arc<Txn>>, Zxid) {
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

fn short(o: &Output) -> String {
    match o {
        Output::Send(to, m) => format!("-> s{to} {}", short_msg(m)),
        Output::Durably { token, action } => match action {
            DurableAction::Append(t) => format!("durably#{token} append {:#x}", t[0].zxid),
            other => format!("durably#{token} {other:?}"),
        },
        Output::Apply(t) => format!(
            "apply {:?}",
            t.iter()
                .map(|t| format!("{:#x}", t.zxid))
                .collect::<Vec<_>>()
        ),
        other => format!("{other:?}"),
    }
}

pub(super) fn short_msg(m: &PeerMsg) -> String {
    match m {
        PeerMsg::Proposal(t) => format!("Proposal({:#x})", t.zxid),
        PeerMsg::Inform(t) => format!("Inform({:#x})", t.zxid),
        PeerMsg::Snap(b) => format!("Snap({:#x})", b.zxid),
        other => format!("{other:?}"),
    }
}

fn run_seed(seed: u64, voters: usize, observers: usize) -> u64 {
    let mut sim = Sim::new(seed, voters, observers);
    sim.run(6000, true);
    sim.settle_and_check();
    sim.committed.len() as u64
}

fn seeds(default: u64) -> Vec<u64> {
    match std::env::var("ZKR_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("ZKR_SIM_SEED is a number")],
        Err(_) => {
            let n = std::env::var("ZKR_SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(default);
            (0..n).collect()
        }
    }
}

#[test]
fn sim_three_servers() {
    let mut total = 0;
    for seed in seeds(1500) {
        let r = std::panic::catch_unwind(|| run_seed(seed, 3, 0));
        match r {
            Ok(n) => total += n,
            Err(e) => panic!("seed {seed} failed (replay: ZKR_SIM_SEED={seed}): {e:?}"),
        }
    }
    assert!(total > 0, "nothing was ever committed");
}

#[test]
fn sim_five_servers_and_an_observer() {
    for seed in seeds(600) {
        let r = std::panic::catch_unwind(|| run_seed(10_000 + seed, 5, 1));
        if let Err(e) = r {
            panic!(
                "seed {} failed (replay: ZKR_SIM_SEED={}): {e:?}",
                10_000 + seed,
                seed
            );
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
