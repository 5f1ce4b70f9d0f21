//! Deterministic simulation of N servers' cores in one thread.
//!
//! A seeded scheduler delivers messages with random delays over FIFO links, breaks links
//! (dropping what is in flight, and telling both ends, as a broken TCP connection does),
//! duplicates messages now and then, partitions servers, crashes them (losing every durable
//! action not completed yet: the unsynced log tail) and restarts them from their simulated
//! disk, and pauses them ([`Sim::pause`], SIGSTOP: everything bound for a paused server (its
//! messages, timers, disk completions, what its clients send) waits in order and runs when it
//! wakes, its clock having run on; its clients keep their connections until their read timeout,
//! then move: [`connections`]). Clients propose writes to whoever leads. After every step the
//! invariants are checked:
//!
//! * at most one leader establishes each epoch;
//! * every txn a server applies was committed by a leader, with the same content;
//! * every serving server's applied history is a prefix of the committed history (no holes,
//!   no reordering);
//! * at the end, healed and quiet, every server has applied the same history and holds the
//!   same tree, and every txn any leader committed is in it.
//!
//! Disks ([`disk`]) keep log segments and several snapshots, as the file log does; servers
//! snapshot their own trees and purge ([`localsnap`]); a restart's tree must equal its history.
//!
//! The random runs (`random.rs`) add skewed clocks (each server's own offset and drift), local
//! snapshots and purges (most runs), and the client workload ([`workload`]): clients on every
//! server whose writes followers forward, multi, delete and setACL with versions, sync then
//! read, local reads, pings and session moves (on a read timeout too), sessions expired by the
//! session tracker's own check ([`sessions`]); what the clients saw is
//! checked against the committed history at the end ([`history`]).
//!
//! A failing seed replays exactly: `ZKR_SIM_SEED=<seed> cargo test -p zkr-actors sim_ -- --nocapture`.
//!
//! Scripted scenarios (`scenarios.rs`) drive the same simulator by hand, with hooks that fire
//! at precise points: when a server sends a given message ([`MsgHook`]: drop it, hold the link,
//! crash the sender or the receiver before or right after it, start client writes), and when
//! a durable action completes ([`DurableHook`]: crash before it is on disk, or once it is on
//! disk but before its continuation runs, or hold it). A session workload (createSession,
//! ephemeral creates, closeSession) checks that no ephemeral outlives its session.

use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::pipeline::prep::PrepConfig;
use crate::pipeline::{Applied, Input, Now, Output, Pipeline, PipelineConfig};
use crate::quorum::config::{Membership, Timing};
use crate::quorum::core::{self, CoreConfig, DurableAction, RoleView};
use crate::quorum::msg::{PeerMsg, Sid, SnapshotMeta};
use crate::session::expiry::ExpiryQueue;
use crate::session::SessionRegistry;
use crate::tree::DataTree;
use crate::txn::{SessionId, Txn, Zxid};

mod checks;
mod clients;
mod connections;
mod describe;
mod disk;
mod history;
mod hooks;
mod inspect;
mod localsnap;
mod network;
mod pause;
#[cfg(test)]
mod random;
mod scenarios;
mod sessions;
mod snapstream;
mod workload;

pub(crate) use clients::{ClientOp, Requests};
use describe::{short, short_msg};
pub(crate) use disk::{Completion, Disk};
pub(crate) use hooks::{DurableHook, DurableHookAction, DurableStage, MsgAction, MsgHook};
pub(crate) use localsnap::{SnapPolicy, SnapStats};
pub(crate) use network::{kind, pair};

