//! The transaction log: txns are appended and made durable in batches (group commit), off the
//! actor threads, and the pipeline is told how far the log is durable.
//!
//! The [`LogBackend`] does the IO; the [`actor::LogActor`] batches appends while a write+fsync is
//! in flight and runs each batch on a blocking thread.
//!
//! Invariant: `Durable { zxid }` is sent only after every txn up to `zxid` was written and synced
//! (or, with `force_sync` off, written), and in increasing zxid order.

pub mod actor;
pub mod epochs;
pub mod format;
pub mod memory;
pub mod purge;
pub mod recovery;
pub mod segment;
pub mod snapshot;

use std::sync::Arc;

use crate::txn::{Txn, Zxid};

/// Why the log could not make txns durable.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A write or fsync failed.
    #[error("log IO at {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// An append that does not follow the log's last txn (a lost message would leave a hole).
    #[error("txn {zxid:#x} does not follow the log's last txn {last:#x}")]
    NotContiguous {
        /// The txn.
        zxid: Zxid,
        /// The log's last txn.
        last: Zxid,
    },
    /// A record could not be encoded.
    #[error("encoding txn {zxid:#x}: {message}")]
    Encode {
        /// Which txn.
        zxid: Zxid,
        /// Why.
        message: String,
    },
}

/// Storage of the log: append, then sync.
pub trait LogBackend: Send + 'static {
    /// Writes `txns` (in zxid order) after what is there.
    fn append(&mut self, txns: &[Arc<Txn>]) -> Result<(), LogError>;
    /// Makes everything appended durable.
    fn sync(&mut self) -> Result<(), LogError>;
    /// After a failed append or sync: forget what was appended since the last sync, so none
    /// of it can come back at recovery.
    fn discard_unsynced(&mut self) -> Result<(), LogError> {
        Ok(())
    }
    /// Start a new segment at the next append (a snapshot is being taken).
    fn request_roll(&mut self) {}
    /// Cuts the log after `to` (keeping `to`), durably: the uncommitted tail of an old epoch
    /// that a new leader does not have (TRUNC).
    fn truncate_after(&mut self, to: Zxid) -> Result<(), LogError>;
    /// Drops the whole log (a snapshot from the leader at `base` replaces it); the next append
    /// starts a new segment and must follow `base`.
    fn clear(&mut self, base: Zxid) -> Result<(), LogError>;
}
