//! The durable actions a core asks its shell for (the log actor, or the simulator's disk):
//! performed strictly in order, each reported done (or failed) by its token, so that what a
//! core does after one (an ACK, an install's report) happens only once it is on disk.

use std::sync::Arc;

use super::msg::SnapshotMeta;
use crate::txn::{Txn, Zxid};

/// Something that must be durable before its continuations run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurableAction {
    /// Append these txns to the log and sync.
    Append(Vec<Arc<Txn>>),
    /// Persist the accepted and current epochs.
    SaveEpochs {
        /// acceptedEpoch.
        accepted: u64,
        /// currentEpoch.
        current: u64,
    },
    /// Cut the log after `to` (dropping uncommitted txns of an old epoch) and reload the tree
    /// from disk.
    Truncate {
        /// The last zxid kept.
        to: Zxid,
    },
    /// Write chunk `seq` of a streamed snapshot to the incoming file (chunk 0 starts it
    /// afresh); nothing of it is installed yet.
    SnapChunk {
        /// The chunk's position.
        seq: u64,
        /// Its bytes (their crc was checked).
        data: bytes::Bytes,
    },
    /// The incoming file is the whole snapshot: check its length and crc32c, make it durable,
    /// replace the tree with it and start the log after it. A mismatch fails the action.
    InstallSnapshot(SnapshotMeta),
    /// Discard a partly received snapshot (the stream broke).
    AbortSnapshot,
}