/// Txns of a learner's tail per step (small: every sync of more than a few txns goes in
/// slices, with deliveries, commits and crashes between them).
const SIM_TAIL_SLICE: usize = 3;

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
    /// The leader's shell encodes the next chunk of its snapshot for a learner.
    SnapEncode {
        id: Sid,
        learner: Sid,
    },
    /// A step the shell of `id` (in life `life`) takes after what is queued: the continuation
    /// of a learner's sync (`Output::ContinueSync`), or an input that reached it while it was
    /// paused.
    Later {
        id: Sid,
        life: u64,
        input: Input,
    },
    /// The end of `id`'s pause number `n` ([`Sim::pause`]).
    Resume {
        id: Sid,
        n: u64,
    },
    /// The next chunk of the snapshot `id` (in life `life`) takes of its own tree
    /// ([`localsnap`]).
    LocalSnap {
        id: Sid,
        life: u64,
    },
    /// What connection `conn` of `session`'s client sent server `id` (in its life `life`).
    FromClient {
        id: Sid,
        life: u64,
        session: SessionId,
        conn: u64,
        wire: connections::Wire,
    },
}

pub(crate) struct Server {
    id: Sid,
    /// The server's pipeline (and Zab core); `None` while it is down.
    pipeline: Option<Pipeline>,
    pub disk: Disk,
    /// Durable actions submitted, not completed (lost on crash), in order.
    pending: VecDeque<(u64, DurableAction)>,
    pub tree: DataTree,
    /// The whole history reflected in the tree, from the first txn.
    pub applied: Vec<Arc<Txn>>,
    serving: bool,
    life: u64,
    /// Times the tree was replaced (rebuilt from disk, or a leader's snapshot installed).
    trees: u64,
    /// Being killed: it does nothing more (no steps, no disk writes) until its crash.
    frozen: bool,
    /// The live session registry (deadlines, touches) and the tracker's expiry queue, as a
    /// node keeps them; rebuilt from the tree at each start.
    pub sessions: SessionRegistry,
    expiry: ExpiryQueue,
    /// This server's clocks: (monotonic offset ms, drift, wall-clock offset ms).
    skew: (i64, f64, i64),
    /// Stopped (SIGSTOP): it runs nothing, and what reaches it waits in `deferred`, in order,
    /// until it resumes. Its clock runs on: on waking, all its timers are due at once.
    paused: bool,
    /// Pauses so far (numbers each pause's [`Event::Resume`]), and when the last one ended.
    pauses: u64,
    resumed_at: Option<i64>,
    /// On waking from this pause, the session tracker's interval runs before the rest.
    tracker_first: bool,
    deferred: VecDeque<Event>,
    /// Its log actor's own snapshots and purges ([`localsnap`]).
    local: localsnap::LocalSnaps,
}

pub(crate) struct Sim {
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
    /// The voters of each committed configuration, by the zxid of its reconfig txn.
    pub configs: BTreeMap<Zxid, Vec<Sid>>,
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
    /// The client requests handed to the servers' pipelines, and what became of them.
    pub requests: Requests,
    /// Record every message sent on these directed links, in order, in `link_log`.
    pub traced_links: BTreeSet<(Sid, Sid)>,
    /// (time, from, to, message) of the traced links.
    pub link_log: Vec<(i64, Sid, Sid, String)>,
    /// Snapshots for learners are taken when asked but handed to the core only at
    /// [`Sim::release_snapshots`] (a snapshot still being encoded while writes go on).
    pub hold_snapshots: bool,
    /// (leader, learner, leader's life, snapshot) held by `hold_snapshots`.
    held_snapshots: Vec<(Sid, Sid, u64, SnapshotMeta)>,
    /// The snapshot each leader's shell streams to each learner: (leader, learner) → bytes.
    snap_sources: HashMap<(Sid, Sid), (Zxid, Bytes)>,
    /// The snapshots being encoded, chunk by chunk while commits apply: (leader, learner) →
    /// the scan.
    snap_encodes: HashMap<(Sid, Sid), snapstream::Encoding>,
    /// Snapshots encoded for learners, those during whose encode the leader applied commits
    /// (fuzzy ones), and restarts from one whose log stopped short of where its encode ended.
    pub snaps_encoded: (u64, u64, u64),
    /// Random faults include pauses (on by default; off, the random faults draw from the seed
    /// exactly as before pauses existed, so an older seed replays the schedule it was found with).
    pub pause_faults: bool,
    /// Sessions a leader's tracker expired in the tick after it woke from a pause.
    pub wake_expiries: BTreeMap<Sid, u64>,
    /// The client workload of the random runs ([`workload`]): clients on every server, session
    /// expiry, reads; off in the scripted scenarios.
    pub clients_on: bool,
    /// How long writes go on once healed, before the quiet end of [`Sim::settle_and_check`].
    pub settle_writes_ms: i64,
    pub(crate) workload: workload::Workload,
    /// Local snapshots and purges ([`localsnap`]; off by default), and their random draws.
    pub local_snapshots: Option<SnapPolicy>,
    snap_rng: SmallRng,
    /// What the local snapshots did.
    pub snap_stats: SnapStats,
    /// Local snapshots are scanned but written only at [`Sim::release_local_snapshots`].
    pub hold_local_snapshots: bool,
}

