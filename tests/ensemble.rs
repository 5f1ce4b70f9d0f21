//! zkr ensembles as real processes: 3 and 5 voters, kill -9 of the leader (once, and three
//! times under load), the whole ensemble killed and restarted, followers catching up by DIFF
//! and by SNAP, a partitioned leader (fault-injecting TCP proxies on the peer connections, cut
//! or silent), an observer, ephemerals and sessions across a failover, sessions moving between
//! servers, and an ensemble started from zoo.cfg.
//!
//! Every test runs its own `zkr node` processes (tests/common/ensemble.rs: free loopback ports,
//! own directories, TOML or zoo.cfg generated, processes stopped by PID) and talks to them with
//! the third-party `zookeeper-client` crate, or raw frames built with `zkr_actors::proto`
//! where the crate hides what is checked. Every wait is bounded; timings are measured and
//! printed (run with `--nocapture` to see them), never asserted. On failure the members' log
//! tails are printed and their directories kept.
//!
//! Run: `cargo test --test ensemble -- --nocapture`.

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::ensemble::{Ensemble, EnsembleSpec};
use common::four_letter;
use zkr_actors::proto::codes::{opcode, xid as xids};
use zkr_actors::proto::records::{
    Acl, ConnectRequest, ConnectResponse, CreateRequest, ReplyHeader,
};
use zkr_actors::proto::{Jute, Request};
use zookeeper_client as zk;

/// Upper bound of every single wait.
const WAIT: Duration = Duration::from_secs(30);
/// Upper bound of an ensemble coming up (or a new leader settling).
const SETTLE: Duration = Duration::from_secs(60);

/// `[node]` lines: sessions may last longer than 20 ticks (the failover tests need sessions
/// that outlive an election).
const LONG_SESSIONS: &str = "max_session_timeout_ms = 60000\n";

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

async fn within<T>(what: &str, limit: Duration, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing within {limit:?}"),
    }
}

/// A session on exactly the servers of `hosts` (a connect string).
async fn connect(hosts: &str) -> zk::Client {
    connect_timeout(hosts, Duration::from_secs(20)).await
}

async fn connect_timeout(hosts: &str, session_timeout: Duration) -> zk::Client {
    within(
        &format!("connect to {hosts}"),
        WAIT,
        zk::Client::connector()
            .with_session_timeout(session_timeout)
            .connect(hosts),
    )
    .await
    .unwrap_or_else(|e| panic!("connect to {hosts}: {e}"))
}

/// One attempt at a session on `hosts`, giving up after `limit`.
async fn try_connect(hosts: &str, limit: Duration) -> Result<zk::Client, String> {
    match tokio::time::timeout(
        limit,
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(20))
            .with_fail_eagerly()
            .connect(hosts),
    )
    .await
    {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no session within {limit:?}")),
    }
}

/// One attempt at a fresh session on `hosts` and a create of `path` through it.
async fn try_create(hosts: &str, path: &str, data: &[u8], limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    let c = try_connect(hosts, limit).await?;
    let left = limit
        .saturating_sub(start.elapsed())
        .max(Duration::from_millis(100));
    match tokio::time::timeout(left, c.create(path, data, &persistent())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("create {path}: no answer within {limit:?}")),
    }
}

/// (data, version, czxid, mzxid, ephemeral owner) of every node outside /zookeeper.
type Tree = BTreeMap<String, (Vec<u8>, i32, i64, i64, i64)>;

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// The whole tree as `c`'s server has it (no sync).
async fn dump(c: &zk::Client) -> Tree {
    let mut out = Tree::new();
    let mut stack = vec!["/".to_string()];
    while let Some(p) = stack.pop() {
        assert!(out.len() < 100_000, "tree unexpectedly large");
        if p == "/zookeeper" {
            continue;
        }
        let (data, stat) = within("getData", WAIT, c.get_data(&p))
            .await
            .unwrap_or_else(|e| panic!("getData {p}: {e}"));
        out.insert(
            p.clone(),
            (
                data,
                stat.version,
                stat.czxid,
                stat.mzxid,
                stat.ephemeral_owner,
            ),
        );
        let children = within("getChildren", WAIT, c.list_children(&p))
            .await
            .unwrap_or_else(|e| panic!("getChildren {p}: {e}"));
        for ch in children {
            stack.push(child_path(&p, &ch));
        }
    }
    out
}

/// The tree of the server at `addr` after a sync (everything committed before is in).
async fn synced_dump(addr: &str) -> Tree {
    let c = connect(addr).await;
    within("sync", WAIT, c.sync("/"))
        .await
        .unwrap_or_else(|e| panic!("sync on {addr}: {e}"));
    dump(&c).await
}

/// Asserts that every member in `ids` has the same tree (after a sync) and returns it.
async fn assert_converged(ens: &Ensemble, ids: &[u8]) -> Tree {
    let reference = synced_dump(&ens.addr(ids[0])).await;
    for id in &ids[1..] {
        let t = synced_dump(&ens.addr(*id)).await;
        if t != reference {
            let only_ref: Vec<_> = reference
                .iter()
                .filter(|(k, v)| t.get(*k) != Some(v))
                .map(|(k, _)| k)
                .collect();
            let only_t: Vec<_> = t
                .iter()
                .filter(|(k, v)| reference.get(*k) != Some(v))
                .map(|(k, _)| k)
                .collect();
            panic!(
                "member {id} differs from member {}: {only_ref:?} (on {}) vs {only_t:?} (on {id})",
                ids[0], ids[0]
            );
        }
    }
    reference
}

/// A write the ensemble acknowledged: path, data, version.
#[derive(Debug, Clone)]
struct Acked {
    path: String,
    data: Vec<u8>,
    version: i32,
}

/// Asserts that every acknowledged write is in `tree` with its data and version.
fn assert_has_acked(tree: &Tree, acked: &[Acked], whose: &str) {
    for a in acked {
        match tree.get(&a.path) {
            Some((data, version, ..)) => {
                assert_eq!(
                    (data, *version),
                    (&a.data, a.version),
                    "{whose}: {} has other data/version than acknowledged",
                    a.path
                );
            }
            None => panic!("{whose}: acknowledged {} is missing", a.path),
        }
    }
}

/// The leader in `modes` (exactly one).
fn count_modes(modes: &BTreeMap<u8, Option<String>>, want: &str) -> usize {
    modes
        .values()
        .filter(|m| m.as_deref() == Some(want))
        .count()
}

// ---------------------------------------------------------------------------------------------
// 1. Start-up and replication
// ---------------------------------------------------------------------------------------------

