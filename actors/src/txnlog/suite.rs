//! One test suite for every [`LogBackend`]: the file log (on a file system that can fail), the
//! in-memory log, and the simulator's disk (`sim::disk`). Each backend gets a [`Harness`] that
//! can restart it as a crash would and read back what a recovery would find; every case below
//! runs against all three, so the simulation checks the protocol against the same disk
//! behaviour the node has.

use std::sync::Arc;

use super::{LogBackend, LogError};
use crate::proto::ErrorCode;
use crate::tree::DataTree;
use crate::txn::{Txn, TxnOp, Zxid};

/// What a recovery finds: the snapshot it starts from, then the logged txns after it as
/// (zxid, tag).
pub(crate) type Recovered = (Option<Zxid>, Vec<(Zxid, i32)>);

/// A backend under test.
pub(crate) trait Harness {
    /// The backend.
    type B: LogBackend;
    /// An empty log.
    fn fresh(&mut self) -> Self::B;
    /// kill -9 and a restart: a backend over what the crash kept.
    fn restart(&mut self, b: Self::B) -> Self::B;
    /// What a recovery would find now.
    fn recovered(&mut self, b: &Self::B) -> Recovered;
    /// The next sync of `b` fails with an I/O error.
    fn fail_next_sync(&mut self, b: &mut Self::B);
    /// A snapshot at `zxid` written beside the log (as the background snapshot does).
    fn take_snapshot(&mut self, b: &mut Self::B, zxid: Zxid, bytes: &[u8]);
    /// Purge, keeping `keep` snapshots.
    fn purge(&mut self, b: &mut Self::B, keep: usize);
    /// The zxids of the snapshots on disk, oldest first.
    fn snapshots(&mut self, b: &Self::B) -> Vec<Zxid>;
}

/// A txn at `zxid` tagged `tag` (in its cxid), changing nothing in the tree.
pub(crate) fn txn(zxid: Zxid, tag: i32) -> Arc<Txn> {
    Arc::new(Txn {
        zxid,
        time_ms: 0,
        session_id: 0,
        cxid: tag,
        op: TxnOp::Error(ErrorCode::NoNode),
    })
}

fn txns(range: std::ops::RangeInclusive<Zxid>, tag: i32) -> Vec<Arc<Txn>> {
    range.map(|z| txn(z, tag)).collect()
}

/// Snapshot bytes of a tree whose last txn is `zxid`.
pub(crate) fn snapshot_bytes(zxid: Zxid) -> bytes::Bytes {
    let mut tree = DataTree::new();
    tree.apply(&txn(zxid, 0));
    super::snapshot::encode_tree(&tree)
}

fn tagged(range: std::ops::RangeInclusive<Zxid>, tag: i32) -> Vec<(Zxid, i32)> {
    range.map(|z| (z, tag)).collect()
}

fn synced<B: LogBackend>(b: &mut B, t: &[Arc<Txn>]) {
    b.append(t).expect("append");
    b.sync().expect("sync");
}

/// Runs every case against `h`.
pub(crate) fn run_all<H: Harness>(h: &mut H) {
    synced_txns_survive_a_restart(h);
    a_crash_keeps_every_synced_txn_and_at_most_a_prefix_of_the_rest(h);
    after_a_failed_sync_the_next_append_follows_the_last_synced_txn(h);
    a_failed_sync_leaves_nothing_of_its_batch_after_a_restart(h);
    appends_that_leave_a_hole_are_refused(h);
    truncation_keeps_the_prefix_and_appends_follow(h);
    a_snapshot_install_replaces_the_log_and_appends_follow_it(h);
    purge_keeps_what_recovery_needs(h);
    recovery_starts_from_the_newest_of_several_snapshots(h);
    purge_keeps_the_newest_snapshots_and_a_cut_back_to_the_oldest(h);
    a_cut_below_the_oldest_snapshot_is_refused_and_changes_nothing(h);
}

fn synced_txns_survive_a_restart<H: Harness>(h: &mut H) {
    let mut b = h.fresh();
    synced(&mut b, &txns(1..=3, 0));
    synced(&mut b, &txns(4..=5, 0));
    assert_eq!(b.last_zxid(), 5);
    let b = h.restart(b);
    assert_eq!(h.recovered(&b), (None, tagged(1..=5, 0)));
    assert_eq!(b.last_zxid(), 5);
}

