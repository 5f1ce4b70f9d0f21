//! The quorum actor: the shell around a server's [`Pipeline`] (which wraps its Zab core).
//!
//! It turns messages into pipeline inputs (client requests get a token that names their
//! connection's outbox), reads the clocks once per step, and performs the outputs in order:
//! peer sends, durable actions through the log actor, committed txns and the replies they
//! release to the store actor, snapshots for learners, session-registry updates, role and
//! serving changes to the node supervisor, link updates after a reconfig. All decisions are
//! the pipeline's; nothing here decides what a request becomes or who answers it.
//!
//! Message graph (one-way sends): connections → quorum → log → quorum → store → connections;
//! quorum ↔ peer links; quorum → node supervisor.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use parking_lot::RwLock;

use super::link::{LinkDown, PeerAnnounced, PeerInbound, PeerLinks};
use super::messages::{CreateSession, RoleChanged, ServingChanged, SessionResumed, SubmitWrite};
use super::resolve;
use super::snapsend::{ChunkRead, SnapSources, SnapshotReady};
use crate::metrics::CommitTimer;
use crate::outbox::Outbox;
use crate::pipeline::{Applied, Input, Now, Output, Pipeline, PipelineConfig, Token, TreeView};
use crate::proto::records::PathRequest;
use crate::proto::Request;
use crate::quorum::core::{self, PersistedState, QuorumStatus};
use crate::quorum::dynconfig::DynamicConfig;
use crate::quorum::msg::{PeerMsg, Sid};
use crate::session::tracker::ExpireSession;
use crate::session::SessionRegistry;
use crate::store::actor::{Apply, CommitItem, ReplaceTree, StoreActor};
use crate::store::Store;
use crate::tree::DataTree;
use crate::txn::{SessionId, Zxid};
use crate::txnlog::actor::{
    FloorChanged, Job, JobEffect, Jobs, JobsDone, LogActor, SnapshotPolicy, WriteFile,
};
use crate::txnlog::LogBackend;

/// Settings of the quorum actor.
#[derive(Debug, Clone)]
pub struct QuorumSettings {
    /// The pipeline's settings.
    pub pipeline: PipelineConfig,
    /// Container / TTL sweep period.
    pub container_check_interval: Duration,
    /// Snapshots and purge.
    pub snapshots: SnapshotPolicy,
    /// How often the core is ticked.
    pub tick_every: Duration,
    /// Where `zoo.cfg.dynamic.<version>` files go (none in memory).
    pub data_dir: Option<std::path::PathBuf>,
}

/// What the quorum actor reports to and shares with the rest of the node.
pub struct QuorumReports {
    /// The node supervisor: role changes.
    pub roles: Recipient<RoleChanged>,
    /// The node supervisor: serving changes.
    pub serving: Recipient<ServingChanged>,
    /// The ensemble as this server sees it, published after every step.
    pub status: Arc<RwLock<QuorumStatus>>,
}

/// The quorum actor.
pub struct QuorumPeer {
    settings: QuorumSettings,
    pipeline: Option<Pipeline>,
    persisted: Option<PersistedState>,
    store: Arc<Store>,
    store_actor: Addr<StoreActor>,
    sessions: Arc<SessionRegistry>,
    log: Option<Addr<LogActor>>,
    backend: Option<Box<dyn LogBackend>>,
    links: PeerLinks,
    reports: QuorumReports,
    /// The connections waiting for an answer, by the token the pipeline knows them by.
    outboxes: HashMap<Token, Arc<Outbox>, foldhash::fast::RandomState>,
    next_token: Token,
    link_generations: HashMap<Sid, u64>,
    /// The version of the last committed configuration (its links may be resolving).
    routes_version: Zxid,
    /// Proposal-to-commit latency (leader).
    commit_timer: CommitTimer,
    /// Snapshots being streamed to learners.
    snap_sources: SnapSources,
}

/// Quorum actor → itself: continue a learner's sync (`Output::ContinueSync`), behind what its
/// mailbox holds now.
#[derive(Message, Debug)]
#[rtype(result = "()")]
struct ContinueSync {
    learner: Sid,
    sync: u64,
}

