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
//! * What a crash or a full disk leaves is accepted, wherever it is, and said: a segment that
//!   holds no record (empty, a torn header, a header and zeros: one that could not be started)
//!   is removed; a segment without its preallocation ends at its last record; an unfinished
//!   snapshot (`.tmp`, empty or half-written) is removed. A segment with a bad header but data
//!   after it is damage (a started segment always has its header synced first).
//! * When the newest usable snapshot is ahead of the whole log (a crash during a snapshot
//!   install), the log is continued in a new segment after it.
//! * While the newest snapshot loads (itself on two threads: [`super::snapload`]), the log after
//!   it is read and decoded on a thread of its own ([`super::prefetch`]); if an older snapshot
//!   has to be used, the replay reads the log itself. Either way every record's framing and CRC
//!   is checked; the records of txns the snapshot holds have only their zxid decoded.
//! * A fuzzy snapshot, installed from a leader's encode or the server's own, is a state some
//!   server had only once the txns after it are replayed up to where its scan ended (`E`, kept
//!   beside it: [`super::stream::tail_end`]). If the log stops short of `E` (the learner died
//!   while the tail came in; the server died before its own log had the txns it had applied,
//!   on a quorum of others' word, while its snapshot scanned), the tree is no valid state: it keeps its orphans and is marked as waiting
//!   for its tail ([`DataTree::expect_tail`]), so the node serves nothing from it (not even
//!   read-only) and takes no snapshot of it until a sync brings it past `E`; the node's last
//!   zxid is the log's, so the leader continues the replay (DIFF) or sends a new SNAP.

use std::path::{Path, PathBuf};