fn a_crash_keeps_every_synced_txn_and_at_most_a_prefix_of_the_rest<H: Harness>(h: &mut H) {
    let mut b = h.fresh();
    synced(&mut b, &txns(1..=3, 0));
    b.append(&txns(4..=6, 0)).expect("append");
    let b = h.restart(b);
    let (snap, got) = h.recovered(&b);
    assert_eq!(snap, None);
    assert!(
        got.len() >= 3 && got == tagged(1..=got.len() as Zxid, 0),
        "{got:?}"
    );
    assert_eq!(b.last_zxid(), got.len() as Zxid);
}

fn after_a_failed_sync_the_next_append_follows_the_last_synced_txn<H: Harness>(h: &mut H) {
    let mut b = h.fresh();
    synced(&mut b, &txns(1..=3, 0));
    b.append(&txns(4..=5, 1)).expect("append");
    h.fail_next_sync(&mut b);
    let e = b.sync().expect_err("the sync fails");
    assert_eq!(e.kind(), super::LogErrorKind::Io, "{e}");
    b.discard_unsynced().expect("cut back");
    assert_eq!(b.last_zxid(), 3, "the failed txns are forgotten");
    // The disk works again: the same zxids, with what the leader proposes now.
    synced(&mut b, &txns(4..=5, 2));
    synced(&mut b, &txns(6..=6, 2));
    let b = h.restart(b);
    let mut want = tagged(1..=3, 0);
    want.extend(tagged(4..=6, 2));
    assert_eq!(h.recovered(&b), (None, want));
}

fn a_failed_sync_leaves_nothing_of_its_batch_after_a_restart<H: Harness>(h: &mut H) {
    let mut b = h.fresh();
    synced(&mut b, &txns(1..=2, 0));
    b.append(&txns(3..=4, 1)).expect("append");
    h.fail_next_sync(&mut b);
    assert!(b.sync().is_err());
    b.discard_unsynced().expect("cut back");
    let b = h.restart(b);
    assert_eq!(h.recovered(&b), (None, tagged(1..=2, 0)));
    assert_eq!(b.last_zxid(), 2);
}

fn appends_that_leave_a_hole_are_refused<H: Harness>(h: &mut H) {
    let mut b = h.fresh();
    synced(&mut b, &txns(1..=2, 0));
    match b.append(&txns(4..=4, 0)) {
        Err(LogError::NotContiguous { zxid: 4, last: 2 }) => {}
        other => panic!("{other:?}"),
    }
    // A new epoch starts at counter 1.
    synced(&mut b, &[txn(0x1_0000_0001, 0)]);
    assert_eq!(b.last_zxid(), 0x1_0000_0001);
}

/// A cut at or after the snapshot (the floor the log reports; the file log refuses one below
/// it, and drops the newer of several snapshots: `file_tests.rs`).
fn truncation_keeps_the_prefix_and_appends_follow<H: Harness>(h: &mut H) {
    let mut b = h.fresh();
    synced(&mut b, &txns(1..=4, 0));
    h.take_snapshot(&mut b, 4, &snapshot_bytes(4));
    synced(&mut b, &txns(5..=8, 0));
    b.truncate_after(6).expect("truncate");
    assert_eq!(b.last_zxid(), 6);
    synced(&mut b, &txns(7..=8, 1));
    let b = h.restart(b);
    let mut want = tagged(5..=6, 0);
    want.extend(tagged(7..=8, 1));
    assert_eq!(h.recovered(&b), (Some(4), want));
}

fn a_snapshot_install_replaces_the_log_and_appends_follow_it<H: Harness>(h: &mut H) {
    let mut b = h.fresh();
    synced(&mut b, &txns(1..=5, 0));
    h.take_snapshot(&mut b, 3, &snapshot_bytes(3));
    let z = 0x2_0000_0007;
    b.install_snapshot(z, &snapshot_bytes(z)).expect("install");
    assert_eq!(b.last_zxid(), z);
    synced(&mut b, &txns(z + 1..=z + 2, 1));
    let b = h.restart(b);
    assert_eq!(h.recovered(&b), (Some(z), tagged(z + 1..=z + 2, 1)));
}

