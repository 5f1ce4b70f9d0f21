//! The client workload of the random runs: clients with sessions, each connected to one
//! server (any server, as real clients are), sending what real clients send through that
//! server's pipeline and store:
//!
//! * writes (create, ephemeral create, setData and delete with versions, setACL, multi) and
//!   closeSession, which a follower or observer forwards to its leader;
//! * sync followed by a read, and plain reads (getData, exists, getChildren) answered from the
//!   server's own tree by the store's read code ([`crate::store::read::execute`]);
//! * pings that touch the session in the server's live session registry (followers report the
//!   touches to the leader, whose tracker expires the sessions that stop);
//! * reconnects: a client whose server stops serving, or has been silent for the client's read
//!   timeout (a paused server: [`super::connections`] states the rule), or now and then any
//!   client, moves its session to another serving server that has seen everything it saw
//!   (`SessionResumed`). Until then what it sends a paused server waits for it, in order.
//!
//! A client sends one request (or read) at a time and waits for its reply, so its replies come
//! in order. What the clients saw is recorded for the checks ([`super::history`]): every reply
//! (the txn it answers and its result), every read reply (the frame, at the server's zxid when
//! the server ran the read), the highest zxid acknowledged to any client when each sync
//! started, and each session's touches; and the results of the writes whose reply was lost
//! with their connection (their effects are real).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use rand::Rng;

use super::connections::Wire;
use super::Sim;
use crate::acl::AclPolicy;
use crate::outbox::Outbox;
use crate::pipeline::{Applied, Input, Token};
use crate::proto::codes::opcode;
use crate::proto::records::{
    CheckVersionRequest, CreateRequest, DeleteRequest, PathRequest, PathWatchRequest,
    SetAclRequest, SetDataRequest,
};
use crate::proto::{Acl, MultiOp, Request};
use crate::quorum::msg::Sid;
use crate::store::read::{execute, Watches};
use crate::tree::watches::WatchManager;
use crate::tree::OpResult;
use crate::txn::{SessionId, Txn, TxnOp, Zxid};

/// Session timeout of the workload's clients (ms); they ping every third of it.
pub(crate) const SESSION_TIMEOUT_MS: i64 = 6000;

/// A client drops a connection it has heard nothing on for this long (ms): 2/3 of the session
/// timeout, as Apache ZooKeeper's Java client computes its read timeout.
pub(crate) const READ_TIMEOUT_MS: i64 = SESSION_TIMEOUT_MS * 2 / 3;

/// What a client waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// The reply to the request handed in as this token.
    Reply(Token),
    /// The reply to a read.
    Read,
}

/// One simulated client and its session.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    /// The server its connection is on, and that server's life then (a crash breaks it).
    pub server: Sid,
    pub(super) life: (u64, u64),
    /// Its connection is open (it has not dropped it on a read timeout since it connected).
    pub(super) up: bool,
    /// Its connection's number (one more at each connect or drop): what a server runs for an
    /// older one gets no reply to the client.
    pub(super) conn: u64,
    /// When it last heard from its server (a reply, a ping's answer, the connect).
    pub heard_at: i64,
    /// Driven by a scenario: the random workload sends nothing on it (its pings and its read
    /// timeout go on).
    pub scripted: bool,
    /// The highest zxid it has seen in a reply.
    pub last_zxid: Zxid,
    /// Its createSession committed (it was answered).
    pub open: bool,
    /// It asked to close its session.
    pub closing: bool,
    /// Times (simulated) its pings and requests landed on a serving server that knows the
    /// session (what an older connection left in a paused server's socket lands when it wakes).
    pub touches: Vec<i64>,
    pub(super) next_ping: i64,
    /// Its request (or read) in flight: a client sends one at a time, so its replies come in
    /// order (a real client's requests are answered in order on its connection).
    pub(super) pending: Option<Waiting>,
}

/// A request a client sent and is waiting for.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    /// The session.
    pub session: SessionId,
    /// The request's xid (0 for createSession).
    pub xid: i32,
    /// The request (`None`: createSession).
    pub request: Option<Request>,
    /// A sync: the highest zxid acknowledged to any client when it was sent, and the read
    /// that follows it.
    pub sync: Option<(Zxid, Request)>,
}

/// A reply a client got to a write.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// What it asked.
    pub sent: Sent,
    /// The txn that answered it.
    pub zxid: Zxid,
    /// The result the server's store reported.
    pub result: OpResult,
}

