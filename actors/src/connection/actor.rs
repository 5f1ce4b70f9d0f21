//! One actor per client socket: the handshake, then requests in arrival order.
//!
//! Reads are answered here, on this connection's arbiter, when nothing of the connection is
//! pending; writes, syncs and closeSession go to the pipeline with a pending slot in the
//! [`Outbox`], and the store answers them in order. Frames that arrive while the session is
//! being created are kept and processed once it exists (clients pipeline behind the
//! ConnectRequest).
//!
//! The socket's write half belongs to a writer task fed by the outbox channel; it batches
//! whatever is queued into one write. The socket is a plain TCP stream or, on the secure port,
//! a TLS stream (see `listener`); `sasl` (102) requests run the SASL exchange of [`super::sasl`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::fourlw;
use super::sasl::{self, DigestMd5Server, SaslError, Step};
use crate::acl;
use crate::admission::{ConnFlow, Throttled};
use crate::context::NodeContext;
use crate::outbox::{Out, Outbox, Pending};
use crate::peer::messages::{CreateSession, SessionResumed, SubmitWrite};
use crate::proto::codes::opcode;
use crate::proto::frame::{FrameError, Inbound};
use crate::proto::jute::{DecodeError, Jute, Reader};
use crate::proto::records::{
    ConnectRequest, ConnectResponse, Id, ReplyHeader, RequestHeader, SaslToken,
};
use crate::proto::reply;
use crate::proto::{ErrorCode, Request};
use crate::session::LiveSession;

enum State {
    /// Waiting for the ConnectRequest.
    New,
    /// Session being created; frames that arrive meanwhile wait here.
    Establishing(VecDeque<Bytes>),
    /// Serving requests.
    Established(Arc<LiveSession>),
    /// A four-letter word is being answered off this thread; then the connection closes.
    /// Whatever arrives meanwhile is ignored.
    Answering,
    /// Closing: ignore whatever arrives.
    Closing,
}

/// A client connection.
pub struct Connection {
    node: Arc<NodeContext>,
    outbox: Arc<Outbox>,
    remote: SocketAddr,
    state: State,
    /// The SASL exchange, from the first `sasl` request on.
    sasl: Option<DigestMd5Server>,
    /// The session is a read-only mode session, local to this server.
    read_only: bool,
}

/// The writer task has finished (socket closed or failed): stop.
#[derive(Message)]
#[rtype(result = "()")]
struct WriterDone;

/// The session this connection asked for now exists.
#[derive(Message)]
#[rtype(result = "()")]
struct Established;

impl Connection {
    /// Starts a connection actor for an accepted socket (on the current arbiter).
    pub fn start(node: Arc<NodeContext>, stream: tokio::net::TcpStream, remote: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        Connection::start_on(node, read, write, remote, Vec::new());
    }

