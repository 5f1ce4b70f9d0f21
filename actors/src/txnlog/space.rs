//! Free disk space of the log and snapshot directories, and the gauges that report it
//! (`zkr_disk_free_bytes{dir}`, `zkr_disk_space_low`).
//!
//! Invariants:
//! * the gauges exist from the node's first scrape: the node samples once, synchronously,
//!   before its exporter answers ([`publish_before_serving`]); the log actor samples again
//!   every few seconds on a blocking thread;
//! * the warning level is the configured `low_space`, or else the newest snapshot's size plus
//!   two log segments (at least 1 MiB each): what the next snapshot and roll need;
//! * a directory not made yet is reported by the file system that will hold it (its nearest
//!   existing ancestor's); one whose file system cannot be read is left out, never reported as
//!   empty.

use std::path::{Path, PathBuf};

use super::actor::SnapshotPolicy;
use super::recovery::Layout;
use super::snapshot;

/// One look at the disk.
#[derive(Debug)]
pub struct Sample {
    /// `("log" | "snap", directory, free bytes)`; `None` when the file system could not be read.
    pub dirs: [(&'static str, PathBuf, Option<u64>); 2],
    /// The newest snapshot's size, when asked for and found.
    pub newest_snapshot: Option<u64>,
}

/// A directory found under the warning level.
#[derive(Debug, PartialEq, Eq)]
pub struct Low {
    /// The directory.
    pub dir: PathBuf,
    /// Its free bytes.
    pub free: u64,
}

/// Samples both directories (blocking: `statvfs`, and a listing of the snapshot directory when
/// `newest_wanted`).
pub fn sample(layout: &Layout, newest_wanted: bool) -> Sample {
    let newest_snapshot = newest_wanted
        .then(|| snapshot::list(&layout.snap_dir).ok())
        .flatten()
        .and_then(|s| s.last().and_then(|(_, p)| std::fs::metadata(p).ok()))
        .map(|m| m.len());
    let dirs = [("log", &layout.log_dir), ("snap", &layout.snap_dir)]
        .map(|(which, dir)| (which, dir.clone(), free_bytes(dir)));
    Sample {
        dirs,
        newest_snapshot,
    }
}

/// The free space under which the node warns, given the newest snapshot's size.
pub fn warning_level(policy: &SnapshotPolicy, last_snapshot_bytes: u64) -> u64 {
    policy
        .low_space
        .unwrap_or(last_snapshot_bytes + 2 * policy.prealloc_bytes.max(1 << 20))
}

/// Sets the gauges from `sample`; returns the directories under `threshold`.
pub fn publish(sample: &Sample, threshold: u64) -> Vec<Low> {
    let mut low = Vec::new();
    for (which, dir, free) in &sample.dirs {
        let Some(free) = *free else { continue };
        metrics::gauge!("zkr_disk_free_bytes", "dir" => *which).set(free as f64);
        if free < threshold {
            low.push(Low {
                dir: dir.clone(),
                free,
            });
        }
    }
    metrics::gauge!("zkr_disk_space_low").set(if low.is_empty() { 0.0 } else { 1.0 });
    low
}

/// The node's first sample, taken before its exporter answers a scrape (the log actor, started
/// later, samples again and warns when low). Nothing for an in-memory node.
pub fn publish_before_serving(policy: &SnapshotPolicy) {
    let Some(layout) = &policy.layout else {
        return;
    };
    let first = sample(layout, true);
    let level = warning_level(policy, first.newest_snapshot.unwrap_or(0));
    publish(&first, level);
}

/// Free bytes (for unprivileged users) of the file system that holds, or will hold, `dir`: its
/// nearest existing ancestor's (a fresh node has no snapshot directory until its first
/// snapshot). `None` when no ancestor can be read.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    dir.ancestors()
        .filter(|d| !d.as_os_str().is_empty())
        .find(|d| d.exists())
        .and_then(statvfs_free)
}

fn statvfs_free(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(layout: Option<Layout>, low_space: Option<u64>) -> SnapshotPolicy {
        SnapshotPolicy {
            layout,
            data_dir: None,
            snap_count: 1000,
            snap_size_limit: 1 << 30,
            retain: 3,
            autopurge: true,
            purge_interval: None,
            low_space,
            prealloc_bytes: 64 << 20,
        }
    }

    #[test]
    fn the_warning_level_is_the_setting_or_the_next_snapshot_and_two_segments() {
        assert_eq!(warning_level(&policy(None, Some(5)), 1 << 30), 5);
        assert_eq!(
            warning_level(&policy(None, None), 1000),
            1000 + 2 * (64 << 20)
        );
        let mut tiny = policy(None, None);
        tiny.prealloc_bytes = 0;
        assert_eq!(warning_level(&tiny, 0), 2 << 20);
    }

    #[test]
    fn a_sample_reads_both_directories_even_one_not_made_yet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout {
            log_dir: dir.path().to_path_buf(),
            snap_dir: dir.path().join("snap").join("deeper"),
        };
        let s = sample(&layout, true);
        for (which, _, free) in &s.dirs {
            assert!(free.is_some_and(|f| f > 0), "{which}: {free:?}");
        }
        assert_eq!(s.newest_snapshot, None);
        assert_eq!(publish(&s, 0), vec![]);
        let low = publish(&s, u64::MAX);
        assert_eq!(low.len(), 2);
        assert_eq!(low[0].dir, dir.path());
    }

    #[test]
    fn a_directory_on_no_readable_file_system_is_left_out() {
        assert_eq!(free_bytes(Path::new("")), None);
        assert_eq!(free_bytes(Path::new("relative/and/missing")), None);
        let s = Sample {
            dirs: [
                ("log", PathBuf::from("/x"), None),
                ("snap", PathBuf::from("/y"), Some(5)),
            ],
            newest_snapshot: None,
        };
        let low = publish(&s, 10);
        assert_eq!(
            low,
            vec![Low {
                dir: PathBuf::from("/y"),
                free: 5
            }]
        );
    }
}
