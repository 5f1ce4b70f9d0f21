//! The quorum actor: the shell around a server's [`PeerCore`].
//!
//! It turns client writes into proposals (leader: prep + propose; follower: forward to the
//! leader), runs the core's outputs (peer sends, durable actions through the log actor,
//! committed txns to the store actor with the local connection that asked for each), answers
//! syncs in order, reports session activity to the leader, and switches the node between
//! serving and not serving clients. A standalone node runs the same actor with a core that
//! leads epoch 0 without election.
//!
//! Message graph (one-way sends): connections → quorum → log → quorum → store → connections;
//! quorum ↔ peer links.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::{Bytes, BytesMut};

use super::core::{CoreConfig, Input, Output, PeerCore, PersistedState, RoleView};
use super::link::{LinkDown, PeerAnnounced, PeerInbound, PeerLinks};
use super::msg::{PeerMsg, Sid, SnapshotBlob};
use crate::connection::Outbox;
use crate::node::context::{Mode, NodeContext};
use crate::pipeline::prep::{Prep, PrepConfig, WriteRequest};
use crate::proto::jute::Reader;
use crate::proto::records::PathRequest;
use crate::proto::{ErrorCode, Id, Request};
use crate::session::SessionRegistry;
use crate::store::actor::{Apply, CommitItem, ReplaceTree, StoreActor};
use crate::store::Store;
use crate::tree::NodeKind;
use crate::txn::{SessionId, Txn, TxnOp, Zxid};
use crate::txnlog::actor::{
    FloorChanged, Job, JobEffect, JobsDone, LogActor, SnapshotPolicy, WriteFile,
};
use crate::txnlog::LogBackend;

/// Connection → quorum: a write, sync or closeSession from a session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubmitWrite {
    /// The session.
    pub session_id: SessionId,
    /// The request's xid.
    pub xid: i32,
    /// The connection's identities at submission.
    pub ids: Vec<Id>,
    /// The request.
    pub request: Request,
    /// Where the reply goes (`None` for server-internal requests).
    pub origin: Option<Arc<Outbox>>,
}

/// Connection → quorum: create this session (its Connect slot is pending in `origin`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CreateSession {
    /// The new id.
    pub session_id: SessionId,
    /// Negotiated timeout.
    pub timeout_ms: i32,
    /// Its password.
    pub password: Bytes,
    /// The connection.
    pub origin: Arc<Outbox>,
}

/// Connection → quorum: a client resumed this existing session on this server.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionResumed(pub SessionId);

/// Session tracker → quorum: this session expired; close it (leader and standalone only).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ExpireSession(pub SessionId);

/// Node start-up → quorum: the context exists now (the quorum actor is created before it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Attach(pub Arc<NodeContext>);

/// Settings of the quorum actor.
#[derive(Debug, Clone)]
pub struct QuorumSettings {
    /// The core's settings.
    pub core: CoreConfig,
    /// Prep settings.
    pub prep: PrepConfig,
    /// Container / TTL sweep period.
    pub container_check_interval: Duration,
    /// Most container / TTL deletions per minute.
    pub container_max_per_minute: u32,
    /// Snapshots and purge.
    pub snapshots: SnapshotPolicy,
    /// How often the core is ticked.
    pub tick_every: Duration,
    /// The ensemble's configuration (static, or the last committed one): written to
    /// `/zookeeper/config` by the first leader; empty for a standalone node.
    pub dynamic: super::dynconfig::DynamicConfig,
    /// Where `zoo.cfg.dynamic.<version>` files go (none in memory).
    pub data_dir: Option<std::path::PathBuf>,
}

/// A sync waiting for the txns before it to be applied.
struct PendingSync {
    /// Release once applied up to here.
    zxid: Zxid,
    /// A local client, or a learner's client.
    to: SyncTarget,
}

enum SyncTarget {
    Local {
        path: String,
        origin: Arc<Outbox>,
    },
    Learner {
        peer: Sid,
        session_id: SessionId,
        xid: i32,
    },
}

