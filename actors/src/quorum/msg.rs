//! Messages between servers of an ensemble (zkr's peer protocol, rmp-serde framed).
//!
//! Names follow Zab and ZooKeeper (`FollowerInfo`, `LeaderInfo`, `AckEpoch`, `Diff`, `Trunc`,
//! `Snap`, `NewLeader`, `UpToDate`, `Proposal`, `Ack`, `Commit`, `Inform`) so the code can be held
//! against ZooKeeper's source and the Zab paper.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::proto::Id;
use crate::txn::{SessionId, Txn, Zxid};

/// A server id (`myid`).
pub type Sid = u64;

/// zkr's peer protocol version: a peer with another version is refused cleanly.
/// Version 2: `Ping` carries the sessions the leader saw active; `Hello` where the connecting
/// server listens. Version 3: the authentication handshake (`peer::auth::AuthFrame`) follows the
/// hello. Version 4: SNAP is streamed (`SnapBegin`, `SnapChunk`, `SnapAck`). Version 5:
/// `SnapBegin` says where the fuzzy encode ended ([`SnapshotMeta::end`]). Version 6: `Ack` is
/// cumulative (a follower sends one for the last proposal of a group commit; a leader of
/// version 5 would wait for the others). Version 7: `Ping` carries the leader's read round and
/// `PingReply` echoes it (a leader answers a sync once a quorum echoed a round started after
/// the sync arrived: docs/architecture.md, decision 23). A peer of version 6 could not echo;
/// it is refused at the hello like any other version, so it never follows a leader of
/// version 7, which therefore never waits on a follower that cannot confirm it: it either
/// hears a quorum echo, or loses its quorum within syncLimit and steps down, and the syncs
/// waiting on it are dropped as on any step-down.
pub const PEER_PROTOCOL_VERSION: u32 = 7;

/// Chunks of a streamed snapshot in flight to one learner (sent, not yet acknowledged): the
/// leader sends the next chunk only as the learner acknowledges one it has written.
pub const SNAP_WINDOW: u64 = 4;

/// Txns of a learner's tail the leader sends in one step (then it goes on with what is queued
/// before continuing): ~1-2 ms of its loop, where a whole tail after a big SNAP (~500k txns)
/// held it for a second.
pub const TAIL_SLICE: usize = 1024;

/// The epoch part of a zxid.
pub fn epoch_of(zxid: Zxid) -> u64 {
    (zxid as u64) >> 32
}

/// The counter part of a zxid.
pub fn counter_of(zxid: Zxid) -> u64 {
    (zxid as u64) & 0xffff_ffff
}

/// The zxid `epoch << 32 | counter`.
pub fn make_zxid(epoch: u64, counter: u64) -> Zxid {
    ((epoch << 32) | (counter & 0xffff_ffff)) as Zxid
}

/// What a server is doing, as election notifications report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerState {
    /// Electing.
    Looking,
    /// Following a leader.
    Following,
    /// Leading.
    Leading,
    /// Observing a leader.
    Observing,
}

/// A vote: who should lead, and the history it has. Ordered by (epoch, zxid, leader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Vote {
    /// The proposed leader.
    pub leader: Sid,
    /// Its last logged zxid.
    pub zxid: Zxid,
    /// Its current epoch.
    pub epoch: u64,
}

impl Vote {
    /// FastLeaderElection's `totalOrderPredicate`: does `self` beat `other`?
    pub fn beats(&self, other: &Vote) -> bool {
        (self.epoch, self.zxid, self.leader) > (other.epoch, other.zxid, other.leader)
    }
}

/// An election notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The sender's vote.
    pub vote: Vote,
    /// The sender's election round (logical clock).
    pub round: u64,
    /// The sender's state.
    pub state: PeerState,
}

/// A snapshot the leader's shell encoded for a learner (kept by the shell, in a file, and
/// streamed in `chunks` pieces of at most a fixed size: the core sees only this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The last txn the tree includes: `S`, the last txn applied when the encode began.
    pub zxid: Zxid,
    /// `E`, the last txn applied when the (fuzzy) encode ended: the tree may show txns after
    /// `zxid` up to this one, and is a state some server had only once every txn up to it is
    /// applied over it (docs/architecture.md, decision 17). The learner keeps it with the
    /// installed snapshot.
    pub end: Zxid,
    /// Its length in bytes.
    pub bytes: u64,
    /// How many chunks it is sent in (at least one).
    pub chunks: u64,
    /// crc32c of the whole encoded snapshot.
    pub crc: u32,
}

