//! The transaction log: txns are appended and made durable in batches (group commit), off the
//! actor threads, and the pipeline is told how far the log is durable.
//!
//! The [`LogBackend`] does the IO; the [`actor::LogActor`] batches appends while a write+fsync is
//! in flight and runs each batch on a blocking thread.
//!
//! Invariants:
//! * `Durable { zxid }` is sent only after every txn up to `zxid` was written and synced (or,
//!   with `force_sync` off, written), and in increasing zxid order;
//! * after a failed append or sync the backend forgets what it had not synced (its next append
//!   must follow the last *synced* txn), so the next writes try the disk again;
//! * a snapshot install or a truncation leaves, at every instant a crash can stop it, a state
//!   recovery accepts: the old history or the new one, never neither.

pub mod actor;
pub mod background;
pub mod epochs;
#[cfg(test)]
mod file_tests;
pub mod format;
pub mod fs;
pub mod memory;
pub mod prefetch;
pub mod purge;
pub mod recovery;
pub mod scan;
pub mod segment;
pub mod snapload;
pub mod snapshot;
pub mod space;
pub mod stream;
#[cfg(test)]
pub(crate) mod suite;
pub mod writeback;

use std::path::Path;
use std::sync::Arc;

use crate::txn::{Txn, Zxid};

/// Why the log could not do a durable job. The two disk failures call for different
/// reactions (docs/architecture.md, decision 8): a full disk clears when space comes back, so
/// the same log goes on; an I/O error may have left the file's unsynced pages in any state, so
/// the log cuts back to what was synced and continues in a new segment.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// No space left (ENOSPC) or quota exceeded (EDQUOT).
    #[error("disk full at {path}: {source}")]
    DiskFull {
        /// The file or directory.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Any other I/O error (EIO, EROFS, ...).
    #[error("I/O error at {path}: {source}")]
    Io {
        /// The file or directory.
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
    /// The log could not be read back (rebuilding the tree after a truncation).
    #[error("rebuilding from the log: {0}")]
    Recovery(#[from] recovery::RecoveryError),
    /// A snapshot from the leader cannot be decoded.
    #[error("the leader's snapshot: {0}")]
    Snapshot(#[from] snapshot::SnapshotError),
    /// A cut back to a point before the oldest snapshot: the log it would need is gone, and
    /// what recovery rebuilt would not end there (or would miss the txns before the log's
    /// start). The leader was offered a floor that is stale by now (a purge or an install ran
    /// meanwhile): nothing is changed, and the node syncs again with its floor as it is.
    #[error("cannot cut the log back to {to:#x}: the oldest snapshot is {floor:#x}")]
    BelowFloor {
        /// The cut asked for.
        to: Zxid,
        /// The oldest snapshot's zxid.
        floor: Zxid,
    },
    /// A cut back to `to` after which the log rebuilds to another txn: a record at or before
    /// `to` was lost or damaged on disk. The rebuilt state is reported as it is (the store must
    /// match the disk); what was queued behind the cut fails with this error.
    #[error("the log was cut back to {to:#x} but rebuilds to {rebuilt:#x}: a record before the cut is lost or damaged")]
    CutMissed {
        /// The cut asked for.
        to: Zxid,
        /// The last txn of the rebuilt log.
        rebuilt: Zxid,
    },
    /// The job needs an on-disk log and this node keeps everything in memory.
    #[error("{0} needs an on-disk log")]
    NotOnDisk(&'static str),
    /// The thread running the job died (a broken invariant in the log writer).
    #[error("log writer thread: {0}")]
    Thread(String),
}

/// The class of a [`LogError`], for reactions and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogErrorKind {
    /// ENOSPC / EDQUOT.
    DiskFull,
    /// Any other I/O error.
    Io,
    /// Not the disk: a bug or a bad input (never retried differently).
    Other,
}

impl LogErrorKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            LogErrorKind::DiskFull => "disk_full",
            LogErrorKind::Io => "io",
            LogErrorKind::Other => "other",
        }
    }
}