/// The store's tree, read under its lock for the moment the pipeline needs it.
impl TreeView for Store {
    fn read(&self) -> impl Deref<Target = DataTree> + '_ {
        self.tree()
    }
}

impl QuorumPeer {
    /// A quorum actor starting from `persisted`, logging to `backend`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: QuorumSettings,
        persisted: PersistedState,
        store: Arc<Store>,
        store_actor: Addr<StoreActor>,
        sessions: Arc<SessionRegistry>,
        backend: Box<dyn LogBackend>,
        links: PeerLinks,
        reports: QuorumReports,
    ) -> QuorumPeer {
        let stream_dir = crate::txnlog::stream::dir_for(settings.snapshots.layout.as_ref());
        let snap_sources = SnapSources::new(stream_dir);
        QuorumPeer {
            settings,
            pipeline: None,
            persisted: Some(persisted),
            store,
            store_actor,
            sessions,
            log: None,
            backend: Some(backend),
            links,
            reports,
            outboxes: HashMap::default(),
            next_token: 0,
            link_generations: HashMap::new(),
            routes_version: 0,
            commit_timer: Default::default(),
            snap_sources,
        }
    }

    fn now() -> Now {
        Now {
            mono_ms: crate::clock::now_ms(),
            wall_ms: crate::clock::wall_ms(),
        }
    }

    /// A token for a request whose reply goes to `origin`.
    fn token(&mut self, origin: Arc<Outbox>) -> Token {
        self.next_token += 1;
        self.outboxes.insert(self.next_token, origin);
        self.next_token
    }

    fn step(&mut self, input: Input) {
        self.step_all([input]);
    }

    /// Steps the pipeline through `inputs`, then performs all their outputs, in order (what
    /// `perform` does never feeds the pipeline back, so deferring it changes no step).
    fn step_all(&mut self, inputs: impl IntoIterator<Item = Input>) {
        let pipeline = self.pipeline.as_mut().expect("pipeline started");
        let now = Self::now();
        let mut out = Vec::new();
        for input in inputs {
            out.extend(pipeline.step(now, &*self.store, input));
        }
        self.perform(out);
    }

    /// Performs the pipeline's outputs, in order.
    fn perform(&mut self, out: Vec<Output>) {
        // The sessions seen active since the last ping round, for every ping of this round.
        let mut ping_touched: Option<Vec<SessionId>> = None;
        // When this step's proposals were made, for the commit timer (one clock read).
        let mut proposed_at: Option<std::time::Instant> = None;
        // The durable actions go to the log in one message, after the loop (no other output
        // goes to the log, so none is overtaken).
        let mut jobs = Vec::new();
        for o in out {
            match o {
                Output::Send(to, PeerMsg::Ping { round, .. }) => {
                    let touched = ping_touched
                        .get_or_insert_with(|| self.sessions.take_touched())
                        .clone();
                    self.links.send(to, PeerMsg::Ping { touched, round });
                }
                Output::Send(to, msg) => self.send_peer(to, msg),
                Output::Durably { token, action } => jobs.push(Job { token, action }),
                Output::TakeSnapshot { learner } => {
                    let quorum = self.links.quorum();
                    self.snap_sources.take(self.store.clone(), learner, quorum)
                }
                Output::SendSnapChunk { learner, zxid, seq } => {
                    self.snap_sources.request(learner, zxid, seq)
                }
                // To this actor's own address (the peer links hold it from `started`); ignores
                // the mailbox's capacity: never lost, never waits.
                Output::ContinueSync { learner, sync } => {
                    if let Some(me) = self.links.quorum() {
                        me.do_send(ContinueSync { learner, sync });
                    }
                }
                Output::Role(r) => {
                    tracing::info!(role = ?r, "role");
                    self.commit_timer.clear();
                    crate::link::send(&self.reports.roles, "quorum -> supervisor", RoleChanged(r));
                }
                // Through the store: it follows the commits released before it (see `Serving`).
                Output::Serving(on) => crate::link::send(
                    &self.store_actor,
                    "quorum -> store",
                    crate::store::actor::Serving {
                        on,
                        then: self.reports.serving.clone(),
                    },
                ),
                Output::TouchSessions(ids) => {
                    let now = crate::clock::now_ms();
                    for id in ids {
                        if let Some(s) = self.sessions.get(id) {
                            s.touch(now, self.sessions.tick_ms());
                        }
                    }
                }
                Output::SessionsAlive(ids) => {
                    let now = crate::clock::now_ms();
                    for id in ids {
                        if let Some(s) = self.sessions.get(id) {
                            s.refresh(now, self.sessions.tick_ms());
                        }
                    }
                }
                Output::Expiring(true) => self.sessions.start_expiring(crate::clock::now_ms()),
                Output::Expiring(false) => self.sessions.stop_expiring(),
                Output::NotExpired(id) => {
                    if let Some(s) = self.sessions.get(id) {
                        s.unmark_closing();
                        self.sessions.requeue(id);
                    }
                }
                Output::Proposed { zxid, .. } => self.commit_timer.proposed(
                    zxid,
                    *proposed_at.get_or_insert_with(std::time::Instant::now),
                ),
                Output::Apply(items) => self.apply(items),
                Output::Reconfigured {
                    previous,
                    next,
                    text,
                    version,
                } => self.reconfigured(previous, next, &text, version),
                Output::Close(token) => {
                    if let Some(o) = self.outboxes.remove(&token) {
                        o.close();
                    }
                }
                Output::Abandon(tokens) => {
                    for t in tokens {
                        self.outboxes.remove(&t);
                    }
                }
            }
        }
        if let (Some(log), false) = (&self.log, jobs.is_empty()) {
            crate::link::send(log, "quorum -> log", Jobs(jobs));
        }
        if let Some(p) = &self.pipeline {
            *self.reports.status.write() = p.core().status();
        }
    }

    fn send_peer(&mut self, to: Sid, msg: PeerMsg) {
        let msg = match msg {
            PeerMsg::PingReply { round, .. } => PeerMsg::PingReply {
                touched: self.sessions.take_touched(),
                round,
            },
            m => m,
        };
        self.links.send(to, msg);
    }

    /// Committed txns and released replies go to the store, each with its connection.
    fn apply(&mut self, items: Vec<Applied>) {
        let mut failed = 0;
        let mut commits = Vec::with_capacity(items.len());
        // When this batch was committed, for the commit timer (one clock read).
        let mut now: Option<std::time::Instant> = None;
        for item in items {
            commits.push(match item {
                Applied::Txn { txn, token } => {
                    let at = *now.get_or_insert_with(std::time::Instant::now);
                    self.commit_timer.committed(txn.zxid, at);
                    let origin = token.and_then(|t| self.outboxes.remove(&t));
                    CommitItem::Txn { txn, origin }
                }
                Applied::Sync { path, token } => match self.outboxes.remove(&token) {
                    Some(origin) => CommitItem::Sync { path, origin },
                    None => continue,
                },
                Applied::Failed {
                    session_id,
                    closes_session,
                    token,
                } => {
                    failed += 1;
                    CommitItem::Failed {
                        session_id,
                        closes_session,
                        origin: self.outboxes.remove(&token),
                    }
                }
            });
        }
        if failed > 0 {
            metrics::counter!("zkr_requests_failed_disk_total").increment(failed);
        }
        if !commits.is_empty() {
            crate::metrics::STORE_QUEUE.sent();
            crate::link::send(&self.store_actor, "quorum -> store", Apply(commits));
        }
    }

    /// A committed configuration: links follow it (host names resolved off this thread), and
    /// the log writes it down as ZooKeeper writes its dynamic configuration file.
    fn reconfigured(
        &mut self,
        previous: DynamicConfig,
        next: DynamicConfig,
        text: &str,
        version: Zxid,
    ) {
        let me = self.settings.pipeline.core.membership.me;
        self.routes_version = version;
        match resolve::literal_peers(&next, me) {
            Some(addrs) => self.route(&previous, &next, addrs),
            None => {
                let work = tokio::task::spawn_blocking(move || {
                    let addrs = resolve::resolve_peers(&next, me);
                    Resolved::Committed {
                        version,
                        previous,
                        next,
                        addrs,
                    }
                });
                self.resolved_later(work);
            }
        }
        if let (Some(dir), Some(log)) = (&self.settings.data_dir, &self.log) {
            let write = WriteFile {
                path: dir.join(format!("zoo.cfg.dynamic.{version:x}")),
                contents: format!("{text}\n"),
            };
            crate::link::send(log, "quorum -> log", write);
        }
    }

    /// Links follow the configuration `next` committed after `previous`, its members at `addrs`.
    fn route(
        &mut self,
        previous: &DynamicConfig,
        next: &DynamicConfig,
        addrs: HashMap<Sid, SocketAddr>,
    ) {
        let addrs = crate::quorum::routes::after_commit(previous, next, addrs, self.links.peers());
        self.links.update(addrs);
    }

    /// Dials `from` back at `addr` unless it has a link by now.
    fn dial_back(&mut self, from: Sid, addr: SocketAddr) {
        if self.links.peers().contains_key(&from) {
            return;
        }
        tracing::info!(peer = from, addr = %addr, "a server that is not a member connected: dialling it back");
        let mut peers = self.links.peers().clone();
        peers.insert(from, addr);
        self.links.update(peers);
    }

    /// A resolution running on a blocking thread comes back as a message.
    fn resolved_later(&self, work: tokio::task::JoinHandle<Resolved>) {
        let addr = self.links.quorum();
        actix_rt::spawn(async move {
            match work.await {
                Ok(r) => {
                    if let Some(a) = addr {
                        a.do_send(r);
                    }
                }
                Err(e) => tracing::error!(error = %e, "resolving peer addresses failed"),
            }
        });
    }
}

