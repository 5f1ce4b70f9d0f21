//! What goes into the Zab core ([`Input`]: time, peer messages, what the shell did) and what
//! comes out of it ([`Output`]: what the shell must do, in order), and the role as the shell
//! sees it. The core is [`super::core::PeerCore`].

use std::sync::Arc;

use super::config::Membership;
use super::durable::DurableAction;
use super::msg::{PeerMsg, Sid, SnapshotMeta};
use crate::txn::{SessionId, Txn, Zxid};

/// What the core asks the shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a message.
    Send(Sid, PeerMsg),
    /// Perform a durable action; report its token in `Input::Durable` when done, in token order.
    Durably {
        /// Completion token.
        token: u64,
        /// The action.
        action: DurableAction,
    },
    /// Apply these committed txns to the tree, in order.
    Apply(Vec<Arc<Txn>>),
    /// Snapshot the applied tree for this learner; report `Input::SnapshotTaken`.
    TakeSnapshot {
        /// The learner.
        learner: Sid,
    },
    /// Send chunk `seq` of the snapshot taken for `learner` as `PeerMsg::SnapChunk`.
    SendSnapChunk {
        /// The learner.
        learner: Sid,
        /// The snapshot's zxid.
        zxid: Zxid,
        /// The chunk.
        seq: u64,
    },
    /// Step the core again with `Input::ContinueSync { learner, sync }` once what is queued
    /// before it is done: a learner's tail goes out in slices, between other work.
    ContinueSync {
        /// The learner.
        learner: Sid,
        /// Which of its syncs (an older one's continuation does nothing).
        sync: u64,
    },
    /// The role changed.
    Role(RoleView),
    /// Start (true) or stop (false) serving clients.
    Serving(bool),
    /// Learners reported activity of these sessions (leader only).
    TouchSessions(Vec<SessionId>),
    /// The leader saw these sessions active (learners only): refresh their deadlines here,
    /// without reporting them back.
    SessionsAlive(Vec<SessionId>),
    /// Leader: a quorum confirmed read round `r` (and every one before): the syncs that wait
    /// for it may be answered once the writes logged before them are applied.
    ReadConfirmed(u64),
}

/// The role, as the shell and the 4lw see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleView {
    /// Electing.
    Looking,
    /// Leading `epoch` (established or not).
    Leading {
        /// The epoch.
        epoch: u64,
    },
    /// Following `leader`.
    Following {
        /// The leader.
        leader: Sid,
    },
    /// Observing `leader`.
    Observing {
        /// The leader.
        leader: Sid,
    },
    /// A standalone server (an ensemble of one, no election).
    Standalone,
}

/// Inputs of the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Time passes.
    Tick,
    /// A message from a peer.
    Message {
        /// The sender.
        from: Sid,
        /// The message.
        msg: PeerMsg,
    },
    /// The link with `peer` broke: messages may have been lost.
    LinkReset {
        /// The peer.
        peer: Sid,
    },
    /// These durable actions finished, in token order (a group commit may finish several: their
    /// cumulative continuations are merged, `cont::merge_cumulative`).
    Durable(Vec<u64>),
    /// A durable action failed (disk trouble): this server leaves its role.
    DurableFailed(u64),
    /// The shell rebuilt the tree from disk after a `Truncate`; this is its last zxid (sent
    /// just before the action's `Durable`).
    Reloaded {
        /// The last zxid of the rebuilt tree and log.
        zxid: Zxid,
    },
    /// The lowest zxid the log can now be cut back to changed (snapshots taken or purged).
    Floor(Zxid),
    /// The membership known from the recovered configuration (set before anything else).
    Membership(Membership),
    /// The snapshot asked for with `TakeSnapshot`.
    SnapshotTaken {
        /// The learner it is for.
        learner: Sid,
        /// The snapshot.
        snap: SnapshotMeta,
    },
    /// The continuation asked for with `Output::ContinueSync`.
    ContinueSync {
        /// The learner.
        learner: Sid,
        /// Which of its syncs.
        sync: u64,
    },
}