/// A read reply a client got.
#[derive(Debug, Clone)]
pub(crate) struct ReadSeen {
    /// The server that answered it.
    pub server: Sid,
    /// The server's last applied zxid when it read.
    pub zxid: Zxid,
    /// The request and its xid.
    pub xid: i32,
    /// The request.
    pub request: Request,
    /// The reply frame.
    pub reply: Bytes,
}

/// The workload's state and what its clients saw.
pub(crate) struct Workload {
    /// Clients by session.
    pub clients: BTreeMap<SessionId, Client>,
    /// Requests in flight, by token.
    pub sent: BTreeMap<Token, Sent>,
    /// Every write reply.
    pub answers: Vec<Answer>,
    /// Every read reply.
    pub reads: Vec<ReadSeen>,
    /// The highest zxid acknowledged to a client so far.
    pub max_acked: Zxid,
    /// Sessions whose client asked to close them.
    pub close_requested: BTreeSet<SessionId>,
    /// When each txn with no client request (expiries) was proposed.
    pub proposed_at: BTreeMap<Zxid, i64>,
    /// Sessions expired while their client kept pinging (the check fails on the first).
    pub expiries: usize,
    /// Times each server stopped serving.
    pub stops: BTreeMap<Sid, u64>,
    /// Read timeouts: (time, session, the server its client left).
    pub timeouts: Vec<(i64, SessionId, Sid)>,
    /// The settling's writes go on until then at least (a second past the read timeout of the
    /// clients of the last server paused).
    pub writes_until: i64,
    /// Requests whose connection its client dropped before their reply, by token.
    lost: BTreeMap<Token, Sent>,
    /// The results of the writes among them that a server applied (or refused) all the same:
    /// replies no client got, whose effects are real.
    pub unheard: Vec<Answer>,
    next_session: SessionId,
    next_xid: i32,
    outbox: Outbox,
    watches: WatchManager<u64>,
}

impl Default for Workload {
    fn default() -> Workload {
        Workload {
            clients: BTreeMap::new(),
            sent: BTreeMap::new(),
            answers: Vec::new(),
            reads: Vec::new(),
            max_acked: 0,
            close_requested: BTreeSet::new(),
            proposed_at: BTreeMap::new(),
            expiries: 0,
            stops: BTreeMap::new(),
            timeouts: Vec::new(),
            writes_until: 0,
            lost: BTreeMap::new(),
            unheard: Vec::new(),
            next_session: 0x7000,
            next_xid: 1,
            outbox: Outbox::detached(1),
            watches: WatchManager::new(),
        }
    }
}

impl Workload {
    /// The request `token` is out of the pipeline (answered, or its connection closed): its
    /// client may send the next one.
    pub(crate) fn dropped(&mut self, token: Token) -> Option<Sent> {
        self.lost.remove(&token);
        let sent = self.sent.remove(&token)?;
        if let Some(c) = self.clients.get_mut(&sent.session) {
            if c.pending == Some(Waiting::Reply(token)) {
                c.pending = None;
            }
        }
        Some(sent)
    }

    /// The session's client drops its connection: what it waited for gets no reply
    /// (ConnectionLoss); what the connection sent that a server still runs is no reply to it.
    pub(super) fn drop_connection(&mut self, session: SessionId) {
        let c = self.clients.get_mut(&session).expect("client");
        c.conn += 1;
        if let Some(Waiting::Reply(t)) = c.pending.take() {
            if let Some(sent) = self.sent.remove(&t) {
                self.lost.insert(t, sent);
            }
        }
    }

    /// The session's client heard from its server now.
    pub(super) fn heard(&mut self, session: SessionId, now: i64) {
        if let Some(c) = self.clients.get_mut(&session) {
            c.heard_at = now;
        }
    }

    pub(super) fn connection_life(&self, s: &super::Server) -> (u64, u64) {
        (s.life, self.stops.get(&s.id).copied().unwrap_or(0))
    }
}

/// The reply header of a frame: (zxid, err).
pub(crate) fn header(frame: &Bytes) -> (Zxid, i32) {
    let mut b = frame.slice(8..);
    (b.get_i64(), b.get_i32())
}

