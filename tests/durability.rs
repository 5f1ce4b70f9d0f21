//! Durability of a standalone node: nothing acknowledged is lost across kill -9, damaged logs
//! and snapshots are handled as documented, a full disk fails writes without losing anything,
//! sessions and ephemerals survive a restart and expire afterwards.
//!
//! Every test runs real `zkr node` processes and the third-party `zookeeper-client` crate.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ZkrNode;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use zkr_actors::txnlog::segment;
use zookeeper_client as zk;

/// Small segments and frequent snapshots, every file kept (the recovery tests remove snapshots
/// and need the whole log).
const SMALL_LOG: &str =
    "[storage]\nsnap_count = 60\npreallocate_bytes = 65536\nautopurge = false\n";

async fn connect(node: &ZkrNode) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(&node.addr())
        .await
        .expect("connect")
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// What a writer did to one path: versions it attempted (data per version) and the last
/// version the server acknowledged.
#[derive(Debug, Default, Clone)]
struct PathHistory {
    attempted: Vec<Vec<u8>>, // data of version 0, 1, 2, ...
    acked: Option<i32>,
}

type Histories = Arc<Mutex<BTreeMap<String, PathHistory>>>;

async fn writer(node_addr: String, prefix: String, histories: Histories) {
    let Ok(client) = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(&node_addr)
        .await
    else {
        return;
    };
    for k in 0.. {
        let path = format!("{prefix}/n{k}");
        let created = format!("{path}:v0").into_bytes();
        histories
            .lock()
            .unwrap()
            .entry(path.clone())
            .or_default()
            .attempted
            .push(created.clone());
        if client.create(&path, &created, &persistent()).await.is_err() {
            return;
        }
        histories.lock().unwrap().get_mut(&path).unwrap().acked = Some(0);
        for v in 1..=2 {
            let data = format!("{path}:v{v}").into_bytes();
            histories
                .lock()
                .unwrap()
                .get_mut(&path)
                .unwrap()
                .attempted
                .push(data.clone());
            if client.set_data(&path, &data, Some(v - 1)).await.is_err() {
                return;
            }
            histories.lock().unwrap().get_mut(&path).unwrap().acked = Some(v);
        }
    }
}

