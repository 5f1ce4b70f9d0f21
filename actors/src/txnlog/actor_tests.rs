//! Tests of the log actor (a snapshot racing a truncation).

use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::proto::Acl;
use crate::txn::{Txn, TxnOp};
use crate::txnlog::segment::{self, FileLog};

fn create(zxid: Zxid, path: &str) -> Arc<Txn> {
    Arc::new(Txn {
        zxid,
        time_ms: 0,
        session_id: 0,
        cxid: 0,
        op: TxnOp::Create {
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: 0,
        },
    })
}

/// Receives the log actor's reports.
#[derive(Default)]
struct Collector {
    done: Arc<Mutex<Vec<JobsDone>>>,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<JobsDone> for Collector {
    type Result = ();
    fn handle(&mut self, m: JobsDone, _: &mut Context<Self>) {
        self.done.lock().unwrap().push(m);
    }
}

impl Handler<FloorChanged> for Collector {
    type Result = ();
    fn handle(&mut self, _: FloorChanged, _: &mut Context<Self>) {}
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{what}: not within 10 s");
}

/// A fresh data directory whose log holds `txns`, synced: the directory (removed on drop), its
/// path and layout, and the open log.
fn logged(txns: &[Arc<Txn>]) -> (tempfile::TempDir, PathBuf, Layout, FileLog) {
    let tmp = tempfile::Builder::new()
        .prefix("zkr-logactor-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().to_path_buf();
    let layout = Layout::new(&dir);
    let mut log = FileLog::open(&layout, None, 0, true, 4096).unwrap();
    log.append(txns).unwrap();
    log.sync().unwrap();
    (tmp, dir, layout, log)
}

/// A log actor on `log` (data directory `dir`), snapshotting every `snap_count` txns,
/// reporting to a collector; returns it and the collector's reports.
fn start_actor(
    dir: &std::path::Path,
    log: FileLog,
    store: Arc<Store>,
    snap_count: u64,
) -> (Addr<LogActor>, Arc<Mutex<Vec<JobsDone>>>) {
    let collector = Collector::default();
    let done = collector.done.clone();
    let collector = collector.start();
    let policy = SnapshotPolicy {
        layout: Some(Layout::new(dir)),
        data_dir: Some(dir.to_path_buf()),
        snap_count,
        snap_size_limit: u64::MAX,
        retain: 3,
        autopurge: false,
        purge_interval: None,
        low_space: None,
        prealloc_bytes: 4096,
    };
    let actor = LogActor::new(
        Box::new(log),
        collector.clone().recipient(),
        collector.recipient(),
        store,
        policy,
    )
    .start();
    (actor, done)
}

/// Issue 12, hole 6: a background snapshot must never persist a txn a truncation discards.
/// The log truncates to 5 (txns 6..=10 of an old epoch go), then appends the new history;
/// the store still holds the old tree until the quorum actor hands it the rebuilt one. A
/// snapshot taken in between (the appends make one due) persisted the old tree as
/// `snapshot.<10>`, which the next start loaded: the discarded txns came back. (A snapshot
/// already running when the truncation arrives is the other half: the truncation waits for
/// it, then removes it with the other snapshots past 5.)
#[actix_rt::test]
async fn a_snapshot_never_holds_txns_a_truncation_discarded() {
    let old: Vec<Arc<Txn>> = (1..=10).map(|z| create(z, &format!("/old{z}"))).collect();
    let (_tmp, dir, layout, log) = logged(&old);
    let mut tree = DataTree::new();
    for t in &old {
        tree.apply(t);
    }
    let store = Arc::new(Store::new(tree, Default::default()));
    let (actor, done) = start_actor(&dir, log, store.clone(), 2);
    actor.do_send(Jobs(vec![Job {
        token: 1,
        action: DurableAction::Truncate { to: 5 },
    }]));
    wait_for("the truncation", || done.lock().unwrap().len() == 1).await;
    let new: Vec<Arc<Txn>> = (6..=9).map(|z| create(z, &format!("/new{z}"))).collect();
    append_each(&actor, 2, &new);
    wait_for("the jobs", || {
        done.lock()
            .unwrap()
            .iter()
            .map(|d| d.tokens.len())
            .sum::<usize>()
            == 5
    })
    .await;
    // The quorum actor's part: the rebuilt tree (plus the new txns) replaces the store's.
    let rebuilt = match done.lock().unwrap().remove(0).result {
        Ok(JobEffect::Tree(t)) => t,
        other => panic!("{other:?}"),
    };
    let mut rebuilt = *rebuilt;
    for t in &new {
        rebuilt.apply(t);
    }
    store.replace_tree(rebuilt);
    // Later appends make a snapshot due again: it is taken from the new tree.
    let more: Vec<Arc<Txn>> = (10..=12).map(|z| create(z, &format!("/new{z}"))).collect();
    append_each(&actor, 10, &more);
    wait_for("a snapshot of the new tree", || {
        snapshot::list(&layout.snap_dir)
            .unwrap()
            .iter()
            .any(|(z, _)| *z >= 9)
    })
    .await;
    // Let any snapshot still being written finish.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (z, path) in snapshot::list(&layout.snap_dir).unwrap() {
        let t = snapshot::load(&path).unwrap();
        assert!(
            t.get("/old6").is_none(),
            "snapshot.{z:#x} holds /old6, a txn the truncation discarded"
        );
    }
    let rec = recovery::recover(&layout).unwrap();
    assert!(rec.tree.get("/old6").is_none() && rec.tree.get("/new6").is_some());
}

/// A leader chose a cut from a floor this learner reported before a purge or an install
/// raised it: the cut is refused, the job fails, and the epoch save queued behind it (the
/// NEWLEADER's) is dropped with it, so the learner cannot end up with the new currentEpoch on
/// a history that was not synchronised. Nothing on disk changes.
#[actix_rt::test]
async fn a_cut_below_the_oldest_snapshot_fails_and_drops_the_epoch_save_behind_it() {
    let txns: Vec<Arc<Txn>> = (1..=8).map(|z| create(z, &format!("/n{z}"))).collect();
    let (_tmp, dir, layout, log) = logged(&txns);
    std::fs::create_dir_all(&layout.snap_dir).unwrap();
    snapshot::save_bytes(
        &layout.snap_dir,
        4,
        &crate::txnlog::suite::snapshot_bytes(4),
    )
    .unwrap();
    let store = Arc::new(Store::new(DataTree::new(), Default::default()));
    let (actor, done) = start_actor(&dir, log, store, 1_000_000);
    send_cut_then_epoch_save(&actor, 3);
    wait_for("the report", || !done.lock().unwrap().is_empty()).await;
    let report = done.lock().unwrap().remove(0);
    assert_eq!(
        report.tokens,
        vec![1, 2],
        "the epoch save went with the cut"
    );
    match report.result {
        Err(LogError::BelowFloor { to: 3, floor: 4 }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        epochs::load(&dir).unwrap(),
        epochs::Epochs::default(),
        "no epoch was saved"
    );
    let rec = recovery::recover(&layout).unwrap();
    assert_eq!((rec.snapshot, rec.tree.last_zxid()), (Some(4), 8));
}

/// Queues, in one message, a cut back to `to` (token 1) and the epoch save a NEWLEADER queues
/// behind it (token 2, epoch 4).
fn send_cut_then_epoch_save(actor: &Addr<LogActor>, to: Zxid) {
    actor.do_send(Jobs(vec![
        Job {
            token: 1,
            action: DurableAction::Truncate { to },
        },
        Job {
            token: 2,
            action: DurableAction::SaveEpochs {
                accepted: 4,
                current: 4,
            },
        },
    ]));
}

/// Sends one append job per txn, tokens from `first_token` on, each in a message of its own.
fn append_each(actor: &Addr<LogActor>, first_token: u64, txns: &[Arc<Txn>]) {
    for (i, t) in txns.iter().enumerate() {
        actor.do_send(Jobs(vec![Job {
            token: first_token + i as u64,
            action: DurableAction::Append(vec![t.clone()]),
        }]));
    }
}

/// A bit flip in the log below the leader's cut: the truncation cuts at the damage and the log
/// rebuilds short of the cut. The quorum actor goes back to LOOKING on the rebuilt zxid, but
/// the epoch save queued behind the cut (the NEWLEADER's) must not run: a server whose history
/// was not synchronised would otherwise hold the new currentEpoch, and win an election against
/// servers with the data. The rebuilt tree is still reported (the store must match the disk),
/// and the save fails with the cut's error.
#[actix_rt::test]
async fn a_cut_that_rebuilds_short_of_its_point_drops_the_epoch_save_behind_it() {
    let txns: Vec<Arc<Txn>> = (1..=8).map(|z| create(z, &format!("/n{z}"))).collect();
    let (_tmp, dir, layout, log) = logged(&txns);
    drop(log);
    let (_, seg) = segment::list(&layout.log_dir).unwrap().remove(0);
    let scan = segment::scan(&seg).unwrap();
    let (_, at) = scan.txns.iter().find(|(t, _)| t.zxid == 6).unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[*at as usize + 12] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let log = FileLog::open(&layout, None, 0, true, 4096).unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(Store::new(DataTree::new(), Default::default()));
    let (actor, done) = start_actor(&dir, log, store, 1_000_000);
    send_cut_then_epoch_save(&actor, 7);
    wait_for("both reports", || done.lock().unwrap().len() >= 2).await;
    let reports = std::mem::take(&mut *done.lock().unwrap());
    assert_eq!(reports[0].tokens, vec![1]);
    match &reports[0].result {
        Ok(JobEffect::Tree(t)) => assert_eq!(t.last_zxid(), 5, "rebuilt up to the damage"),
        other => panic!("the cut's report: {other:?}"),
    }
    assert_eq!(
        reports[1].tokens,
        vec![2],
        "the epoch save is reported failed"
    );
    match &reports[1].result {
        Err(LogError::CutMissed { to: 7, rebuilt: 5 }) => {}
        other => panic!("the epoch save's report: {other:?}"),
    }
    assert_eq!(
        epochs::load(&dir).unwrap(),
        epochs::Epochs::default(),
        "no epoch was saved"
    );
}