impl Sim {
    /// One step of the client workload: due pings, then one random request.
    pub(crate) fn workload_step(&mut self) {
        self.read_timeouts();
        self.ping_due();
        let open: Vec<SessionId> = self
            .workload
            .clients
            .iter()
            .filter(|(_, c)| c.open && !c.closing && !c.scripted)
            .map(|(s, _)| *s)
            .collect();
        let roll = self.rng.random_range(0..100);
        if open.len() < 3 || (roll < 3 && open.len() < 12) {
            self.new_session();
            return;
        }
        let session = open[self.rng.random_range(0..open.len())];
        if !self.connected(session) || self.workload.clients[&session].pending.is_some() {
            return;
        }
        match roll {
            0..=2 if open.len() > 4 => {
                self.client_request(session, Request::CloseSession);
            }
            3..=5 => self.move_session(session),
            6..=20 => {
                let read = self.random_read();
                self.client_sync(session, read);
            }
            21..=45 => {
                let read = self.random_read();
                self.send_read(session, read);
            }
            _ => {
                let request = self.random_write(session);
                self.client_request(session, request);
            }
        }
    }

    fn xid(&mut self) -> i32 {
        self.workload.next_xid += 1;
        self.workload.next_xid
    }

    fn new_session(&mut self) {
        let candidates = self.reachable(0, None);
        if candidates.is_empty() {
            return;
        }
        let server = candidates[self.rng.random_range(0..candidates.len())];
        self.open_session_on(server, false);
    }

    /// A new client on `server` (`scripted`: a scenario's, which the random workload leaves
    /// alone); returns its session id. It is open once its createSession is answered.
    pub(crate) fn open_session_on(&mut self, server: Sid, scripted: bool) -> SessionId {
        self.workload.next_session += 1;
        let session = self.workload.next_session;
        self.workload.clients.insert(
            session,
            Client {
                server,
                life: self.connection_life(server),
                up: true,
                conn: 0,
                heard_at: self.now,
                scripted,
                last_zxid: 0,
                open: false,
                closing: false,
                touches: Vec::new(),
                next_ping: self.now + SESSION_TIMEOUT_MS / 3,
                pending: None,
            },
        );
        let token = self.requests.handed(server);
        self.workload.sent.insert(
            token,
            Sent {
                session,
                xid: 0,
                request: None,
                sync: None,
            },
        );
        self.step_pipeline(
            server,
            Input::CreateSession {
                token,
                session_id: session,
                timeout_ms: SESSION_TIMEOUT_MS as i32,
                password: Bytes::from_static(b"pw"),
            },
        );
        session
    }

    fn random_path(&mut self) -> String {
        let k = self.rng.random_range(0..6);
        if self.rng.random_bool(0.4) {
            format!("/k{k}/c{}", self.rng.random_range(0..3))
        } else {
            format!("/k{k}")
        }
    }

    fn random_read(&mut self) -> Request {
        let path = if self.rng.random_bool(0.15) {
            format!("/e{}", self.rng.random_range(0..6))
        } else {
            self.random_path()
        };
        let r = PathWatchRequest { path, watch: false };
        match self.rng.random_range(0..3) {
            0 => Request::GetData(r),
            1 => Request::Exists(r),
            _ => Request::GetChildren(r),
        }
    }

    /// A version for a conditional write on `path`: the one the client's server shows (mostly
    /// right), any (-1), or a guess.
    fn random_version(&mut self, session: SessionId, path: &str, acl: bool) -> i32 {
        let server = self.workload.clients[&session].server;
        let seen =
            self.servers[&server]
                .tree
                .get(path)
                .map(|n| if acl { n.aversion } else { n.version });
        match (self.rng.random_range(0..4), seen) {
            (0, _) => -1,
            (1, _) => self.rng.random_range(0..3),
            (_, Some(v)) => v,
            (_, None) => -1,
        }
    }