impl Sim {
    pub(crate) fn new(seed: u64, voters: usize, observers: usize) -> Sim {
        let mut sim = Sim::new_unbooted(seed, voters, observers);
        sim.boot_all();
        sim
    }

    /// A simulator whose servers have empty disks and are not started ([`Sim::boot_all`]).
    pub(crate) fn new_unbooted(seed: u64, voters: usize, observers: usize) -> Sim {
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
            configs: BTreeMap::new(),
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
            requests: Requests::default(),
            traced_links: BTreeSet::new(),
            link_log: Vec::new(),
            hold_snapshots: false,
            held_snapshots: Vec::new(),
            snap_sources: HashMap::new(),
            snap_encodes: HashMap::new(),
            snaps_encoded: (0, 0, 0),
            pause_faults: true,
            wake_expiries: BTreeMap::new(),
            clients_on: false,
            settle_writes_ms: 4000,
            workload: Default::default(),
            local_snapshots: None,
            snap_rng: SmallRng::seed_from_u64(seed ^ 0x5a17_c0de_0f5e_ed00),
            snap_stats: SnapStats::default(),
            hold_local_snapshots: false,
        };
        for id in voter_ids.iter().chain(observer_ids.iter()) {
            sim.servers.insert(
                *id,
                Server {
                    id: *id,
                    pipeline: None,
                    disk: Disk::default(),
                    pending: VecDeque::new(),
                    tree: DataTree::new(),
                    applied: Vec::new(),
                    serving: false,
                    life: 0,
                    trees: 0,
                    frozen: false,
                    sessions: SessionRegistry::new(100),
                    expiry: ExpiryQueue::new(100),
                    skew: (0, 0.0, 0),
                    paused: false,
                    pauses: 0,
                    resumed_at: None,
                    tracker_first: false,
                    deferred: VecDeque::new(),
                    local: Default::default(),
                },
            );
        }
        sim
    }

    /// Starts every server from its disk, with jittered ticks.
    pub(crate) fn boot_all(&mut self) {
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

    fn pipeline_config(&self, id: Sid) -> PipelineConfig {
        PipelineConfig {
            core: CoreConfig {
                membership: Membership::new(id, &self.voters, &self.observers),
                timing: self.timing,
                commit_log_count: self.commit_log_count,
                commit_log_bytes: usize::MAX,
                tail_slice: SIM_TAIL_SLICE,
                standalone: false,
            },
            prep: PrepConfig::default(),
            dynamic: Default::default(),
            reap_budget: 10,
        }
    }

    /// The clocks of server `id` now: each server's monotonic clock has its own origin and
    /// rate, its wall clock its own offset (see [`Sim::skew_clocks`]).
    fn clock(&self, id: Sid) -> Now {
        let (mono, drift, wall) = self.servers[&id].skew;
        let local = (self.now as f64 * (1.0 + drift)) as i64;
        Now {
            mono_ms: mono + local,
            wall_ms: 1_700_000_000_000 + wall + local,
        }
    }

    /// Gives every server its own clocks: a monotonic origin, a rate off by up to 0.5%, a
    /// wall clock off by up to 2 s.
    pub(crate) fn skew_clocks(&mut self) {
        for s in self.servers.values_mut() {
            s.skew = (
                self.rng.random_range(0..1_000_000_000),
                self.rng.random_range(-0.005..0.005),
                self.rng.random_range(-2000..2000),
            );
        }
    }

    /// Steps `id`'s Zab core (through its pipeline).
    fn step(&mut self, id: Sid, input: core::Input) {
        self.step_pipeline(id, Input::Core(input));
    }

    /// Steps `id`'s pipeline (nothing happens to a server that is down or being killed).
    fn step_pipeline(&mut self, id: Sid, input: Input) -> Vec<Output> {
        let now = self.clock(id);
        let Some(s) = self.servers.get_mut(&id) else {
            return Vec::new();
        };
        if s.frozen {
            return Vec::new();
        }
        if s.paused {
            let life = s.life;
            s.deferred.push_back(Event::Later { id, life, input });
            return Vec::new();
        }
        let Some(pipeline) = s.pipeline.as_mut() else {
            return Vec::new();
        };
        let out = pipeline.step(now, &s.tree, input);
        self.outputs(id, out.clone());
        out
    }

    fn outputs(&mut self, id: Sid, out: Vec<Output>) {
        let mut touched: Option<Vec<SessionId>> = None;
        for o in out {
            if self.servers[&id].frozen || self.servers[&id].pipeline.is_none() {
                // Killed while performing these: the rest never happens.
                return;
            }
            let Some(o) = self.snap_chunk(id, o) else {
                continue;
            };
            if self.trace {
                eprintln!("{:>6} s{id} {:?}", self.now, short(&o));
            }
            match o {
                Output::Send(to, msg) => {
                    let msg = self.with_touches(id, msg, &mut touched);
                    *self.sent.entry((id, to, kind(&msg))).or_insert(0) += 1;
                    if self.traced_links.contains(&(id, to)) {
                        self.link_log.push((self.now, id, to, short_msg(&msg)));
                    }
                    self.hooked_send(id, to, msg);
                }
                Output::Durably { token, action } => {
                    if let DurableAction::Append(txns) = &action {
                        self.appended(id, txns.len());
                    }
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
                Output::Apply(items) => {
                    self.requests.answered(&items);
                    let txns = items
                        .iter()
                        .filter_map(|a| match a {
                            Applied::Txn { txn, .. } => Some(txn.clone()),
                            Applied::Sync { .. } | Applied::Failed { .. } => None,
                        })
                        .collect();
                    let results = self.apply(id, txns);
                    if self.clients_on {
                        self.workload_answers(id, &items, &results);
                    }
                }
                Output::TakeSnapshot { learner } => self.take_snapshot_for(id, learner),
                Output::SendSnapChunk { .. } => unreachable!("turned into a Send"),
                Output::ContinueSync { learner, sync } => {
                    if self.traced_links.contains(&(id, learner)) {
                        let mark = "ContinueSync".to_string();
                        self.link_log.push((self.now, id, learner, mark));
                    }
                    let (life, delay) = (self.servers[&id].life, self.rng.random_range(0..4));
                    let input = Input::Core(core::Input::ContinueSync { learner, sync });
                    self.schedule(delay, Event::Later { id, life, input });
                }
                Output::Role(r) => self.roles.push((self.now, id, r)),
                Output::Serving(on) => {
                    self.set_serving(id, on);
                    if !on {
                        *self.workload.stops.entry(id).or_default() += 1;
                    }
                    if on {
                        if let Some(RoleView::Leading { epoch }) =
                            self.servers[&id].pipeline.as_ref().map(|p| p.role())
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
                Output::Proposed { zxid, token } => {
                    if token.is_none() && self.clients_on {
                        self.workload.proposed_at.insert(zxid, self.now);
                    }
                    self.requests.proposed(token, zxid)
                }
                Output::Close(token) => {
                    self.requests.left(token, "closed");
                    self.workload.dropped(token);
                }
                Output::Abandon(tokens) => {
                    for t in tokens {
                        self.requests.left(t, "abandoned");
                        self.workload.dropped(t);
                    }
                }
                Output::TouchSessions(_)
                | Output::SessionsAlive(_)
                | Output::Expiring(_)
                | Output::NotExpired(_) => self.session_output(id, o),
                // The simulated links follow the static membership.
                Output::Reconfigured { .. } => {}
            }
        }
        self.maybe_snapshot(id);
    }

    /// The serving leader (the first, should there be several; not a paused one, which no
    /// client hears).
    pub(crate) fn leader(&self) -> Option<Sid> {
        self.servers
            .values()
            .find(|s| {
                s.serving
                    && !s.paused
                    && matches!(
                        s.pipeline.as_ref().map(|p| p.role()),
                        Some(RoleView::Leading { .. })
                    )
            })
            .map(|s| s.id)
    }

    fn run_event(&mut self, e: Event) {
        if let Some(id) = Sim::runs_on(&e) {
            let s = self.servers.get_mut(&id).expect("server");
            if s.paused {
                s.deferred.push_back(e);
                return;
            }
        }
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
                    self.step(to, core::Input::Message { from, msg });
                }
                if let Some(victim) = then_crash {
                    self.run_event(Event::Crash(victim));
                }
            }
            Event::Tick(id) => {
                self.step(id, core::Input::Tick);
                self.track_sessions(id);
                self.schedule(self.timing.tick_ms / 4, Event::Tick(id));
            }
            Event::Resume { id, n } => {
                if self.servers[&id].pauses == n {
                    self.resume(id);
                }
            }
            Event::DurableDone { id, token, life } => self.durable_done(id, token, life),
            Event::Crash(id) => {
                self.unpause_to_kill(id);
                let s = self.servers.get_mut(&id).expect("server");
                if s.pipeline.take().is_some() {
                    if self.trace {
                        eprintln!("{:>6} s{id} CRASH", self.now);
                    }
                    self.crashes.push((self.now, id));
                    self.requests.lost_with(id);
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
                if self.servers[&id].pipeline.is_none() {
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
            Event::SnapEncode { id, learner } => self.encode_snapshot_chunk(id, learner),
            Event::LocalSnap { id, life } => self.local_snapshot_chunk(id, life),
            Event::Later { id, life, input } if self.servers[&id].life == life => {
                self.step_pipeline(id, input);
            }
            Event::Later { .. } => {}
            Event::FromClient {
                id,
                life,
                session,
                conn,
                wire,
            } if self.servers[&id].life == life => self.serve_client(id, session, conn, wire),
            Event::FromClient { .. } => {}
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
    pub(crate) fn run_random(&mut self, ms: i64) {
        self.run(ms, true);
    }

    /// Runs (no injected faults; random writes if `auto_writes`) until `done` holds, at most
    /// `limit_ms` of simulated time. Returns whether `done` held.
    pub(crate) fn run_until(&mut self, limit_ms: i64, mut done: impl FnMut(&Sim) -> bool) -> bool {
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
    pub(crate) fn run_for(&mut self, ms: i64) {
        self.run_until(ms, |_| false);
    }

    /// Kills `id` now (its unsynced disk writes are lost).
    pub(crate) fn crash(&mut self, id: Sid) {
        self.run_event(Event::Crash(id));
    }

    /// Restarts `id` from its disk (if it is down).
    pub(crate) fn restart(&mut self, id: Sid) {
        self.run_event(Event::Restart(id));
    }
}