/// Peer addresses resolved on a blocking thread.
#[derive(Message)]
#[rtype(result = "()")]
enum Resolved {
    /// The members of the configuration committed at `version`.
    Committed {
        version: Zxid,
        previous: DynamicConfig,
        next: DynamicConfig,
        addrs: HashMap<Sid, SocketAddr>,
    },
    /// Where a joining server listens.
    Announced { from: Sid, addr: SocketAddr },
    /// A name that did not resolve (said in the log).
    Nothing,
}

impl Actor for QuorumPeer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Peer links send with try_send and wait while the mailbox is full (link.rs).
        ctx.set_mailbox_capacity(super::link::QUORUM_MAILBOX);
        self.links.set_quorum(ctx.address());
        let backend = self.backend.take().expect("backend set at construction");
        self.log = Some(
            LogActor::new(
                backend,
                ctx.address().recipient(),
                ctx.address().recipient(),
                self.store.clone(),
                self.settings.snapshots.clone(),
            )
            .start(),
        );
        let persisted = self.persisted.take().expect("persisted state");
        let (pipeline, out) = Pipeline::new(
            self.settings.pipeline.clone(),
            persisted,
            Self::now(),
            &*self.store,
        );
        self.pipeline = Some(pipeline);
        self.perform(out);
        ctx.run_interval(self.settings.tick_every, |act, _| {
            act.step(Input::Core(core::Input::Tick))
        });
        ctx.run_interval(self.settings.container_check_interval, |act, _| {
            act.step(Input::Reap)
        });
    }
}