    /// Starts a connection actor over the two halves of any byte stream (a TLS stream on the
    /// secure port), with the identities its transport established (`x509`).
    pub fn start_on<R, W>(
        node: Arc<NodeContext>,
        read: R,
        write: W,
        remote: SocketAddr,
        transport_ids: Vec<Id>,
    ) where
        R: AsyncRead + Unpin + 'static,
        W: AsyncWrite + Unpin + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = node.next_conn_id();
        let flow = Arc::new(ConnFlow::new(node.admission.clone()));
        let outbox = Arc::new(Outbox::new(
            id,
            remote,
            tx,
            node.stats.clone(),
            flow.clone(),
        ));
        outbox.add_identity(Id {
            scheme: "ip".into(),
            id: acl::ip_identity(remote.ip()),
        });
        for id in transport_ids {
            outbox.add_identity(id);
        }
        outbox.opened(crate::clock::wall_ms(), crate::clock::now_ms());
        let max = node.config.node.jute_max_buffer_bytes;
        Connection::create(move |ctx| {
            // A small first read buffer (it grows with the requests): an idle session should
            // not hold 8 KB (docs/benchmarks.md, "Memory model"). The reader pauses while the
            // connection's flow is throttled (admission.rs).
            ctx.add_stream(Throttled::new(
                tokio_util::codec::FramedRead::with_capacity(
                    read,
                    crate::proto::frame::ClientCodec::new(max),
                    READ_BUFFER_START,
                ),
                flow.clone(),
            ));
            let me = ctx.address();
            actix_rt::spawn(async move {
                writer(write, rx, &flow).await;
                me.do_send(WriterDone);
            });
            Connection {
                node,
                outbox,
                remote,
                state: State::New,
                sasl: None,
                read_only: false,
            }
        });
    }

    fn close(&mut self) {
        self.state = State::Closing;
        self.outbox.close();
    }

    /// Answers a four-letter word, then closes. The answer is computed on a blocking thread:
    /// some words read files (`dirs` and `conf` walk the data directory, `mntr` and `envi`
    /// read `/proc`), and no file IO runs on an actor thread.
    fn answer_word(&mut self, word: String, ctx: &mut Context<Self>) {
        self.state = State::Answering;
        let (node, outbox) = (self.node.clone(), self.outbox.clone());
        let work = tokio::task::spawn_blocking(move || fourlw::answer(&node, &word, &outbox));
        ctx.spawn(work.into_actor(self).map(|text, act, _| {
            match text {
                Ok(text) if !text.is_empty() => act.outbox.send_now(Bytes::from(text)),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(remote = %act.remote, error = %e, "four-letter word failed")
                }
            }
            act.close(); // the writer flushes the answer, closes the socket, and stops us
        }));
    }

    fn on_connect(&mut self, payload: Bytes, ctx: &mut Context<Self>) {
        if !self.node.is_serving() && !self.node.is_read_only() {
            tracing::debug!(remote = %self.remote, "not serving (no leader): closing");
            return self.close();
        }
        let req = match ConnectRequest::from_bytes(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(remote = %self.remote, error = %e, "malformed ConnectRequest; closing");
                metrics::counter!("zkr_bad_requests_total", "reason" => "malformed_connect")
                    .increment(1);
                return self.close();
            }
        };
        if self.node.is_read_only() {
            return self.on_connect_read_only(req);
        }
        if self.is_behind(&req) {
            return self.close();
        }
        let timeout = self.negotiated_timeout(req.time_out);
        let now = crate::clock::now_ms();
        if req.session_id == 0 {
            let id = self.node.session_ids.next_id();
            let password = crate::session::new_password();
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.outbox.push_pending(Pending::Connect {
                read_only: req.read_only,
                established: Some(tx),
            });
            self.node.store.register(self.outbox.clone());
            self.state = State::Establishing(VecDeque::new());
            let me = ctx.address();
            actix_rt::spawn(async move {
                if rx.await.is_ok() {
                    me.do_send(Established);
                }
            });
            crate::link::send(
                &self.node.quorum_peer,
                "connection -> pipeline",
                CreateSession {
                    session_id: id,
                    timeout_ms: timeout,
                    password,
                    origin: self.outbox.clone(),
                },
            );
            return;
        }
        let live = self.node.sessions.get(req.session_id);
        if let Some(s) = &live {
            if let Some(old) = s.connection() {
                if old.id() != self.outbox.id() {
                    tracing::debug!(remote = %self.remote, session = %format!("{:#x}", s.id), "the session reconnected here: closing its previous connection");
                    old.close();
                }
            }
        }
        match live {
            Some(s) if !s.is_closing() && s.password == req.passwd => {
                s.set_timeout_ms(timeout as i64);
                s.touch(now, self.node.sessions.tick_ms());
                s.bind(self.outbox.clone());
                self.outbox.set_session(s.id, timeout);
                self.node.store.register(self.outbox.clone());
                let resp = ConnectResponse {
                    protocol_version: 0,
                    time_out: timeout,
                    session_id: s.id,
                    passwd: s.password.clone(),
                    read_only: req.read_only.map(|_| false),
                };
                self.outbox.send_now(reply::bare(&resp));
                crate::link::send(
                    &self.node.quorum_peer,
                    "connection -> quorum",
                    SessionResumed(s.id),
                );
                tracing::debug!(remote = %self.remote, session = %format!("{:#x}", s.id), "session resumed");
                self.state = State::Established(s);
            }
            _ => {
                tracing::info!(remote = %self.remote, session = %format!("{:#x}", req.session_id), "invalid session or password: answering expired");
                self.outbox
                    .send_now(reply::bare(&ConnectResponse::invalid(req.read_only)));
                self.close();
            }
        }
    }

    /// Has the client seen a newer zxid than this server holds? ZooKeeper refuses such a client
    /// (closes without a reply) so that it cannot read an older state than it already saw.
    fn is_behind(&self, req: &ConnectRequest) -> bool {
        let last_zxid = self.node.store.tree().last_zxid();
        let behind = req.last_zxid_seen > last_zxid;
        if behind {
            tracing::info!(
                remote = %self.remote,
                client_zxid = %format!("{:#x}", req.last_zxid_seen),
                our_zxid = %format!("{last_zxid:#x}"),
                "refusing session: the client has seen a newer zxid than this server"
            );
        }
        behind
    }

    /// The session timeout granted for `asked`: clamped into [min, max] session timeout.
    fn negotiated_timeout(&self, asked: i32) -> i32 {
        let cfg = &self.node.config.node;
        let (min, max) = (cfg.min_session_timeout(), cfg.max_session_timeout());
        asked.clamp(min, max.max(min))
    }

    /// A ConnectRequest while the node is in read-only mode (ZooKeeper's
    /// `ReadOnlyZooKeeperServer`): only clients that ask for read-only access are served, with a
    /// session local to this server; a client that did not ask, or that brings a global session,
    /// is closed without a reply, as ZooKeeper does.
    fn on_connect_read_only(&mut self, req: ConnectRequest) {
        if req.read_only != Some(true) {
            tracing::info!(remote = %self.remote, "read-only mode: refusing a client that did not ask for read-only access");
            return self.close();
        }
        if self.is_behind(&req) {
            return self.close();
        }
        let timeout = self.negotiated_timeout(req.time_out);
        let now = crate::clock::now_ms();
        let local = &self.node.local_sessions;
        let live = if req.session_id == 0 {
            let id = self.node.session_ids.next_id();
            local.insert(id, timeout as i64, crate::session::new_password(), now)
        } else if let Some(s) = local.get(req.session_id) {
            if s.password != req.passwd {
                tracing::info!(remote = %self.remote, session = %format!("{:#x}", req.session_id), "read-only session: wrong password, answering expired");
                self.outbox.send_now(reply::bare(&read_only_invalid()));
                return self.close();
            }
            if let Some(old) = s.connection() {
                if old.id() != self.outbox.id() {
                    tracing::debug!(remote = %self.remote, session = %format!("{:#x}", s.id), "the session reconnected here: closing its previous connection");
                    old.close();
                }
            }
            s
        } else if self.node.sessions.get(req.session_id).is_some() {
            tracing::info!(remote = %self.remote, session = %format!("{:#x}", req.session_id), "refusing global session reconnection in read-only mode");
            return self.close();
        } else {
            tracing::info!(remote = %self.remote, session = %format!("{:#x}", req.session_id), "read-only mode: unknown session, answering expired");
            self.outbox.send_now(reply::bare(&read_only_invalid()));
            return self.close();
        };
        live.set_timeout_ms(timeout as i64);
        live.touch(now, local.tick_ms());
        live.bind(self.outbox.clone());
        self.outbox.set_session(live.id, timeout);
        self.node.store.register(self.outbox.clone());
        if !self.node.is_read_only() {
            // The quorum came back meanwhile: the session goes with read-only mode.
            local.remove(live.id);
            return self.close();
        }
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: timeout,
            session_id: live.id,
            passwd: live.password.clone(),
            read_only: Some(true),
        };
        self.outbox.send_now(reply::bare(&resp));
        tracing::debug!(remote = %self.remote, session = %format!("{:#x}", live.id), "read-only session");
        self.read_only = true;
        self.state = State::Established(live);
    }

    /// A request of a read-only session that ZooKeeper's `ReadOnlyRequestProcessor` does not pass
    /// on: writes and sync get NOTREADONLY; closeSession closes the local session. Returns
    /// whether it was answered here.
    fn read_only_filter(&mut self, xid: i32, typ: i32) -> bool {
        let zxid = self.node.store.tree().last_zxid();
        if typ == opcode::CLOSE_SESSION {
            let session = self.outbox.session();
            self.node.local_sessions.remove(session);
            tracing::debug!(remote = %self.remote, session = %format!("{session:#x}"), "read-only session closed");
            self.outbox
                .push_ready(reply::header_only(xid, zxid, 0), true);
            self.state = State::Closing;
            return true;
        }
        if !refused_when_read_only(typ) {
            return false;
        }
        self.outbox.push_ready(
            reply::header_only(xid, zxid, ErrorCode::NotReadOnly.code()),
            false,
        );
        true
    }

    fn on_request(&mut self, payload: Bytes, session: &Arc<LiveSession>) {
        session.touch(crate::clock::now_ms(), self.node.sessions.tick_ms());
        self.node.stats.packet_received();
        let max_field = self.node.config.node.jute_max_buffer_bytes * 2;
        let size = payload.len();
        let mut r = Reader::with_limit(payload, max_field);
        let header = match RequestHeader::read(&mut r) {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!(remote = %self.remote, error = %e, "malformed request header; closing");
                metrics::counter!("zkr_bad_requests_total", "reason" => "malformed_header")
                    .increment(1);
                return self.close();
            }
        };
        self.outbox.flow.request_in(header.xid, size);
        let stats = &self.outbox.stats;
        stats
            .received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        stats
            .last_op
            .store(header.typ as i64, std::sync::atomic::Ordering::Relaxed);
        stats
            .last_cxid
            .store(header.xid as i64, std::sync::atomic::Ordering::Relaxed);
        if self.read_only && self.read_only_filter(header.xid, header.typ) {
            return;
        }
        let node = &self.node;
        let request = match Request::decode(header.typ, &mut r) {
            Ok(req) => req,
            Err(DecodeError::UnknownValue { .. }) => {
                metrics::counter!("zkr_bad_requests_total", "reason" => "unknown_opcode")
                    .increment(1);
                return self.refuse(header.xid, ErrorCode::Unimplemented);
            }
            Err(e) => {
                metrics::counter!("zkr_bad_requests_total", "reason" => "malformed").increment(1);
                tracing::debug!(remote = %self.remote, opcode = header.typ, error = %e, "malformed request body");
                let zxid = node.store.tree().last_zxid();
                self.outbox.push_ready(
                    reply::header_only(header.xid, zxid, ErrorCode::MarshallingError.code()),
                    false,
                );
                return;
            }
        };
        match request {
            Request::Auth(packet) => self.on_auth(header.xid, packet),
            Request::Check(_) => {
                metrics::counter!("zkr_bad_requests_total", "reason" => "lone_check").increment(1);
                self.refuse(header.xid, ErrorCode::Unimplemented)
            }
            Request::Sasl(tok) => self.on_sasl(header.xid, tok.token),
            req if req.is_write() || matches!(req, Request::Sync(_)) => {
                let audit = if crate::audit::enabled() {
                    crate::audit::operation(&req).map(|op| {
                        Box::new(crate::audit::AuditRequest {
                            session: session.id,
                            user: self.outbox.with_identities(crate::audit::users),
                            ip: acl::ip_identity(self.remote.ip()),
                            op,
                        })
                    })
                } else {
                    None
                };
                self.outbox.push_pending(Pending::Write {
                    xid: header.xid,
                    opcode: header.typ,
                    arrived: Instant::now(),
                    audit,
                });
                if header.typ == opcode::CLOSE_SESSION {
                    self.state = State::Closing;
                }
                crate::link::send(
                    &node.quorum_peer,
                    "connection -> pipeline",
                    SubmitWrite {
                        session_id: session.id,
                        xid: header.xid,
                        ids: self.outbox.identities(),
                        request: req,
                        origin: Some(self.outbox.clone()),
                    },
                );
            }
            req => {
                if let Some((xid, req)) = self.outbox.admit_read(header.xid, req) {
                    let started = Instant::now();
                    let close = node.store.serve_read(&self.outbox, xid, req);
                    node.stats
                        .record_latency_us(started.elapsed().as_micros() as u64);
                    crate::metrics::request_answered(header.typ, started.elapsed(), false);
                    if close {
                        self.close();
                    }
                }
            }
        }
    }

    /// Unknown opcode or a lone check: Unimplemented, then close (ZooKeeper 3.9.3+). The reply
    /// zxid is -1, as ZooKeeper's `UnimplementedRequestProcessor` sends the zxid of a request
    /// that never reached the pipeline.
    fn refuse(&mut self, xid: i32, code: ErrorCode) {
        self.outbox
            .push_ready(reply::header_only(xid, -1, code.code()), true);
        self.state = State::Closing;
    }

    fn on_auth(&mut self, xid: i32, packet: crate::proto::records::AuthPacket) {
        let data = packet.auth.unwrap_or_default();
        let ok = match packet.scheme.as_str() {
            "digest" => {
                let text = String::from_utf8_lossy(&data).into_owned();
                let digest = acl::digest_id(&text);
                if self.node.config.auth.super_digest.as_deref() == Some(digest.as_str()) {
                    self.outbox.add_identity(Id {
                        scheme: "super".into(),
                        id: String::new(),
                    });
                }
                self.outbox.add_identity(Id {
                    scheme: "digest".into(),
                    id: digest,
                });
                true
            }
            "ip" => {
                self.outbox.add_identity(Id {
                    scheme: "ip".into(),
                    id: acl::ip_identity(self.remote.ip()),
                });
                true
            }
            _ => false,
        };
        if ok {
            self.outbox.push_ready(reply::header_only(xid, 0, 0), false);
        } else {
            tracing::info!(remote = %self.remote, scheme = %packet.scheme, "auth failed: no provider for the scheme");
            metrics::counter!("zkr_auth_failures_total").increment(1);
            self.outbox.push_ready(
                reply::header_only(xid, 0, ErrorCode::AuthFailed.code()),
                true,
            );
            self.state = State::Closing;
        }
    }
}

