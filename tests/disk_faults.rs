//! Ensemble members on a failing disk, as `zkr chaos` makes them (a FUSE passthrough under each
//! member's data directory, `zkr::chaos::disk`): while writes flow, one member's fsyncs fail
//! with EIO (or its disk is full) for a moment; once the disk is healed, every member must serve
//! again, caught up, without a crash. Decision 8: a member whose disk fails leaves its role and
//! the next writes try the disk again.
//!
//! These are the reductions of what `zkr chaos` found (issue 12 hole 2): a follower whose log
//! refused every append after one failed fsync ("txn .. does not follow the log's last txn"),
//! and a member that applied quorum-committed txns past its own failed write and aborted on
//! `applying .. after ..` (quorum/core.rs).
//!
//! Needs /dev/fuse and the right to mount (root, as CI runs). Every wait is bounded.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, EnsembleSpec};
use zkr::chaos::disk::{DiskFaults, FaultyDisk};
use zookeeper_client as zk;

/// How long a healed ensemble may take to serve again, at most.
const RECOVER: Duration = Duration::from_secs(60);

/// An ensemble on FUSE disks; on drop (also when a test fails) the processes stop before the
/// disks under them are unmounted.
struct OnDisks {
    ens: Ensemble,
    disks: Vec<FaultyDisk>,
}

impl Drop for OnDisks {
    fn drop(&mut self) {
        for id in self.ens.ids() {
            self.ens.kill9(id);
        }
        self.disks.clear();
    }
}

/// A 3-node ensemble whose members' data directories are FUSE disks.
fn ensemble_on_faulty_disks(tag: &str) -> OnDisks {
    let mut ens = Ensemble::create(
        tag,
        EnsembleSpec {
            voters: 3,
            ..EnsembleSpec::default()
        },
    );
    let mut disks = Vec::new();
    for id in ens.ids() {
        let m = ens.member(id);
        disks.push(
            FaultyDisk::mount(&m.dir.join("disk"), &m.data_dir()).expect("mount a FUSE disk"),
        );
    }
    for id in ens.ids() {
        ens.spawn(id);
    }
    ens.wait_leader(&ens.ids(), RECOVER);
    OnDisks { ens, disks }
}

/// Writes on every member's connection until `stop`; counts the acknowledged ones.
fn writers(
    ens: &Ensemble,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    let hosts = ens.connect_string(&ens.ids());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            let mut client = None;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if client.is_none() {
                    client =
                        tokio::time::timeout(Duration::from_secs(10), zk::Client::connect(&hosts))
                            .await
                            .ok()
                            .and_then(Result::ok);
                    continue;
                }
                let c: &zk::Client = client.as_ref().expect("client");
                i += 1;
                let r = tokio::time::timeout(
                    Duration::from_secs(5),
                    c.create(&format!("/w{i}"), b"x", &opts),
                )
                .await;
                match r {
                    Ok(Ok(_)) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(zk::Error::SessionExpired)) | Err(_) => client = None,
                    Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
    })
}

/// Fails `member`'s disk with `fault` for a moment while writes flow, heals it, and checks that
/// every member serves again, caught up with the leader, and none exited.
fn a_member_recovers_after(tag: &str, pick_leader: bool, fault: fn(&DiskFaults)) {
    let mut setup = ensemble_on_faulty_disks(tag);
    let OnDisks { ens, disks } = &mut setup;
    let leader = ens.wait_leader(&ens.ids(), RECOVER);
    let target = if pick_leader {
        leader
    } else {
        ens.ids()
            .into_iter()
            .find(|i| *i != leader)
            .expect("a follower")
    };
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let w = writers(ens, stop.clone(), acked.clone());
    let end = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::Relaxed) < 50 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let faults = &disks[target as usize - 1].faults;
    fault(faults);
    // Until the member has hit the fault a few times (writes keep flowing to it).
    let end = Instant::now() + Duration::from_secs(20);
    while faults.failed_syncs.load(Ordering::Relaxed)
        + faults.refused_writes.load(Ordering::Relaxed)
        < 3
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    faults.heal();
    // More writes on the healed disk, then stop and check.
    let before = acked.load(Ordering::Relaxed);
    let end = Instant::now() + RECOVER;
    while acked.load(Ordering::Relaxed) < before + 50 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = w.join();
    for id in ens.ids() {
        assert!(
            ens.is_running(id),
            "member {id} exited after its disk failed and healed; log tail:\n{}",
            ens.log_tail(id, 30)
        );
    }
    let leader = ens
        .try_wait_leader(&ens.ids(), RECOVER)
        .unwrap_or_else(|e| panic!("after healing member {target}'s disk: {e}"));
    let want = common::ensemble::zxid_of(ens.member(leader).client_port).expect("leader zxid");
    let end = Instant::now() + RECOVER;
    for id in ens.ids() {
        let mut z = None;
        while Instant::now() < end {
            z = common::ensemble::zxid_of(ens.member(id).client_port);
            if z.is_some_and(|z| z >= want) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            z.is_some_and(|z| z >= want),
            "member {id} did not catch up with the leader's 0x{want:x} (at {z:?}) after member \
             {target}'s disk healed"
        );
    }
}

#[test]
fn a_follower_whose_fsync_failed_serves_again_once_its_disk_heals() {
    a_member_recovers_after("eio-follower", false, |f| {
        f.fail_fsync.store(true, Ordering::SeqCst)
    });
}

#[test]
fn a_leader_whose_fsync_failed_rejoins_once_its_disk_heals() {
    a_member_recovers_after("eio-leader", true, |f| {
        f.fail_fsync.store(true, Ordering::SeqCst)
    });
}

#[test]
fn a_leader_whose_disk_filled_up_rejoins_once_it_has_room() {
    a_member_recovers_after("full-leader", true, |f| {
        f.full.store(true, Ordering::SeqCst)
    });
}