/// A log of txns 1..=45 with snapshots at 5, 15, 25 and 35.
fn four_snapshots<H: Harness>(h: &mut H) -> H::B {
    let mut b = h.fresh();
    for round in 0..4 {
        let first = round * 10 + 1;
        synced(&mut b, &txns(first..=first + 9, 0));
        h.take_snapshot(&mut b, first + 4, &snapshot_bytes(first + 4));
    }
    synced(&mut b, &txns(41..=45, 0));
    b
}

fn purge_keeps_what_recovery_needs<H: Harness>(h: &mut H) {
    let mut b = four_snapshots(h);
    let before = h.recovered(&b);
    h.purge(&mut b, 2);
    let b = h.restart(b);
    assert_eq!(h.recovered(&b), before);
}

fn recovery_starts_from_the_newest_of_several_snapshots<H: Harness>(h: &mut H) {
    let mut b = h.fresh();
    for round in 0..3 {
        let first = round * 4 + 1;
        synced(&mut b, &txns(first..=first + 3, 0));
        h.take_snapshot(&mut b, first + 2, &snapshot_bytes(first + 2));
    }
    let b = h.restart(b);
    assert_eq!(h.snapshots(&b), vec![3, 7, 11]);
    assert_eq!(h.recovered(&b), (Some(11), tagged(12..=12, 0)));
    assert_eq!(b.last_zxid(), 12);
}

/// Keeping `keep` of four snapshots: the newest `keep` stay, recovery finds what it found
/// before, and the log can still be cut back to the oldest one kept (the floor).
fn purge_keeps_the_newest_snapshots_and_a_cut_back_to_the_oldest<H: Harness>(h: &mut H) {
    for keep in 1..=3i64 {
        let mut b = four_snapshots(h);
        let before = h.recovered(&b);
        h.purge(&mut b, keep as usize);
        let kept: Vec<Zxid> = (4 - keep..4).map(|r| r * 10 + 5).collect();
        assert_eq!(h.snapshots(&b), kept, "keeping {keep}");
        let mut b = h.restart(b);
        assert_eq!(h.recovered(&b), before, "keeping {keep}");
        let floor = kept[0];
        b.truncate_after(floor).expect("a cut back to the floor");
        assert_eq!(b.last_zxid(), floor);
        synced(&mut b, &txns(floor + 1..=floor + 2, 1));
        let b = h.restart(b);
        assert_eq!(h.snapshots(&b), vec![floor], "keeping {keep}");
        assert_eq!(
            h.recovered(&b),
            (Some(floor), tagged(floor + 1..=floor + 2, 1)),
            "keeping {keep}"
        );
    }
}

