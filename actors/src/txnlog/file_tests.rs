//! Tests of the file log and of recovery against the states a full disk, an I/O error or a
//! crash can leave (the backend suite in `suite.rs` covers the behaviour every backend shares).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::fs::{Faults, FaultyFs};
use super::prefetch::Prefetch;
use super::recovery::{self, Layout};
use super::segment::{self, FileLog};
use super::suite::{snapshot_bytes, txn};
use super::{snapshot, LogBackend, LogErrorKind};
use crate::txn::{Txn, Zxid};

/// A temporary directory, removed on drop.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new(tag: &str) -> Dir {
        Dir(tempfile::Builder::new()
            .prefix(&format!("zkr-filelog-{tag}-"))
            .tempdir()
            .unwrap())
    }
    fn layout(&self) -> Layout {
        Layout::new(self.0.path())
    }
}

fn open(layout: &Layout, faults: &Arc<Faults>) -> FileLog {
    let rec = recovery::recover(layout).expect("recovery");
    FileLog::open_on(
        Arc::new(FaultyFs::new(faults.clone())),
        layout,
        rec.tail,
        rec.tree.last_zxid(),
        true,
        4096,
    )
    .expect("open")
}

fn zxids(layout: &Layout) -> Vec<Zxid> {
    recovery::recover(layout)
        .expect("recovery")
        .recent
        .iter()
        .map(|t| t.zxid)
        .collect()
}

fn batch(from: Zxid, to: Zxid) -> Vec<Arc<Txn>> {
    (from..=to).map(|z| txn(z, 0)).collect()
}

fn write(log: &mut FileLog, from: Zxid, to: Zxid) {
    log.append(&batch(from, to)).unwrap();
    log.sync().unwrap();
}

#[test]
fn a_segment_that_cannot_be_started_on_a_full_disk_leaves_no_file_and_writes_resume() {
    let d = Dir::new("full-roll");
    let layout = d.layout();
    let faults = Arc::new(Faults::default());
    let mut log = open(&layout, &faults);
    write(&mut log, 1, 10);
    log.request_roll();
    faults.full.store(true, Ordering::SeqCst);
    let e = log.append(&batch(11, 12)).unwrap_err();
    assert_eq!(e.kind(), LogErrorKind::DiskFull, "{e}");
    log.discard_unsynced().unwrap();
    let segs = segment::list(&layout.log_dir).unwrap();
    assert_eq!(segs.len(), 1, "no empty segment left behind: {segs:?}");
    // Space comes back: the same txns go in.
    faults.full.store(false, Ordering::SeqCst);
    write(&mut log, 11, 12);
    drop(log);
    assert_eq!(zxids(&layout), (1..=12).collect::<Vec<_>>());
}

#[test]
fn recovery_drops_a_never_started_segment_between_two_others() {
    // What issue 17 found: a 0-byte segment created when the disk was full, the txns after it
    // written into the segment before and the next one.
    let d = Dir::new("empty-middle");
    let layout = d.layout();
    let faults = Arc::new(Faults::default());
    let mut log = open(&layout, &faults);
    write(&mut log, 1, 8);
    log.request_roll();
    write(&mut log, 9, 10);
    drop(log);
    std::fs::write(layout.log_dir.join(segment::segment_name(4)), b"").unwrap();
    // A torn header (a crash while it was being written) is the same case.
    std::fs::write(
        layout.log_dir.join(segment::segment_name(6)),
        &super::format::header(super::format::LOG_MAGIC, 6)[..10],
    )
    .unwrap();
    let rec = recovery::recover(&layout).expect("recovery accepts it");
    assert_eq!(rec.tree.last_zxid(), 10);
    assert_eq!(rec.dropped.len(), 2, "{:?}", rec.dropped);
    assert!(
        rec.dropped[0].contains("never started"),
        "{:?}",
        rec.dropped
    );
    assert_eq!(segment::list(&layout.log_dir).unwrap().len(), 2);
}

#[test]
fn a_segment_with_a_damaged_header_and_records_after_it_stops_recovery() {
    let d = Dir::new("bad-header");
    let layout = d.layout();
    let faults = Arc::new(Faults::default());
    let mut log = open(&layout, &faults);
    write(&mut log, 1, 5);
    log.request_roll();
    write(&mut log, 6, 8);
    drop(log);
    let first = segment::list(&layout.log_dir).unwrap()[0].1.clone();
    let mut b = std::fs::read(&first).unwrap();
    b[0] ^= 0xff;
    std::fs::write(&first, b).unwrap();
    let e = recovery::recover(&layout).unwrap_err();
    assert!(e.to_string().contains("damaged header"), "{e}");
}