impl Connection {
    /// One token of the SASL exchange (`ZooKeeperServer.processSasl`). Replies carry zxid 0.
    fn on_sasl(&mut self, xid: i32, token: Option<Bytes>) {
        let Some(token) = token else {
            // ZooKeeper fails on a null token before it answers: the connection just closes.
            tracing::info!(remote = %self.remote, "SASL request without a token; closing");
            return self.close();
        };
        let cfg = &self.node.config.sasl;
        if !cfg.enabled() {
            // ZooKeeper without a JAAS Server section has no SASL server for the connection: it
            // answers every token with an empty SetSASLResponse and keeps the connection.
            self.outbox.push_ready(sasl_reply(xid, 0, None), false);
            return;
        }
        let server = self
            .sasl
            .get_or_insert_with(|| DigestMd5Server::new(sasl::random_nonce()));
        match server.step(&token, &cfg.users) {
            Ok(Step::Challenge(challenge)) => {
                self.outbox
                    .push_ready(sasl_reply(xid, 0, Some(challenge)), false);
            }
            Ok(Step::Complete {
                token,
                authorization_id,
            }) => {
                let session = self.outbox.session();
                tracing::info!(remote = %self.remote, session = %format!("{session:#x}"), id = %authorization_id, "SASL authenticated");
                let is_super = cfg.super_users.contains(&authorization_id);
                self.outbox.add_identity(Id {
                    scheme: "sasl".into(),
                    id: authorization_id,
                });
                if is_super {
                    self.outbox.add_identity(Id {
                        scheme: "super".into(),
                        id: String::new(),
                    });
                }
                self.outbox
                    .push_ready(sasl_reply(xid, 0, Some(token)), false);
            }
            Err(SaslError::Rejected(why)) => {
                tracing::warn!(remote = %self.remote, error = %why, "SASL authentication failed; closing");
                metrics::counter!("zkr_auth_failures_total").increment(1);
                self.outbox
                    .push_ready(sasl_reply(xid, ErrorCode::AuthFailed.code(), None), true);
                self.state = State::Closing;
            }
            Err(e @ SaslError::Malformed(_)) => {
                tracing::warn!(remote = %self.remote, error = %e, "SASL authentication failed; closing");
                metrics::counter!("zkr_auth_failures_total").increment(1);
                self.close();
            }
        }
    }
}

