//! Recovery at start-up: the newest valid snapshot, then every logged txn after it.
//!
//! * A snapshot that cannot be read (CRC mismatch, truncated, incomplete) is skipped with a
//!   warning and the previous one is tried.
//! * The log is replayed in zxid order from the snapshot's zxid. Each txn must follow the one
//!   before it (the next counter, or counter 1 of a later epoch); a gap stops recovery with an
//!   error: data is missing and the node must not serve as if it were not.
//! * A damaged record in the last segment (torn write, CRC mismatch) ends the log there: the
//!   rest is cut off and a log line says how many bytes and which zxids were dropped. Damage in
//!   an earlier segment is an error (cutting there would lose later segments).

use std::path::{Path, PathBuf};

use super::segment::{self, SegmentEnd};
use super::snapshot;
use crate::tree::DataTree;
use crate::txn::Zxid;

/// Where the log and snapshots of a data directory live.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Log segments.
    pub log_dir: PathBuf,
    /// Snapshots.
    pub snap_dir: PathBuf,
}

impl Layout {
    /// The layout under `data_dir`.
    pub fn new(data_dir: &Path) -> Layout {
        Layout {
            log_dir: data_dir.join("log"),
            snap_dir: data_dir.join("snap"),
        }
    }
}

/// The recovered state.
#[derive(Debug)]
pub struct Recovered {
    /// The tree, with its last zxid.
    pub tree: DataTree,
    /// The segment to continue and the end of its valid records.
    pub tail: Option<(PathBuf, u64)>,
    /// The snapshot used, if any.
    pub snapshot: Option<Zxid>,
    /// Txns replayed from the log.
    pub replayed: u64,
    /// Bytes cut from a damaged tail.
    pub truncated_bytes: u64,
    /// The last replayed txns (at most [`RECENT_KEPT`]), oldest first: a leader's history for
    /// DIFF syncs.
    pub recent: Vec<std::sync::Arc<crate::txn::Txn>>,
    /// The oldest snapshot's zxid (0 without one): the lowest point the log can be cut back to.
    pub floor: Zxid,
}

/// How many replayed txns recovery keeps for [`Recovered::recent`].
pub const RECENT_KEPT: usize = 10_000;