#[test]
fn a_segment_without_its_preallocation_is_continued() {
    let d = Dir::new("no-prealloc");
    let layout = d.layout();
    let faults = Arc::new(Faults::default());
    let mut log = open(&layout, &faults);
    write(&mut log, 1, 5);
    drop(log);
    // Cut the preallocated zeros (a file system without fallocate, or a crash before it).
    let seg = segment::list(&layout.log_dir).unwrap()[0].1.clone();
    let end = match segment::scan(&seg).unwrap().end {
        segment::SegmentEnd::Clean(e) => e,
        other => panic!("{other:?}"),
    };
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(end)
        .unwrap();
    let mut log = open(&layout, &faults);
    write(&mut log, 6, 7);
    drop(log);
    assert_eq!(zxids(&layout), (1..=7).collect::<Vec<_>>());
}

#[test]
fn unfinished_snapshots_are_removed_and_said_at_recovery() {
    let d = Dir::new("tmp-snap");
    let layout = d.layout();
    let faults = Arc::new(Faults::default());
    let mut log = open(&layout, &faults);
    write(&mut log, 1, 5);
    drop(log);
    std::fs::create_dir_all(&layout.snap_dir).unwrap();
    let half = snapshot_bytes(5);
    std::fs::write(
        layout
            .snap_dir
            .join(format!("{}.tmp", snapshot::snapshot_name(5))),
        &half[..half.len() / 2],
    )
    .unwrap();
    std::fs::write(
        layout
            .snap_dir
            .join(format!("{}.tmp", snapshot::snapshot_name(3))),
        b"",
    )
    .unwrap();
    let rec = recovery::recover(&layout).unwrap();
    assert_eq!(rec.tree.last_zxid(), 5);
    assert_eq!(rec.dropped.len(), 2, "{:?}", rec.dropped);
    assert_eq!(std::fs::read_dir(&layout.snap_dir).unwrap().count(), 0);
}

#[test]
fn after_an_io_error_the_log_goes_on_in_a_new_segment() {
    let d = Dir::new("eio");
    let layout = d.layout();
    let faults = Arc::new(Faults::default());
    let mut log = open(&layout, &faults);
    write(&mut log, 1, 5);
    log.append(&batch(6, 7)).unwrap();
    faults.failing_syncs.store(1, Ordering::SeqCst);
    let e = log.sync().unwrap_err();
    assert_eq!(e.kind(), LogErrorKind::Io);
    log.discard_unsynced().unwrap();
    write(&mut log, 6, 7);
    drop(log);
    let segs = segment::list(&layout.log_dir).unwrap();
    assert_eq!(
        segs.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![1, 6],
        "the segment whose fsync failed is not written again"
    );
    assert_eq!(zxids(&layout), (1..=7).collect::<Vec<_>>());
}

#[test]
fn a_failed_cut_back_is_retried_before_the_next_write() {
    let d = Dir::new("cut-retry");
    let layout = d.layout();
    let faults = Arc::new(Faults::default());
    let mut log = open(&layout, &faults);
    write(&mut log, 1, 3);
    log.append(&batch(4, 5)).unwrap();
    // The sync fails, and so does the sync of the cut.
    faults.failing_syncs.store(2, Ordering::SeqCst);
    assert!(log.sync().is_err());
    assert!(log.discard_unsynced().is_err());
    assert_eq!(log.last_zxid(), 3);
    write(&mut log, 4, 4);
    drop(log);
    assert_eq!(zxids(&layout), (1..=4).collect::<Vec<_>>());
}