/// The quorum actor.
pub struct QuorumPeer {
    settings: QuorumSettings,
    core: Option<PeerCore>,
    persisted: Option<PersistedState>,
    prep: Prep,
    store: Arc<Store>,
    store_actor: Addr<StoreActor>,
    sessions: Arc<SessionRegistry>,
    log: Option<Addr<LogActor>>,
    backend: Option<Box<dyn LogBackend>>,
    links: PeerLinks,
    node: Option<Arc<NodeContext>>,
    /// Local clients waiting for the commit of their write, by (session, xid).
    origins: HashMap<(SessionId, i32), (Arc<Outbox>, Zxid)>,
    /// Local clients waiting for their session to be created.
    connecting: HashMap<SessionId, Arc<Outbox>>,
    /// Syncs waiting for their predecessors to be applied.
    syncs: VecDeque<PendingSync>,
    /// Syncs of local clients forwarded to the leader.
    forwarded_syncs: HashMap<(SessionId, i32), (String, Arc<Outbox>)>,
    /// Learners' syncs that came back: released when applied up to their zxid.
    learner_syncs: VecDeque<(Zxid, String, Arc<Outbox>)>,
    last_applied: Zxid,
    link_generations: HashMap<Sid, u64>,
    /// Proposal-to-commit latency (leader).
    commit_timer: crate::node::telemetry::CommitTimer,
    serving: bool,
    /// Leader: which server each session's client is connected to (ZOOKEEPER-710). Writes of a
    /// session arriving through another server are answered SessionMoved.
    owners: HashMap<SessionId, Sid>,
    /// Since when (monotonic ms) the core has been LOOKING, for read-only mode.
    looking_since: Option<i64>,
}

impl QuorumPeer {
    /// A quorum actor starting from `persisted`, logging to `backend`.
    pub fn new(
        settings: QuorumSettings,
        persisted: PersistedState,
        store: Arc<Store>,
        store_actor: Addr<StoreActor>,
        sessions: Arc<SessionRegistry>,
        backend: Box<dyn LogBackend>,
        links: PeerLinks,
    ) -> QuorumPeer {
        let last_applied = persisted.last_zxid;
        QuorumPeer {
            prep: Prep::new(settings.prep.clone()),
            settings,
            core: None,
            persisted: Some(persisted),
            store,
            store_actor,
            sessions,
            log: None,
            backend: Some(backend),
            links,
            node: None,
            origins: HashMap::new(),
            connecting: HashMap::new(),
            syncs: VecDeque::new(),
            forwarded_syncs: HashMap::new(),
            learner_syncs: VecDeque::new(),
            last_applied,
            link_generations: HashMap::new(),
            commit_timer: Default::default(),
            serving: false,
            owners: HashMap::new(),
            looking_since: None,
        }
    }

    fn core(&mut self) -> &mut PeerCore {
        self.core.as_mut().expect("core started")
    }

    fn step(&mut self, input: Input) {
        let now = crate::clock::now_ms();
        let out = self.core().step(now, input);
        self.run(out);
    }

    /// Performs the core's outputs, in order.
    fn run(&mut self, out: Vec<Output>) {
        // The sessions seen active since the last ping round, for every ping of this round.
        let mut ping_touched: Option<Vec<SessionId>> = None;
        for o in out {
            match o {
                Output::Send(to, PeerMsg::Ping { .. }) => {
                    let touched = ping_touched
                        .get_or_insert_with(|| self.sessions.take_touched())
                        .clone();
                    self.links.send(to, PeerMsg::Ping { touched });
                }
                Output::Send(to, msg) => self.send_peer(to, msg),
                Output::Durably { token, action } => {
                    if let Some(log) = &self.log {
                        crate::link::send(log, "quorum -> log", Job { token, action });
                    }
                }
                Output::Apply(txns) => self.apply(txns),
                Output::TakeSnapshot { learner } => self.take_snapshot(learner),
                Output::Role(r) => self.on_role(r),
                Output::Serving(on) => self.set_serving(on),
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
            }
        }
        self.publish_status();
    }

    fn send_peer(&mut self, to: Sid, msg: PeerMsg) {
        let msg = match msg {
            PeerMsg::PingReply { .. } => PeerMsg::PingReply {
                touched: self.sessions.take_touched(),
            },

            m => m,
        };
        self.links.send(to, msg);
    }

    fn apply(&mut self, txns: Vec<Arc<Txn>>) {
        let mut items = Vec::with_capacity(txns.len());
        for txn in txns {
            self.last_applied = txn.zxid;
            if let TxnOp::Reconfig { data, version } = &txn.op {
                self.on_new_config(data, *version);
            }
            if let TxnOp::CloseSession { .. } = &txn.op {
                self.owners.remove(&txn.session_id);
            }
            self.commit_timer.committed(txn.zxid);
            let origin = if let TxnOp::CreateSession { .. } = txn.op {
                self.connecting.remove(&txn.session_id)
            } else {
                self.origins
                    .remove(&(txn.session_id, txn.cxid))
                    .map(|(o, _)| o)
            };
            items.push(CommitItem::Txn { txn, origin });
        }
        // Syncs whose predecessors are now applied go right behind them.
        while self
            .syncs
            .front()
            .is_some_and(|s| s.zxid <= self.last_applied)
        {
            let s = self.syncs.pop_front().expect("front");
            match s.to {
                SyncTarget::Local { path, origin } => items.push(CommitItem::Sync { path, origin }),
                SyncTarget::Learner {
                    peer,
                    session_id,
                    xid,
                } => self.links.send(
                    peer,
                    PeerMsg::SyncDone {
                        session_id,
                        xid,
                        zxid: self.last_applied,
                    },
                ),
            }
        }
        while self
            .learner_syncs
            .front()
            .is_some_and(|(z, _, _)| *z <= self.last_applied)
        {
            let (_, path, origin) = self.learner_syncs.pop_front().expect("front");
            items.push(CommitItem::Sync { path, origin });
        }
        if !items.is_empty() {
            crate::node::telemetry::STORE_QUEUE.sent();
            crate::link::send(&self.store_actor, "quorum -> store", Apply(items));
        }
    }