impl LogError {
    /// An I/O error at `path`, classified.
    pub fn io(path: &Path, source: std::io::Error) -> LogError {
        let path = path.display().to_string();
        if is_disk_full(&source) {
            LogError::DiskFull { path, source }
        } else {
            LogError::Io { path, source }
        }
    }

    /// Its class.
    pub fn kind(&self) -> LogErrorKind {
        match self {
            LogError::DiskFull { .. } => LogErrorKind::DiskFull,
            LogError::Io { .. } => LogErrorKind::Io,
            LogError::Recovery(recovery::RecoveryError::List { source, .. })
                if is_disk_full(source) =>
            {
                LogErrorKind::DiskFull
            }
            LogError::Recovery(_)
            | LogError::CutMissed { .. }
            | LogError::Snapshot(snapshot::SnapshotError::Io { .. }) => LogErrorKind::Io,
            _ => LogErrorKind::Other,
        }
    }
}

/// Checks that `txns` continue a log whose last txn is `last`; returns the new last txn.
pub fn check_follows(last: Zxid, txns: &[Arc<Txn>]) -> Result<Zxid, LogError> {
    let mut last = last;
    for t in txns {
        if !recovery::follows(last, t.zxid) {
            return Err(LogError::NotContiguous { zxid: t.zxid, last });
        }
        last = t.zxid;
    }
    Ok(last)
}

/// Test switch of the in-memory disks: fails this sync with EIO if `failing` is not 0 yet.
pub fn injected_sync_failure(failing: &mut u32, disk: &str) -> Result<(), LogError> {
    if *failing == 0 {
        return Ok(());
    }
    *failing -= 1;
    Err(LogError::io(
        Path::new(disk),
        std::io::Error::from_raw_os_error(libc::EIO),
    ))
}

/// Is this error a full disk (ENOSPC) or an exceeded quota (EDQUOT)?
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || e.kind() == std::io::ErrorKind::StorageFull
}

/// Storage of the log (and of the snapshots a leader sends): append, then sync.
pub trait LogBackend: Send + 'static {
    /// Writes `txns` (in zxid order) after what is there; returns the bytes written.
    fn append(&mut self, txns: &[Arc<Txn>]) -> Result<u64, LogError>;
    /// Makes everything appended durable.
    fn sync(&mut self) -> Result<(), LogError>;
    /// After a failed append or sync: forget what was appended since the last sync, so none of
    /// it can come back at recovery; the next append must follow the last synced txn. If this
    /// fails too, the next append tries it again first.
    fn discard_unsynced(&mut self) -> Result<(), LogError>;
    /// Start a new segment at the next append (a snapshot is being taken).
    fn request_roll(&mut self) {}
    /// Cuts the log after `to` (keeping `to`), durably: the uncommitted tail of an old epoch
    /// that a new leader does not have (TRUNC). Snapshots newer than `to` go first, so a crash
    /// half-way leaves the old history or the cut one.
    fn truncate_after(&mut self, to: Zxid) -> Result<(), LogError>;
    /// Replaces everything with a snapshot from the leader (SNAP): the snapshot is made durable
    /// first, then the log and the older snapshots go; the next append must follow `zxid`.
    fn install_snapshot(&mut self, zxid: Zxid, bytes: &[u8]) -> Result<(), LogError>;
    /// The same, from the checked file `received` (a streamed SNAP), which may be moved; its
    /// encode ended at `end` (`E`, decision 17): a log that outlives the process keeps `end`
    /// with it, so that recovery knows the tree is exact only once the log reaches `end`
    /// ([`stream::tail_end`]). This default reads it whole and forgets `end`: fine for logs
    /// that keep everything in memory anyway (nothing is recovered from them).
    fn install_snapshot_file(
        &mut self,
        zxid: Zxid,
        end: Zxid,
        received: &Path,
    ) -> Result<(), LogError> {
        let _ = end;
        let bytes = std::fs::read(received).map_err(|e| LogError::io(received, e))?;
        self.install_snapshot(zxid, &bytes)
    }
    /// The last txn appended (synced or not).
    fn last_zxid(&self) -> Zxid;
}
