//! Linearizability of a real 3-node zkr ensemble under process kills.
//!
//! Several clients (the third-party `zookeeper-client` crate), each on its own server (one
//! more on all three), run a bounded, seeded mix of compare-and-set writes (setData with the
//! version they last read) and synced reads (sync, then getData) on a few znodes, recording
//! when each operation was invoked and when and how it returned. Meanwhile the leader is
//! killed with SIGKILL and restarted, then a follower, then the leader again. Every znode's
//! history is then checked with a Wing & Gong / Lowe linearizability checker
//! (`zkr::chaos::linearizability`, with its own unit tests, shared with `zkr chaos`) against a versioned register:
//! BadVersion is an answer; a write whose answer was lost (connection loss, session expiry,
//! timeout) may have taken effect at any point after its invocation, or not at all; a read
//! whose answer was lost tells nothing and is left out.
//!
//! sync + read is linearizable here because no leader survives unaware of its deposition:
//! killed processes are dead (ZOOKEEPER-1675/2136 concern a partitioned, still-running
//! leader, which this test does not create).
//!
//! Bounded: at most `CLIENTS * OPS_PER_CLIENT` operations and `WORKLOAD_LIMIT` of workload;
//! every wait has a deadline; nothing asserts timings. The seed is printed; replay with
//! `ZKR_LIN_SEED=<n> cargo test --test linearizability -- --nocapture`.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, EnsembleSpec};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use zkr::chaos::client::indeterminate;
use zkr::chaos::linearizability::{
    check, Operation, RegisterOp, RegisterRet, Verdict, VersionedRegister,
};
use zookeeper_client as zk;

/// Znodes under test.
const KEYS: usize = 3;
/// Concurrent clients: client i is pinned to server (i % 3) + 1; the last one uses all.
const CLIENTS: usize = 4;
/// Operations per client, at most (clients stop earlier, once the faults are over).
const OPS_PER_CLIENT: usize = 5000;
/// Longest the workload may run.
const WORKLOAD_LIMIT: Duration = Duration::from_secs(120);
/// One operation's deadline (then its outcome is unknown).
const OP_TIMEOUT: Duration = Duration::from_secs(8);
/// Search steps allowed per znode's history.
const CHECK_BUDGET: u64 = 50_000_000;

type Op = Operation<RegisterOp, RegisterRet>;

struct Recorder {
    start: Instant,
    ops: Mutex<Vec<(usize, Op)>>,
    unknown_reads: AtomicUsize,
    reconnects: AtomicUsize,
}

impl Recorder {
    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn push(&self, key: usize, op: Op) {
        self.ops.lock().expect("history").push((key, op));
    }
}

/// Errors after which this client object is useless.
fn terminal(e: &zk::Error) -> bool {
    matches!(
        e,
        zk::Error::SessionExpired
            | zk::Error::SessionMoved
            | zk::Error::ClientClosed
            | zk::Error::NoHosts
    )
}

async fn connect(hosts: &str) -> Option<zk::Client> {
    match tokio::time::timeout(
        Duration::from_secs(15),
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(20))
            .connect(hosts),
    )
    .await
    {
        Ok(Ok(c)) => Some(c),
        _ => None,
    }
}

fn decode(data: &[u8]) -> u64 {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected znode data {data:?}"))
}