impl Handler<SubmitWrite> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: SubmitWrite, _: &mut Context<Self>) {
        let input = match m.request {
            Request::Sync(PathRequest { path }) => {
                let Some(origin) = m.origin else { return };
                Input::Sync {
                    token: self.token(origin),
                    session_id: m.session_id,
                    xid: m.xid,
                    path,
                }
            }
            request => Input::Write {
                token: m.origin.map(|o| self.token(o)),
                session_id: m.session_id,
                xid: m.xid,
                ids: m.ids,
                request,
            },
        };
        self.step(input);
    }
}

impl Handler<SessionResumed> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: SessionResumed, _: &mut Context<Self>) {
        self.step(Input::SessionResumed(m.0));
    }
}

impl Handler<CreateSession> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: CreateSession, _: &mut Context<Self>) {
        let token = self.token(m.origin);
        self.step(Input::CreateSession {
            token,
            session_id: m.session_id,
            timeout_ms: m.timeout_ms,
            password: m.password,
        });
    }
}

impl Handler<ExpireSession> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: ExpireSession, _: &mut Context<Self>) {
        self.step(Input::Expire(m.0));
    }
}

impl Handler<JobsDone> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: JobsDone, _: &mut Context<Self>) {
        match m.result {
            Ok(effect) => {
                if let JobEffect::Tree(tree) = effect {
                    let zxid = tree.last_zxid();
                    crate::link::send(&self.store_actor, "quorum -> store", ReplaceTree(tree));
                    self.step(Input::Core(core::Input::Reloaded { zxid }));
                }
                self.step(Input::Core(core::Input::Durable(m.tokens)));
            }
            Err(e) => {
                tracing::error!(error = %e, kind = e.kind().label(), "durable action failed");
                if let Some(first) = m.tokens.first() {
                    self.step(Input::Core(core::Input::DurableFailed(*first)));
                }
            }
        }
    }
}

