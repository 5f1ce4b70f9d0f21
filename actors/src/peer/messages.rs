//! The quorum actor's messages: what connections send it, what it tells the node supervisor,
//! and the inbox (recipients) through which connections reach it. The log's (`Job`,
//! `JobsDone`, `FloorChanged`), the store's (`Apply`, `ReplaceTree`), the tracker's
//! (`ExpireSession`) and the peer links' (`PeerInbound`, `LinkDown`) messages live with their
//! senders or receivers.

use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;

use crate::link::Mailbox;
use crate::outbox::Outbox;
use crate::proto::{Id, Request};
use crate::quorum::core::RoleView;
use crate::txn::SessionId;

/// Connection → quorum: a write, sync or closeSession from a session. The quorum actor answers
/// it through `origin` once it commits (or closes `origin` if it cannot take it now).
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

/// Connection → quorum: a client resumed this existing session on this server; the leader
/// records that the session moved here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionResumed(pub SessionId);

/// Quorum → node supervisor: the server's role changed (the supervisor sets the node's mode,
/// leaves read-only mode when a leader is found, and times elections).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct RoleChanged(pub RoleView);

/// Quorum → store → node supervisor: the server starts or stops serving clients (defined with
/// the store actor, which passes it on).
pub use crate::store::actor::ServingChanged;

/// Where connections send requests: the quorum actor's recipients.
#[derive(Clone)]
pub struct QuorumInbox {
    /// Writes, syncs, closeSession.
    pub writes: Recipient<SubmitWrite>,
    /// New sessions.
    pub sessions: Recipient<CreateSession>,
    /// Resumed sessions.
    pub resumed: Recipient<SessionResumed>,
}

impl QuorumInbox {
    /// The inbox of the actor at `addr`.
    pub fn of<A>(addr: &Addr<A>) -> QuorumInbox
    where
        A: Actor<Context = Context<A>>
            + Handler<SubmitWrite>
            + Handler<CreateSession>
            + Handler<SessionResumed>,
    {
        QuorumInbox {
            writes: addr.clone().recipient(),
            sessions: addr.clone().recipient(),
            resumed: addr.clone().recipient(),
        }
    }
}

impl Mailbox<SubmitWrite> for QuorumInbox {
    fn try_send(&self, msg: SubmitWrite) -> Result<(), SendError<SubmitWrite>> {
        self.writes.try_send(msg)
    }
    fn do_send(&self, msg: SubmitWrite) {
        self.writes.do_send(msg)
    }
}

impl Mailbox<CreateSession> for QuorumInbox {
    fn try_send(&self, msg: CreateSession) -> Result<(), SendError<CreateSession>> {
        self.sessions.try_send(msg)
    }
    fn do_send(&self, msg: CreateSession) {
        self.sessions.do_send(msg)
    }
}

impl Mailbox<SessionResumed> for QuorumInbox {
    fn try_send(&self, msg: SessionResumed) -> Result<(), SendError<SessionResumed>> {
        self.resumed.try_send(msg)
    }
    fn do_send(&self, msg: SessionResumed) {
        self.resumed.do_send(msg)
    }
}