/// Why recovery stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// A txn is missing between two others.
    #[error("zxid gap in {segment}: after {after:#x} the next txn is {found:#x}; data is missing, refusing to start")]
    Gap {
        /// The segment.
        segment: String,
        /// The last txn applied.
        after: Zxid,
        /// The txn found.
        found: Zxid,
    },
    /// A damaged record in a segment that is not the last one.
    #[error("damaged record in {segment} at offset {offset} ({reason}), and later segments exist; refusing to start")]
    DamagedMiddle {
        /// The segment.
        segment: String,
        /// Offset.
        offset: u64,
        /// Why.
        reason: String,
    },
    /// A segment cannot be read.
    #[error("cannot read log: {0}")]
    Scan(#[from] segment::ScanError),
    /// A directory cannot be listed.
    #[error("cannot list {dir}: {source}")]
    List {
        /// The directory.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Does `next` directly follow `prev` in a zxid history?
pub fn follows(prev: Zxid, next: Zxid) -> bool {
    next == prev + 1 || ((next >> 32) > (prev >> 32) && (next & 0xffff_ffff) == 1)
}

/// Recovers the state of `layout`.
pub fn recover(layout: &Layout) -> Result<Recovered, RecoveryError> {
    let list_err = |dir: &Path| {
        let dir = dir.display().to_string();
        move |source| RecoveryError::List { dir, source }
    };
    let mut snaps = snapshot::list(&layout.snap_dir).map_err(list_err(&layout.snap_dir))?;
    snaps.reverse();
    let mut tree = None;
    let mut used = None;
    for (zxid, path) in &snaps {
        match snapshot::load(path) {
            Ok(t) => {
                tracing::info!(snapshot = %path.display(), zxid = %format!("{zxid:#x}"), "loaded snapshot");
                tree = Some(t);
                used = Some(*zxid);
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "snapshot unusable; falling back to the previous one");
                metrics::counter!("zkr_snapshots_unusable_total").increment(1);
            }
        }
    }
    let mut tree = tree.unwrap_or_default();
    let start = tree.last_zxid();
    let mut prev = start;
    let mut replayed = 0u64;
    let mut tail = None;
    let mut truncated_bytes = 0u64;
    let mut recent: std::collections::VecDeque<std::sync::Arc<crate::txn::Txn>> =
        Default::default();
    let segments = segment::list(&layout.log_dir).map_err(list_err(&layout.log_dir))?;
    let n = segments.len();
    for (i, (_, path)) in segments.iter().enumerate() {
        let last = i + 1 == n;
        if !last && segments[i + 1].0 <= start + 1 {
            continue; // every txn of this segment is in the snapshot
        }
        // Txns are applied as they are read: the segment is never held whole.
        let mut gap = None;
        let scanned = segment::scan_each(path, |txn, _| {
            if gap.is_some() || (txn.zxid <= prev && txn.zxid <= start) {
                return;
            }
            if !follows(prev, txn.zxid) {
                gap = Some(RecoveryError::Gap {
                    segment: path.display().to_string(),
                    after: prev,
                    found: txn.zxid,
                });
                return;
            }
            tree.apply(&txn);
            prev = txn.zxid;
            replayed += 1;
            recent.push_back(std::sync::Arc::new(txn));
            if recent.len() > RECENT_KEPT {
                recent.pop_front();
            }
        });
        let end = match scanned {
            Ok((_, end)) => end,
            Err(segment::ScanError::Header { path: p, source }) if last => {
                // A segment whose header never reached the disk holds no acknowledged txn.
                tracing::warn!(segment = %p, error = %source, "last log segment has no valid header; removing it");
                let _ = std::fs::remove_file(path);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(gap) = gap {
            return Err(gap);
        }
        match end {
            SegmentEnd::Clean(end) => {
                if last {
                    tail = Some((path.clone(), end));
                }
            }
            SegmentEnd::Damaged {
                offset,
                reason,
                bytes_after,
                zxids_after,
            } => {
                if !last {
                    return Err(RecoveryError::DamagedMiddle {
                        segment: path.display().to_string(),
                        offset,
                        reason,
                    });
                }
                let dropped = if zxids_after.is_empty() {
                    "no intact txn after it".to_string()
                } else {
                    format!(
                        "intact txns {:#x}..={:#x} ({} of them) dropped with it",
                        zxids_after[0],
                        zxids_after[zxids_after.len() - 1],
                        zxids_after.len()
                    )
                };
                tracing::error!(
                    segment = %path.display(),
                    offset,
                    %reason,
                    bytes = bytes_after,
                    last_good_zxid = %format!("{prev:#x}"),
                    "damaged log tail: truncating {bytes_after} bytes after zxid {prev:#x}; {dropped}"
                );
                metrics::counter!("zkr_log_truncations_total").increment(1);
                truncated_bytes += bytes_after;
                tail = Some((path.clone(), offset));
            }
        }
    }
    let orphans = tree.drop_orphans();
    if !orphans.is_empty() {
        tracing::warn!(count = orphans.len(), first = %orphans[0], "nodes without a parent after replay were removed");
    }
    let floor = snaps.last().map_or(0, |(z, _)| *z);
    Ok(Recovered {
        tree,
        tail,
        snapshot: used,
        replayed,
        truncated_bytes,
        recent: recent.into(),
        floor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_succession() {
        assert!(follows(5, 6));
        assert!(!follows(5, 7));
        assert!(follows(0x1_0000_0005, 0x2_0000_0001));
        assert!(!follows(0x1_0000_0005, 0x2_0000_0002));
        assert!(follows(0, 1));
    }
}