    fn random_write(&mut self, session: SessionId) -> Request {
        let data = Some(Bytes::from(format!("v{}", self.workload.next_xid)));
        let path = self.random_path();
        match self.rng.random_range(0..10) {
            0..=2 => {
                let (path, flags) = if self.rng.random_bool(0.25) {
                    (format!("/e{}", self.rng.random_range(0..6)), 1)
                } else if self.rng.random_bool(0.1) {
                    (format!("{path}-"), 2)
                } else {
                    (path, 0)
                };
                Request::Create(
                    opcode::CREATE,
                    CreateRequest {
                        path,
                        data,
                        acl: Acl::open_unsafe(),
                        flags,
                    },
                )
            }
            3 | 4 => {
                let version = self.random_version(session, &path, false);
                Request::SetData(SetDataRequest {
                    path,
                    data,
                    version,
                })
            }
            5 | 6 => {
                let version = self.random_version(session, &path, false);
                Request::Delete(DeleteRequest { path, version })
            }
            7 => {
                let version = self.random_version(session, &path, true);
                let acl = if self.rng.random_bool(0.7) {
                    Acl::open_unsafe()
                } else {
                    Acl::read_unsafe()
                };
                Request::SetAcl(SetAclRequest { path, acl, version })
            }
            _ => {
                let n = self.rng.random_range(1..4);
                let mut ops = Vec::new();
                for _ in 0..n {
                    let path = self.random_path();
                    let version = self.random_version(session, &path, false);
                    ops.push(match self.rng.random_range(0..4) {
                        0 => MultiOp::Create(
                            opcode::CREATE,
                            CreateRequest {
                                path,
                                data: data.clone(),
                                acl: Acl::open_unsafe(),
                                flags: 0,
                            },
                        ),
                        1 => MultiOp::SetData(SetDataRequest {
                            path,
                            data: data.clone(),
                            version,
                        }),
                        2 => MultiOp::Delete(DeleteRequest { path, version }),
                        _ => MultiOp::Check(CheckVersionRequest { path, version }),
                    });
                }
                Request::Multi(Ok(ops))
            }
        }
    }

    /// A write (or closeSession) of `session` through its server; returns its xid.
    pub(crate) fn client_request(&mut self, session: SessionId, request: Request) -> i32 {
        let server = self.workload.clients[&session].server;
        let xid = self.xid();
        if matches!(request, Request::CloseSession) {
            self.workload.close_requested.insert(session);
            self.workload
                .clients
                .get_mut(&session)
                .expect("client")
                .closing = true;
        }
        let token = self.requests.handed(server);
        self.workload.sent.insert(
            token,
            Sent {
                session,
                xid,
                request: Some(request.clone()),
                sync: None,
            },
        );
        self.workload
            .clients
            .get_mut(&session)
            .expect("client")
            .pending = Some(Waiting::Reply(token));
        let input = Input::Write {
            token: Some(token),
            session_id: session,
            xid,
            ids: Vec::new(),
            request,
        };
        self.client_send(session, Wire::Request(input));
        xid
    }

    /// A sync of `session` through its server, then `read` once it is answered.
    pub(crate) fn client_sync(&mut self, session: SessionId, read: Request) {
        let server = self.workload.clients[&session].server;
        let xid = self.xid();
        let token = self.requests.handed(server);
        self.workload.sent.insert(
            token,
            Sent {
                session,
                xid,
                request: Some(Request::Sync(PathRequest { path: "/".into() })),
                sync: Some((self.workload.max_acked, read)),
            },
        );
        self.workload
            .clients
            .get_mut(&session)
            .expect("client")
            .pending = Some(Waiting::Reply(token));
        let input = Input::Sync {
            token,
            session_id: session,
            xid,
            path: "/".into(),
        };
        self.client_send(session, Wire::Request(input));
    }

    /// A read of `session` through its server (answered when the server runs it).
    pub(crate) fn send_read(&mut self, session: SessionId, request: Request) {
        let xid = self.xid();
        self.workload
            .clients
            .get_mut(&session)
            .expect("client")
            .pending = Some(Waiting::Read);
        self.client_send(session, Wire::Read { xid, request });
    }

    /// A read of `session` answered by `server` from its tree as it is now, by the store's
    /// read code. `floor`: a sync before it was answered; the read must see at least that zxid.
    pub(super) fn client_read(
        &mut self,
        server: Sid,
        session: SessionId,
        xid: i32,
        request: Request,
        floor: Option<Zxid>,
    ) {
        let s = &self.servers[&server];
        let policy = AclPolicy::default();
        let (reply, _) = execute(
            &s.tree,
            &mut Watches::Locked(&mut self.workload.watches),
            &policy,
            &self.workload.outbox,
            xid,
            request.clone(),
        );
        let (zxid, _) = header(&reply);
        assert_eq!(zxid, s.tree.last_zxid(), "a read's zxid is its server's");
        if let Some(floor) = floor {
            assert!(
                zxid >= floor,
                "s{server}: a read after sync saw {zxid:#x}, but {floor:#x} was acknowledged before the sync started"
            );
        }
        let c = self.workload.clients.get_mut(&session).expect("client");
        assert!(
            zxid >= c.last_zxid,
            "session {session:#x} read {zxid:#x} at s{server} after it saw {:#x}: reads went back",
            c.last_zxid
        );
        c.last_zxid = zxid;
        self.read_answered(session);
        self.workload.reads.push(ReadSeen {
            server,
            zxid,
            xid,
            request,
            reply,
        });
    }