#[test]
fn an_install_whose_snapshot_cannot_be_written_keeps_the_old_state() {
    let d = Dir::new("install-fails");
    let layout = d.layout();
    let faults = Arc::new(Faults::default());
    let mut log = open(&layout, &faults);
    write(&mut log, 1, 6);
    log.request_roll();
    write(&mut log, 7, 10);
    std::fs::create_dir_all(&layout.snap_dir).unwrap();
    snapshot::save_bytes(&layout.snap_dir, 6, &snapshot_bytes(6)).unwrap();
    // The log before the snapshot is purged: the snapshot is needed to start.
    let purged = super::purge::purge(&layout, 1).unwrap();
    assert_eq!(purged.segments.len(), 1);
    write(&mut log, 11, 12);
    let z = 0x2_0000_0003;
    // Writing the leader's snapshot fails (here: its temp file cannot be created; a full disk
    // or a kill -9 at that moment leave the same state).
    std::fs::create_dir_all(
        layout
            .snap_dir
            .join(format!("{}.tmp", snapshot::snapshot_name(z))),
    )
    .unwrap();
    assert!(log.install_snapshot(z, &snapshot_bytes(z)).is_err());
    drop(log);
    std::fs::remove_dir(
        layout
            .snap_dir
            .join(format!("{}.tmp", snapshot::snapshot_name(z))),
    )
    .unwrap();
    let rec = recovery::recover(&layout).expect("the node can start");
    assert_eq!(rec.snapshot, Some(6));
    assert_eq!(rec.tree.last_zxid(), 12, "the old state, whole");
}

#[test]
fn an_install_interrupted_after_the_snapshot_is_durable_starts_from_it() {
    let d = Dir::new("install-crash");
    let layout = d.layout();
    let faults = Arc::new(Faults::default());
    let mut log = open(&layout, &faults);
    write(&mut log, 1, 10);
    drop(log);
    // The state a kill -9 leaves right after the new snapshot is durable, before the old log
    // and snapshots go.
    let z = 0x2_0000_0003;
    snapshot::save_bytes(&layout.snap_dir, z, &snapshot_bytes(z)).unwrap();
    let rec = recovery::recover(&layout).expect("recovery");
    assert_eq!(rec.snapshot, Some(z));
    assert_eq!(rec.tree.last_zxid(), z);
    assert_eq!(
        rec.tail, None,
        "the old log is not continued after the snapshot"
    );
    let mut log = FileLog::open(&layout, rec.tail, z, true, 4096).unwrap();
    write(&mut log, z + 1, z + 2);
    drop(log);
    assert_eq!(zxids(&layout), vec![z + 1, z + 2]);
}

#[test]
fn a_truncation_whose_log_cut_fails_leaves_the_old_history_or_the_cut_one() {
    let d = Dir::new("trunc-fails");
    let layout = d.layout();
    let faults = Arc::new(Faults::default());
    let mut log = open(&layout, &faults);
    write(&mut log, 1, 4);
    std::fs::create_dir_all(&layout.snap_dir).unwrap();
    snapshot::save_bytes(&layout.snap_dir, 2, &snapshot_bytes(2)).unwrap();
    write(&mut log, 5, 8);
    snapshot::save_bytes(&layout.snap_dir, 7, &snapshot_bytes(7)).unwrap();
    // Every sync fails from now on: the truncation stops half-way.
    faults.eio.store(true, Ordering::SeqCst);
    assert!(log.truncate_after(5).is_err());
    drop(log);
    faults.eio.store(false, Ordering::SeqCst);
    let rec = recovery::recover(&layout).expect("the node can start");
    // Never the snapshot at 7 (it holds txns 6 and 7, which the truncation discards) over a
    // log cut at 5.
    assert_ne!(rec.snapshot, Some(7), "a snapshot ahead of the cut log");
    let last = rec.tree.last_zxid();
    assert!(
        last == 8 || last == 5,
        "old history or the cut one, got {last:#x}"
    );
}

/// An empty data directory and its log (the directory goes with the first value).
fn fresh_log(tag: &str) -> (Dir, Layout, FileLog) {
    let d = Dir::new(tag);
    let layout = d.layout();
    let log = open(&layout, &Arc::new(Faults::default()));
    (d, layout, log)
}

/// A snapshot at `z` (its content is not read by these tests' recovery checks beyond its zxid).
fn save_snapshot(layout: &Layout, z: Zxid) {
    std::fs::create_dir_all(&layout.snap_dir).unwrap();
    snapshot::save_bytes(&layout.snap_dir, z, &snapshot_bytes(z)).unwrap();
}