async fn all_start_and_replicate(voters: usize, tag: &str) {
    let started = Instant::now();
    let ens = Ensemble::start(
        tag,
        EnsembleSpec {
            voters,
            ..Default::default()
        },
    );
    println!(
        "{voters} nodes: stable leader after {:?}",
        started.elapsed()
    );
    let ids = ens.ids();
    let modes = ens.modes(&ids);
    assert_eq!(count_modes(&modes, "leader"), 1, "modes: {modes:?}");
    assert_eq!(
        count_modes(&modes, "follower"),
        voters - 1,
        "modes: {modes:?}"
    );

    // Writes through every member (followers forward them).
    let mut acked = Vec::new();
    for id in &ids {
        let c = connect(&ens.addr(*id)).await;
        let base = format!("/via{id}");
        c.create(&base, format!("from {id}").as_bytes(), &persistent())
            .await
            .unwrap_or_else(|e| panic!("create {base} via {id}: {e}"));
        acked.push(Acked {
            path: base.clone(),
            data: format!("from {id}").into_bytes(),
            version: 0,
        });
        for k in 0..3 {
            let p = format!("{base}/k{k}");
            c.create(&p, b"v0", &persistent()).await.expect("create");
            let mut version = 0;
            for v in 1..=k {
                let stat = c
                    .set_data(&p, format!("v{v}").as_bytes(), Some(version))
                    .await
                    .expect("setData");
                version = stat.version;
            }
            acked.push(Acked {
                path: p,
                data: format!("v{k}").into_bytes(),
                version,
            });
        }
    }
    // Every member sees every write (after a sync).
    let tree = assert_converged(&ens, &ids).await;
    assert_has_acked(&tree, &acked, "converged tree");
    // A read right after the sync, on each member's own connection, without another sync.
    for id in &ids {
        let c = connect(&ens.addr(*id)).await;
        c.sync("/").await.expect("sync");
        for a in &acked {
            let (data, stat) = c.get_data(&a.path).await.expect("getData");
            assert_eq!((data, stat.version), (a.data.clone(), a.version));
        }
    }
    let zxids: Vec<_> = ids
        .iter()
        .map(|id| common::ensemble::zxid_of(ens.member(*id).client_port))
        .collect();
    println!("{voters} nodes: zxids after the writes {zxids:x?}");
    if voters < 5 {
        return;
    }

    // Five voters survive two failures: kill the leader and one follower.
    let mut ens = ens;
    let leader = ens.wait_leader(&ids, SETTLE);
    let follower = *ids.iter().find(|i| **i != leader).unwrap();
    let killed_at = Instant::now();
    ens.kill9(leader);
    ens.kill9(follower);
    let rest: Vec<u8> = ids
        .iter()
        .copied()
        .filter(|i| *i != leader && *i != follower)
        .collect();
    let new = ens.wait_leader(&rest, SETTLE);
    println!(
        "5 nodes: killed {leader} (leader) and {follower}; {new} leads the other three after {:?}",
        killed_at.elapsed()
    );
    for id in &rest {
        let p = format!("/after-two-kills{id}");
        within(
            "write with 3 of 5",
            WAIT,
            try_create(&ens.addr(*id), &p, b"3", WAIT),
        )
        .await
        .unwrap_or_else(|e| panic!("write through {id} with 3 of 5 up: {e}"));
        acked.push(Acked {
            path: p,
            data: b"3".to_vec(),
            version: 0,
        });
    }
    ens.spawn(leader);
    ens.spawn(follower);
    ens.wait_leader(&ids, SETTLE);
    let tree = assert_converged(&ens, &ids).await;
    assert_has_acked(&tree, &acked, "all five after two kills and restarts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_one_leader_and_replicate_writes_through_every_node() {
    all_start_and_replicate(3, "three").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_elect_one_leader_replicate_writes_and_survive_two_failures() {
    all_start_and_replicate(5, "five").await;
}

// ---------------------------------------------------------------------------------------------
// 2. kill -9 of the leader
// ---------------------------------------------------------------------------------------------

/// One write of the background writer.
struct WriterOp {
    sent: Instant,
    answered: Instant,
    result: Result<Acked, String>,
}

/// Creates `prefix/n<k>` through its own session on `hosts` until `stop`, recording every
/// attempt (a new path per attempt: a write whose answer was lost may still have committed).
async fn background_writer(
    hosts: String,
    prefix: String,
    stop: Arc<AtomicBool>,
    ops: Arc<Mutex<Vec<WriterOp>>>,
) {
    let c = connect_timeout(&hosts, Duration::from_secs(30)).await;
    for k in 0..20_000 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let path = format!("{prefix}/n{k}");
        let data = format!("w{k}").into_bytes();
        let sent = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            c.create(&path, &data, &persistent()),
        )
        .await;
        let answered = Instant::now();
        let result = match r {
            Ok(Ok(_)) => Ok(Acked {
                path,
                data,
                version: 0,
            }),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timeout".into()),
        };
        let failed = result.is_err();
        ops.lock().unwrap().push(WriterOp {
            sent,
            answered,
            result,
        });
        tokio::time::sleep(Duration::from_millis(if failed { 100 } else { 20 })).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_the_leader_elects_a_new_one_loses_no_acknowledged_write_and_the_old_one_rejoins()
{
    let mut ens = Ensemble::start(
        "kill-leader",
        EnsembleSpec {
            node_extra: LONG_SESSIONS.into(),
            ..Default::default()
        },
    );
    let leader = ens.wait_leader(&ens.ids(), SETTLE);
    let survivors: Vec<u8> = ens.ids().into_iter().filter(|i| *i != leader).collect();

    // Writes through the leader itself: creates and setData, versions as acknowledged.
    let mut acked = Vec::new();
    {
        let c = connect(&ens.addr(leader)).await;
        c.create("/v", b"", &persistent()).await.expect("create /v");
        c.create("/w", b"", &persistent()).await.expect("create /w");
        for k in 0..10 {
            let p = format!("/v/k{k}");
            c.create(&p, b"d0", &persistent()).await.expect("create");
            let mut version = 0;
            for v in 1..=(k % 4) {
                version = c
                    .set_data(&p, format!("d{v}").as_bytes(), Some(version))
                    .await
                    .expect("setData")
                    .version;
            }
            acked.push(Acked {
                path: p,
                data: format!("d{}", k % 4).into_bytes(),
                version,
            });
        }
    }
    // A writer through a follower, running across the kill.
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(Mutex::new(Vec::new()));
    let writer = tokio::spawn(background_writer(
        ens.addr(survivors[0]),
        "/w".into(),
        stop.clone(),
        ops.clone(),
    ));
    let end = Instant::now() + WAIT;
    while ops
        .lock()
        .unwrap()
        .iter()
        .filter(|o| o.result.is_ok())
        .count()
        < 20
    {
        assert!(
            Instant::now() < end,
            "the writer did not get 20 writes through"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let killed_at = Instant::now();
    ens.kill9(leader);

    // New leader among the survivors (srvr), and the first write of a fresh session.
    let end = Instant::now() + SETTLE;
    let mut elected_after = None;
    let mut first_write_after = None;
    let mut attempts = 0;
    while (elected_after.is_none() || first_write_after.is_none()) && Instant::now() < end {
        if elected_after.is_none() {
            let modes = ens.modes(&survivors);
            if count_modes(&modes, "leader") == 1 && count_modes(&modes, "follower") == 1 {
                elected_after = Some(killed_at.elapsed());
            }
        }
        if first_write_after.is_none() {
            let target = survivors[attempts % survivors.len()];
            attempts += 1;
            let path = format!("/v/probe{attempts}");
            if try_create(&ens.addr(target), &path, b"p", Duration::from_secs(2))
                .await
                .is_ok()
            {
                first_write_after = Some(killed_at.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elected_after = elected_after.expect("no new leader among the survivors");
    let first_write_after = first_write_after.expect("no write succeeded after the kill");
    let new_leader = ens.wait_leader(&survivors, SETTLE);
    assert_ne!(new_leader, leader);

    // Let the follower's writer get through again, then stop it.
    let end = Instant::now() + WAIT;
    loop {
        let after = ops
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.result.is_ok() && o.sent > killed_at)
            .count();
        if after >= 10 {
            break;
        }
        assert!(
            Instant::now() < end,
            "the follower's writer got only {after} writes through after the failover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    within("writer stop", WAIT, writer)
        .await
        .expect("writer task");
    let ops = std::mem::take(&mut *ops.lock().unwrap());
    let writer_failover = ops
        .iter()
        .find(|o| o.result.is_ok() && o.sent > killed_at)
        .map(|o| o.answered - killed_at);
    let failed: Vec<&String> = ops.iter().filter_map(|o| o.result.as_ref().err()).collect();
    acked.extend(ops.iter().filter_map(|o| o.result.clone().ok()));
    println!(
        "kill -9 of leader {leader}: new leader {new_leader} in srvr after {elected_after:?}; \
         first write of a fresh session after {first_write_after:?} ({attempts} attempts); \
         first write of the follower's long-lived session after {writer_failover:?}; \
         that writer saw {} failed writes ({:?}), {} acknowledged",
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>(),
        acked.len()
    );

    // Nothing acknowledged is lost, on either survivor.
    let tree = assert_converged(&ens, &survivors).await;
    assert_has_acked(&tree, &acked, "survivors");

    // The old leader comes back on its data, rejoins as a follower and catches up.
    let log_from = ens.log_len(new_leader);
    let restarted_at = Instant::now();
    ens.spawn(leader);
    ens.wait_mode(leader, "follower", SETTLE);
    println!(
        "old leader {leader} following again after {:?}",
        restarted_at.elapsed()
    );
    let lines = ens.wait_sync_lines(new_leader, leader, log_from, WAIT);
    println!("sync of the old leader: {lines:?}");
    // Directly on the rejoined server (no sync): it serves only once synchronised.
    let c = connect(&ens.addr(leader)).await;
    let direct = dump(&c).await;
    assert_has_acked(&direct, &acked, "rejoined old leader (no sync)");
    // And a write through it.
    c.create("/v/after-rejoin", b"r", &persistent())
        .await
        .expect("write through the rejoined member");
    let ids = ens.ids();
    let tree = assert_converged(&ens, &ids).await;
    assert!(tree.contains_key("/v/after-rejoin"));
    assert_has_acked(&tree, &acked, "all three after the rejoin");
}

/// Stops the writers and returns every acknowledged write and the number of failed ones.
async fn stop_writers(
    stop: &AtomicBool,
    writers: Vec<tokio::task::JoinHandle<()>>,
    ops: &Mutex<Vec<WriterOp>>,
) -> (Vec<Acked>, usize) {
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        within("writer stop", WAIT, w).await.expect("writer task");
    }
    let ops = std::mem::take(&mut *ops.lock().unwrap());
    let failed = ops.iter().filter(|o| o.result.is_err()).count();
    (
        ops.into_iter().filter_map(|o| o.result.ok()).collect(),
        failed,
    )
}

/// Waits until the writers have `n` more acknowledged writes sent after `since`.
async fn wait_progress(ops: &Mutex<Vec<WriterOp>>, since: Instant, n: usize, what: &str) {
    let end = Instant::now() + WAIT;
    loop {
        let k = ops
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.result.is_ok() && o.sent > since)
            .count();
        if k >= n {
            return;
        }
        assert!(Instant::now() < end, "{what}: only {k} writes got through");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_leader_kills_under_load_lose_no_acknowledged_write() {
    let mut ens = Ensemble::start(
        "kill-rounds",
        EnsembleSpec {
            node_extra: LONG_SESSIONS.into(),
            ..Default::default()
        },
    );
    let ids = ens.ids();
    {
        let c = connect(&ens.addr(1)).await;
        for id in &ids {
            c.create(&format!("/load{id}"), b"", &persistent())
                .await
                .expect("create");
        }
    }
    // One writer per server, each with every server in its connect string (it moves).
    let all = ens.connect_string(&ids);
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = ids
        .iter()
        .map(|id| {
            tokio::spawn(background_writer(
                all.clone(),
                format!("/load{id}"),
                stop.clone(),
                ops.clone(),
            ))
        })
        .collect();
    wait_progress(&ops, Instant::now() - WAIT, 15, "before the first kill").await;
    let mut report = Vec::new();
    for round in 0..3 {
        let leader = ens.wait_leader(&ids, SETTLE);
        let survivors: Vec<u8> = ids.iter().copied().filter(|i| *i != leader).collect();
        let killed_at = Instant::now();
        ens.kill9(leader);
        let new = ens.wait_leader(&survivors, SETTLE);
        let elected = killed_at.elapsed();
        wait_progress(&ops, killed_at, 10, "after the kill").await;
        let first_ack = ops
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.result.is_ok() && o.sent > killed_at)
            .map(|o| o.answered - killed_at)
            .min();
        let log_from = ens.log_len(new);
        ens.spawn(leader);
        ens.wait_leader(&ids, SETTLE);
        let lines = ens.wait_sync_lines(new, leader, log_from, WAIT);
        let modes: Vec<String> = lines
            .iter()
            .filter_map(|l| Ensemble::sync_mode(l))
            .collect();
        report.push(format!(
            "round {round}: killed {leader}, {new} leads after {elected:?}, first write acked \
             {first_ack:?} after the kill, {leader} rejoined by {modes:?}"
        ));
    }
    wait_progress(&ops, Instant::now(), 10, "after the last rejoin").await;
    let (acked, failed) = stop_writers(&stop, writers, &ops).await;
    for r in &report {
        println!("{r}");
    }
    println!(
        "{} writes acknowledged, {failed} failed (connection loss during the failovers)",
        acked.len()
    );
    let tree = assert_converged(&ens, &ids).await;
    assert_has_acked(&tree, &acked, "after three leader kills");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_ensemble_killed_and_restarted_keeps_every_acknowledged_write() {
    let mut ens = Ensemble::start("kill-all", EnsembleSpec::default());
    let ids = ens.ids();
    let mut acked = Vec::new();
    for id in &ids {
        let c = connect(&ens.addr(*id)).await;
        let base = format!("/all{id}");
        c.create(&base, b"", &persistent()).await.expect("create");
        acked.push(Acked {
            path: base.clone(),
            data: Vec::new(),
            version: 0,
        });
        for k in 0..15 {
            let p = format!("{base}/k{k}");
            c.create(&p, b"0", &persistent()).await.expect("create");
            let stat = c.set_data(&p, b"1", Some(0)).await.expect("setData");
            acked.push(Acked {
                path: p,
                data: b"1".to_vec(),
                version: stat.version,
            });
        }
    }
    let leader = ens.wait_leader(&ids, SETTLE);
    let zxid_before = common::ensemble::zxid_of(ens.member(leader).client_port).expect("zxid");
    for id in &ids {
        ens.kill9(*id);
    }
    let restarted = Instant::now();
    for id in &ids {
        ens.spawn(*id);
    }
    let leader = ens.wait_leader(&ids, SETTLE);
    println!(
        "whole ensemble restarted: leader {leader} after {:?}",
        restarted.elapsed()
    );
    let tree = assert_converged(&ens, &ids).await;
    assert_has_acked(&tree, &acked, "after a restart of the whole ensemble");
    // The new term has a new epoch: its first write's zxid is above every zxid before.
    let c = connect(&ens.addr(ids[0])).await;
    let (stat, _) = c
        .create("/all1/after", b"", &persistent())
        .await
        .expect("write after the restart");
    println!(
        "zxid before the kill {zxid_before:#x}, first write after the restart {:#x}",
        stat.czxid
    );
    assert!(
        stat.czxid >> 32 > zxid_before >> 32,
        "the new leader did not start a new epoch ({zxid_before:#x} -> {:#x})",
        stat.czxid
    );
}

// ---------------------------------------------------------------------------------------------
// 3. A restarted follower catches up by DIFF or by SNAP
// ---------------------------------------------------------------------------------------------

/// A follower misses `missed` writes (values padded with `pad` bytes) while down, then comes
/// back while writes go on and must catch up by `want`; returns the leader's log since and the
/// nice value the leader's process serves at.
async fn follower_catches_up(
    tag: &str,
    missed: usize,
    pad: usize,
    commit_log_count: usize,
    want: &str,
) -> (String, i32) {
    let mut ens = Ensemble::start(
        tag,
        EnsembleSpec {
            commit_log_count,
            ..Default::default()
        },
    );
    let leader = ens.wait_leader(&ens.ids(), SETTLE);
    let follower = ens.ids().into_iter().find(|i| *i != leader).unwrap();
    let other = ens
        .ids()
        .into_iter()
        .find(|i| *i != leader && *i != follower)
        .unwrap();

    let mut acked = Vec::new();
    let c = connect(&ens.addr(other)).await;
    c.create("/c", b"", &persistent()).await.expect("create /c");
    for k in 0..5 {
        let p = format!("/c/before{k}");
        c.create(&p, b"b", &persistent()).await.expect("create");
        acked.push(Acked {
            path: p,
            data: b"b".to_vec(),
            version: 0,
        });
    }
    // The follower has those (sync through it).
    let t = synced_dump(&ens.addr(follower)).await;
    assert_has_acked(&t, &acked, "follower before the kill");

    ens.kill9(follower);
    // Writes it misses: creates and setData (one txn each).
    let value = |k: usize| format!("m{k}{}", "x".repeat(pad)).into_bytes();
    for k in 0..missed {
        let p = format!("/c/missed{}", k / 2);
        if k % 2 == 0 {
            c.create(&p, &value(k), &persistent())
                .await
                .expect("create");
            acked.push(Acked {
                path: p,
                data: value(k),
                version: 0,
            });
        } else {
            let stat = c.set_data(&p, &value(k), Some(0)).await.expect("setData");
            let a = acked.last_mut().unwrap();
            a.data = value(k);
            a.version = stat.version;
        }
    }
    // Writes go on while it comes back (its sync has a tail of new proposals).
    c.create("/c/during", b"", &persistent())
        .await
        .expect("create");
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(Mutex::new(Vec::new()));
    let writer = tokio::spawn(background_writer(
        ens.addr(other),
        "/c/during".into(),
        stop.clone(),
        ops.clone(),
    ));
    wait_progress(&ops, Instant::now() - WAIT, 5, "writer before the restart").await;
    let log_from = ens.log_len(leader);
    let restarted = Instant::now();
    ens.spawn(follower);
    ens.wait_mode(follower, "follower", SETTLE);
    let caught_up = restarted.elapsed();
    wait_progress(&ops, Instant::now(), 5, "writer after the restart").await;
    let (during, failed) = stop_writers(&stop, vec![writer], &ops).await;
    assert_eq!(
        failed, 0,
        "writes through {other} failed while {follower} synced"
    );
    let lines = ens.wait_sync_lines(leader, follower, log_from, WAIT);
    println!(
        "{tag}: follower {follower} missed {missed} txns (+{} concurrent writes), serving again \
         after {caught_up:?}; leader {leader} logged {lines:?}",
        during.len()
    );
    let modes: Vec<String> = lines
        .iter()
        .filter_map(|l| Ensemble::sync_mode(l))
        .collect();
    assert_eq!(
        modes.first().map(String::as_str),
        Some(want),
        "sync mode of the restarted follower: {lines:?}"
    );
    // The restarted follower serves the data without a sync (it serves only once synced) ...
    let fc = connect(&ens.addr(follower)).await;
    let direct = dump(&fc).await;
    assert_has_acked(&direct, &acked, "restarted follower (no sync)");
    // ... and goes on following: a write through it, then all three agree.
    fc.create("/c/after", b"a", &persistent())
        .await
        .expect("write through the restarted follower");
    let ids = ens.ids();
    let tree = assert_converged(&ens, &ids).await;
    assert_has_acked(&tree, &acked, "all three");
    assert_has_acked(&tree, &during, "all three (concurrent writes)");
    assert!(tree.contains_key("/c/after"));
    let leader_pid = ens.member(leader).pid().expect("the leader runs");
    (
        ens.log_since(leader, log_from),
        common::process_nice(leader_pid),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_that_missed_a_few_txns_catches_up_by_diff() {
    follower_catches_up("diff", 6, 0, 500, "DIFF").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_that_missed_more_than_the_commit_log_catches_up_by_snap() {
    follower_catches_up("snap", 120, 0, 20, "SNAP").await;
}

/// Issue 16: the SNAP is streamed in chunks (1 MiB each) with flow control; a tree of several
/// chunks (120 values of 40 KB missed) reaches the follower while a client keeps writing to
/// the ensemble, and every acknowledged write is on all three afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_rejoins_by_a_snapshot_streamed_in_several_chunks_while_writes_go_on() {
    let (log, serving_nice) = follower_catches_up("snapstream", 120, 40_000, 20, "SNAP").await;
    let chunks: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("streaming a snapshot to a learner"))
        .filter_map(|l| {
            let i = l.find("chunks=")?;
            l[i + 7..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .collect();
    assert!(
        chunks.first().is_some_and(|n| *n >= 2),
        "the snapshot was streamed in several chunks: {chunks:?}"
    );
    // It was encoded at the background priority: the leader's clients' writes went first.
    common::assert_logged_at_background_nice(&log, "snapshot for a learner encoded", serving_nice);
    // The leader says when the learner installed it and when its tail (the txns since, in
    // slices) is sent.
    let installed = log
        .find("the learner installed the snapshot")
        .expect("the install is logged");
    assert!(
        log[installed..].contains("the learner's tail is sent"),
        "the end of the tail is logged after the install: {log}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. A partitioned leader
// ---------------------------------------------------------------------------------------------

/// How the old leader is cut off.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Partition {
    /// Its peer connections are dropped and new ones refused.
    Cut,
    /// Nothing gets through and nothing is closed (detected only by syncLimit).
    Silent,
}

/// Partitions the leader of a 3-node ensemble, checks both sides, heals, checks convergence.
/// Returns the ensemble, the old and the new leader, and the new leader's "synchronising
/// learner" lines about the old one after healing.
async fn partitioned_leader(tag: &str, how: Partition) -> (Ensemble, u8, u8, Vec<String>) {
    let ens = Ensemble::start(
        tag,
        EnsembleSpec {
            proxied: true,
            node_extra: LONG_SESSIONS.into(),
            ..Default::default()
        },
    );
    let old = ens.wait_leader(&ens.ids(), SETTLE);
    let majority: Vec<u8> = ens.ids().into_iter().filter(|i| *i != old).collect();
    let mut acked = Vec::new();
    let c = connect(&ens.addr(old)).await;
    c.create("/p", b"", &persistent()).await.expect("create /p");
    for k in 0..5 {
        let p = format!("/p/base{k}");
        c.create(&p, b"b", &persistent()).await.expect("create");
        acked.push(Acked {
            path: p,
            data: b"b".to_vec(),
            version: 0,
        });
    }

    let cut_at = Instant::now();
    match how {
        Partition::Cut => ens.isolate(old),
        Partition::Silent => ens.stall(old),
    }
    // A write on the old leader's side: it may log the proposal, but no follower gets it.
    let lost = within(
        "the write on the isolated leader",
        WAIT,
        c.create("/p/lost", b"lost", &persistent()),
    )
    .await;
    let lost_after = cut_at.elapsed();
    assert!(
        lost.is_err(),
        "a write on the isolated old leader succeeded: {lost:?}"
    );
    drop(c);

    // It leaves leadership (within syncLimit; measured, not asserted).
    let end = Instant::now() + WAIT;
    let mut left_after = None;
    while Instant::now() < end {
        if ens.mode(old).as_deref() != Some("leader") {
            left_after = Some(cut_at.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let left_after = left_after.expect("the isolated leader is still leading");
    // The majority elects a leader and serves writes.
    let new = ens.wait_leader(&majority, SETTLE);
    let elected_after = cut_at.elapsed();
    assert_ne!(new, old);
    for id in &majority {
        let p = format!("/p/majority{id}");
        within(
            "write on the majority",
            WAIT,
            try_create(&ens.addr(*id), &p, b"m", WAIT),
        )
        .await
        .unwrap_or_else(|e| panic!("write through {id} on the majority side: {e}"));
        acked.push(Acked {
            path: p,
            data: b"m".to_vec(),
            version: 0,
        });
    }
    // The isolated server serves no writes (and no sessions).
    let refused = try_create(&ens.addr(old), "/p/lost2", b"x", Duration::from_secs(3)).await;
    assert!(
        refused.is_err(),
        "the isolated old leader accepted a write: {refused:?}"
    );
    println!(
        "{how:?} partition of leader {old} (syncLimit {} ms): its client's write failed after \
         {lost_after:?} ({lost:?}); it left leadership after {left_after:?} (mode now {:?}); \
         {new} leads the majority after {elected_after:?}; a write on the isolated side: {refused:?}",
        ens.spec.tick_ms * ens.spec.sync_limit,
        ens.mode(old)
    );

    // The proxies did their part: during a cut, reconnection attempts were refused.
    let refused_during: u64 = ens.proxies.values().map(|p| p.refused()).sum();
    println!("{how:?}: {refused_during} peer connections refused by the proxies");
    if how == Partition::Cut {
        assert!(
            refused_during > 0,
            "no peer tried to reconnect during the cut"
        );
    }

    // Heal: the old leader follows, synchronised by the new leader, and everything converges.
    let log_from = ens.log_len(new);
    let old_log_from = ens.log_len(old);
    let healed_at = Instant::now();
    ens.heal_all();
    let leader = ens.wait_leader(&ens.ids(), SETTLE);
    println!(
        "{how:?}: after healing, leader {leader}, old leader {old} follows after {:?}",
        healed_at.elapsed()
    );
    assert_eq!(leader, new, "healing the old leader changed the leader");
    let lines = ens.wait_sync_lines(new, old, log_from, WAIT);
    let modes: Vec<String> = lines
        .iter()
        .filter_map(|l| Ensemble::sync_mode(l))
        .collect();
    println!(
        "{how:?}: sync of the old leader: {lines:?}; its own log: {:?}",
        ens.log_since(old, old_log_from)
            .lines()
            .filter(|l| l.contains("TRUNC") || l.contains("role") || l.contains("WARN"))
            .collect::<Vec<_>>()
    );
    let first = modes.first().cloned().unwrap_or_default();
    assert!(
        first == "TRUNC" || first == "DIFF",
        "the old leader was synchronised by {first} (lines: {lines:?})"
    );
    if first == "TRUNC" {
        // Its log line is written by its log-output thread, a moment after the TRUNC.
        let end = Instant::now() + Duration::from_secs(10);
        while !ens
            .log_since(old, old_log_from)
            .contains("TRUNC: dropping txns the new leader does not have")
        {
            assert!(
                Instant::now() < end,
                "leader sent TRUNC but the old leader did not log truncating"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let ids = ens.ids();
    let tree = assert_converged(&ens, &ids).await;
    assert_has_acked(&tree, &acked, "after healing");
    assert!(
        !tree.contains_key("/p/lost") && !tree.contains_key("/p/lost2"),
        "a write that never had a quorum is in the tree"
    );
    for p in ens.proxies.values() {
        assert!(!p.is_faulty());
    }
    // Everything still works: a write through the old leader.
    within(
        "write via the old leader",
        WAIT,
        try_create(&ens.addr(old), "/p/after-heal", b"h", WAIT),
    )
    .await
    .expect("write through the old leader after healing");
    (ens, old, new, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_stops_serving_the_majority_goes_on_and_it_rejoins_after_healing() {
    // Cut connections make the leader step down at once, so its client's write may or may not
    // have been logged before: it rejoins by TRUNC or DIFF (checked inside).
    partitioned_leader("cut", Partition::Cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_partitioned_leader_steps_down_within_sync_limit_is_truncated_once_and_rejoins()
{
    let (ens, old, new, lines) = partitioned_leader("silent", Partition::Silent).await;
    // It led for syncLimit after the partition began, so it logged its client's write: a
    // proposal no one else has. The new leader must cut it back (TRUNC; SNAP only if the log
    // could not be cut there), never DIFF.
    let modes: Vec<String> = lines
        .iter()
        .filter_map(|l| Ensemble::sync_mode(l))
        .collect();
    assert!(
        matches!(modes.first().map(String::as_str), Some("TRUNC" | "SNAP")),
        "the old leader's uncommitted proposal was not cut back: {lines:?}"
    );
    // One synchronisation is enough. zkr bug: after the TRUNC the follower wrongly concludes it
    // "could not rebuild the state the leader asked for", goes back to LOOKING and is
    // synchronised a second time (Follower::on_reset compares the truncation point with
    // last_logged, which the proposals of the leader's tail have already advanced).
    let old_log = ens.log(old);
    assert!(
        !old_log.contains("could not rebuild the state the leader asked for"),
        "old leader {old} went back to LOOKING after a successful truncation; leader {new} \
         synchronised it {} times: {lines:?}",
        lines.len()
    );
}

// ---------------------------------------------------------------------------------------------
// 5. An observer
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_serves_reads_forwards_writes_and_does_not_count_for_the_quorum() {
    let mut ens = Ensemble::start(
        "observer",
        EnsembleSpec {
            voters: 3,
            observers: 1,
            ..Default::default()
        },
    );
    let obs = 4u8;
    assert_eq!(ens.mode(obs).as_deref(), Some("observer"));
    let leader = ens.wait_leader(&ens.ids(), SETTLE);
    let oc = connect(&ens.addr(obs)).await;
    // A write through the observer (forwarded to the leader) ...
    oc.create("/o", b"via observer", &persistent())
        .await
        .expect("write through the observer");
    // ... is on every voter, and the observer reads a voter's write.
    let lc = connect(&ens.addr(leader)).await;
    lc.sync("/").await.expect("sync");
    assert_eq!(lc.get_data("/o").await.expect("getData").0, b"via observer");
    lc.create("/o/from-leader", b"L", &persistent())
        .await
        .expect("create");
    oc.sync("/o").await.expect("sync on the observer");
    assert_eq!(
        oc.get_data("/o/from-leader")
            .await
            .expect("read on the observer")
            .0,
        b"L"
    );
    drop(lc);
    drop(oc);

    // One voter down (the leader): 2 of 3 voters remain, the ensemble goes on.
    let killed_at = Instant::now();
    ens.kill9(leader);
    let remaining: Vec<u8> = ens
        .voter_ids()
        .into_iter()
        .filter(|i| *i != leader)
        .collect();
    let mut with_obs = remaining.clone();
    with_obs.push(obs);
    let second = ens.wait_leader(&with_obs, SETTLE);
    println!(
        "observer test: leader {leader} killed, {second} leads (observer following) after {:?}",
        killed_at.elapsed()
    );
    within(
        "write via the observer with 2 of 3 voters",
        WAIT,
        try_create(&ens.addr(obs), "/o/two-voters", b"2", WAIT),
    )
    .await
    .expect("write through the observer with 2 of 3 voters up");

    // Two voters down: the observer is up but the remaining voter alone is no quorum.
    let lone = *remaining.iter().find(|i| **i != second).unwrap();
    let second_down = Instant::now();
    ens.kill9(second);
    let end = Instant::now() + WAIT;
    while Instant::now() < end && (ens.mode(obs).is_some() || ens.mode(lone).is_some()) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        (ens.mode(obs), ens.mode(lone)),
        (None, None),
        "with 1 of 3 voters (and the observer) up, someone still serves"
    );
    println!(
        "observer test: 1 voter + observer stopped serving after {:?}",
        second_down.elapsed()
    );
    for id in [obs, lone] {
        let r = try_create(&ens.addr(id), "/o/no-quorum", b"x", Duration::from_secs(3)).await;
        assert!(
            r.is_err(),
            "member {id} took a write without a quorum: {r:?}"
        );
    }
    // A few election rounds later still no leader: the observer's presence does not help.
    std::thread::sleep(Duration::from_millis(ens.spec.tick_ms as u64 * 8));
    let modes = ens.modes(&[lone, obs]);
    assert_eq!(count_modes(&modes, "leader"), 0, "modes: {modes:?}");

    // A voter back: quorum again, the observer serves writes and still has everything.
    ens.spawn(second);
    let mut up = remaining.clone();
    up.push(obs);
    ens.wait_leader(&up, SETTLE);
    within(
        "write via the observer after a voter came back",
        WAIT,
        try_create(&ens.addr(obs), "/o/back", b"b", WAIT),
    )
    .await
    .expect("write through the observer after the quorum is back");
    let tree = assert_converged(&ens, &up).await;
    for p in ["/o", "/o/from-leader", "/o/two-voters", "/o/back"] {
        assert!(tree.contains_key(p), "{p} missing");
    }
    assert!(!tree.contains_key("/o/no-quorum"));

    // The observer restarted after missing writes catches up (it serves only once synced).
    let leader = ens.wait_leader(&up, SETTLE);
    ens.kill9(obs);
    let lc = connect(&ens.addr(leader)).await;
    for k in 0..5 {
        lc.create(&format!("/o/missed{k}"), b"m", &persistent())
            .await
            .expect("create while the observer is down");
    }
    let log_from = ens.log_len(leader);
    ens.spawn(obs);
    ens.wait_mode(obs, "observer", SETTLE);
    let lines = ens.wait_sync_lines(leader, obs, log_from, WAIT);
    println!("observer test: the restarted observer was synchronised: {lines:?}");
    let oc = connect(&ens.addr(obs)).await;
    let direct = dump(&oc).await;
    for k in 0..5 {
        assert!(
            direct.contains_key(&format!("/o/missed{k}")),
            "restarted observer lacks /o/missed{k}"
        );
    }
    oc.create("/o/after-restart", b"", &persistent())
        .await
        .expect("write through the restarted observer");
    assert_converged(&ens, &up).await;
}

// ---------------------------------------------------------------------------------------------
// 6. Ephemerals across a leader failover, and their expiry
// ---------------------------------------------------------------------------------------------

/// The session ids listed by `cons` on `port`.
fn sessions_on(port: u16) -> Vec<i64> {
    four_letter(port, "cons")
        .lines()
        .filter_map(|l| {
            let i = l.find("sid=0x")?;
            let hex: String = l[i + 6..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            i64::from_str_radix(&hex, 16).ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_survive_a_leader_failover_and_vanish_when_their_session_expires() {
    let mut ens = Ensemble::start(
        "ephemeral",
        EnsembleSpec {
            node_extra: LONG_SESSIONS.into(),
            ..Default::default()
        },
    );
    let leader = ens.wait_leader(&ens.ids(), SETTLE);
    let all = ens.connect_string(&ens.ids());
    // A session on the leader (the crate shuffles its hosts: try until it lands there).
    let mut owner = None;
    for _ in 0..40 {
        let c = within(
            "connect",
            WAIT,
            zk::Client::connector()
                .with_session_timeout(Duration::from_secs(8))
                .with_detached()
                .connect(&all),
        )
        .await
        .expect("connect");
        if sessions_on(ens.member(leader).client_port).contains(&c.session_id().0) {
            owner = Some(c);
            break;
        }
        // Not on the leader: try again (that session has no ephemerals; it just expires).
        drop(c);
    }
    let owner = owner.expect("no session landed on the leader in 40 tries");
    let sid = owner.session_id().0;
    let timeout = owner.session_timeout();
    owner
        .create("/e", b"", &persistent())
        .await
        .expect("create /e");
    let (stat, _) = owner
        .create("/e/mine", b"eph", &ephemeral())
        .await
        .expect("create ephemeral");
    assert_eq!(stat.ephemeral_owner, sid);

    let killed_at = Instant::now();
    ens.kill9(leader);
    let survivors: Vec<u8> = ens.ids().into_iter().filter(|i| *i != leader).collect();
    // The owner's session moves to a survivor: its next write goes through.
    let end = Instant::now() + WAIT;
    let mut k = 0;
    loop {
        k += 1;
        let p = format!("/e/after{k}");
        match tokio::time::timeout(Duration::from_secs(5), owner.create(&p, b"", &persistent()))
            .await
        {
            Ok(Ok(_)) => break,
            Ok(Err(zk::Error::SessionExpired)) => panic!("the session expired in the failover"),
            _ => {}
        }
        assert!(Instant::now() < end, "the owner's session never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let moved_after = killed_at.elapsed();
    let on: Vec<u8> = survivors
        .iter()
        .copied()
        .filter(|id| sessions_on(ens.member(*id).client_port).contains(&sid))
        .collect();
    assert_eq!(on.len(), 1, "session {sid:#x} is connected to {on:?}");
    println!(
        "session {sid:#x} (timeout {timeout:?}) moved from leader {leader} to {} and wrote \
         again {moved_after:?} after the kill",
        on[0]
    );
    // Its ephemeral is still there, owned by the same session, on both survivors.
    for id in &survivors {
        let c = connect(&ens.addr(*id)).await;
        c.sync("/e").await.expect("sync");
        let (data, stat) = c
            .get_data("/e/mine")
            .await
            .unwrap_or_else(|e| panic!("ephemeral gone on {id} after the failover: {e}"));
        assert_eq!((data.as_slice(), stat.ephemeral_owner), (&b"eph"[..], sid));
    }

    // The client goes away without closing: the session expires at the new leader.
    let gone_at = Instant::now();
    drop(owner);
    let watcher = connect(&ens.addr(survivors[0])).await;
    let end = Instant::now() + timeout + WAIT;
    loop {
        watcher.sync("/e").await.expect("sync");
        if watcher
            .check_stat("/e/mine")
            .await
            .expect("exists")
            .is_none()
        {
            break;
        }
        assert!(
            Instant::now() < end,
            "the ephemeral is still there {:?} after its client went away",
            gone_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "ephemeral gone {:?} after its client went away (session timeout {timeout:?})",
        gone_at.elapsed()
    );
    let tree = assert_converged(&ens, &survivors).await;
    assert!(!tree.contains_key("/e/mine"));
    assert!(tree.keys().any(|p| p.starts_with("/e/after")));
}

/// A detached session (dropping the client does not close it) on `hosts`.
async fn connect_detached(hosts: &str, session_timeout: Duration) -> zk::Client {
    within(
        &format!("connect to {hosts}"),
        WAIT,
        zk::Client::connector()
            .with_session_timeout(session_timeout)
            .with_detached()
            .connect(hosts),
    )
    .await
    .unwrap_or_else(|e| panic!("connect to {hosts}: {e}"))
}

/// Issue 12, hole 1: sessions older than their timeout, connected to both followers, kept alive
/// by their clients' pings. The leader is killed; whichever follower takes over must give every
/// session a full timeout (ZooKeeper's rule: a failover shorter than the session timeout expires
/// no session), accept each of them when its client moves to it, and still expire them once
/// their clients are gone. Before the fix, the new leader tried to expire the other follower's
/// sessions the moment it took the role (their deadlines on it were never refreshed); the
/// closes could not be proposed before the epoch was established, so the sessions stayed
/// marked closing: refused on the new leader as expired, and never expired afterwards, their
/// ephemerals (locks) left behind for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_shorter_than_the_session_timeout_expires_no_session_and_leaves_none_stuck() {
    const PER_FOLLOWER: usize = 3;
    let session_timeout = Duration::from_secs(8);
    let mut ens = Ensemble::start(
        "no-expiry-in-failover",
        EnsembleSpec {
            node_extra: LONG_SESSIONS.into(),
            ..Default::default()
        },
    );
    let leader = ens.wait_leader(&ens.ids(), SETTLE);
    let followers: Vec<u8> = ens.ids().into_iter().filter(|i| *i != leader).collect();
    let setup = connect(&ens.connect_string(&ens.ids())).await;
    setup
        .create("/locks", b"", &persistent())
        .await
        .expect("create /locks");
    drop(setup);
    // Sessions pinned to one follower each (a one-server connect string), each holding an
    // ephemeral "lock".
    let mut held = Vec::new();
    for f in &followers {
        for i in 0..PER_FOLLOWER {
            let c = connect_detached(&ens.addr(*f), session_timeout).await;
            let path = format!("/locks/f{f}-{i}");
            let (stat, _) = c
                .create(&path, b"", &ephemeral())
                .await
                .unwrap_or_else(|e| panic!("create {path}: {e}"));
            assert_eq!(stat.ephemeral_owner, c.session_id().0);
            held.push((*f, path, c));
        }
    }
    // Age the sessions past their timeout while their clients ping: the condition of the hole
    // (a deadline set at creation and never refreshed on the other follower has passed).
    tokio::time::sleep(session_timeout + Duration::from_secs(2)).await;

    let killed_at = Instant::now();
    ens.kill9(leader);
    let new_leader = ens.wait_leader(&followers, SETTLE);
    println!(
        "leader {leader} killed; {new_leader} leads after {:?}",
        killed_at.elapsed()
    );
    // Every session writes again through its follower; none may have expired.
    let mut expired = Vec::new();
    for (f, path, c) in &held {
        let end = Instant::now() + WAIT;
        let mut k = 0;
        loop {
            k += 1;
            let p = format!("{path}-after{k}");
            match tokio::time::timeout(Duration::from_secs(5), c.create(&p, b"", &persistent()))
                .await
            {
                Ok(Ok(_)) => break,
                Ok(Err(zk::Error::SessionExpired)) => {
                    expired.push(format!("{path} (session {:#x} on {f})", c.session_id().0));
                    break;
                }
                _ => {}
            }
            assert!(Instant::now() < end, "{path}: its session never came back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(
        expired.is_empty(),
        "sessions expired in a failover of {:?} (timeout {session_timeout:?}): {expired:?}",
        killed_at.elapsed()
    );
    // Each client moves its session to the new leader (its connection to the follower dropped
    // first, the session left open), which must take it (not answer "expired"); its lock is
    // still there, owned by it.
    let mut moved = Vec::new();
    let sessions = held.len();
    for (f, path, c) in held {
        let (sid, info) = (c.session_id().0, c.session().clone());
        // A dropped client's session task ends once its requests in flight are answered; until
        // then, if its server closes its connection (as one does when the session connects to
        // it again, here when `f` is the new leader), it connects once more, and that closes
        // the new client's connection (a ConnectionLoss below, 3 times in 15 loaded runs). So
        // the old client is gone before the new one connects.
        let mut old = c.state_watcher();
        drop(c);
        within(&format!("{path}: the old client ends"), WAIT, async {
            while !old.peek_state().is_terminated() {
                old.changed().await;
            }
        })
        .await;
        let m = within(
            &format!("{path}: resume on the new leader"),
            WAIT,
            zk::Client::connector()
                .with_session_timeout(session_timeout)
                .with_session(info)
                .with_detached()
                .connect(&ens.addr(new_leader)),
        )
        .await
        .unwrap_or_else(|e| panic!("{path}: the new leader refuses its session: {e}"));
        // Which session, from which server, at which instant (a ConnectionLoss here has been
        // seen under load: its server's log says why its connection closed).
        let fail = |what: &str, e: zk::Error| {
            format!(
                "{path} (session {sid:#x}, from member {f}) on the new leader {new_leader}: \
                 {what}: {e} ({:?} after the kill)",
                killed_at.elapsed()
            )
        };
        m.sync("/locks")
            .await
            .unwrap_or_else(|e| panic!("{}", fail("sync", e)));
        let stat = m
            .check_stat(&path)
            .await
            .unwrap_or_else(|e| panic!("{}", fail("exists", e)))
            .unwrap_or_else(|| panic!("{path} vanished in the failover"));
        assert_eq!(stat.ephemeral_owner, sid, "{path}");
        moved.push(m);
    }
    println!(
        "{sessions} sessions, all alive and movable {:?} after the kill",
        killed_at.elapsed()
    );
    // The clients go away without closing: every session expires and its lock goes.
    let gone_at = Instant::now();
    drop(moved);
    let watcher = connect(&ens.addr(new_leader)).await;
    let end = Instant::now() + session_timeout + WAIT;
    loop {
        watcher.sync("/locks").await.expect("sync");
        let left: Vec<String> = watcher
            .get_children("/locks")
            .await
            .expect("children")
            .0
            .into_iter()
            .filter(|c| !c.contains("-after"))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < end,
            "locks of gone clients still held {:?} later: {left:?}",
            gone_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "every lock released {:?} after its client went away",
        gone_at.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Sessions across servers
// ---------------------------------------------------------------------------------------------

/// A raw client connection (frames built with zkr_actors::proto).
struct Raw {
    s: TcpStream,
}

impl Raw {
    fn open(addr: &str) -> Raw {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
        Raw { s }
    }

    fn send_connect(&mut self, session_id: i64, passwd: &[u8], last_zxid_seen: i64) {
        let payload = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen,
            time_out: 20_000,
            session_id,
            passwd: Bytes::copy_from_slice(passwd),
            read_only: Some(false),
        }
        .to_bytes();
        let mut f = (payload.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&payload);
        self.s.write_all(&f).expect("send ConnectRequest");
    }

    fn read_frame(&mut self) -> Result<Bytes, String> {
        common::read_frame(&mut self.s, 1 << 20).map(Bytes::from)
    }

    /// One connection attempt (new session or resume): the ConnectResponse, or why none came.
    fn try_connect(
        addr: &str,
        session_id: i64,
        passwd: &[u8],
        last_zxid: i64,
    ) -> Result<(Raw, ConnectResponse), String> {
        let mut r = Raw::open(addr);
        r.send_connect(session_id, passwd, last_zxid);
        let p = r.read_frame()?;
        let resp = ConnectResponse::from_bytes(p).expect("decode ConnectResponse");
        Ok((r, resp))
    }

    /// Connects (new session or resume) and returns the ConnectResponse.
    fn connect(
        addr: &str,
        session_id: i64,
        passwd: &[u8],
        last_zxid: i64,
    ) -> (Raw, ConnectResponse) {
        Raw::try_connect(addr, session_id, passwd, last_zxid).expect("a ConnectResponse")
    }

    /// Resumes a session the way a real client does: a server that has not yet applied
    /// `last_zxid` closes the connection without a reply (it is behind the client), and the
    /// client tries again until it has caught up (bounded by `WAIT`).
    fn resume(
        addr: &str,
        session_id: i64,
        passwd: &[u8],
        last_zxid: i64,
    ) -> (Raw, ConnectResponse) {
        let end = Instant::now() + WAIT;
        loop {
            match Raw::try_connect(addr, session_id, passwd, last_zxid) {
                Ok(connected) => return connected,
                Err(e) => {
                    assert!(
                        Instant::now() < end,
                        "{addr} still refuses the session resumed at zxid {last_zxid:#x}: {e}"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// Sends `req` with `x` and returns the reply header (skipping notifications).
    fn call(&mut self, x: i32, req: &Request) -> ReplyHeader {
        self.s.write_all(&req.to_frame(x)).expect("send request");
        for _ in 0..1000 {
            let p = self.read_frame().expect("a reply");
            let h = ReplyHeader::from_bytes(p).expect("reply header");
            if h.xid != xids::NOTIFICATION {
                assert_eq!(h.xid, x, "reply xid");
                return h;
            }
        }
        panic!("no reply among 1000 notifications");
    }

    /// Reads until the server closes; returns what arrived (panics if it stays open).
    fn drain_until_closed(&mut self) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < end, "the connection stays open");
            match self.s.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("the connection stays open ({e})"),
            }
        }
    }
}

/// CreateMode.EPHEMERAL's flag.
const EPHEMERAL_FLAG: i32 = 1;

fn create_request(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create(
        opcode::CREATE,
        CreateRequest {
            path: path.into(),
            data: Some(Bytes::copy_from_slice(data)),
            acl: Acl::open_unsafe(),
            flags,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_resumes_on_another_server_and_a_server_behind_the_client_refuses_it() {
    let ens = Ensemble::start("sessions", EnsembleSpec::default());
    let (a, b, c3) = (1u8, 2u8, 3u8);

    // zookeeper-client: a session made on server 1 resumed on server 2 (SessionInfo).
    let first = within(
        "connect",
        WAIT,
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(20))
            .with_detached()
            .connect(&ens.addr(a)),
    )
    .await
    .expect("connect to 1");
    first
        .create("/s", b"", &persistent())
        .await
        .expect("create /s");
    first
        .create("/s/e1", b"1", &ephemeral())
        .await
        .expect("ephemeral via 1");
    let info = first.session().clone();
    let sid = first.session_id();
    drop(first);
    let moved = within(
        "resume on 2",
        WAIT,
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(20))
            .with_session(info)
            .connect(&ens.addr(b)),
    )
    .await
    .expect("resume the session on server 2");
    assert_eq!(moved.session_id(), sid, "resumed under another session id");
    let (stat, _) = moved
        .create("/s/e2", b"2", &ephemeral())
        .await
        .expect("ephemeral via 2");
    assert_eq!(stat.ephemeral_owner, sid.0);
    assert!(sessions_on(ens.member(b).client_port).contains(&sid.0));
    let seen = synced_dump(&ens.addr(c3)).await;
    for p in ["/s/e1", "/s/e2"] {
        assert_eq!(
            seen.get(p).map(|t| t.4),
            Some(sid.0),
            "owner of {p} on server 3"
        );
    }

    // Raw frames: a session made on server 1, resumed on server 3 with its id and password.
    let (mut r1, resp) = Raw::connect(&ens.addr(a), 0, &[0u8; 16], 0);
    assert_ne!(resp.session_id, 0, "new session refused");
    let h = r1.call(1, &create_request("/s/raw", b"r", 0));
    assert_eq!(h.err, 0, "create via the raw session");
    let seen_zxid = h.zxid;
    assert!(seen_zxid > 0);
    let (mut r3, resumed) = Raw::resume(&ens.addr(c3), resp.session_id, &resp.passwd, seen_zxid);
    assert_eq!(
        (resumed.session_id, &resumed.passwd[..]),
        (resp.session_id, &resp.passwd[..]),
        "resume on server 3"
    );
    assert!(resumed.time_out > 0);
    let h = r3.call(2, &create_request("/s/raw-eph", b"", EPHEMERAL_FLAG));
    assert_eq!(h.err, 0, "ephemeral via the resumed raw session");
    let seen = synced_dump(&ens.addr(b)).await;
    assert_eq!(seen.get("/s/raw-eph").map(|t| t.4), Some(resp.session_id));
    // A wrong password is answered like an expired session and the connection closed.
    let mut bad = resp.passwd.to_vec();
    bad[0] ^= 0xff;
    let (mut rb, refused) = Raw::connect(&ens.addr(b), resp.session_id, &bad, 0);
    assert_eq!((refused.session_id, refused.time_out), (0, 0));
    assert!(rb.drain_until_closed().is_empty());

    // A client that has seen a newer zxid than the server: closed without a reply.
    let z = common::ensemble::zxid_of(ens.member(b).client_port).expect("srvr zxid");
    let mut ahead = Raw::open(&ens.addr(b));
    ahead.send_connect(0, &[0u8; 16], z + (1 << 40));
    let got = ahead.drain_until_closed();
    assert!(
        got.is_empty(),
        "a client ahead of the server got {} bytes instead of a silent close",
        got.len()
    );
    // The same request with a zxid the server has is accepted (the refusal was the zxid).
    let (_ok, resp) = Raw::connect(&ens.addr(b), 0, &[0u8; 16], z);
    assert_ne!(resp.session_id, 0);
    drop(moved);
}

/// ZooKeeper's SESSIONMOVED.
const SESSION_MOVED: i32 = -118;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_the_connection_a_session_moved_away_from_gets_session_moved() {
    // ZooKeeper: when a client resumes its session on another server, that server revalidates
    // the session with the leader, which records the new owner; a request still arriving
    // through the old server's connection fails the owner check (SESSIONMOVED,
    // ZOOKEEPER-710) and nothing is written. Apache ZooKeeper 3.8.0 in a 3-node ensemble,
    // checked with the same raw sequence: the old connection is closed without a reply and
    // the node is not created. Accepted here: a close, or an error reply SESSIONMOVED.
    let ens = Ensemble::start("moved", EnsembleSpec::default());
    let (mut old, resp) = Raw::connect(&ens.addr(1), 0, &[0u8; 16], 0);
    assert_ne!(resp.session_id, 0);
    let h = old.call(1, &create_request("/m", b"", 0));
    assert_eq!(h.err, 0);
    let (mut new, resumed) = Raw::resume(&ens.addr(2), resp.session_id, &resp.passwd, h.zxid);
    assert_eq!(resumed.session_id, resp.session_id);
    // The new connection works ...
    let h = new.call(2, &create_request("/m/new", b"", 0));
    assert_eq!(h.err, 0, "write through the new connection");
    // ... the old one must not write any more.
    old.s
        .write_all(&create_request("/m/old", b"", 0).to_frame(3))
        .expect("send on the old connection");
    let answer = old.read_frame();
    let tree = synced_dump(&ens.addr(3)).await;
    let header = answer
        .as_ref()
        .ok()
        .and_then(|p| ReplyHeader::from_bytes(p.clone()).ok());
    println!(
        "write through the old connection: {:?}; /m/old exists: {}",
        header,
        tree.contains_key("/m/old")
    );
    assert!(
        !tree.contains_key("/m/old"),
        "a write through the connection the session moved away from was applied (reply {header:?})"
    );
    if let Some(h) = header {
        assert_eq!(
            h.err, SESSION_MOVED,
            "error of the write through the old connection"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 8. zoo.cfg
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ensemble_started_from_zoo_cfg_files_works() {
    let ens = Ensemble::start(
        "zoocfg",
        EnsembleSpec {
            zoo_cfg: true,
            ..Default::default()
        },
    );
    let ids = ens.ids();
    let modes = ens.modes(&ids);
    assert_eq!(count_modes(&modes, "leader"), 1, "modes: {modes:?}");
    assert_eq!(count_modes(&modes, "follower"), 2, "modes: {modes:?}");
    // The servers run with what the zoo.cfg files say (myid from dataDir/myid).
    for id in &ids {
        let conf = four_letter(ens.member(*id).client_port, "conf");
        assert!(
            conf.contains(&format!("serverId={id}\n")),
            "conf of {id}: {conf}"
        );
        assert!(
            conf.contains(&format!("tickTime={}\n", ens.spec.tick_ms)),
            "conf: {conf}"
        );
    }
    for id in &ids {
        let c = connect(&ens.addr(*id)).await;
        c.create(
            &format!("/zoo{id}"),
            format!("{id}").as_bytes(),
            &persistent(),
        )
        .await
        .unwrap_or_else(|e| panic!("write through {id}: {e}"));
    }
    let tree = assert_converged(&ens, &ids).await;
    for id in &ids {
        assert_eq!(
            tree.get(&format!("/zoo{id}")).map(|t| t.0.clone()),
            Some(format!("{id}").into_bytes())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Reconfiguration
// ---------------------------------------------------------------------------------------------

/// `[auth]` and `[features]` of a reconfig-enabled ensemble whose super user is `super:test`.
const RECONFIG_TOML: &str = "[auth]\nsuper_digest = \"super:D/InIHSb7yEEbrWz8b9l71RjZJU=\"\n\n\
                             [features]\nreconfig_enabled = true\n";

/// Issue 12, hole 7: server 4 becomes a participant by reconfig (an observer promoted, or a
/// server that was not a member at all). From then on the quorum of {1, 2, 3, 4} is any three
/// of them: with a follower of 1-3 killed, the leader, the other follower and 4 must still
/// commit writes. Before the fix, 4 stayed registered with the leader as an observer (a fresh
/// server registering as a participant was refused), so its ACKs never counted and writes
/// needed all of 1-3.
async fn a_participant_added_by_reconfig_counts_for_the_quorum(tag: &str, promote: bool) {
    let mut ens = Ensemble::start(
        tag,
        EnsembleSpec {
            observers: usize::from(promote),
            joiners: usize::from(!promote),
            extra_toml: RECONFIG_TOML.into(),
            ..Default::default()
        },
    );
    let new = 4u8;
    if !promote {
        ens.spawn(new);
    }
    let founders: Vec<u8> = (1..=3).collect();
    let leader = ens.wait_leader(&founders, SETTLE);
    // 4 syncs with the leader before it is added (as an observer, or a non-voting follower).
    let want = if promote { "observer" } else { "follower" };
    ens.wait_mode(new, want, SETTLE);
    let admin = connect(&ens.addr(leader)).await;
    admin
        .auth("digest", b"super:test")
        .await
        .expect("auth as super");
    let line = ens.participant_line(new);
    admin
        .update_ensemble(
            zk::EnsembleUpdate::Incremental {
                joinings: vec![line.as_str()].into_iter(),
                leavings: vec![].into_iter(),
            },
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("reconfig adding {line}: {e}"));
    let (config, _) = admin.get_config().await.expect("config");
    let config = String::from_utf8_lossy(&config).into_owned();
    assert!(
        config.contains(&format!("server.{new}=")) && !config.contains(":observer"),
        "4 is a participant now: {config}"
    );
    ens.wait_mode(new, "follower", SETTLE);
    // One of the old followers goes: 3 of the 4 voters remain, 4 among them.
    let gone = founders
        .iter()
        .copied()
        .find(|id| *id != leader)
        .expect("a follower");
    ens.kill9(gone);
    try_create(&ens.addr(leader), "/after-reconfig", b"x", WAIT)
        .await
        .unwrap_or_else(|e| {
            panic!("no write committed by the leader, a follower and the new participant: {e}")
        });
    let left: Vec<u8> = ens.ids().into_iter().filter(|id| *id != gone).collect();
    let tree = assert_converged(&ens, &left).await;
    assert!(tree.contains_key("/after-reconfig"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_promoted_to_participant_by_reconfig_counts_for_the_quorum() {
    a_participant_added_by_reconfig_counts_for_the_quorum("reconfig-promote", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_added_by_reconfig_counts_for_the_quorum() {
    a_participant_added_by_reconfig_counts_for_the_quorum("reconfig-add", false).await;
}

/// Kazoo's read-only test stops the leader and a follower together; the follower, dying, still
/// sent its vote for itself, the last server counted it, followed that dead server, and sat out
/// initLimit before it looked again (so it went read-only too late for the client). ZooKeeper
/// gives up on a leader it cannot connect to after a few tries 100 ms apart. Here a fake server
/// 2 wins server 1's vote and is gone: server 1 must be looking again long before initLimit
/// (30 s here). The fake server goes through the peer handshake as a member of an ensemble
/// without a shared secret does (peer/auth.rs: the frames run, the proofs are absent).
#[test]
fn a_follower_whose_leader_cannot_be_reached_looks_again_before_init_limit() {
    use zkr_actors::peer::auth::AuthFrame;
    use zkr_actors::quorum::msg::{
        Hello, Notification, PeerMsg, PeerState, Vote, PEER_PROTOCOL_VERSION,
    };
    fn frame(v: &impl serde::Serialize) -> Vec<u8> {
        let b = rmp_serde::to_vec(v).expect("encodes");
        let mut f = (b.len() as u32).to_be_bytes().to_vec();
        f.extend(b);
        f
    }
    fn handshake_frame(sock: &mut TcpStream) -> AuthFrame {
        let mut len = [0u8; 4];
        sock.read_exact(&mut len).expect("a handshake frame");
        let mut b = vec![0u8; u32::from_be_bytes(len) as usize];
        sock.read_exact(&mut b).expect("a handshake frame");
        rmp_serde::from_slice(&b).expect("a handshake frame")
    }
    let mut e = Ensemble::create(
        "unreachable-leader",
        EnsembleSpec {
            voters: 3,
            tick_ms: 1000,
            init_limit: 30,
            sync_limit: 5,
            ..EnsembleSpec::default()
        },
    );
    e.spawn(1);
    let peer = e.member(1).peer_port;
    // Server 1 is up and electing alone.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sock: TcpStream = loop {
        match TcpStream::connect(("127.0.0.1", peer)) {
            Ok(s) => break s,
            Err(err) if Instant::now() < deadline => {
                let _ = err;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(err) => panic!("server 1's peer port never opened: {err}"),
        }
    };
    let hello = Hello {
        protocol_version: PEER_PROTOCOL_VERSION,
        from: 2,
        generation: 1,
        listen_addr: None,
    };
    let vote = PeerMsg::Vote(Notification {
        vote: Vote {
            leader: 2,
            zxid: i64::MAX >> 1,
            epoch: 1,
        },
        round: 1_000,
        state: PeerState::Looking,
    });
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let start = AuthFrame::Start { nonce: [2; 32] };
    sock.write_all(&[frame(&hello), frame(&start)].concat())
        .expect("send hello");
    let challenge = handshake_frame(&mut sock);
    assert!(
        matches!(challenge, AuthFrame::Challenge { proof: None, .. }),
        "{challenge:?}"
    );
    sock.write_all(&frame(&AuthFrame::Proof { proof: None }))
        .expect("send proof");
    assert_eq!(handshake_frame(&mut sock), AuthFrame::Accepted);
    sock.write_all(&frame(&vote)).expect("send vote");
    // ... and dies, as server 2 did in the kazoo run: its connection closes before server 1
    // decides (the election waits a little for better votes first).
    drop(sock);
    let following = "role=Following { leader: 2 }";
    let deadline = Instant::now() + Duration::from_secs(60);
    while !e.log(1).contains(following) {
        assert!(
            Instant::now() < deadline,
            "server 1 never followed the fake server 2:\n{}",
            e.log_tail(1, 30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Server 2's peer port has no listener: server 1 cannot register with it.
    let followed_at = Instant::now();
    loop {
        let log = e.log(1);
        let after = &log[log.find(following).expect("seen above")..];
        if after.contains("role=Looking") {
            break;
        }
        assert!(
            followed_at.elapsed() < Duration::from_secs(15),
            "server 1 still follows an unreachable leader 15 s on (initLimit is 30 s):\n{}",
            e.log_tail(1, 30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Starting: a member that cannot take its port
// ---------------------------------------------------------------------------------------------

/// A member whose client port another socket holds exits at start (`StartError::Bind`, exit
/// status 2). The wait for a leader notices the exit at once and says why: the member, its exit
/// status and its log's last lines (the address already in use), not "never served" a minute on.
#[test]
fn a_member_whose_client_port_is_taken_fails_the_wait_at_once_with_its_exit_status_and_log() {
    let mut ens = Ensemble::create("port-taken", EnsembleSpec::default());
    let taken = ens.member(1).client_port;
    let _holder = std::net::TcpListener::bind(("127.0.0.1", taken)).expect("hold the port");
    let founders = ens.founder_ids();
    for id in &founders {
        ens.spawn(*id);
    }
    let started = Instant::now();
    let err = ens
        .try_wait_leader(&founders, SETTLE)
        .expect_err("member 1 cannot serve");
    let took = started.elapsed();
    println!("the wait failed after {took:?}: {err}");
    // Failed by the exit, not by the minute's timeout (whose message says "within 60s"): no
    // bound on the time taken, which a slow machine could break.
    assert!(
        !err.contains(&format!("within {SETTLE:?}")),
        "the wait ran out instead: {err}"
    );
    assert!(err.contains("member 1 exited"), "{err}");
    assert!(err.contains("exit status: 2"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{taken}")), "{err}");
    assert!(err.contains("Address already in use"), "{err}");
}

/// A start whose member 1 cannot bind its peer port (another socket holds it) is made again
/// from fresh ports, and the ensemble of the second attempt comes up.
#[test]
fn a_start_that_loses_a_peer_port_starts_again_from_fresh_ports_and_comes_up() {
    let mut holders = Vec::new();
    let mut peer_ports = Vec::new();
    let started = Instant::now();
    let ens = Ensemble::start_from("port-lost", |attempt| {
        let e = Ensemble::create("port-lost", EnsembleSpec::default());
        let port = e.member(1).peer_port;
        peer_ports.push(port);
        if attempt == 1 {
            holders.push(std::net::TcpListener::bind(("127.0.0.1", port)).expect("hold the port"));
        }
        e
    });
    println!(
        "came up after {:?}, peer ports of member 1 by attempt: {peer_ports:?}",
        started.elapsed()
    );
    assert_eq!(peer_ports.len(), 2, "attempts: {peer_ports:?}");
    assert_ne!(peer_ports[0], peer_ports[1]);
    let modes = ens.modes(&ens.ids());
    assert_eq!(count_modes(&modes, "leader"), 1, "modes: {modes:?}");
    assert_eq!(count_modes(&modes, "follower"), 2, "modes: {modes:?}");
}
