//! What goes into the pipeline and what comes out of it.
//!
//! A client request enters with a [`Token`] the shell chose (the quorum actor maps it to the
//! connection's outbox; the simulator to its client). Every token handed in comes out exactly
//! once: in an [`Applied`] item of [`Output::Apply`] (the reply), or in [`Output::Close`] (this
//! server cannot take the request now: the client reconnects and retries elsewhere), or in
//! [`Output::Abandon`] (the server left its role; the node closes its client connections).

use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;

use crate::proto::{Id, Request};
use crate::quorum::core::{self, CoreConfig, DurableAction, RoleView};
use crate::quorum::dynconfig::DynamicConfig;
use crate::quorum::msg::{PeerMsg, Sid};
use crate::tree::DataTree;
use crate::txn::{SessionId, Txn, Zxid};

use super::prep::PrepConfig;

/// Names a client request for its reply (chosen by the shell, unique among those in flight).
pub type Token = u64;

/// The clocks at a step, read once by the shell: monotonic time for timeouts and the Zab core,
/// wall-clock time for the txns a leader makes (ctime, mtime, TTLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic milliseconds.
    pub mono_ms: i64,
    /// Wall-clock milliseconds since the Unix epoch.
    pub wall_ms: i64,
}

/// Read access to the applied tree, which prep validates writes against: the store's tree
/// under its read lock (node), or the simulator's own. The pipeline takes the read only for
/// the moment it needs it and never holds two at once.
pub trait TreeView {
    /// The applied tree, read.
    fn read(&self) -> impl Deref<Target = DataTree> + '_;
}

impl TreeView for DataTree {
    fn read(&self) -> impl Deref<Target = DataTree> + '_ {
        self
    }
}

/// Settings of a pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The Zab core's settings (this server's id, the membership, timing).
    pub core: CoreConfig,
    /// Prep settings.
    pub prep: PrepConfig,
    /// The ensemble's configuration (static, or the last committed one): written to
    /// `/zookeeper/config` by the first leader; empty for a standalone node.
    pub dynamic: DynamicConfig,
    /// Most container / TTL deletions proposed per sweep ([`super::reaper::budget`]).
    pub reap_budget: usize,
}

/// An input of the pipeline.
#[derive(Debug, Clone)]
pub enum Input {
    /// A write (or closeSession) of a session connected here. `token: None` for requests
    /// without a client waiting (server-internal ones).
    Write {
        /// Names the reply.
        token: Option<Token>,
        /// The session.
        session_id: SessionId,
        /// The request's xid.
        xid: i32,
        /// The connection's identities at submission.
        ids: Vec<Id>,
        /// The request (not a sync).
        request: Request,
    },
    /// A sync of a session connected here: answered once every write before it is applied.
    Sync {
        /// Names the reply.
        token: Token,
        /// The session.
        session_id: SessionId,
        /// The request's xid.
        xid: i32,
        /// The path to echo.
        path: String,
    },
    /// A client connected here asks for a new session.
    CreateSession {
        /// Names the reply (the ConnectResponse).
        token: Token,
        /// The new id.
        session_id: SessionId,
        /// Negotiated timeout.
        timeout_ms: i32,
        /// Its password.
        password: Bytes,
    },
    /// A client resumed an existing session on this server (the session moves here).
    SessionResumed(SessionId),
    /// The session tracker found this session expired: close it (leader and standalone only).
    Expire(SessionId),
    /// The container sweep is due: delete empty used containers and expired TTL nodes
    /// (leader only).
    Reap,
    /// A configuration proposed by this server itself, as is (leader only; no prep, no
    /// reply): its version is the txn's zxid. The simulator scripts reconfigurations this way;
    /// the first leader of an ensemble publishes its configuration the same way.
    ProposeConfig(DynamicConfig),
    /// An input of the Zab core (ticks, peer messages, link resets, durable completions,
    /// reloads, floors, snapshots). Requests that learners forward to the leader arrive here
    /// as peer messages and are the pipeline's.
    Core(core::Input),
}