#[test]
fn a_truncation_drops_the_snapshots_after_its_point_and_recovers_from_an_older_one() {
    let (_d, layout, mut log) = fresh_log("trunc-snaps");
    write(&mut log, 1, 4);
    save_snapshot(&layout, 2);
    write(&mut log, 5, 8);
    save_snapshot(&layout, 6);
    log.truncate_after(4)
        .expect("at or above the oldest snapshot");
    assert_eq!(log.last_zxid(), 4);
    write(&mut log, 5, 5);
    drop(log);
    let rec = recovery::recover(&layout).expect("recovery");
    assert_eq!(
        rec.snapshot,
        Some(2),
        "the snapshot at 6 held discarded txns"
    );
    assert_eq!(rec.tree.last_zxid(), 5);
    let kept: Vec<Zxid> = snapshot::list(&layout.snap_dir)
        .unwrap()
        .iter()
        .map(|(z, _)| *z)
        .collect();
    assert_eq!(kept, vec![2]);
}

/// The follower's side of a stale floor (the leader chose a cut from a floor the follower
/// reported before a purge or an install raised it): the cut is refused before anything is
/// removed, so the job fails (the log actor drops what was queued behind it, an epoch save
/// included) and the follower syncs again; nothing is rebuilt short of the cut, or from a log
/// whose start was purged.
#[test]
fn a_truncation_below_the_oldest_snapshot_is_refused_and_changes_nothing() {
    let (_d, layout, mut log) = fresh_log("trunc-below");
    write(&mut log, 1, 8);
    save_snapshot(&layout, 4);
    let before = zxids(&layout);
    match log.truncate_after(3) {
        Err(super::LogError::BelowFloor { to: 3, floor: 4 }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(log.last_zxid(), 8);
    write(&mut log, 9, 9);
    drop(log);
    let rec = recovery::recover(&layout).expect("recovery");
    assert_eq!(rec.snapshot, Some(4));
    assert_eq!(rec.tree.last_zxid(), 9);
    assert_eq!(zxids(&layout), [&before[..], &[9]].concat());
}

/// Txns 1..=`to`, synced `batch` at a time (a segment holds a few batches).
fn log_txns(layout: &Layout, to: Zxid, batch: Zxid) {
    let mut log = open(layout, &Arc::new(Faults::default()));
    for from in (1..to).step_by(batch as usize) {
        write(&mut log, from, from + batch - 1);
    }
}

fn segment_paths(layout: &Layout) -> Vec<std::path::PathBuf> {
    segment::list(&layout.log_dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

#[test]
fn prefetched_segments_give_what_a_scan_gives_in_order() {
    let d = Dir::new("prefetch");
    let layout = d.layout();
    log_txns(&layout, 3000, 100);
    let segments = segment_paths(&layout);
    assert!(segments.len() > 2, "several segments: {}", segments.len());
    // A torn tail in the last one comes through as a scan reports it.
    let last = segments.last().unwrap();
    let segment::SegmentEnd::Clean(end) = segment::scan(last).unwrap().end else {
        panic!("a clean segment");
    };
    let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0, 0, 0, 40, 1, 2, 3, 4, 9, 9], end).unwrap();
    let mut p = Prefetch::start(segments.clone(), 0);
    for path in &segments {
        let mut got = Vec::new();
        let end = p.next_segment(path, |t| got.push(t)).unwrap();
        let want = segment::scan(path).unwrap();
        let want_txns: Vec<Txn> = want.txns.into_iter().map(|(t, _)| t).collect();
        assert_eq!(end.first_zxid, want.first_zxid);
        assert_eq!(end.end, want.end);
        assert_eq!(end.last_zxid, want_txns.last().map(|t| t.zxid));
        assert_eq!(got, want_txns);
    }
    assert!(matches!(
        segment::scan(last).unwrap().end,
        segment::SegmentEnd::Damaged { .. }
    ));
}

#[test]
fn a_dropped_prefetch_stops_its_thread() {
    let d = Dir::new("prefetch-drop");
    let layout = d.layout();
    log_txns(&layout, 2000, 100);
    let segments = segment_paths(&layout);
    let mut p = Prefetch::start(segments.clone(), 0);
    let mut first = 0;
    p.next_segment(&segments[0], |_| first += 1).unwrap();
    assert!(first > 0);
    drop(p); // the thread's next send fails and it returns: nothing waits for it
}

#[test]
fn a_replay_from_an_older_snapshot_than_the_prefetch_expected_reads_every_txn_after_it() {
    let d = Dir::new("prefetch-older");
    let layout = d.layout();
    log_txns(&layout, 300, 50);
    assert!(segment_paths(&layout).len() > 2);
    std::fs::create_dir_all(&layout.snap_dir).unwrap();
    std::fs::write(
        layout.snap_dir.join(snapshot::snapshot_name(100)),
        snapshot_bytes(100),
    )
    .unwrap();
    // The newest snapshot (the one the log is read ahead for) is damaged: the older one is
    // used, and the replay must start right after it.
    let mut bad = snapshot_bytes(250).to_vec();
    let at = bad.len() / 2;
    bad[at] ^= 1;
    std::fs::write(layout.snap_dir.join(snapshot::snapshot_name(250)), bad).unwrap();
    let rec = recovery::recover(&layout).unwrap();
    assert_eq!(rec.snapshot, Some(100));
    assert_eq!(rec.replayed, 200);
    assert_eq!(rec.tree.last_zxid(), 300);
    let got: Vec<Zxid> = rec.recent.iter().map(|t| t.zxid).collect();
    assert_eq!(got, (101..=300).collect::<Vec<_>>());
}

#[test]
fn a_replay_after_a_snapshot_skips_what_it_holds_but_still_checks_every_record() {
    let d = Dir::new("skip");
    let layout = d.layout();
    log_txns(&layout, 300, 50);
    std::fs::create_dir_all(&layout.snap_dir).unwrap();
    std::fs::write(
        layout.snap_dir.join(snapshot::snapshot_name(120)),
        snapshot_bytes(120),
    )
    .unwrap();
    let rec = recovery::recover(&layout).unwrap();
    assert_eq!((rec.snapshot, rec.replayed), (Some(120), 180));
    let got: Vec<Zxid> = rec.recent.iter().map(|t| t.zxid).collect();
    assert_eq!(got, (121..=300).collect::<Vec<_>>());
    // What a scan after 120 hands over, segment by segment: the txns after it, and the zxid of
    // the last record either way.
    let segments = segment_paths(&layout);
    let holder = segments
        .iter()
        .position(|p| {
            segment::scan(p)
                .unwrap()
                .txns
                .iter()
                .any(|(t, _)| t.zxid == 121)
        })
        .unwrap();
    assert!(holder + 1 < segments.len(), "not the last segment");
    let whole = segment::scan(&segments[holder]).unwrap();
    let mut after = Vec::new();
    let scanned = segment::scan_after(&segments[holder], 120, |t| after.push(t.zxid)).unwrap();
    assert_eq!(scanned.last_zxid, whole.txns.last().map(|(t, _)| t.zxid));
    let want: Vec<Zxid> = whole
        .txns
        .iter()
        .map(|(t, _)| t.zxid)
        .filter(|z| *z > 120)
        .collect();
    assert_eq!(after, want);
    // A record the snapshot holds, damaged in that (not last) segment: its CRC is still checked.
    let (_, off) = whole.txns.iter().find(|(t, _)| t.zxid == 119).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&segments[holder])
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0xff], off + 9).unwrap();
    assert!(matches!(
        recovery::recover(&layout),
        Err(recovery::RecoveryError::DamagedMiddle { .. })
    ));
}