    /// A committed configuration: links follow it, and it is written as ZooKeeper writes its
    /// dynamic configuration file.
    fn on_new_config(&mut self, data: &Bytes, version: Zxid) {
        let text = String::from_utf8_lossy(data).into_owned();
        let Ok(cfg) = super::dynconfig::parse(&text) else {
            tracing::error!(%text, "committed configuration cannot be parsed");
            return;
        };
        let me = self.settings.core.membership.me;
        let addrs = effective_peer_addresses(&self.settings.dynamic, &cfg, self.links.peers(), me);
        self.links.update(addrs);
        self.settings.dynamic = cfg;
        if let (Some(dir), Some(log)) = (&self.settings.data_dir, &self.log) {
            let write = WriteFile {
                path: dir.join(format!("zoo.cfg.dynamic.{version:x}")),
                contents: format!("{text}\n"),
            };
            crate::link::send(log, "quorum -> log", write);
        }
    }

    fn take_snapshot(&mut self, learner: Sid) {
        let store = self.store.clone();
        let me = self.settings.core.membership.me;
        let work = tokio::task::spawn_blocking(move || {
            let tree = store.tree();
            Arc::new(SnapshotBlob {
                zxid: tree.last_zxid(),
                data: crate::txnlog::snapshot::encode_tree(&tree),
            })
        });
        let addr = self.links.quorum();
        actix_rt::spawn(async move {
            match work.await {
                Ok(blob) => {
                    if let Some(a) = addr {
                        a.do_send(SnapshotReady { learner, blob });
                    }
                }
                Err(e) => tracing::error!(server = me, error = %e, "snapshot for a learner failed"),
            }
        });
    }

    fn on_role(&mut self, r: RoleView) {
        tracing::info!(role = ?r, "role");
        // Whatever was in flight belongs to the previous term.
        self.prep.reset();
        self.commit_timer.clear();
        if r == RoleView::Looking {
            self.looking_since.get_or_insert_with(crate::clock::now_ms);
        } else {
            self.looking_since = None;
            self.leave_read_only();
        }
        self.show_role(r);
        // Sessions expire only while this server leads and serves (`set_serving`).
        self.sessions.stop_expiring();
    }

    /// Sets the node's mode from the role.
    fn show_role(&mut self, r: RoleView) {
        let mode = match r {
            RoleView::Standalone => Mode::Standalone,
            RoleView::Leading { .. } => Mode::Leader,
            RoleView::Following { .. } => Mode::Follower,
            RoleView::Observing { .. } => Mode::Observer,
            RoleView::Looking => Mode::Looking,
        };
        if let Some(node) = &self.node {
            *node.mode.write() = mode;
            crate::node::telemetry::role_changed(node, mode);
        }
    }

    /// Read-only mode (ZooKeeper's `readonlymode.enabled`): once the core has been LOOKING for
    /// max(2 s, tickTime), the node serves clients that ask for read-only access, with sessions
    /// local to it (see `connection::actor`). Called on every tick: enters the mode when due and
    /// expires the local sessions whose deadline passed.
    fn read_only_tick(&mut self) {
        let Some(node) = self.node.clone() else {
            return;
        };
        let now = crate::clock::now_ms();
        if node.is_read_only() {
            node.local_sessions.take_fresh();
            for s in node.local_sessions.all() {
                if s.deadline_ms() <= now {
                    tracing::info!(session = %format!("{:#x}", s.id), "read-only session expired");
                    node.local_sessions.remove(s.id);
                    if let Some(c) = s.connection() {
                        c.close();
                    }
                }
            }
            return;
        }
        let Some(since) = self.looking_since else {
            return;
        };
        let grace = (node.config.node.tick_time_ms as i64).max(2000);
        if !node.config.features.read_only_mode || now - since < grace || self.serving {
            return;
        }
        tracing::info!(
            looking_ms = now - since,
            "no quorum: entering read-only mode (serving read-only clients)"
        );
        *node.mode.write() = Mode::ReadOnly;
        node.set_read_only(true);
        metrics::gauge!("zkr_read_only").set(1.0);
    }