use super::prefetch::Prefetch;
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
        Layout::with_log_dir(data_dir, None)
    }

    /// The layout with the log under `data_log_dir` if given (ZooKeeper's `dataLogDir`: the log
    /// on a disk of its own), else under `data_dir`.
    pub fn with_log_dir(data_dir: &Path, data_log_dir: Option<&Path>) -> Layout {
        Layout {
            log_dir: data_log_dir.unwrap_or(data_dir).join("log"),
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
    /// What was dropped as a crash or full-disk leftover (one line each), already logged.
    pub dropped: Vec<String>,
    /// `E` of a snapshot installed from a leader's fuzzy encode when the log stops short of
    /// it: the tree waits for the rest of its tail ([`DataTree::tail_pending`]).
    pub short_of: Option<Zxid>,
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
    /// A segment whose header is damaged but that holds data after it.
    #[error("damaged header in {segment} ({reason}) with {bytes} bytes of records after it; refusing to start")]
    DamagedHeader {
        /// The segment.
        segment: String,
        /// What is wrong.
        reason: String,
        /// Non-zero bytes after the header.
        bytes: u64,
    },
    /// A directory cannot be listed.
    #[error("cannot list {dir}: {source}")]
    List {
        /// The directory.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
}

pub use crate::txn::follows;

/// Recovers the state of `layout`.
pub fn recover(layout: &Layout) -> Result<Recovered, RecoveryError> {
    let list_err = |dir: &Path| {
        let dir = dir.display().to_string();
        move |source| RecoveryError::List { dir, source }
    };
    let mut dropped = Vec::new();
    remove_unfinished_snapshots(&layout.snap_dir, &mut dropped);
    let mut snaps = snapshot::list(&layout.snap_dir).map_err(list_err(&layout.snap_dir))?;
    let mut segments = segment::list(&layout.log_dir).map_err(list_err(&layout.log_dir))?;
    drop_unstarted_segments(&mut segments, &mut dropped)?;
    // The log after the newest snapshot is read on another thread while that snapshot loads;
    // if an older one has to be used, the replay reads the log itself.
    let expected = snaps.last().map_or(0, |(z, _)| *z);
    let mut prefetch = Some(Prefetch::start(
        replayed_segments(&segments, expected)
            .map(|i| segments[i].1.clone())
            .collect(),
        expected,
    ));
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
    if prefetch.as_ref().is_some_and(|p| p.start_zxid() != start) {
        prefetch = None;
    }
    let n = segments.len();
    for i in replayed_segments(&segments, start) {
        let (_, path) = &segments[i];
        let last = i + 1 == n;
        // Txns are applied as they are read: the segment is never held whole.
        let mut gap = None;
        let visit = |txn: crate::txn::Txn| {
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
        };
        let scanned = match prefetch.as_mut() {
            Some(p) => p.next_segment(path, visit)?,
            None => segment::scan_after(path, start, visit)?,
        };
        let (first_zxid, end, last_txn) = (scanned.first_zxid, scanned.end, scanned.last_zxid);
        if let Some(gap) = gap {
            return Err(gap);
        }
        // The last segment is continued only if its records reach the recovered state (after a
        // crash during a snapshot install the snapshot is ahead of the whole old log).
        let reaches = last_txn.map_or(first_zxid <= prev + 1, |z| z >= start);
        match end {
            SegmentEnd::Clean(end) => {
                if last && reaches {
                    tail = Some((path.clone(), end));
                } else if last {
                    tracing::warn!(segment = %path.display(), snapshot = %format!("{start:#x}"), "the log ends before the newest snapshot (an interrupted snapshot install): a new segment follows it");
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
                let lost = if zxids_after.is_empty() {
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
                    "damaged log tail: truncating {bytes_after} bytes after zxid {prev:#x}; {lost}"
                );
                metrics::counter!("zkr_log_truncations_total").increment(1);
                truncated_bytes += bytes_after;
                dropped.push(format!(
                    "{}: {bytes_after} bytes of a damaged tail at offset {offset} ({reason}); {lost}",
                    path.display()
                ));
                if reaches {
                    tail = Some((path.clone(), offset));
                }
            }
        }
    }
    let short_of = used
        .and_then(|z| super::stream::tail_end(&layout.snap_dir, z))
        .filter(|end| prev < *end);
    if let Some(end) = short_of {
        // Orphans stay for the rest of the tail to resolve (`finish_replay`).
        tracing::warn!(
            snapshot = %format!("{start:#x}"),
            log_end = %format!("{prev:#x}"),
            encode_end = %format!("{end:#x}"),
            "the snapshot was scanned while txns up to {end:#x} were applied and the log stops at {prev:#x}: the tree is no valid state until the next sync brings it past {end:#x}"
        );
        tree.expect_tail();
    } else {
        let orphans = tree.drop_orphans();
        if !orphans.is_empty() {
            tracing::warn!(count = orphans.len(), first = %orphans[0], "nodes without a parent after replay were removed");
        }
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
        dropped,
        short_of,
    })
}

/// The indexes of the segments (by first zxid, in order) a replay from `start` reads: all but
/// those whose every txn is in the snapshot (the next segment starts at or before `start + 1`);
/// the last one always.
fn replayed_segments(
    segments: &[(Zxid, PathBuf)],
    start: Zxid,
) -> impl Iterator<Item = usize> + '_ {
    let n = segments.len();
    (0..n).filter(move |&i| i + 1 == n || segments[i + 1].0 > start + 1)
}

/// Removes (from disk and from `segments`) the segments that were never started: a segment is
/// started by writing and syncing its header before any record, so one without a valid header
/// and with nothing after it holds no txn (a crash or a full disk while it was being started),
/// wherever it is. One with a bad header and data after it is damage.
fn drop_unstarted_segments(
    segments: &mut Vec<(Zxid, PathBuf)>,
    dropped: &mut Vec<String>,
) -> Result<(), RecoveryError> {
    let mut keep = Vec::with_capacity(segments.len());
    for (z, path) in segments.drain(..) {
        let p = path.display().to_string();
        let scan_err = |source| segment::ScanError::Io {
            path: p.clone(),
            source,
        };
        let head = read_head(&path).map_err(scan_err)?;
        let Err(why) = super::format::parse_header(&head, super::format::LOG_MAGIC) else {
            keep.push((z, path));
            continue;
        };
        let buf = super::format::read_file(&path).map_err(scan_err)?;
        let bytes = buf
            .iter()
            .skip(super::format::HEADER_LEN)
            .filter(|b| **b != 0)
            .count() as u64;
        if bytes > 0 {
            return Err(RecoveryError::DamagedHeader {
                segment: p,
                reason: why.to_string(),
                bytes,
            });
        }
        tracing::warn!(segment = %p, size = buf.len(), error = %why, "log segment that was never started (no record in it): removing it");
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(segment = %p, error = %e, "cannot remove it; it is skipped");
        }
        dropped.push(format!(
            "{p}: a log segment that was never started ({why}, {} bytes, no record): removed",
            buf.len()
        ));
    }
    *segments = keep;
    Ok(())
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(super::format::HEADER_LEN);
    std::fs::File::open(path)?
        .take(super::format::HEADER_LEN as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// Removes `snapshot.*.tmp` files: snapshots whose writing a crash or a full disk interrupted
/// (a finished snapshot is renamed from its temp file only once synced).
fn remove_unfinished_snapshots(dir: &Path, dropped: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("snapshot.") && name.ends_with(".tmp")) {
            continue;
        }
        let bytes = e.metadata().map(|m| m.len()).unwrap_or(0);
        tracing::warn!(file = %e.path().display(), bytes, "unfinished snapshot (interrupted while written); removing it");
        if let Err(err) = std::fs::remove_file(e.path()) {
            tracing::warn!(file = %e.path().display(), error = %err, "cannot remove it");
        }
        dropped.push(format!(
            "{}: an unfinished snapshot of {bytes} bytes: removed",
            e.path().display()
        ));
    }
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
