//! The pipeline's requests: a client's (writes, syncs, new and resumed sessions), the session
//! tracker's expiries, the container sweep, and the ones learners forward to the leader.
//! A leader proposes; a learner forwards to its leader; a server with no leader closes the
//! client's connection (the client reconnects and retries elsewhere).

use bytes::{Bytes, BytesMut};

use super::io::{Now, Output, Token, TreeView};
use super::prep::{ReconfigContext, WriteRequest};
use super::syncs::SyncTarget;
use super::Pipeline;
use crate::proto::jute::Reader;
use crate::proto::records::PathRequest;
use crate::proto::{ErrorCode, Id, Request};
use crate::quorum::core::{self, RoleView};
use crate::quorum::dynconfig::DynamicConfig;
use crate::quorum::msg::{PeerMsg, Sid};
use crate::txn::{SessionId, Txn, TxnOp, Zxid};

impl Pipeline {
    /// Does this server lead an ensemble or stand alone (it proposes)?
    pub fn leading(&self) -> bool {
        matches!(self.role(), RoleView::Leading { .. } | RoleView::Standalone)
    }

    /// The leader this server follows or observes.
    pub fn leader(&self) -> Option<Sid> {
        match self.role() {
            RoleView::Following { leader } | RoleView::Observing { leader } => Some(leader),
            _ => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_write(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        token: Option<Token>,
        session_id: SessionId,
        xid: i32,
        ids: Vec<Id>,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        if self.leading() {
            let me = self.me;
            self.propose(now, tree, me, session_id, xid, ids, request, token, out);
            return;
        }
        let Some(leader) = self.leader() else {
            out.extend(token.map(Output::Close));
            return;
        };
        let mut body = BytesMut::new();
        request.write_body(&mut body);
        if let Some(t) = token {
            let closes = matches!(request, Request::CloseSession);
            self.wait_write(session_id, xid, t, 0, closes, out);
        }
        out.push(Output::Send(
            leader,
            PeerMsg::Request {
                session_id,
                xid,
                opcode: request.opcode(),
                body: body.freeze(),
                ids,
            },
        ));
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_sync(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        token: Token,
        session_id: SessionId,
        xid: i32,
        path: String,
        out: &mut Vec<Output>,
    ) {
        if self.leading() {
            self.queue_sync(now, tree, SyncTarget::Local { path, token }, out);
        } else if let Some(leader) = self.leader() {
            self.syncs.forwarded(session_id, xid, path, token);
            out.push(Output::Send(
                leader,
                PeerMsg::SyncRequest { session_id, xid },
            ));
        } else {
            out.push(Output::Close(token));
        }
    }

    /// Leader: a sync waits for the writes logged before it and for a read round that starts
    /// after it arrived; answered right away (in order, through the store) if nothing holds it.
    fn queue_sync(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        to: SyncTarget,
        out: &mut Vec<Output>,
    ) {
        let (round, o) = self.core.read_round_for_sync();
        self.absorb(now, tree, o, out);
        self.syncs.queue(self.core.last_logged(), round, to);
        self.flush_syncs(out);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_create_session(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        token: Token,
        session_id: SessionId,
        timeout_ms: i32,
        password: Bytes,
        out: &mut Vec<Output>,
    ) {
        if self.leading() {
            self.owners.claim(session_id, self.me);
            self.create_session(
                now,
                tree,
                session_id,
                timeout_ms,
                password,
                Some(token),
                out,
            );
        } else if let Some(leader) = self.leader() {
            if let Some(old) = self.waiting.session(session_id, token) {
                out.push(Output::Abandon(vec![old]));
            }
            out.push(Output::Send(
                leader,
                PeerMsg::CreateSession {
                    session_id,
                    timeout_ms,
                    password,
                },
            ));
        } else {
            out.push(Output::Close(token));
        }
    }

    pub(super) fn on_session_resumed(&mut self, session: SessionId, out: &mut Vec<Output>) {
        if self.leading() {
            self.owners.claim(session, self.me);
        } else if let Some(leader) = self.leader() {
            out.push(Output::Send(
                leader,
                PeerMsg::Revalidate {
                    session_id: session,
                },
            ));
        }
    }

    pub(super) fn on_expire(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        session: SessionId,
        out: &mut Vec<Output>,
    ) {
        if !self.leading() || !self.serving {
            // Asked before the role changed: the next serving leader decides.
            out.push(Output::NotExpired(session));
            return;
        }
        tracing::info!(session = %format!("{session:#x}"), "session expired");
        metrics::counter!("zkr_session_expiries_total").increment(1);
        let me = self.me;
        self.propose(
            now,
            tree,
            me,
            session,
            0,
            Vec::new(),
            Request::CloseSession,
            None,
            out,
        );
    }

    /// Proposes deleteContainer for empty used containers and expired TTL nodes (leader only).
    pub(super) fn on_reap(&mut self, now: Now, tree: &impl TreeView, out: &mut Vec<Output>) {
        if !self.leading() || !self.serving {
            return;
        }
        let paths = super::reaper::candidates(&tree.read(), now.wall_ms, self.reap_budget);
        let me = self.me;
        for path in paths {
            tracing::debug!(%path, "reaping container/TTL node");
            let request = Request::DeleteContainer(PathRequest { path });
            self.propose(now, tree, me, 0, 0, Vec::new(), request, None, out);
        }
    }

    /// Proposes `config` as is (leader only), with `version`, or the txn's zxid without one.
    pub(super) fn propose_config(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        mut config: DynamicConfig,
        version: Option<Zxid>,
        out: &mut Vec<Output>,
    ) {
        if !self.leading() {
            return;
        }
        let mut co = Vec::new();
        if let Some(zxid) = self.zxid_for(now, tree, None, &mut co, out) {
            config.version = version.unwrap_or(zxid);
            let op = TxnOp::Reconfig {
                data: Bytes::from(config.text()),
                version: config.version,
            };
            self.propose_txn(now, zxid, 0, 0, op, None, &mut co, out);
        }
        self.absorb(now, tree, co, out);
    }

    /// A request a learner forwarded, at the leader (or, at a learner, the leader's answer to
    /// a sync it forwarded).
    pub(super) fn on_forwarded(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        from: Sid,
        msg: PeerMsg,
        out: &mut Vec<Output>,
    ) {
        match msg {
            PeerMsg::Request {
                session_id,
                xid,
                opcode,
                body,
                ids,
            } if self.leading() => match Request::decode(opcode, &mut Reader::new(body)) {
                Ok(req) => self.propose(now, tree, from, session_id, xid, ids, req, None, out),
                Err(e) => {
                    tracing::warn!(peer = from, opcode, error = %e, "undecodable forwarded request");
                    let mut co = Vec::new();
                    if let Some(z) = self.core.allocate_zxid(now.mono_ms, &mut co) {
                        let op = TxnOp::Error(ErrorCode::MarshallingError);
                        self.propose_txn(now, z, session_id, xid, op, None, &mut co, out);
                    }
                    self.absorb(now, tree, co, out);
                }
            },
            PeerMsg::CreateSession {
                session_id,
                timeout_ms,
                password,
            } if self.leading() => {
                self.owners.claim(session_id, from);
                self.create_session(now, tree, session_id, timeout_ms, password, None, out);
            }
            PeerMsg::Revalidate { session_id } if self.leading() => {
                self.owners.claim(session_id, from)
            }
            PeerMsg::SyncRequest { session_id, xid } if self.leading() => {
                let to = SyncTarget::Learner {
                    peer: from,
                    session_id,
                    xid,
                };
                self.queue_sync(now, tree, to, out);
            }
            PeerMsg::SyncDone {
                session_id,
                xid,
                zxid,
            } => {
                // A sync this learner forwarded waits for the leader's zxid to be applied here.
                let known = self.syncs.leader_answered(session_id, xid, zxid);
                if known {
                    self.flush_syncs(out);
                }
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_session(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        session_id: SessionId,
        timeout_ms: i32,
        password: Bytes,
        token: Option<Token>,
        out: &mut Vec<Output>,
    ) {
        let mut co = Vec::new();
        let Some(zxid) = self.zxid_for(now, tree, token, &mut co, out) else {
            return;
        };
        let op = self
            .prep
            .prep_create_session(session_id, timeout_ms, password);
        if let Some(t) = token {
            if let Some(old) = self.waiting.session(session_id, t) {
                out.push(Output::Abandon(vec![old]));
            }
        }
        self.propose_txn(now, zxid, session_id, 0, op, token, &mut co, out);
        self.absorb(now, tree, co, out);
    }

    /// Proposes a request as leader (or standalone) whose client is connected to server `via`:
    /// a zxid, prep (or SessionMoved), then the core.
    #[allow(clippy::too_many_arguments)]
    fn propose(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        via: Sid,
        session_id: SessionId,
        xid: i32,
        ids: Vec<Id>,
        request: Request,
        token: Option<Token>,
        out: &mut Vec<Output>,
    ) {
        let mut co = Vec::new();
        let Some(zxid) = self.zxid_for(now, tree, token, &mut co, out) else {
            return;
        };
        if matches!(request, Request::Reconfig(_)) {
            self.prep.set_reconfig_context(ReconfigContext {
                in_progress: self.core.reconfig_in_progress(),
                synced: self.core.synced_voters(),
            });
        }
        let closes_session = matches!(request, Request::CloseSession);
        let allowed = closes_session || self.standalone || self.owners.allows(session_id, via);
        let op = if allowed {
            let req = WriteRequest {
                session_id,
                ids,
                request,
            };
            self.prep.prep(&tree.read(), &req, zxid, now.wall_ms)
        } else {
            tracing::info!(session = %format!("{session_id:#x}"), via, "write through a server the session moved away from");
            TxnOp::Error(ErrorCode::SessionMoved)
        };
        if let Some(t) = token {
            self.wait_write(session_id, xid, t, zxid, closes_session, out);
        }
        self.propose_txn(now, zxid, session_id, xid, op, token, &mut co, out);
        self.absorb(now, tree, co, out);
    }

    /// A zxid for a new proposal. Without one (not leading, or stepping down: the core's
    /// outputs say so), the request's client is closed; it reconnects and retries.
    fn zxid_for(
        &mut self,
        now: Now,
        tree: &impl TreeView,
        token: Option<Token>,
        co: &mut Vec<core::Output>,
        out: &mut Vec<Output>,
    ) -> Option<Zxid> {
        let zxid = self.core.allocate_zxid(now.mono_ms, co);
        if zxid.is_none() {
            self.absorb(now, tree, std::mem::take(co), out);
            out.extend(token.map(Output::Close));
        }
        zxid
    }

    /// Proposes the txn `op` with `zxid` (`token`: the local request it answers, which the
    /// caller made wait for it). The core's outputs go to `co` (the caller absorbs them), the
    /// pipeline's to `out`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn propose_txn(
        &mut self,
        now: Now,
        zxid: Zxid,
        session_id: SessionId,
        xid: i32,
        op: TxnOp,
        token: Option<Token>,
        co: &mut Vec<core::Output>,
        out: &mut Vec<Output>,
    ) {
        let txn = std::sync::Arc::new(Txn {
            zxid,
            time_ms: now.wall_ms,
            session_id,
            cxid: xid,
            op,
        });
        out.push(Output::Proposed { zxid, token });
        self.core.propose(now.mono_ms, txn, co);
    }

    fn wait_write(
        &mut self,
        session_id: SessionId,
        xid: i32,
        token: Token,
        zxid: Zxid,
        closes_session: bool,
        out: &mut Vec<Output>,
    ) {
        if let Some(old) = self
            .waiting
            .write(session_id, xid, token, zxid, closes_session)
        {
            out.push(Output::Abandon(vec![old]));
        }
    }
}