    /// Leaves read-only mode (the core found a leader or leads): closes the read-only clients
    /// and drops their local sessions; they reconnect to a read-write server.
    fn leave_read_only(&mut self) {
        let Some(node) = self.node.clone() else {
            return;
        };
        if !node.is_read_only() {
            return;
        }
        // Cleared first: a connection that creates a local session re-checks the flag after
        // inserting it, so every local session is either seen below or dropped by its connection.
        node.set_read_only(false);
        let local = node.local_sessions.all();
        tracing::info!(
            sessions = local.len(),
            "leaving read-only mode: closing read-only clients"
        );
        for s in local {
            node.local_sessions.remove(s.id);
            if let Some(c) = s.connection() {
                c.close();
            }
        }
        node.local_sessions.take_fresh();
        metrics::gauge!("zkr_read_only").set(0.0);
    }

    fn set_serving(&mut self, on: bool) {
        let was_serving = self.serving;
        self.serving = on;
        if let Some(node) = &self.node {
            node.set_serving(on);
        }
        if on {
            let role = self.core().role();
            if matches!(role, RoleView::Leading { .. } | RoleView::Standalone) {
                // A new leader restarts every session's timer (as ZooKeeper does).
                self.sessions.start_expiring(crate::clock::now_ms());
            }
            if let RoleView::Leading { epoch } = role {
                self.publish_first_config(epoch);
            }
            return;
        }
        self.sessions.stop_expiring();
        // Leaving a role: clients reconnect elsewhere, their sessions live on. (Read-only
        // clients, if any, are closed by `leave_read_only`.)
        if let Some(node) = &self.node {
            if was_serving {
                for c in node.store.connections() {
                    c.close();
                }
            }
        }
        self.origins.clear();
        self.connecting.clear();
        self.owners.clear();
        self.syncs.clear();
        self.forwarded_syncs.clear();
        self.learner_syncs.clear();
    }

    /// The first leader of an ensemble writes its configuration to `/zookeeper/config`, with
    /// the version ZooKeeper gives it: the first zxid of that epoch.
    fn publish_first_config(&mut self, epoch: u64) {
        let empty = self
            .store
            .tree()
            .get(super::CONFIG_NODE)
            .is_none_or(|n| n.data().is_none_or(<[u8]>::is_empty));
        if !empty || self.settings.dynamic.servers.is_empty() {
            return;
        }
        let mut cfg = self.settings.dynamic.clone();
        cfg.version = super::msg::make_zxid(epoch, 0);
        let op = TxnOp::Reconfig {
            data: Bytes::from(cfg.text()),
            version: cfg.version,
        };
        let now = crate::clock::now_ms();
        let mut out = Vec::new();
        if let Some(zxid) = self.core().allocate_zxid(now, &mut out) {
            self.propose_op(zxid, crate::clock::wall_ms(), 0, 0, op, None, &mut out);
        }
        self.run(out);
    }

    fn publish_status(&mut self) {
        let Some(node) = self.node.clone() else {
            return;
        };
        let core = self.core.as_ref().expect("core");
        let mut st = node.quorum.write();
        st.leader_stats = core.leader_stats();
        st.leader = core.leader_id();
        st.epochs = core.epochs();
        st.quorum_size = self.settings.core.membership.quorum_size();
        st.last_logged = core.last_logged();
    }

    /// Does `server` own `session` (first come owns it)? Always true standalone.
    fn owns(&mut self, session: SessionId, server: Sid) -> bool {
        if session == 0 || self.settings.core.standalone {
            return true;
        }
        *self.owners.entry(session).or_insert(server) == server
    }

    /// Proposes a write as leader (or standalone): prep, then the core.
    fn propose(
        &mut self,
        session_id: SessionId,
        xid: i32,
        ids: Vec<Id>,
        request: Request,
        origin: Option<Arc<Outbox>>,
    ) {
        let me = self.settings.core.membership.me;
        self.propose_via(me, session_id, xid, ids, request, origin)
    }