/// One message between two servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMsg {
    /// Election notification.
    Vote(Notification),
    /// Learner → leader: I want to follow (or observe) you.
    FollowerInfo {
        /// The learner's accepted epoch.
        accepted_epoch: u64,
        /// The learner's last logged zxid.
        last_zxid: Zxid,
        /// The lowest zxid the learner can cut its log back to (its oldest snapshot's).
        floor: Zxid,
        /// True for an observer.
        observer: bool,
    },
    /// Leader → learner: the new epoch.
    LeaderInfo {
        /// The epoch being established.
        new_epoch: u64,
    },
    /// Learner → leader: epoch accepted; my history.
    AckEpoch {
        /// The epoch acknowledged.
        new_epoch: u64,
        /// The learner's current epoch.
        current_epoch: u64,
        /// Its last logged zxid.
        last_zxid: Zxid,
    },
    /// Leader → learner: the txns that follow are what you miss after `zxid`.
    Diff {
        /// The learner's zxid the diff starts after.
        zxid: Zxid,
        /// What of the learner's history up to `zxid` is committed (the rest is committed by
        /// later COMMITs).
        committed: Zxid,
    },
    /// Leader → learner: cut your log after `zxid`, then the diff follows.
    Trunc {
        /// Keep up to here.
        zxid: Zxid,
        /// What of the learner's history up to `zxid` is committed.
        committed: Zxid,
    },
    /// Leader → learner: replace your state with the snapshot streamed next (SNAP), in
    /// `SnapChunk`s, each acknowledged with `SnapAck`; the tail follows the last ACK.
    SnapBegin(SnapshotMeta),
    /// Leader → learner: chunk `seq` (from 0) of the snapshot being streamed.
    SnapChunk {
        /// Its position.
        seq: u64,
        /// Its bytes.
        data: Bytes,
        /// crc32c of `data`.
        crc: u32,
    },
    /// Learner → leader: chunk `seq` is written (the last one: the snapshot is installed).
    SnapAck {
        /// The chunk.
        seq: u64,
    },
    /// A proposed txn.
    Proposal(Arc<Txn>),
    /// Learner → leader: logged durably, this txn and every one before it.
    Ack {
        /// The txn (or `epoch << 32` for NEWLEADER).
        zxid: Zxid,
    },
    /// Leader → follower: commit up to this txn.
    Commit {
        /// The txn.
        zxid: Zxid,
    },
    /// Leader → observer: a committed txn.
    Inform(Arc<Txn>),
    /// Leader → learner: the sync is complete; persist and acknowledge.
    NewLeader {
        /// The new epoch.
        epoch: u64,
    },
    /// Leader → learner: start serving clients.
    UpToDate,
    /// Leader → learner heartbeat, with the sessions the leader saw activity for since its last
    /// ping (its own clients' and what learners reported): the learner refreshes their
    /// deadlines, so every server's deadlines follow the leader's (filled in by the shell).
    Ping {
        /// Sessions active since the last ping.
        touched: Vec<SessionId>,
        /// The leader's last read round: started (this ping, or an earlier one, sent) after
        /// every sync that waits for it reached the leader.
        round: u64,
    },
    /// Learner → leader heartbeat answer, with the sessions it saw activity for.
    PingReply {
        /// Sessions touched since the last reply.
        touched: Vec<SessionId>,
        /// The round of the ping it answers: this follower still followed the leader after
        /// that round started.
        round: u64,
    },
    /// Learner → leader: a client write to propose.
    Request {
        /// The session.
        session_id: SessionId,
        /// The client's xid.
        xid: i32,
        /// The opcode.
        opcode: i32,
        /// The jute-encoded request body.
        body: Bytes,
        /// The connection's identities.
        ids: Vec<Id>,
    },
    /// Learner → leader: create this session.
    CreateSession {
        /// The new id.
        session_id: SessionId,
        /// Negotiated timeout.
        timeout_ms: i32,
        /// Password.
        password: Bytes,
    },
    /// Learner → leader: a client resumed this session here; I own it now (requests for it
    /// through any other server get SessionMoved).
    Revalidate {
        /// The session.
        session_id: SessionId,
    },
    /// Learner → leader: a sync from one of my clients.
    SyncRequest {
        /// The session.
        session_id: SessionId,
        /// The client's xid.
        xid: i32,
    },
    /// Leader → learner: everything committed before your sync request reached me has been
    /// sent; answer the client once you have applied up to `zxid`.
    SyncDone {
        /// The session.
        session_id: SessionId,
        /// The client's xid.
        xid: i32,
        /// The leader's last applied txn when it answered.
        zxid: Zxid,
    },
}

/// The first frame on a peer connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal [`PEER_PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The connecting server.
    pub from: Sid,
    /// A number that changes every time the connection is (re)made.
    pub generation: u64,
    /// Where the connecting server accepts peer connections (`host:port`, as its own
    /// configuration gives it). A server that is not a member yet (to be added by reconfig) is
    /// unknown to the others, who dial it back there to answer it.
    pub listen_addr: Option<String>,
}
