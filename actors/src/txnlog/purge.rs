//! Purge (ZooKeeper's autopurge / PurgeTxnLog): keep the newest `keep` snapshots and the log
//! segments they need; delete the rest, and stray temp files of unfinished snapshots.

use std::io;

use super::recovery::Layout;
use super::{segment, snapshot};

/// What a purge removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purged {
    /// Snapshot files removed.
    pub snapshots: Vec<String>,
    /// Log segments removed.
    pub segments: Vec<String>,
}

/// Purges `layout`, keeping `keep` (at least 1) snapshots. Must not run while a snapshot is
/// being written.
pub fn purge(layout: &Layout, keep: usize) -> io::Result<Purged> {
    let keep = keep.max(1);
    let mut out = Purged::default();
    let snaps = snapshot::list(&layout.snap_dir)?;
    if snaps.is_empty() {
        return Ok(out);
    }
    let (old, kept) = snaps.split_at(snaps.len().saturating_sub(keep));
    let oldest_kept = kept[0].0;
    for (z, p) in old {
        std::fs::remove_file(p)?;
        super::stream::discard(&super::stream::tail_end_path(&layout.snap_dir, *z));
        out.snapshots.push(p.display().to_string());
    }
    let segs = segment::list(&layout.log_dir)?;
    for w in segs.windows(2) {
        let ((_, path), (next_first, _)) = (&w[0], &w[1]);
        if *next_first <= oldest_kept + 1 {
            std::fs::remove_file(path)?;
            out.segments.push(path.display().to_string());
        }
    }
    remove_tmp(layout)?;
    Ok(out)
}

fn remove_tmp(layout: &Layout) -> io::Result<()> {
    let rd = match std::fs::read_dir(&layout.snap_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().ends_with(".tmp") {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}