    /// Proposes a write whose client is connected to server `via`.
    fn propose_via(
        &mut self,
        via: Sid,
        session_id: SessionId,
        xid: i32,
        ids: Vec<Id>,
        request: Request,
        origin: Option<Arc<Outbox>>,
    ) {
        let now = crate::clock::now_ms();
        let mut out = Vec::new();
        let Some(zxid) = self.core().allocate_zxid(now, &mut out) else {
            self.run(out);
            // Not leading (or stepping down): the client reconnects and retries.
            if let Some(o) = origin {
                o.close();
            }
            return;
        };
        let wall = crate::clock::wall_ms();
        if matches!(request, Request::Reconfig(_)) {
            let core = self.core.as_ref().expect("core");
            self.prep
                .set_reconfig_context(crate::pipeline::prep::ReconfigContext {
                    in_progress: core.reconfig_in_progress(),
                    synced: core.synced_voters(),
                });
        }
        let op = if matches!(request, Request::CloseSession) || self.owns(session_id, via) {
            let tree = self.store.tree();
            let req = WriteRequest {
                session_id,
                ids,
                request,
            };
            self.prep.prep(&tree, &req, zxid, wall)
        } else {
            tracing::info!(session = %format!("{session_id:#x}"), via, "write through a server the session moved away from");
            TxnOp::Error(ErrorCode::SessionMoved)
        };
        self.propose_op(zxid, wall, session_id, xid, op, origin, &mut out);
        self.run(out);
    }

    #[allow(clippy::too_many_arguments)]
    fn propose_op(
        &mut self,
        zxid: Zxid,
        wall: i64,
        session_id: SessionId,
        xid: i32,
        op: TxnOp,
        origin: Option<Arc<Outbox>>,
        out: &mut Vec<Output>,
    ) {
        if let Some(o) = origin {
            if matches!(op, TxnOp::CreateSession { .. }) {
                self.connecting.insert(session_id, o);
            } else {
                self.origins.insert((session_id, xid), (o, zxid));
            }
        }
        let txn = Arc::new(Txn {
            zxid,
            time_ms: wall,
            session_id,
            cxid: xid,
            op,
        });
        self.commit_timer.proposed(zxid);
        let now = crate::clock::now_ms();
        self.core().propose(now, txn, out);
    }

    fn is_leading(&self) -> bool {
        matches!(
            self.core.as_ref().map(|c| c.role()),
            Some(RoleView::Leading { .. } | RoleView::Standalone)
        )
    }

    fn leader(&self) -> Option<Sid> {
        self.core.as_ref().and_then(|c| match c.role() {
            RoleView::Following { leader } | RoleView::Observing { leader } => Some(leader),
            _ => None,
        })
    }

    fn sync(&mut self, session_id: SessionId, xid: i32, path: String, origin: Arc<Outbox>) {
        if self.is_leading() {
            let zxid = self.core().last_logged();
            self.syncs.push_back(PendingSync {
                zxid,
                to: SyncTarget::Local { path, origin },
            });
            // Nothing outstanding: answer right away (in order, through the store).
            self.apply(Vec::new());
        } else if let Some(leader) = self.leader() {
            self.forwarded_syncs
                .insert((session_id, xid), (path, origin));
            self.links
                .send(leader, PeerMsg::SyncRequest { session_id, xid });
        } else {
            origin.close();
        }
    }

    /// Submits deleteContainer for empty used containers and expired TTL nodes (leader only).
    fn reap_containers(&mut self) {
        if !self.is_leading() || !self.serving {
            return;
        }
        let now = crate::clock::wall_ms();
        let interval_ms = self.settings.container_check_interval.as_millis();
        let budget =
            (self.settings.container_max_per_minute as u128 * interval_ms / 60_000).max(1) as usize;
        let candidates: Vec<String> = {
            let tree = self.store.tree();
            // Containers and TTL nodes carry a stored owner: only those nodes are looked at.
            tree.nodes_with_owner()
                .filter(|n| {
                    n.num_children == 0
                        && match n.kind() {
                            NodeKind::Container => n.cversion > 0,
                            NodeKind::Ttl(ttl) => now - n.mtime > ttl,
                            _ => false,
                        }
                })
                .map(|n| n.path())
                .take(budget)
                .collect()
        };
        for path in candidates {
            tracing::debug!(%path, "reaping container/TTL node");
            self.propose(
                0,
                0,
                Vec::new(),
                Request::DeleteContainer(PathRequest { path }),
                None,
            );
        }
    }