/// The expired-session answer of a read-only server: ZooKeeper's `finishSessionInit` sets the
/// readOnly flag from the server's kind, whatever the session.
fn read_only_invalid() -> ConnectResponse {
    ConnectResponse {
        read_only: Some(true),
        ..ConnectResponse::invalid(Some(true))
    }
}

/// The requests a read-only server answers with NOTREADONLY, as ZooKeeper's
/// `ReadOnlyRequestProcessor` (by opcode, before the body is decoded): every write, `check` and
/// `sync`. Reads, `multiRead`, watches, ping, auth and SASL go on.
fn refused_when_read_only(typ: i32) -> bool {
    matches!(
        typ,
        opcode::CREATE
            | opcode::DELETE
            | opcode::SET_DATA
            | opcode::SET_ACL
            | opcode::SYNC
            | opcode::CHECK
            | opcode::MULTI
            | opcode::CREATE2
            | opcode::RECONFIG
            | opcode::CREATE_CONTAINER
            | opcode::DELETE_CONTAINER
            | opcode::CREATE_TTL
    )
}

/// A `sasl` reply: header and a `SetSASLResponse` even with an error (ZooKeeper sends an empty
/// token with AuthFailed).
fn sasl_reply(xid: i32, err: i32, token: Option<Vec<u8>>) -> Bytes {
    let mut out = BytesMut::with_capacity(64 + token.as_ref().map_or(0, Vec::len));
    out.put_i32(0);
    ReplyHeader { xid, zxid: 0, err }.write(&mut out);
    SaslToken {
        token: token.map(Bytes::from),
    }
    .write(&mut out);
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out.freeze()
}