impl Handler<ContinueSync> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: ContinueSync, _: &mut Context<Self>) {
        self.step(Input::Core(core::Input::ContinueSync {
            learner: m.learner,
            sync: m.sync,
        }));
    }
}

impl Handler<FloorChanged> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: FloorChanged, _: &mut Context<Self>) {
        self.step(Input::Core(core::Input::Floor(m.0)));
    }
}

impl Handler<SnapshotReady> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: SnapshotReady, ctx: &mut Context<Self>) {
        self.snap_sources.ready(&m, ctx.address());
        self.step(Input::Core(core::Input::SnapshotTaken {
            learner: m.learner,
            snap: m.meta,
        }));
    }
}

impl Handler<ChunkRead> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: ChunkRead, _: &mut Context<Self>) {
        if self.snap_sources.is_current(m.learner, m.stream) {
            let crc = crc32c::crc32c(&m.data);
            let chunk = PeerMsg::SnapChunk {
                seq: m.seq,
                data: m.data,
                crc,
            };
            self.links.send(m.learner, chunk);
        }
    }
}

impl Handler<PeerInbound> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: PeerInbound, _: &mut Context<Self>) {
        let prev = self.link_generations.insert(m.from, m.generation);
        if prev != Some(m.generation) {
            self.links.heard_from(m.from);
        }
        if prev.is_some_and(|g| g != m.generation) {
            // A new connection from that peer: what the old one carried may be lost.
            self.snap_sources.drop_learner(m.from);
            metrics::counter!("zkr_actor_restarts_total", "actor" => "peer_inbound").increment(1);
            self.step(Input::Core(core::Input::LinkReset { peer: m.from }));
        }
        let from = m.from;
        self.step_all(
            m.msgs
                .into_iter()
                .map(|msg| Input::Core(core::Input::Message { from, msg })),
        );
    }
}

impl Handler<PeerAnnounced> for QuorumPeer {
    type Result = ();
    /// A server this one has no link to (not a member yet: to be added by reconfig) connected:
    /// dial it back where it listens, so it can be answered (votes) and synchronised.
    fn handle(&mut self, m: PeerAnnounced, _: &mut Context<Self>) {
        let me = self.settings.pipeline.core.membership.me;
        if self.links.peers().contains_key(&m.from) || m.from == me {
            return;
        }
        match resolve::literal_addr(&m.listen_addr) {
            Ok(addr) => self.dial_back(m.from, addr),
            Err(name) => {
                let (from, name) = (m.from, name.to_string());
                self.resolved_later(tokio::task::spawn_blocking(move || {
                    match resolve::resolve_addr(&name) {
                        Some(addr) => Resolved::Announced { from, addr },
                        None => {
                            tracing::warn!(peer = from, addr = %name, "cannot resolve a joining server's peer address");
                            Resolved::Nothing
                        }
                    }
                }));
            }
        }
    }
}

impl Handler<Resolved> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: Resolved, _: &mut Context<Self>) {
        match m {
            // A later configuration was committed meanwhile: it has routed the links.
            Resolved::Committed { version, .. } if version != self.routes_version => {}
            Resolved::Committed {
                previous,
                next,
                addrs,
                ..
            } => self.route(&previous, &next, addrs),
            Resolved::Announced { from, addr } => self.dial_back(from, addr),
            Resolved::Nothing => {}
        }
    }
}

impl Handler<LinkDown> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: LinkDown, _: &mut Context<Self>) {
        self.snap_sources.drop_learner(m.peer);
        self.step(Input::Core(core::Input::LinkReset { peer: m.peer }));
    }
}