    /// A learner's forwarded request, at the leader.
    fn on_learner_request(&mut self, from: Sid, msg: PeerMsg) {
        match msg {
            PeerMsg::Request {
                session_id,
                xid,
                opcode,
                body,
                ids,
            } => {
                if !self.is_leading() {
                    return;
                }
                let mut r = Reader::new(body);
                match Request::decode(opcode, &mut r) {
                    Ok(req) => self.propose_via(from, session_id, xid, ids, req, None),
                    Err(e) => {
                        tracing::warn!(peer = from, opcode, error = %e, "undecodable forwarded request");
                        let now = crate::clock::now_ms();
                        let mut out = Vec::new();
                        if let Some(z) = self.core().allocate_zxid(now, &mut out) {
                            self.propose_op(
                                z,
                                crate::clock::wall_ms(),
                                session_id,
                                xid,
                                TxnOp::Error(ErrorCode::MarshallingError),
                                None,
                                &mut out,
                            );
                        }
                        self.run(out);
                    }
                }
            }
            PeerMsg::CreateSession {
                session_id,
                timeout_ms,
                password,
            } => {
                if !self.is_leading() {
                    return;
                }
                self.owners.insert(session_id, from);
                self.create_session(session_id, timeout_ms, password, None);
            }
            PeerMsg::Revalidate { session_id } if self.is_leading() => {
                self.owners.insert(session_id, from);
            }
            PeerMsg::SyncRequest { session_id, xid } => {
                if !self.is_leading() {
                    return;
                }
                let zxid = self.core().last_logged();
                self.syncs.push_back(PendingSync {
                    zxid,
                    to: SyncTarget::Learner {
                        peer: from,
                        session_id,
                        xid,
                    },
                });
                self.apply(Vec::new());
            }
            PeerMsg::SyncDone {
                session_id,
                xid,
                zxid,
            } => {
                if let Some((path, origin)) = self.forwarded_syncs.remove(&(session_id, xid)) {
                    self.learner_syncs.push_back((zxid, path, origin));
                    self.apply(Vec::new());
                }
            }
            _ => {}
        }
    }

    fn create_session(
        &mut self,
        session_id: SessionId,
        timeout_ms: i32,
        password: Bytes,
        origin: Option<Arc<Outbox>>,
    ) {
        let now = crate::clock::now_ms();
        let mut out = Vec::new();
        let Some(zxid) = self.core().allocate_zxid(now, &mut out) else {
            self.run(out);
            if let Some(o) = origin {
                o.close();
            }
            return;
        };
        let op = self
            .prep
            .prep_create_session(session_id, timeout_ms, password);
        self.propose_op(
            zxid,
            crate::clock::wall_ms(),
            session_id,
            0,
            op,
            origin,
            &mut out,
        );
        self.run(out);
    }

    /// A forwarded write as a follower: encode and send to the leader.
    fn forward(
        &mut self,
        session_id: SessionId,
        xid: i32,
        ids: Vec<Id>,
        request: Request,
        origin: Option<Arc<Outbox>>,
    ) {
        let Some(leader) = self.leader() else {
            if let Some(o) = origin {
                o.close();
            }
            return;
        };
        let mut body = BytesMut::new();
        request.write_body(&mut body);
        if let Some(o) = origin {
            self.origins.insert((session_id, xid), (o, 0));
        }
        self.links.send(
            leader,
            PeerMsg::Request {
                session_id,
                xid,
                opcode: request.opcode(),
                body: body.freeze(),
                ids,
            },
        );
    }

    /// After a failed durable action on a standalone node: the requests in flight fail, in
    /// order, with an error; reads go on; the next writes try again.
    fn fail_in_flight(&mut self) {
        let mut failed: Vec<(Zxid, CommitItem)> = self
            .origins
            .drain()
            .map(|((session_id, _), (origin, zxid))| {
                (
                    zxid,
                    CommitItem::Failed {
                        session_id,
                        closes_session: origin.head_opcode()
                            == Some(crate::proto::opcode::CLOSE_SESSION),
                        origin: Some(origin),
                    },
                )
            })
            .collect();
        failed.extend(self.connecting.drain().map(|(session_id, origin)| {
            (
                0,
                CommitItem::Failed {
                    session_id,
                    closes_session: false,
                    origin: Some(origin),
                },
            )
        }));
        failed.sort_by_key(|(z, _)| *z);
        metrics::counter!("zkr_requests_failed_disk_total").increment(failed.len() as u64);
        let items: Vec<CommitItem> = failed.into_iter().map(|(_, i)| i).collect();
        if !items.is_empty() {
            crate::node::telemetry::STORE_QUEUE.sent();
            crate::link::send(&self.store_actor, "quorum -> store", Apply(items));
        }
        self.prep.reset();
    }
}

/// Snapshot for a learner, from the blocking thread.
#[derive(Message)]
#[rtype(result = "()")]
struct SnapshotReady {
    learner: Sid,
    blob: Arc<SnapshotBlob>,
}