/// An output of the pipeline, to be performed in order.
///
/// Seven variants repeat the Zab core's as they are (`Send`, `Durably`, `TakeSnapshot`,
/// `SendSnapChunk`, `ContinueSync`, `TouchSessions`, `SessionsAlive`): the shells (quorum actor, simulator)
/// see only the pipeline's outputs, the core's `Apply`, `Role` and `Serving` become the
/// pipeline's own (replies, expiry, resets), and `Pipeline::absorb` is the one place that maps
/// the core's vocabulary to this one. Nesting the core's type here instead would let an
/// `Apply` of bare txns, which the pipeline never passes on, through the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a message to a peer.
    Send(Sid, PeerMsg),
    /// Perform a durable action; report its token in `core::Input::Durable` when done, in order.
    Durably {
        /// Completion token (the core's, not a request token).
        token: u64,
        /// The action.
        action: DurableAction,
    },
    /// Snapshot the applied tree for this learner; report `core::Input::SnapshotTaken`.
    TakeSnapshot {
        /// The learner.
        learner: Sid,
    },
    /// Send chunk `seq` of the snapshot taken for `learner` (at `zxid`) as a `SnapChunk`.
    SendSnapChunk {
        /// The learner.
        learner: Sid,
        /// The snapshot's zxid.
        zxid: Zxid,
        /// The chunk.
        seq: u64,
    },
    /// Step again with `core::Input::ContinueSync { learner, sync }` once what is queued before
    /// it is done (a learner's tail goes out a slice per step).
    ContinueSync {
        /// The learner.
        learner: Sid,
        /// Which of its syncs.
        sync: u64,
    },
    /// The role changed.
    Role(RoleView),
    /// Start (true) or stop (false) serving clients.
    Serving(bool),
    /// Learners reported activity of these sessions (leader only): refresh their deadlines.
    TouchSessions(Vec<SessionId>),
    /// The leader saw these sessions active (learners only): refresh their deadlines here,
    /// without reporting them back.
    SessionsAlive(Vec<SessionId>),
    /// `true`: this server starts expiring sessions (it leads and serves, or stands alone):
    /// every session gets a full timeout from now, as ZooKeeper does after a failover.
    /// `false`: it stops (its role ended, or it stopped serving).
    Expiring(bool),
    /// The session was not closed here (this server does not lead and serve): clear its
    /// closing flag and let the tracker schedule it again (the next serving leader decides).
    NotExpired(SessionId),
    /// This server proposed `zxid` as leader (`token`: the local request it answers).
    Proposed {
        /// The txn's zxid.
        zxid: Zxid,
        /// The local request, if any.
        token: Option<Token>,
    },
    /// Committed txns and the replies they release, in commit order: apply them, then answer.
    Apply(Vec<Applied>),
    /// A configuration was committed: the peer links follow it (and it is written down as
    /// `zoo.cfg.dynamic.<version>`).
    Reconfigured {
        /// The configuration before.
        previous: DynamicConfig,
        /// The configuration committed.
        next: DynamicConfig,
        /// Its text, as committed.
        text: String,
        /// Its version.
        version: Zxid,
    },
    /// This request cannot be taken here now (no leader, or not leading any more): close its
    /// connection; the client reconnects and retries.
    Close(Token),
    /// These requests will get no answer: the server left its role (and the node closes its
    /// client connections).
    Abandon(Vec<Token>),
}

/// One item of [`Output::Apply`], in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A committed txn; `token` is the local request it answers, if any.
    Txn {
        /// The txn.
        txn: Arc<Txn>,
        /// Who gets the reply.
        token: Option<Token>,
    },
    /// A sync whose predecessors are all applied: answer it.
    Sync {
        /// The path to echo.
        path: String,
        /// Who gets the reply.
        token: Token,
    },
    /// A write that could not be made durable (standalone): answer it with an error, in order.
    Failed {
        /// The session that asked.
        session_id: SessionId,
        /// It was a closeSession: the session stays, and may be expired again.
        closes_session: bool,
        /// Who gets the error.
        token: Token,
    },
}