/// A log in `layout` with 256 KiB preallocation steps and `zero_ahead` bytes of zeros ahead of
/// small appends (0: none).
fn open_zeroing(layout: &Layout, faults: &Arc<Faults>, zero_ahead: u64) -> FileLog {
    let rec = recovery::recover(layout).expect("recovery");
    let mut log = FileLog::open_on(
        Arc::new(FaultyFs::new(faults.clone())),
        layout,
        rec.tail,
        rec.tree.last_zxid(),
        true,
        256 << 10,
    )
    .expect("open");
    log.set_zero_ahead(zero_ahead);
    log
}

/// A new zeroing log (128 KiB ahead) in a temporary directory.
fn zeroing_log(tag: &str) -> (Dir, Layout, Arc<Faults>, FileLog) {
    let d = Dir::new(tag);
    let layout = d.layout();
    let faults = Arc::new(Faults::default());
    let log = open_zeroing(&layout, &faults, 128 << 10);
    (d, layout, faults, log)
}

/// The end of the synced records of the segment being written.
fn records_end(log: &FileLog) -> (std::path::PathBuf, u64) {
    log.position().expect("a segment")
}

#[test]
fn zeros_ahead_of_the_records_recover_and_tear_exactly_as_reserved_space() {
    let faults = Arc::new(Faults::default());
    let (zd, rd) = (Dir::new("zeros"), Dir::new("reserved"));
    let (zl, rl) = (zd.layout(), rd.layout());
    let mut zlog = open_zeroing(&zl, &faults, 128 << 10);
    let mut rlog = open_zeroing(&rl, &faults, 0);
    // Small batches over most of a segment (a segment is one preallocation step here).
    let mut z = 1;
    while z < 20 || records_end(&zlog).1 < 200 << 10 {
        write(&mut zlog, z, z + 49);
        write(&mut rlog, z, z + 49);
        z += 50;
    }
    let last = z - 1;
    let (zseg, end) = records_end(&zlog);
    let (rseg, rend) = records_end(&rlog);
    assert_eq!(end, rend);
    assert!(
        zlog.zeroed_end() == 256 << 10 && end < 256 << 10,
        "zeros were written ahead up to the reservation: {} after records ending at {end}",
        zlog.zeroed_end()
    );
    assert_eq!(rlog.zeroed_end(), end, "no zeros without zero_ahead");
    drop((zlog, rlog));
    // The same bytes: zeros written read as the reserved space reads.
    assert_eq!(std::fs::read(&zseg).unwrap(), std::fs::read(&rseg).unwrap());
    assert_eq!(zxids(&zl), (1..=last).collect::<Vec<_>>());
    // The next record torn at every byte (a crash during its write), in the zeroed region of
    // one log and the reserved region of the other: both recover exactly the records before it.
    let mut next = Vec::new();
    super::format::encode_record(txn(last + 1, 0).as_ref(), &mut next).unwrap();
    for (layout, seg) in [(&zl, &zseg), (&rl, &rseg)] {
        let f = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
        for k in 1..next.len() {
            std::os::unix::fs::FileExt::write_all_at(&f, &next[..k], end).unwrap();
            let rec = recovery::recover(layout).expect("recovery");
            assert_eq!(rec.tree.last_zxid(), last, "torn after {k} bytes");
            assert_eq!(
                rec.tail.as_ref().map(|t| t.1),
                Some(end),
                "torn after {k} bytes"
            );
            std::os::unix::fs::FileExt::write_all_at(&f, &vec![0; k], end).unwrap();
        }
    }
    // And the log goes on after them.
    let mut zlog = open_zeroing(&zl, &faults, 128 << 10);
    write(&mut zlog, last + 1, last + 10);
    drop(zlog);
    assert_eq!(zxids(&zl), (1..=last + 10).collect::<Vec<_>>());
}