    /// Replies released by server `id` (after `results` of its txns were applied, in order).
    pub(crate) fn workload_answers(&mut self, id: Sid, items: &[Applied], results: &[OpResult]) {
        let mut results = results.iter();
        for item in items {
            match item {
                Applied::Txn { txn, token } => {
                    let result = results.next().expect("a result per txn").clone();
                    if let Some(t) = token {
                        self.answered_write(id, *t, txn, result);
                    }
                }
                Applied::Sync { token, .. } => {
                    // A sync answered after its session expired (it waited on a paused server)
                    // is no live client's read: the client and what it saw went with the
                    // session, as for a write's reply.
                    if let Some(sent) = self.workload.dropped(*token) {
                        if self.workload.clients.contains_key(&sent.session) {
                            let (floor, read) = sent.sync.expect("a sync");
                            let xid = self.xid();
                            self.client_read(id, sent.session, xid, read, Some(floor));
                        }
                    }
                }
                Applied::Failed { token, .. } => {
                    if let Some(sent) = self.workload.dropped(*token) {
                        self.workload.heard(sent.session, self.now);
                    }
                }
            }
        }
    }

    fn answered_write(&mut self, id: Sid, token: Token, txn: &Arc<Txn>, result: OpResult) {
        let lost = self.workload.lost.remove(&token);
        let Some((sent, heard)) = self
            .workload
            .dropped(token)
            .map(|s| (s, true))
            .or(lost.map(|s| (s, false)))
        else {
            return;
        };
        assert_eq!(
            (txn.session_id, txn.cxid),
            (sent.session, sent.xid),
            "s{id}: request {token} answered by {:#x}, the txn of another request",
            txn.zxid
        );
        let answer = Answer {
            sent,
            zxid: txn.zxid,
            result,
        };
        if !heard {
            // Its client dropped the connection first: the reply reaches no one.
            self.workload.unheard.push(answer);
            return;
        }
        let sent = &answer.sent;
        self.workload.max_acked = self.workload.max_acked.max(txn.zxid);
        let session = sent.session;
        self.workload.heard(session, self.now);
        if let Some(c) = self.workload.clients.get_mut(&session) {
            assert!(
                txn.zxid >= c.last_zxid,
                "session {session:#x}: reply {:#x} after it saw {:#x}",
                txn.zxid,
                c.last_zxid
            );
            c.last_zxid = txn.zxid;
            match &txn.op {
                TxnOp::CreateSession { .. } => c.open = true,
                TxnOp::CloseSession { .. } => {
                    self.workload.clients.remove(&session);
                }
                _ => {}
            }
        }
        self.workload.answers.push(answer);
    }

    /// A closeSession committed. If no client asked for it (an expiry), its client must have
    /// stopped pinging: two pings that reached a serving server within the timeout (less the
    /// time a touch takes to reach the leader, and the clocks' drift) before the expiry was
    /// proposed mean the leader expired a live session. The two must be a tick apart: a
    /// learner reports the sessions touched since its last report in its next ping reply (the
    /// leader pings twice a tick), so touches closer together (a move to a server and the ping
    /// due at that instant) ride one report, which one broken link loses.
    pub(crate) fn check_expiry(&mut self, txn: &Txn) {
        if self.workload.close_requested.contains(&txn.session_id) {
            return;
        }
        let Some(c) = self.workload.clients.remove(&txn.session_id) else {
            return;
        };
        self.workload.expiries += 1;
        let proposed = self
            .workload
            .proposed_at
            .get(&txn.zxid)
            .copied()
            .unwrap_or(self.now);
        let window = SESSION_TIMEOUT_MS * 9 / 10 - 4 * self.timing.tick_ms;
        let mut recent = 0;
        let mut last_counted: Option<i64> = None;
        for t in c.touches.iter().filter(|t| proposed - **t < window) {
            if last_counted.is_none_or(|l| t - l >= self.timing.tick_ms) {
                recent += 1;
                last_counted = Some(*t);
            }
        }
        assert!(
            recent < 2,
            "session {:#x} expired at {proposed} ({:#x}) though its client pinged at {:?} (timeout {SESSION_TIMEOUT_MS} ms)",
            txn.session_id,
            txn.zxid,
            c.touches
        );
    }
}