impl Actor for QuorumPeer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
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
        let (core, out) = PeerCore::new(
            self.settings.core.clone(),
            persisted,
            crate::clock::now_ms(),
        );
        self.core = Some(core);
        self.run(out);
        ctx.run_interval(self.settings.tick_every, |act, _| {
            act.step(Input::Tick);
            act.read_only_tick();
        });
        ctx.run_interval(self.settings.container_check_interval, |act, _| {
            act.reap_containers()
        });
    }
}

impl Handler<Attach> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: Attach, _: &mut Context<Self>) {
        m.0.set_serving(self.serving);
        self.node = Some(m.0);
        if let Some(core) = &self.core {
            let r = core.role();
            self.show_role(r);
        }
        self.publish_status();
    }
}

impl Handler<SubmitWrite> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: SubmitWrite, _: &mut Context<Self>) {
        if let Request::Sync(PathRequest { path }) = m.request {
            if let Some(origin) = m.origin {
                self.sync(m.session_id, m.xid, path, origin);
            }
            return;
        }
        if self.is_leading() {
            self.propose(m.session_id, m.xid, m.ids, m.request, m.origin);
        } else {
            self.forward(m.session_id, m.xid, m.ids, m.request, m.origin);
        }
    }
}

impl Handler<SessionResumed> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: SessionResumed, _: &mut Context<Self>) {
        if self.is_leading() {
            let me = self.settings.core.membership.me;
            self.owners.insert(m.0, me);
        } else if let Some(leader) = self.leader() {
            self.links
                .send(leader, PeerMsg::Revalidate { session_id: m.0 });
        }
    }
}

impl Handler<CreateSession> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: CreateSession, _: &mut Context<Self>) {
        if self.is_leading() {
            let me = self.settings.core.membership.me;
            self.owners.insert(m.session_id, me);
            self.create_session(m.session_id, m.timeout_ms, m.password, Some(m.origin));
        } else if let Some(leader) = self.leader() {
            self.connecting.insert(m.session_id, m.origin);
            self.links.send(
                leader,
                PeerMsg::CreateSession {
                    session_id: m.session_id,
                    timeout_ms: m.timeout_ms,
                    password: m.password,
                },
            );
        } else {
            m.origin.close();
        }
    }
}

impl Handler<ExpireSession> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: ExpireSession, _: &mut Context<Self>) {
        if !self.is_leading() || !self.serving {
            // Asked before the role changed: the tracker schedules it again, and the next
            // serving leader decides.
            if let Some(s) = self.sessions.get(m.0) {
                s.unmark_closing();
                self.sessions.requeue(m.0);
            }
            return;
        }
        tracing::info!(session = %format!("{:#x}", m.0), "session expired");
        metrics::counter!("zkr_session_expiries_total").increment(1);
        self.propose(m.0, 0, Vec::new(), Request::CloseSession, None);
    }
}

impl Handler<JobsDone> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: JobsDone, _: &mut Context<Self>) {
        match m.result {
            Ok(effect) => {
                if let JobEffect::Tree(tree) = effect {
                    let zxid = tree.last_zxid();
                    self.last_applied = zxid;
                    crate::link::send(&self.store_actor, "quorum -> store", ReplaceTree(tree));
                    self.step(Input::Reloaded { zxid });
                }
                for t in m.tokens {
                    self.step(Input::Durable(t));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, kind = e.kind().label(), "durable action failed");
                let standalone = self.core.as_ref().map(|c| c.role()) == Some(RoleView::Standalone);
                if standalone {
                    self.fail_in_flight();
                }
                if let Some(first) = m.tokens.first() {
                    self.step(Input::DurableFailed(*first));
                }
            }
        }
    }
}

impl Handler<FloorChanged> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: FloorChanged, _: &mut Context<Self>) {
        self.step(Input::Floor(m.0));
    }
}

impl Handler<SnapshotReady> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: SnapshotReady, _: &mut Context<Self>) {
        self.step(Input::SnapshotTaken {
            learner: m.learner,
            blob: m.blob,
        });
    }
}

impl Handler<PeerInbound> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: PeerInbound, _: &mut Context<Self>) {
        let prev = self.link_generations.insert(m.from, m.generation);
        if prev.is_some_and(|g| g != m.generation) {
            // A new connection from that peer: what the old one carried may be lost.
            metrics::counter!("zkr_actor_restarts_total", "actor" => "peer_inbound").increment(1);
            self.step(Input::LinkReset { peer: m.from });
        }
        match m.msg {
            msg @ (PeerMsg::Request { .. }
            | PeerMsg::CreateSession { .. }
            | PeerMsg::Revalidate { .. }
            | PeerMsg::SyncRequest { .. }
            | PeerMsg::SyncDone { .. }) => self.on_learner_request(m.from, msg),
            msg => self.step(Input::Message { from: m.from, msg }),
        }
    }
}

