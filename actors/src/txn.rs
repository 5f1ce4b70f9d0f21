//! Transactions: the unit of replication, logging and apply.
//!
//! A write request is validated once (by the leader's prep step) and becomes a [`Txn`] that
//! carries everything needed to apply it deterministically: final paths (with sequence
//! suffixes), versions after the change, ACLs after `auth` expansion, the session's ephemeral
//! paths at close. Applying the same txns in the same order on any server gives the same tree.
//! A write that fails validation still becomes a txn ([`TxnOp::Error`]) and takes a zxid, as in
//! ZooKeeper, so its reply is ordered with every other write.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::proto::{Acl, ErrorCode};

/// A zxid: `epoch << 32 | counter`.
pub type Zxid = i64;

/// A session id.
pub type SessionId = i64;

/// Does `next` directly follow `prev` in a zxid history?
pub fn follows(prev: Zxid, next: Zxid) -> bool {
    next == prev + 1 || ((next >> 32) > (prev >> 32) && (next & 0xffff_ffff) == 1)
}

/// One committed (or proposed) transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// Its position in the history.
    pub zxid: Zxid,
    /// Wall-clock time on the leader when it was made, ms since the epoch.
    pub time_ms: i64,
    /// The session that asked for it (0 for server-internal txns such as container reaping).
    pub session_id: SessionId,
    /// The client's xid for the request (echoed in the reply).
    pub cxid: i32,
    /// What it does.
    pub op: TxnOp,
}

/// What a transaction does to the tree and session table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    /// A new session.
    CreateSession {
        /// Negotiated timeout, ms.
        timeout_ms: i32,
        /// The session password.
        password: Bytes,
    },
    /// The session ends; these are its ephemeral nodes, deleted by this txn.
    CloseSession {
        /// Paths to delete.
        ephemerals: Vec<String>,
    },
    /// A node is created.
    Create {
        /// Final path (with any sequence suffix).
        path: String,
        /// Its data (`None` = null).
        data: Option<Bytes>,
        /// Its ACL, after `auth` expansion and de-duplication.
        acl: Vec<Acl>,
        /// Stored ephemeralOwner: 0, a session id, the container marker or a TTL encoding.
        ephemeral_owner: i64,
        /// The parent's stored child-creation counter after this create.
        parent_cversion: i32,
    },
    /// A node is deleted.
    Delete {
        /// The path.
        path: String,
    },
    /// A node's data is replaced.
    SetData {
        /// The path.
        path: String,
        /// New data.
        data: Option<Bytes>,
        /// The version after the change.
        version: i32,
    },
    /// A node's ACL is replaced.
    SetAcl {
        /// The path.
        path: String,
        /// New ACL.
        acl: Vec<Acl>,
        /// The aversion after the change.
        aversion: i32,
    },
    /// A version check inside a multi: no effect.
    Check {
        /// The path.
        path: String,
    },
    /// An all-or-nothing group; each entry carries the opcode of the request op.
    Multi(Vec<(i32, TxnOp)>),
    /// A multi that failed validation: one error code per op (0 before the failing op,
    /// its code, then RuntimeInconsistency).
    MultiFailed(Vec<i32>),
    /// A write that failed validation.
    Error(ErrorCode),
    /// A new ensemble configuration written to `/zookeeper/config`.
    Reconfig {
        /// The configuration text.
        data: Bytes,
        /// Its version (the mzxid of `/zookeeper/config`): the zxid of this txn, or for the
        /// first configuration of an ensemble, the first zxid of its epoch (as ZooKeeper).
        version: Zxid,
    },
}

impl TxnOp {
    /// The error a client sees for this txn, if it is a failed write.
    pub fn error(&self) -> Option<ErrorCode> {
        match self {
            TxnOp::Error(e) => Some(*e),
            _ => None,
        }
    }
}