impl Actor for Connection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let deadline =
            Duration::from_millis(self.node.config.node.sessionless_connection_timeout_ms as u64);
        ctx.run_later(deadline, |act, _| {
            if matches!(act.state, State::New) {
                tracing::debug!(remote = %act.remote, "no handshake in time; closing");
                act.close();
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.outbox.close();
        self.node.store.unregister(self.outbox.id());
        let session = self.outbox.session();
        if session != 0 {
            let registry = if self.read_only {
                &self.node.local_sessions
            } else {
                &*self.node.sessions
            };
            if let Some(s) = registry.get(session) {
                s.unbind(self.outbox.id());
            }
        }
        self.node.release_ip(self.remote.ip());
    }
}

impl StreamHandler<Result<Inbound, FrameError>> for Connection {
    fn handle(&mut self, item: Result<Inbound, FrameError>, ctx: &mut Context<Self>) {
        self.outbox.touch(crate::clock::now_ms());
        match item {
            Ok(Inbound::FourLetterWord(word)) => self.answer_word(word, ctx),
            Ok(Inbound::Frame(payload)) => {
                match &mut self.state {
                    State::New => self.on_connect(payload, ctx),
                    State::Establishing(buf) => buf.push_back(payload),
                    State::Established(s) => {
                        let s = s.clone();
                        self.on_request(payload, &s);
                    }
                    State::Answering | State::Closing => {}
                }
                // globalOutstandingLimit: the input stream yields nothing while paused.
                self.outbox.flow.check_pause();
            }
            Err(e) => {
                if let FrameError::BadLength { len, max } = e {
                    metrics::counter!("zkr_bad_requests_total", "reason" => "frame_length")
                        .increment(1);
                    tracing::info!(remote = %self.remote, len, max, "frame length out of bounds; closing");
                }
                self.close();
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        if matches!(self.state, State::Answering) {
            return; // the answer is on its way; sending it closes the connection
        }
        // The client closed its side: flush what is queued, then stop.
        tracing::debug!(remote = %self.remote, "the client closed the connection");
        self.outbox.close();
        if matches!(self.state, State::Closing) || self.outbox.queued() == 0 {
            ctx.stop();
        }
    }
}

impl Handler<Established> for Connection {
    type Result = ();
    fn handle(&mut self, _: Established, _: &mut Context<Self>) {
        let session = self.outbox.session();
        let Some(live) = self.node.sessions.get(session) else {
            return self.close();
        };
        let buffered = match std::mem::replace(&mut self.state, State::Established(live.clone())) {
            State::Establishing(b) => b,
            other => {
                self.state = other;
                return;
            }
        };
        for payload in buffered {
            if !matches!(self.state, State::Established(_)) {
                break;
            }
            self.on_request(payload, &live);
        }
    }
}

impl Handler<WriterDone> for Connection {
    type Result = ();
    fn handle(&mut self, _: WriterDone, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// First capacity of a connection's read buffer.
const READ_BUFFER_START: usize = 1024;
/// The writer keeps a batch buffer up to this size between batches; a larger one (a burst, a big
/// read reply) is freed once written, so an idle connection holds little.
const WRITE_BUFFER_KEPT: usize = 16 * 1024;

/// Writes everything the outbox queues, batching what is ready into one write; gives up when
/// the client does not read (the flow's queued bytes went over `max_queued_reply_bytes`).
async fn writer<W: AsyncWrite + Unpin>(
    mut sock: W,
    mut rx: mpsc::UnboundedReceiver<Out>,
    flow: &ConnFlow,
) {
    let mut batch: Vec<Out> = Vec::new();
    let mut buf = BytesMut::new();
    loop {
        batch.clear();
        let received = tokio::select! {
            biased;
            _ = flow.killed() => break,
            n = rx.recv_many(&mut batch, 256) => n,
        };
        if received == 0 {
            break;
        }
        buf.clear();
        let mut close = false;
        let mut single: Option<bytes::Bytes> = None;
        for item in batch.drain(..) {
            match item {
                // One frame alone is written as it is, without a copy.
                Out::Frame(b) if buf.is_empty() && single.is_none() => single = Some(b),
                Out::Frame(b) => {
                    if let Some(first) = single.take() {
                        buf.extend_from_slice(&first);
                    }
                    buf.extend_from_slice(&b);
                }
                Out::Close => {
                    close = true;
                    break;
                }
            }
        }
        let out: &[u8] = single.as_deref().unwrap_or(&buf);
        if !out.is_empty() {
            let written = tokio::select! {
                biased;
                _ = flow.killed() => break,
                r = sock.write_all(out) => r,
            };
            if written.is_err() {
                break;
            }
            flow.written(out.len());
        }
        if buf.capacity() > WRITE_BUFFER_KEPT {
            buf = BytesMut::new();
        }
        if batch.capacity() > 64 {
            batch = Vec::new();
        }
        if close {
            let _ = sock.flush().await;
            let _ = sock.shutdown().await;
            break;
        }
    }
}