/// Checks every path's state against what its writer did.
async fn verify(client: &zk::Client, histories: &BTreeMap<String, PathHistory>) -> usize {
    let mut acked = 0;
    for (path, h) in histories {
        match client.get_data(path).await {
            Ok((data, stat)) => {
                let v = stat.version;
                assert!(
                    (v as usize) < h.attempted.len(),
                    "{path}: version {v} was never written"
                );
                assert_eq!(data, h.attempted[v as usize], "{path}: data of version {v}");
                if let Some(a) = h.acked {
                    assert!(v >= a, "{path}: acknowledged version {a} lost (found {v})");
                }
            }
            Err(zk::Error::NoNode) => {
                assert!(h.acked.is_none(), "{path}: acknowledged create lost");
            }
            Err(e) => panic!("{path}: {e}"),
        }
        if h.acked.is_some() {
            acked += 1;
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_at_random_moments() {
    let mut node = ZkrNode::start(SMALL_LOG);
    let mut rng = SmallRng::seed_from_u64(0x5eed_2026);
    let mut all: BTreeMap<String, PathHistory> = BTreeMap::new();
    let setup = connect(&node).await;
    for round in 0..4 {
        setup
            .create(&format!("/r{round}"), b"", &persistent())
            .await
            .unwrap();
        for w in 0..4 {
            setup
                .create(&format!("/r{round}/w{w}"), b"", &persistent())
                .await
                .unwrap();
        }
    }
    drop(setup);
    for round in 0..4 {
        let histories: Histories = Arc::default();
        let tasks: Vec<_> = (0..4)
            .map(|w| {
                tokio::spawn(writer(
                    node.addr(),
                    format!("/r{round}/w{w}"),
                    histories.clone(),
                ))
            })
            .collect();
        let delay = rng.random_range(200..900);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        node.kill9();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
        all.extend(histories.lock().unwrap().clone());
        node.restart();
        let client = connect(&node).await;
        let acked = verify(&client, &all).await;
        assert!(
            acked > 0,
            "round {round}: no write was acknowledged before the kill"
        );
        eprintln!("round {round}: killed after {delay} ms; {acked} acknowledged paths verified");
    }
    assert!(
        std::fs::read_dir(node.dir.path().join("data/snap"))
            .unwrap()
            .count()
            > 0,
        "snapshots were taken during the test"
    );
}

fn segments(node: &ZkrNode) -> Vec<PathBuf> {
    segment::list(&node.dir.path().join("data/log"))
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

fn snapshots(node: &ZkrNode) -> Vec<PathBuf> {
    zkr_actors::txnlog::snapshot::list(&node.dir.path().join("data/snap"))
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

async fn write_nodes(node: &ZkrNode, prefix: &str, n: usize) {
    let c = connect(node).await;
    c.create(prefix, b"", &persistent()).await.unwrap();
    for i in 0..n {
        c.create(
            &format!("{prefix}/k{i}"),
            format!("d{i}").as_bytes(),
            &persistent(),
        )
        .await
        .unwrap();
    }
}

async fn count_children(node: &ZkrNode, prefix: &str) -> usize {
    connect(node)
        .await
        .list_children(prefix)
        .await
        .unwrap()
        .len()
}

/// Byte offsets of every record in a segment, and its clean end.
fn record_offsets(seg: &Path) -> (Vec<u64>, u64) {
    let scan = segment::scan(seg).unwrap();
    let end = match scan.end {
        segment::SegmentEnd::Clean(e) => e,
        other => panic!("segment already damaged: {other:?}"),
    };
    (scan.txns.iter().map(|(_, o)| *o).collect(), end)
}

fn patch(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(path).unwrap();
    f(&mut b);
    std::fs::write(path, b).unwrap();
}

#[tokio::test]
async fn a_torn_last_record_is_truncated_and_logged() {
    let mut node = ZkrNode::start("[storage]\npreallocate_bytes = 65536\n");
    write_nodes(&node, "/t", 20).await;
    node.kill9();
    let seg = segments(&node).pop().unwrap();
    let (offsets, end) = record_offsets(&seg);
    let last = *offsets.last().unwrap();
    // Cut the last record in half (as a crash in the middle of a write would).
    patch(&seg, |b| {
        let cut = (last + (end - last) / 2) as usize;
        for x in &mut b[cut..end as usize] {
            *x = 0;
        }
    });
    node.restart();
    assert_eq!(
        count_children(&node, "/t").await,
        19,
        "only the torn create is gone"
    );
    node.log_with("damaged log tail: truncating");
}

#[tokio::test]
async fn a_flipped_byte_in_the_last_segment_cuts_the_log_there_and_names_the_lost_zxids() {
    let mut node = ZkrNode::start("[storage]\npreallocate_bytes = 65536\n");
    write_nodes(&node, "/f", 30).await;
    node.kill9();
    let seg = segments(&node).pop().unwrap();
    let (offsets, _) = record_offsets(&seg);
    let victim = offsets[offsets.len() - 10];
    patch(&seg, |b| b[victim as usize + 12] ^= 0x55);
    node.restart();
    // The flipped record and the 9 after it are gone (the log can only be cut, not holed).
    assert_eq!(count_children(&node, "/f").await, 20);
    let log = node.log_with("(9 of them) dropped");
    assert!(log.contains("checksum mismatch"), "{log}");
    // The next start is clean: the damaged tail was cut off on disk.
    node.restart();
    assert!(!node.log().ends_with("damaged log tail"));
    assert_eq!(count_children(&node, "/f").await, 20);
}

#[tokio::test]
async fn damage_before_the_last_segment_stops_the_node_with_a_message() {
    let mut node = ZkrNode::start(SMALL_LOG);
    write_nodes(&node, "/m", 200).await;
    node.kill9();
    let segs = segments(&node);
    assert!(
        segs.len() >= 3,
        "several segments expected, got {}",
        segs.len()
    );
    // Remove every snapshot so recovery needs the early segments, then damage one of them.
    for s in snapshots(&node) {
        std::fs::remove_file(s).unwrap();
    }
    let (offsets, _) = record_offsets(&segs[1]);
    patch(&segs[1], |b| b[offsets[1] as usize + 10] ^= 0xff);
    let out = node.start_expecting_failure();
    assert!(
        out.contains("refusing to start") && out.contains("damaged record"),
        "{out}"
    );
}

#[tokio::test]
async fn a_missing_segment_is_a_zxid_gap_and_stops_the_node() {
    let mut node = ZkrNode::start(SMALL_LOG);
    write_nodes(&node, "/g", 200).await;
    node.kill9();
    for s in snapshots(&node) {
        std::fs::remove_file(s).unwrap();
    }
    let segs = segments(&node);
    std::fs::remove_file(&segs[1]).unwrap();
    let out = node.start_expecting_failure();
    assert!(out.contains("zxid gap"), "{out}");
}

#[tokio::test]
async fn a_deleted_or_corrupt_newest_snapshot_falls_back_to_the_previous_one() {
    let mut node = ZkrNode::start(SMALL_LOG);
    write_nodes(&node, "/s", 250).await;
    node.stop();
    let snaps = snapshots(&node);
    assert!(snaps.len() >= 3, "snapshots: {snaps:?}");
    // Delete the newest snapshot.
    std::fs::remove_file(snaps.last().unwrap()).unwrap();
    node.restart();
    assert_eq!(count_children(&node, "/s").await, 250);
    node.stop();
    // Corrupt the (new) newest one: its checksum fails, the one before it is used.
    let snaps = snapshots(&node);
    let newest = snaps.last().unwrap().clone();
    patch(&newest, |b| {
        let mid = b.len() / 2;
        b[mid] ^= 0x01;
    });
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_zkr"))
        .args(["snapshot", "verify"])
        .arg(&newest)
        .output()
        .unwrap();
    assert!(
        !verify.status.success(),
        "verify must reject the corrupt snapshot"
    );
    node.restart();
    assert_eq!(count_children(&node, "/s").await, 250);
    node.log_with("snapshot unusable; falling back");
}

/// Snapshots are written at the background priority (`txnlog::background`): the thread that
/// writes one reports its own nice value, which must be the process's lowered by 10.
#[tokio::test]
async fn snapshots_are_written_at_the_background_priority() {
    let node = ZkrNode::start(SMALL_LOG);
    write_nodes(&node, "/p", 150).await;
    let log = node.log_with("snapshot written");
    let serving = common::process_nice(node.child.as_ref().expect("running").id());
    common::assert_logged_at_background_nice(&log, "snapshot written", serving);
}

#[tokio::test]
async fn sessions_and_ephemerals_survive_a_restart_then_expire() {
    let mut node = ZkrNode::start("[storage]\npreallocate_bytes = 65536\n");
    let client = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(6))
        .with_detached()
        .connect(&node.addr())
        .await
        .unwrap();
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    client.create("/eph", b"mine", &eph).await.unwrap();
    let session = client.session().clone();
    let timeout = client.session_timeout();
    drop(client);
    // The dropped client's task closes its connection (detached: the session stays) once it
    // sees the drop. Killed before that, it would reconnect to the restarted node with the
    // same session and, as ZooKeeper does, the node would close the older of the two
    // connections: `resumed`'s below (this test's ConnectionLoss under load before the wait).
    wait_no_client_connections(node.port).await;
    node.kill9();
    node.restart();
    // The same session resumes on the restarted node, with its ephemeral.
    let resumed = zk::Client::connector()
        .with_session(session)
        .with_detached()
        .connect(&node.addr())
        .await
        .expect("the session survives the restart");
    let (data, stat) = resumed.get_data("/eph").await.unwrap();
    assert_eq!(data, b"mine");
    assert_eq!(stat.ephemeral_owner, resumed.session_id().0);
    drop(resumed);
    // Then the client stays away: the session expires after the restart and the node goes.
    let watcher = connect(&node).await;
    let started = std::time::Instant::now();
    let deadline = std::time::Instant::now() + timeout * 3 + Duration::from_secs(5);
    loop {
        match watcher.check_stat("/eph").await.unwrap() {
            None => break,
            Some(_) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "ephemeral never expired"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    // Not closed by a client: gone only by expiry, so not before the session timeout.
    assert!(
        started.elapsed() >= timeout - Duration::from_secs(1),
        "gone after {:?}",
        started.elapsed()
    );
}

/// Waits (bounded) until the node on `port` has no client connection but the `mntr` one asking
/// (async: the client's task that closes its connection runs on this test's runtime).
async fn wait_no_client_connections(port: u16) {
    let end = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mntr = common::four_letter(port, "mntr");
        if mntr.contains("zk_num_alive_connections\t1\n") {
            return;
        }
        assert!(
            std::time::Instant::now() < end,
            "a client connection stayed open: {mntr}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_full_disk_fails_writes_keeps_reads_and_loses_nothing_acknowledged() {
    use common::SmallFs;
    // The node's data directory lives on a 1 MiB tmpfs when the test may mount one (real
    // ENOSPC); elsewhere the log's test seam makes appends fail the same way.
    let scratch = common::TempDir::new("diskfull");
    let mount_dir = scratch.path().join("fs");
    let fs = SmallFs::mount(&mount_dir, "1m");
    let faults = scratch.path().join("faults");
    std::fs::create_dir_all(&faults).unwrap();
    let flag = faults.join("full");
    let data_dir = if fs.is_some() {
        mount_dir.clone()
    } else {
        scratch.path().join("data")
    };
    eprintln!(
        "disk full via {}",
        if fs.is_some() {
            "a 1 MiB tmpfs"
        } else {
            "the injected-fault seam"
        }
    );
    let mut node = ZkrNode::start_with_env(
        &data_dir,
        "[storage]\nsnap_count = 1000000\npreallocate_bytes = 16384\n",
        vec![(
            zkr_actors::txnlog::fs::FAULT_DIR_ENV.to_string(),
            faults.display().to_string(),
        )],
    );
    let client = connect(&node).await;
    client.create("/full", b"", &persistent()).await.unwrap();
    let value = vec![b'x'; 8 * 1024];
    let mut acked = Vec::new();
    let mut failure = None;
    if fs.is_none() {
        // Seam mode: fill "the disk" after a few writes.
        for i in 0..20 {
            let p = format!("/full/n{i}");
            client.create(&p, &value, &persistent()).await.unwrap();
            acked.push(p);
        }
        std::fs::write(&flag, b"").unwrap();
    }
    for i in acked.len()..1000 {
        let p = format!("/full/n{i}");
        match client.create(&p, &value, &persistent()).await {
            Ok(_) => acked.push(p),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("the disk never filled up");
    assert!(
        matches!(failure, zk::Error::UnexpectedErrorCode(-1)),
        "a write that cannot be made durable fails with SystemError (-1), got {failure:?}"
    );
    assert!(!acked.is_empty());
    // Reads go on while the disk is full, and the failed write was not applied.
    let (data, _) = client.get_data(&acked[0]).await.unwrap();
    assert_eq!(data, value);
    let failed_path = format!("/full/n{}", acked.len());
    assert_eq!(client.check_stat(&failed_path).await.unwrap(), None);
    node.log_with("log write failed");
    // Space comes back: writes work again.
    match &fs {
        Some(fs) => fs.grow("64m"),
        None => std::fs::remove_file(&flag).unwrap(),
    }
    client
        .create(&failed_path, &value, &persistent())
        .await
        .expect("writes resume");
    acked.push(failed_path);
    drop(client);
    node.kill9();
    node.restart();
    let c = connect(&node).await;
    let children = c.list_children("/full").await.unwrap();
    assert_eq!(
        children.len(),
        acked.len(),
        "exactly the acknowledged creates survive"
    );
    drop(node);
}

#[tokio::test]
async fn purge_keeps_the_newest_snapshots_and_the_logs_they_need() {
    // Autopurge every 0.5 s, keeping 2 snapshots.
    let mut node = ZkrNode::start(
        "[storage]\nsnap_count = 40\npreallocate_bytes = 65536\nsnap_retain_count = 2\npurge_interval_hours = 0.00014\n",
    );
    write_nodes(&node, "/p", 300).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while snapshots(&node).len() > 2 {
        assert!(std::time::Instant::now() < deadline, "autopurge never ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.kill9();
    let snaps = snapshots(&node);
    assert_eq!(snaps.len(), 2);
    let oldest_kept =
        zkr_actors::txnlog::snapshot::list(&node.dir.path().join("data/snap")).unwrap()[0].0;
    let segs = segment::list(&node.dir.path().join("data/log")).unwrap();
    assert!(
        segs[0].0 <= oldest_kept + 1,
        "the segment with the txn after the oldest snapshot is kept"
    );
    // The command-line purge (zkCleanup.sh's job) keeps 1.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zkr"))
        .args(["purge", "--keep", "1"])
        .arg(&node.data_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(snapshots(&node).len(), 1);
    node.restart();
    assert_eq!(
        count_children(&node, "/p").await,
        300,
        "nothing lost by purging"
    );
}

/// Decision 17: a data directory whose newest snapshot came from a leader's fuzzy encode that
/// ended at `E`, with a log that stops before `E` (the server died while the tail behind the
/// snapshot came in), holds a tree no server had: only a sync with a leader makes it valid, so
/// a standalone server refuses it, and `zk-export` too.
#[tokio::test]
async fn a_standalone_server_refuses_a_fuzzy_snapshot_whose_tail_was_cut_short() {
    let mut node = ZkrNode::start(SMALL_LOG);
    write_nodes(&node, "/t", 100).await;
    node.stop();
    let newest = snapshots(&node).pop().expect("a snapshot");
    let (zxid, _) = zkr_actors::txnlog::snapshot::list(newest.parent().unwrap())
        .unwrap()
        .pop()
        .unwrap();
    // As a learner's install records it: the encode ended far past the log's end.
    let snap_dir = node.dir.path().join("data/snap");
    zkr_actors::txnlog::stream::save_tail_end(&snap_dir, zxid, zxid + 1_000_000).unwrap();
    let out = node.start_expecting_failure();
    assert!(
        out.contains("a standalone server cannot finish that sync"),
        "{out}"
    );
    let export = std::process::Command::new(env!("CARGO_BIN_EXE_zkr"))
        .args(["export", "--data-dir"])
        .arg(node.dir.path().join("data"))
        .arg("--to-zookeeper")
        .arg(node.dir.path().join("zk"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&export.stderr);
    assert!(
        !export.status.success() && said.contains("finish the sync, then export"),
        "{said}"
    );
    // Without the record (an exact snapshot), the same directory starts and has everything.
    std::fs::remove_file(zkr_actors::txnlog::stream::tail_end_path(&snap_dir, zxid)).unwrap();
    node.restart();
    assert_eq!(count_children(&node, "/t").await, 100);
}