impl Handler<PeerAnnounced> for QuorumPeer {
    type Result = ();
    /// A server this one has no link to (not a member yet: to be added by reconfig) connected:
    /// dial it back where it listens, so it can be answered (votes) and synchronised.
    fn handle(&mut self, m: PeerAnnounced, _: &mut Context<Self>) {
        if self.links.peers().contains_key(&m.from) || m.from == self.settings.core.membership.me {
            return;
        }
        use std::net::ToSocketAddrs;
        match m.listen_addr.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => {
                tracing::info!(peer = m.from, addr = %a, "a server that is not a member connected: dialling it back");
                let mut peers = self.links.peers().clone();
                peers.insert(m.from, a);
                self.links.update(peers);
            }
            _ => {
                tracing::warn!(peer = m.from, addr = %m.listen_addr, "cannot resolve a joining server's peer address")
            }
        }
    }
}

impl Handler<LinkDown> for QuorumPeer {
    type Result = ();
    fn handle(&mut self, m: LinkDown, _: &mut Context<Self>) {
        self.step(Input::LinkReset { peer: m.peer });
    }
}

/// The peer addresses to use after the committed configuration moves from `previous` to
/// `next`, given the addresses in use (`current`).
///
/// A member whose entry a configuration change did not touch keeps the address this server
/// already reaches it at: each server's own configuration may name its peers differently
/// (another host name, a NAT or proxy in between), and the configuration a new leader announces
/// at the start of its epoch (version `epoch << 32`, no reconfig behind it) is the leader's
/// view, not a change. New members and members whose entry a reconfig changed use the committed
/// address, as ZooKeeper does.
pub fn effective_peer_addresses(
    previous: &super::dynconfig::DynamicConfig,
    next: &super::dynconfig::DynamicConfig,
    current: &HashMap<Sid, std::net::SocketAddr>,
    me: Sid,
) -> HashMap<Sid, std::net::SocketAddr> {
    let announcement = next.version & 0xffff_ffff == 0;
    let mut addrs = peer_addresses(next, me);
    for (id, addr) in addrs.iter_mut() {
        let untouched = previous.servers.get(id) == next.servers.get(id);
        if announcement || untouched {
            if let Some(kept) = current.get(id) {
                *addr = *kept;
            }
        }
    }
    addrs
}

/// The peer address of every member but `me`.
pub fn peer_addresses(
    cfg: &super::dynconfig::DynamicConfig,
    me: Sid,
) -> HashMap<Sid, std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    cfg.servers
        .iter()
        .filter(|(id, _)| **id != me)
        .filter_map(|(id, spec)| {
            let addr = (spec.host.as_str(), spec.peer_port)
                .to_socket_addrs()
                .ok()?
                .next();
            if addr.is_none() {
                tracing::warn!(server = id, host = %spec.host, "cannot resolve a member's host");
            }
            addr.map(|a| (*id, a))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::dynconfig::parse;

    fn addr(port: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn an_epoch_announcement_keeps_the_addresses_in_use() {
        let mine = parse("server.1=127.0.0.1:1001:1:participant\nserver.2=127.0.0.1:1002:1:participant\nserver.3=127.0.0.1:1003:1:participant").unwrap();
        let leaders = parse("server.1=127.0.0.1:3001:1:participant\nserver.2=127.0.0.1:3002:1:participant\nserver.3=127.0.0.1:1003:1:participant\nversion=100000000").unwrap();
        let current = peer_addresses(&mine, 1);
        let next = effective_peer_addresses(&mine, &leaders, &current, 1);
        assert_eq!(next, HashMap::from([(2, addr(1002)), (3, addr(1003))]));
    }

    #[test]
    fn a_reconfig_moves_only_the_members_it_changed() {
        let before = parse("server.1=127.0.0.1:1001:1:participant\nserver.2=127.0.0.1:1002:1:participant\nserver.3=127.0.0.1:1003:1:participant\nversion=100000000").unwrap();
        let after = parse("server.1=127.0.0.1:1001:1:participant\nserver.2=127.0.0.1:1002:1:participant\nserver.3=127.0.0.1:4003:1:participant\nserver.4=127.0.0.1:1004:1:observer\nversion=100000005").unwrap();
        // This server reaches 2 through its own route.
        let current = HashMap::from([(2, addr(2002)), (3, addr(1003))]);
        let next = effective_peer_addresses(&before, &after, &current, 1);
        assert_eq!(
            next,
            HashMap::from([(2, addr(2002)), (3, addr(4003)), (4, addr(1004))])
        );
    }
}