async fn client(
    id: usize,
    hosts: String,
    seed: u64,
    rec: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
) {
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(id as u64));
    let mut versions = [0i32; KEYS];
    let mut session: Option<zk::Client> = None;
    let mut seq = 0u64;
    let mut n = 0;
    let deadline = Instant::now() + WORKLOAD_LIMIT;
    while n < OPS_PER_CLIENT && !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let c = match &session {
            Some(c) => c.clone(),
            None => match connect(&hosts).await {
                Some(c) => {
                    rec.reconnects.fetch_add(1, Ordering::Relaxed);
                    session = Some(c.clone());
                    c
                }
                None => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        // A little think time spreads the operations over the whole fault schedule.
        tokio::time::sleep(Duration::from_millis(rng.random_range(1..12))).await;
        let key = rng.random_range(0..KEYS);
        let path = format!("/lin/k{key}");
        n += 1;
        if rng.random_bool(0.5) {
            let call = rec.now();
            let r = tokio::time::timeout(OP_TIMEOUT, async {
                c.sync(&path).await?;
                c.get_data(&path).await
            })
            .await;
            match r {
                Ok(Ok((data, stat))) => {
                    let ret = rec.now();
                    versions[key] = stat.version;
                    rec.push(
                        key,
                        Operation {
                            client: id,
                            input: RegisterOp::Read,
                            call,
                            ret: Some((
                                ret,
                                RegisterRet::Read {
                                    value: decode(&data),
                                    version: stat.version,
                                },
                            )),
                        },
                    );
                }
                Ok(Err(e)) if indeterminate(&e) => {
                    rec.unknown_reads.fetch_add(1, Ordering::Relaxed);
                    if terminal(&e) {
                        session = None;
                    }
                }
                Ok(Err(e)) => panic!("client {id}: sync+getData {path}: {e}"),
                Err(_) => {
                    rec.unknown_reads.fetch_add(1, Ordering::Relaxed);
                    session = None;
                }
            }
        } else {
            seq += 1;
            let value = (id as u64 + 1) * 1_000_000 + seq;
            let expected = versions[key];
            let call = rec.now();
            let r = tokio::time::timeout(
                OP_TIMEOUT,
                c.set_data(&path, value.to_string().as_bytes(), Some(expected)),
            )
            .await;
            let ret = match r {
                Ok(Ok(stat)) => {
                    versions[key] = stat.version;
                    Some((
                        rec.now(),
                        RegisterRet::Written {
                            version: stat.version,
                        },
                    ))
                }
                Ok(Err(zk::Error::BadVersion)) => Some((rec.now(), RegisterRet::BadVersion)),
                Ok(Err(e)) if indeterminate(&e) => {
                    if terminal(&e) {
                        session = None;
                    }
                    None
                }
                Ok(Err(e)) => panic!("client {id}: setData {path}: {e}"),
                Err(_) => {
                    session = None;
                    None
                }
            };
            rec.push(
                key,
                Operation {
                    client: id,
                    input: RegisterOp::Cas { expected, value },
                    call,
                    ret,
                },
            );
        }
    }
    done.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn cas_writes_and_synced_reads_stay_linearizable_across_kills() {
    let seed: u64 = std::env::var("ZKR_LIN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_24);
    println!("seed {seed}");
    let mut ens = Ensemble::start(
        "lin",
        EnsembleSpec {
            tick_ms: 300,
            init_limit: 10,
            sync_limit: 5,
            node_extra: "max_session_timeout_ms = 60000\n".into(),
            ..Default::default()
        },
    );
    let ids = ens.ids();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let all = ens.connect_string(&ids);
    rt.block_on(async {
        let c = connect(&all).await.expect("setup session");
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        c.create("/lin", b"", &opts).await.expect("create /lin");
        for k in 0..KEYS {
            c.create(&format!("/lin/k{k}"), b"0", &opts)
                .await
                .expect("create key");
        }
    });

    let rec = Arc::new(Recorder {
        start: Instant::now(),
        ops: Mutex::new(Vec::new()),
        unknown_reads: AtomicUsize::new(0),
        reconnects: AtomicUsize::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let hosts = if i + 1 == CLIENTS {
            all.clone()
        } else {
            ens.addr(ids[i % ids.len()])
        };
        tasks.push(rt.spawn(client(
            i,
            hosts,
            seed,
            rec.clone(),
            stop.clone(),
            done.clone(),
        )));
    }

    // Faults, from this thread: kill -9 the leader, a follower, the leader again; each time
    // restart it and wait until the whole ensemble serves again.
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut faults = Vec::new();
    let settle = Duration::from_secs(60);
    std::thread::sleep(Duration::from_millis(1500));
    for round in 0..3 {
        let leader = ens.wait_leader(&ids, settle);
        let victim = if round == 1 {
            let followers: Vec<u8> = ids.iter().copied().filter(|i| *i != leader).collect();
            followers[rng.random_range(0..followers.len())]
        } else {
            leader
        };
        let what = if victim == leader {
            "leader"
        } else {
            "follower"
        };
        println!("round {round}: kill -9 {what} {victim}");
        ens.kill9(victim);
        std::thread::sleep(Duration::from_millis(rng.random_range(500..2000)));
        ens.spawn(victim);
        let new_leader = ens.wait_leader(&ids, settle);
        println!("round {round}: {victim} back, leader {new_leader}");
        faults.push((what, victim, new_leader));
        std::thread::sleep(Duration::from_millis(rng.random_range(1000..2500)));
    }
    // A last stretch without faults, then the clients stop (after their current operation).
    std::thread::sleep(Duration::from_secs(1));
    let clients_done_early = done.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .expect("client task ends")
                .expect("client task did not panic");
        }
    });
    rt.shutdown_timeout(Duration::from_secs(5));

    let ops = std::mem::take(&mut *rec.ops.lock().expect("history"));
    let mut by_key: Vec<Vec<Op>> = vec![Vec::new(); KEYS];
    for (k, op) in ops {
        by_key[k].push(op);
    }
    let count = |f: &dyn Fn(&Op) -> bool| by_key.iter().flatten().filter(|o| f(o)).count();
    let reads = count(&|o| o.input == RegisterOp::Read);
    let written = count(&|o| matches!(o.ret, Some((_, RegisterRet::Written { .. }))));
    let bad_version = count(&|o| matches!(o.ret, Some((_, RegisterRet::BadVersion))));
    let unknown = count(&|o| o.ret.is_none());
    let total: usize = by_key.iter().map(Vec::len).sum();
    println!(
        "faults: {faults:?}\nchecked {total} operations on {KEYS} znodes: {reads} synced reads, \
         {written} writes ok, {bad_version} BadVersion, {unknown} writes with unknown outcome \
         ({} reads lost, not checked; {} sessions opened)",
        rec.unknown_reads.load(Ordering::Relaxed),
        rec.reconnects.load(Ordering::Relaxed)
    );
    assert_eq!(faults.len(), 3, "every fault was injected");
    assert_eq!(
        clients_done_early, 0,
        "clients ran out of operations before the faults were over"
    );
    assert!(reads > 50 && written > 20, "too little happened to check");
    let model = VersionedRegister::default();
    for (k, h) in by_key.iter().enumerate() {
        let t = Instant::now();
        let v = check(&model, h, CHECK_BUDGET);
        println!(
            "/lin/k{k}: {} operations, {:?} ({:?})",
            h.len(),
            v,
            t.elapsed()
        );
        if let Verdict::Violation { stuck, .. } = v {
            let op = &h[stuck];
            // Operations overlapping the stuck one's interval, widened by 100 ms.
            let lo = op.call.saturating_sub(100_000);
            let hi = op.ret.as_ref().map_or(op.call, |r| r.0) + 100_000;
            let mut near: Vec<&Op> = h
                .iter()
                .filter(|o| o.call <= hi && o.ret.as_ref().map_or(o.call, |r| r.0) >= lo)
                .collect();
            near.sort_by_key(|o| o.call);
            panic!(
                "/lin/k{k} is not linearizable (seed {seed}): stuck at {op:?}\nnearby:\n{}",
                near.iter()
                    .map(|o| format!("  {o:?}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        assert_eq!(v, Verdict::Ok, "/lin/k{k}: undecided within the budget");
    }
    drop(ens);
}