#[test]
fn large_appends_write_no_zeros_ahead() {
    let (_d, layout, _faults, mut log) = zeroing_log("zeros-large");
    // One batch of more than ZERO_BATCH_MAX bytes.
    let n = 8000;
    log.append(&batch(1, n)).unwrap();
    log.sync().unwrap();
    let end = records_end(&log).1;
    assert!(end > segment::ZERO_BATCH_MAX, "{end}");
    assert_eq!(log.zeroed_end(), end);
    drop(log);
    assert_eq!(zxids(&layout).len(), n as usize);
}

#[test]
fn a_failed_zero_write_fails_no_append_and_ends_the_zeroing_of_its_segment() {
    let (_d, layout, faults, mut log) = zeroing_log("zeros-fail");
    write(&mut log, 1, 10);
    let zeroed = log.zeroed_end();
    assert!(zeroed > records_end(&log).1);
    // No room from the zeroed end on: the records before it still fit, the next zeros not.
    faults.full_from_offset.store(zeroed, Ordering::SeqCst);
    let mut z = 11;
    while records_end(&log).1 + segment::ZERO_BATCH_MAX <= zeroed {
        write(&mut log, z, z + 49);
        z += 50;
    }
    assert!(records_end(&log).1 < zeroed);
    assert!(
        log.zeroed_end() >= 256 << 10,
        "zeroing given up in this segment: {}",
        log.zeroed_end()
    );
    // Room again: the records go on into the reserved space without zeros.
    faults.full_from_offset.store(0, Ordering::SeqCst);
    while records_end(&log).1 < zeroed + (16 << 10) {
        write(&mut log, z, z + 49);
        z += 50;
    }
    drop(log);
    assert_eq!(zxids(&layout), (1..z).collect::<Vec<_>>());
}