/// The floor is the oldest snapshot: a cut below it (the log before it may be purged) is
/// refused with [`LogError::BelowFloor`] before anything is touched; one at or above it works.
fn a_cut_below_the_oldest_snapshot_is_refused_and_changes_nothing<H: Harness>(h: &mut H) {
    let mut b = h.fresh();
    synced(&mut b, &txns(1..=10, 0));
    h.take_snapshot(&mut b, 5, &snapshot_bytes(5));
    synced(&mut b, &txns(11..=12, 0));
    h.take_snapshot(&mut b, 11, &snapshot_bytes(11));
    h.purge(&mut b, 2);
    let before = h.recovered(&b);
    match b.truncate_after(4) {
        Err(LogError::BelowFloor { to: 4, floor: 5 }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(b.last_zxid(), 12, "nothing changed");
    synced(&mut b, &txns(13..=13, 0));
    let mut b = h.restart(b);
    assert_eq!(h.snapshots(&b), vec![5, 11]);
    let mut want = before.1.clone();
    want.push((13, 0));
    assert_eq!(h.recovered(&b), (before.0, want));
    // A cut between the two: the newer snapshot goes, the older one is recovered from.
    b.truncate_after(8).expect("a cut above the floor");
    assert_eq!(b.last_zxid(), 8);
    let b = h.restart(b);
    assert_eq!(h.snapshots(&b), vec![5]);
    assert_eq!(h.recovered(&b), (Some(5), tagged(6..=8, 0)));
}

/// The file log, on a file system whose syncs can be made to fail.
pub(crate) struct FileHarness {
    dir: tempfile::TempDir,
    faults: Arc<super::fs::Faults>,
    runs: u32,
}

impl FileHarness {
    pub(crate) fn new(tag: &str) -> FileHarness {
        let dir = tempfile::Builder::new()
            .prefix(&format!("zkr-suite-{tag}-"))
            .tempdir()
            .expect("temp dir");
        FileHarness {
            dir,
            faults: Arc::default(),
            runs: 0,
        }
    }

    fn layout(&self) -> super::recovery::Layout {
        super::recovery::Layout::new(&self.dir.path().join(self.runs.to_string()))
    }

    fn open(&self) -> super::segment::FileLog {
        let layout = self.layout();
        let rec = super::recovery::recover(&layout).expect("recovery");
        super::segment::FileLog::open_on(
            Arc::new(super::fs::FaultyFs::new(self.faults.clone())),
            &layout,
            rec.tail,
            rec.tree.last_zxid(),
            true,
            4096,
        )
        .expect("open")
    }
}

impl Harness for FileHarness {
    type B = super::segment::FileLog;
    fn fresh(&mut self) -> Self::B {
        self.runs += 1;
        self.open()
    }
    fn restart(&mut self, b: Self::B) -> Self::B {
        drop(b);
        self.open()
    }
    fn recovered(&mut self, _b: &Self::B) -> Recovered {
        let rec = super::recovery::recover(&self.layout()).expect("recovery");
        (
            rec.snapshot,
            rec.recent.iter().map(|t| (t.zxid, t.cxid)).collect(),
        )
    }
    fn fail_next_sync(&mut self, _b: &mut Self::B) {
        self.faults
            .failing_syncs
            .store(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn take_snapshot(&mut self, _b: &mut Self::B, zxid: Zxid, bytes: &[u8]) {
        super::snapshot::save_bytes(&self.layout().snap_dir, zxid, bytes).expect("snapshot");
    }
    fn purge(&mut self, _b: &mut Self::B, keep: usize) {
        super::purge::purge(&self.layout(), keep).expect("purge");
    }
    fn snapshots(&mut self, _b: &Self::B) -> Vec<Zxid> {
        let list = super::snapshot::list(&self.layout().snap_dir).expect("snapshots");
        list.into_iter().map(|(z, _)| z).collect()
    }
}

/// The in-memory log.
pub(crate) struct MemoryHarness;

/// What recovery finds in a memory disk (the simulator's disk has the same shape).
pub(crate) fn memory_recovered(snapshot: Option<Zxid>, txns: &[Arc<Txn>]) -> Recovered {
    let base = snapshot.unwrap_or(0);
    (
        snapshot,
        txns.iter()
            .filter(|t| t.zxid > base)
            .map(|t| (t.zxid, t.cxid))
            .collect(),
    )
}

impl Harness for MemoryHarness {
    type B = super::memory::MemoryLog;
    fn fresh(&mut self) -> Self::B {
        super::memory::MemoryLog::default()
    }
    fn restart(&mut self, b: Self::B) -> Self::B {
        super::memory::MemoryLog::reopen(b.disk())
    }
    fn recovered(&mut self, b: &Self::B) -> Recovered {
        let disk = b.disk();
        let d = disk.lock().expect("disk");
        memory_recovered(d.snapshots.last().map(|s| s.0), &d.txns)
    }
    fn fail_next_sync(&mut self, b: &mut Self::B) {
        b.failing_syncs = 1;
    }
    fn take_snapshot(&mut self, b: &mut Self::B, zxid: Zxid, bytes: &[u8]) {
        let disk = b.disk();
        let mut d = disk.lock().expect("disk");
        // Beside the log, which keeps what is before it (as on a file disk).
        d.snapshots
            .push((zxid, bytes::Bytes::copy_from_slice(bytes)));
        d.snapshots.sort_by_key(|s| s.0);
    }
    fn purge(&mut self, b: &mut Self::B, keep: usize) {
        let disk = b.disk();
        let mut d = disk.lock().expect("disk");
        let old = d.snapshots.len().saturating_sub(keep.max(1));
        d.snapshots.drain(..old);
        if let Some(&(z, _)) = d.snapshots.first() {
            d.txns.retain(|t| t.zxid > z);
        }
    }
    fn snapshots(&mut self, b: &Self::B) -> Vec<Zxid> {
        let disk = b.disk();
        let d = disk.lock().expect("disk");
        d.snapshots.iter().map(|s| s.0).collect()
    }
}

#[test]
fn the_file_log_passes_the_backend_suite() {
    run_all(&mut FileHarness::new("file"));
}

#[test]
fn the_memory_log_passes_the_backend_suite() {
    run_all(&mut MemoryHarness);
}
