//! Overload: what one misbehaving or very busy client population does to a node, and what the
//! others see meanwhile (issue 13). Four loads, each with a well-behaved second client that
//! alternates a getData and a ping every 20 ms on a session of 10 s:
//!
//! * (a) 10,000 idle sessions (each pinging every timeout/3), from 200 loopback addresses;
//! * (b) one client pipelining 100,000 setData of 1 KB without reading a reply;
//! * (c) 16 clients writing 1 MB values as fast as the server takes them (4 in flight each);
//! * (d) a watch storm: 10,000 sessions watching one node (re-registering after each event),
//!   100 changes a second.
//!
//! Asserted for each: the second client's p99 for reads and for pings stays under its session
//! timeout / 3, no session other than a misbehaving client's expires, the server's peak RSS
//! stays under the bound stated in each test, and the server serves normally afterwards. The
//! figures are printed (`--nocapture`) and appended to `$ZKR_OVERLOAD_REPORT` if set.
//!
//! A release build runs the four loads at the sizes above, holding each for
//! `ZKR_OVERLOAD_HOLD_SECS` (5): CI's overload step (`cargo test --release --test overload load_`);
//! a debug build runs them at 5 %, and `scripts/test.sh --quick` at 25 %
//! (`ZKR_OVERLOAD_SCALE=0.25`). To measure another server with the same loads (e.g. Apache
//! ZooKeeper 3.8, as benches/overload_apache.py does), set `ZKR_OVERLOAD_SERVER=host:port` and `ZKR_OVERLOAD_PID=<its pid>`: the figures are
//! reported, nothing is asserted.
//!
//! Deterministic checks of each limit (maxCnxns, a slow reader disconnected, the
//! globalOutstandingLimit pause) are at the end.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::load::{self, Observed, RssSampler};
use common::ZkrNode;

/// Session timeout of every well-behaved client (kazoo's default).
const SESSION_MS: i32 = 10_000;
/// The bound on the second client's p99.
const P99_BOUND: Duration = Duration::from_millis(SESSION_MS as u64 / 3);
const MB: u64 = 1 << 20;

/// The server under test.
enum Target {
    Zkr(ZkrNode),
    External { addr: SocketAddr, pid: u32 },
}

impl Target {
    fn start(extra_toml: &str) -> Target {
        if let Ok(addr) = std::env::var("ZKR_OVERLOAD_SERVER") {
            let pid = std::env::var("ZKR_OVERLOAD_PID")
                .expect("ZKR_OVERLOAD_PID with ZKR_OVERLOAD_SERVER")
                .parse()
                .expect("a pid");
            return Target::External {
                addr: addr.parse().expect("host:port"),
                pid,
            };
        }
        Target::Zkr(ZkrNode::start(extra_toml))
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Target::Zkr(n) => n.addr().parse().unwrap(),
            Target::External { addr, .. } => *addr,
        }
    }

    fn pid(&self) -> u32 {
        match self {
            Target::Zkr(n) => n.child.as_ref().expect("running").id(),
            Target::External { pid, .. } => *pid,
        }
    }

    fn is_zkr(&self) -> bool {
        matches!(self, Target::Zkr(_))
    }
}

/// `ZKR_OVERLOAD_SCALE` × `n`, at least 1. The default scale is 1 for an optimised build and
/// 0.05 for a debug one (`cargo test` runs the loads small; `scripts/test.sh --quick` sets 0.25).
fn scaled(n: usize) -> usize {
    let scale: f64 = std::env::var("ZKR_OVERLOAD_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 0.05 } else { 1.0 });
    ((n as f64 * scale) as usize).max(1)
}

/// The node's log once it holds every one of `needles` (or after 30 s): its lines are written
/// by its log-output thread, a moment after what they report.
fn log_with(node: &ZkrNode, needles: &[&str]) -> String {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let log = node.log();
        if needles.iter().all(|n| log.contains(n)) || Instant::now() > end {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A path no earlier run on the same server used.
fn fresh(name: &str) -> String {
    format!("/overload-{name}-{}", rand::random::<u32>())
}

/// The figures of one run, printed and checked.
struct Run {
    test: &'static str,
    load: String,
    read_p99: Duration,
    ping_p99: Duration,
    samples: usize,
    rss_before: u64,
    rss_peak: u64,
    expired: usize,
    secs: f64,
}

impl Run {
    fn report(&self, target: &Target) {
        let line = format!(
            "| {} | {} | {} | read {:.1} ms, ping {:.1} ms ({} samples) | {} MB (idle {} MB) | {} | {:.1} s |",
            if target.is_zkr() { "zkr" } else { "external" },
            self.test,
            self.load,
            self.read_p99.as_secs_f64() * 1e3,
            self.ping_p99.as_secs_f64() * 1e3,
            self.samples,
            self.rss_peak / MB,
            self.rss_before / MB,
            self.expired,
            self.secs
        );
        println!("{line}");
        if let Ok(path) = std::env::var("ZKR_OVERLOAD_REPORT") {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
    }

    /// The bounds (zkr only; another server's figures are reported, not judged).
    fn check(&self, target: &Target, rss_bound_mb: u64) {
        self.report(target);
        if !target.is_zkr() {
            return;
        }
        assert!(self.samples >= 10, "{}: too few samples", self.test);
        assert!(
            self.read_p99 < P99_BOUND && self.ping_p99 < P99_BOUND,
            "{}: p99 read {:?} ping {:?} over {P99_BOUND:?}",
            self.test,
            self.read_p99,
            self.ping_p99
        );
        assert_eq!(self.expired, 0, "{}: sessions expired", self.test);
        assert!(
            self.rss_peak < rss_bound_mb * MB,
            "{}: peak RSS {} MB over {rss_bound_mb} MB",
            self.test,
            self.rss_peak / MB
        );
    }
}

/// Runs `load` against `target` with the second client observing; returns the figures.
async fn measured<F, Fut>(target: &Target, test: &'static str, load: F) -> Run
where
    F: FnOnce(SocketAddr, Arc<AtomicUsize>) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let addr = target.addr();
    let observed_path = fresh("observed");
    {
        let (mut r, mut w, _) = load::session_retrying(addr, SESSION_MS).await;
        assert_eq!(
            load::call(&mut r, &mut w, &load::create(&observed_path, b"x")).await,
            Some(0)
        );
    }
    let rss_before = load::rss(target.pid());
    let sampler = RssSampler::start(target.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Observed::default());
    let observer = tokio::spawn(load::observe(
        addr,
        SESSION_MS,
        observed_path.clone(),
        Duration::from_millis(20),
        stop.clone(),
        seen.clone(),
    ));
    let expired = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let what = load(addr, expired.clone()).await;
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(30), observer).await;
    let rss_peak = sampler.peak().max(load::rss(target.pid()));
    drop(sampler);
    let lost = seen.lost.load(Ordering::Relaxed) as usize;
    let (n_reads, read_p99, _) = seen.reads.summary();
    let (n_pings, ping_p99, _) = seen.pings.summary();
    serves_normally(addr).await;
    Run {
        test,
        load: what,
        read_p99,
        ping_p99,
        samples: n_reads + n_pings,
        rss_before,
        rss_peak,
        expired: expired.load(Ordering::Relaxed) + lost,
        secs,
    }
}

/// After the load: a fresh session creates, reads and deletes a node.
async fn serves_normally(addr: SocketAddr) {
    let check = async {
        let (mut r, mut w, _) = load::session_retrying(addr, SESSION_MS).await;
        let p = fresh("after");
        assert_eq!(
            load::call(&mut r, &mut w, &load::create(&p, b"ok")).await,
            Some(0)
        );
        assert_eq!(
            load::call(&mut r, &mut w, &load::get_data(&p, false)).await,
            Some(0)
        );
        let del = zkr_actors::proto::Request::Delete(zkr_actors::proto::records::DeleteRequest {
            path: p,
            version: -1,
        });
        assert_eq!(load::call(&mut r, &mut w, &del).await, Some(0));
    };
    tokio::time::timeout(Duration::from_secs(60), check)
        .await
        .expect("the server does not serve normally after the load");
}

/// A session that pings every timeout/3 until `stop`; counts itself in `expired` if the server
/// drops it. `on_frame` sees every other frame (the watch storm's watchers re-register there).
async fn keep_alive(
    mut r: load::Reader,
    mut w: load::Writer,
    stop: Arc<AtomicBool>,
    expired: Arc<AtomicUsize>,
) {
    let every = Duration::from_millis(SESSION_MS as u64 / 3);
    // Spread the pings over the interval.
    tokio::time::sleep(every.mul_f64(rand::random::<f64>())).await;
    while !stop.load(Ordering::Relaxed) {
        if w.ping().await.is_err() {
            expired.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let answered = tokio::time::timeout(every, async {
            loop {
                match r.next().await {
                    Some(f) if f.xid == load::PING => return f.err == 0,
                    Some(_) => continue,
                    None => return false,
                }
            }
        })
        .await;
        if !matches!(answered, Ok(true)) {
            expired.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let until = Instant::now() + every;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Opens `n` sessions from many source addresses, at most 256 handshakes at a time, and hands
/// each to `run` in its own task as soon as it is open. Returns the tasks.
async fn open_sessions<F, Fut>(
    addr: SocketAddr,
    n: usize,
    run: F,
) -> Vec<tokio::task::JoinHandle<()>>
where
    F: Fn(load::Reader, load::Writer) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    let run = Arc::new(run);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                if let Ok((r, w, _)) =
                    load::session(addr, Some(load::source_ip(i)), SESSION_MS, None).await
                {
                    drop(permit);
                    return run(r, w).await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("session {i} could not be opened");
        }));
    }
    // Every handshake done when all the permits are back.
    let _all = gate.acquire_many(256).await.unwrap();
    println!(
        "{n} sessions opened in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    tasks
}

fn hold() -> Duration {
    Duration::from_secs(
        std::env::var("ZKR_OVERLOAD_HOLD_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn load_a_10000_idle_sessions() {
    let nofile = load::raise_nofile();
    let n = scaled(10_000).min(nofile.saturating_sub(500) as usize);
    let target = Target::start("");
    let run = runtime().block_on(measured(
        &target,
        "(a) idle sessions",
        |addr, expired| async move {
            let stop = Arc::new(AtomicBool::new(false));
            let tasks = {
                let (stop, expired) = (stop.clone(), expired.clone());
                open_sessions(addr, n, move |r, w| {
                    keep_alive(r, w, stop.clone(), expired.clone())
                })
                .await
            };
            tokio::time::sleep(hold()).await;
            stop.store(true, Ordering::Relaxed);
            for t in tasks {
                let _ = t.await;
            }
            format!("{n} sessions open, pinging")
        },
    ));
    // Bound: 10,000 sessions with their connections (zkr ~8 KB each, measured ~60 MB over idle).
    run.check(&target, 256);
}

#[test]
fn load_b_a_client_pipelines_100000_writes_without_reading() {
    let n = scaled(100_000);
    let target = Target::start("");
    let run = runtime().block_on(measured(
        &target,
        "(b) pipelined writes, unread",
        |addr, _| async move {
            let path = fresh("pipelined");
            let (mut r, mut w, _) = load::session_retrying(addr, SESSION_MS).await;
            assert_eq!(
                load::call(&mut r, &mut w, &load::create(&path, b"")).await,
                Some(0)
            );
            let value = Bytes::from(vec![b'p'; 1024]);
            // Write everything, never read: the server must bound what it holds.
            let mut sent = 0usize;
            let mut chunk = BytesMut::new();
            let mut closed = false;
            while sent < n {
                chunk.clear();
                for _ in 0..1000.min(n - sent) {
                    w.encode(&load::set_data(&path, value.clone()), &mut chunk);
                }
                match tokio::time::timeout(Duration::from_secs(120), w.write_raw(&chunk)).await {
                    Ok(Ok(())) => sent += 1000.min(n - sent),
                    Ok(Err(_)) => {
                        closed = true;
                        break;
                    }
                    Err(_) => panic!("the server stopped reading for 120 s"),
                }
            }
            // Wait (bounded) until the server applied what it took: the node's version stops growing.
            let (mut r2, mut w2, _) = load::session_retrying(addr, SESSION_MS).await;
            let end = Instant::now() + Duration::from_secs(180);
            let mut last = -1;
            loop {
                let xid = w2.send(&load::get_data(&path, false)).await.unwrap();
                let f = loop {
                    let f = r2.next().await.expect("second session lost");
                    if f.xid == xid {
                        break f;
                    }
                };
                // Stat follows the data: version is the 5th field (after czxid, mzxid, ctime, mtime).
                let data_len = i32::from_be_bytes(f.body[..4].try_into().unwrap()).max(0) as usize;
                let stat = &f.body[4 + data_len..];
                let version = i32::from_be_bytes(stat[32..36].try_into().unwrap());
                if version as usize >= sent || (version == last && closed) {
                    break;
                }
                assert!(
                    Instant::now() < end,
                    "writes still being applied after 180 s ({version}/{sent})"
                );
                last = version;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            drop((r, w));
            format!(
                "{sent} setData of 1 KB pipelined{}",
                if closed { " (then disconnected)" } else { "" }
            )
        },
    ));
    // Bound: requests in flight are bounded by globalOutstandingLimit, replies by
    // max_queued_reply_bytes (16 MiB); the log's preallocated segment is file-backed.
    run.check(&target, 256);
}

#[test]
fn load_c_16_clients_write_1_mb_values_at_full_speed() {
    // Each client writes for the hold time, at least `min` and at most `max` values (the log
    // takes up to 16 × max MB on disk).
    let (min, max) = (scaled(4), 32);
    let target = Target::start("");
    let run = runtime().block_on(measured(
        &target,
        "(c) 1 MB values, 16 clients",
        |addr, expired| async move {
            let base = fresh("big");
            {
                let (mut r, mut w, _) = load::session_retrying(addr, SESSION_MS).await;
                assert_eq!(
                    load::call(&mut r, &mut w, &load::create(&base, b"")).await,
                    Some(0)
                );
            }
            let value = Bytes::from(vec![b'm'; 1_000_000]);
            let written = Arc::new(AtomicU64::new(0));
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    let (value, base, written, expired) = (
                        value.clone(),
                        base.clone(),
                        written.clone(),
                        expired.clone(),
                    );
                    tokio::spawn(async move {
                        let (mut r, mut w, _) = load::session_retrying(addr, SESSION_MS).await;
                        let path = format!("{base}/{i}");
                        assert_eq!(
                            load::call(&mut r, &mut w, &load::create(&path, b"")).await,
                            Some(0)
                        );
                        let until = Instant::now() + hold();
                        let (mut sent, mut done) = (0, 0);
                        while done < sent || (done < max && (done < min || Instant::now() < until))
                        {
                            while sent < max
                                && sent - done < 4
                                && (sent < min || Instant::now() < until)
                            {
                                if w.send(&load::set_data(&path, value.clone())).await.is_err() {
                                    expired.fetch_add(1, Ordering::Relaxed);
                                    return;
                                }
                                sent += 1;
                            }
                            match tokio::time::timeout(
                                Duration::from_secs(SESSION_MS as u64 / 1000),
                                r.next(),
                            )
                            .await
                            {
                                Ok(Some(f)) if f.xid > 0 => {
                                    assert_eq!(f.err, 0, "setData failed");
                                    done += 1;
                                    written.fetch_add(1, Ordering::Relaxed);
                                }
                                Ok(Some(_)) => {}
                                _ => {
                                    expired.fetch_add(1, Ordering::Relaxed);
                                    return;
                                }
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            format!(
                "{} setData of 1 MB from 16 clients, 4 in flight each",
                written.load(Ordering::Relaxed)
            )
        },
    ));
    // Bound: 64 MiB of requests in flight (global_outstanding_bytes), 16 MB of tree, the
    // proposals' copies in the pipeline, the log's write buffers.
    run.check(&target, 512);
}

#[test]
fn load_d_a_watch_storm_10000_watchers_100_changes_a_second() {
    let nofile = load::raise_nofile();
    let n = scaled(10_000).min(nofile.saturating_sub(500) as usize);
    let target = Target::start("");
    let run = runtime().block_on(measured(
        &target,
        "(d) watch storm",
        |addr, expired| async move {
            let path = fresh("storm");
            let (mut r, mut w, _) = load::session_retrying(addr, SESSION_MS).await;
            assert_eq!(
                load::call(&mut r, &mut w, &load::create(&path, b"0")).await,
                Some(0)
            );
            let stop = Arc::new(AtomicBool::new(false));
            let events = Arc::new(AtomicU64::new(0));
            let watcher = {
                let (path, stop, expired, events) =
                    (path.clone(), stop.clone(), expired.clone(), events.clone());
                move |mut r: load::Reader, mut w: load::Writer| {
                    let (path, stop, expired, events) =
                        (path.clone(), stop.clone(), expired.clone(), events.clone());
                    async move {
                        // Watch, and watch again after every event (a cache recipe); ping when idle.
                        if w.send(&load::get_data(&path, true)).await.is_err() {
                            expired.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        let every = Duration::from_millis(SESSION_MS as u64 / 3);
                        let mut last_ping = Instant::now();
                        let mut ping_out: Option<Instant> = None;
                        while !stop.load(Ordering::Relaxed) {
                            if ping_out.is_none() && last_ping.elapsed() > every {
                                if w.ping().await.is_err() {
                                    expired.fetch_add(1, Ordering::Relaxed);
                                    return;
                                }
                                ping_out = Some(Instant::now());
                            }
                            match tokio::time::timeout(Duration::from_millis(200), r.next()).await {
                                Err(_) => {}
                                Ok(None) => {
                                    expired.fetch_add(1, Ordering::Relaxed);
                                    return;
                                }
                                Ok(Some(f)) if f.xid == load::NOTIFICATION => {
                                    events.fetch_add(1, Ordering::Relaxed);
                                    if w.send(&load::get_data(&path, true)).await.is_err() {
                                        expired.fetch_add(1, Ordering::Relaxed);
                                        return;
                                    }
                                }
                                Ok(Some(f)) if f.xid == load::PING => {
                                    ping_out = None;
                                    last_ping = Instant::now();
                                }
                                Ok(Some(f)) if f.err == load::SESSION_EXPIRED => {
                                    expired.fetch_add(1, Ordering::Relaxed);
                                    return;
                                }
                                Ok(Some(_)) => {}
                            }
                            if ping_out.is_some_and(|t| t.elapsed() > every) {
                                expired.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                        }
                    }
                }
            };
            let tasks = open_sessions(addr, n, watcher).await;
            // 100 changes a second for the hold time.
            let changes = (hold().as_secs() * 100) as usize;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut pending = 0usize;
            let mut done = 0usize;
            for i in 0..changes {
                tick.tick().await;
                w.send(&load::set_data(&path, Bytes::from(i.to_string())))
                    .await
                    .unwrap();
                pending += 1;
                // Collect the replies that arrived, without waiting.
                while let Ok(Some(f)) =
                    tokio::time::timeout(Duration::from_millis(0), r.next()).await
                {
                    if f.xid > 0 {
                        pending -= 1;
                        done += 1;
                    }
                }
            }
            while pending > 0 {
                let f = tokio::time::timeout(Duration::from_secs(60), r.next())
                    .await
                    .expect("writes of the storm not answered in 60 s")
                    .expect("the writer's session was lost");
                if f.xid > 0 {
                    pending -= 1;
                    done += 1;
                }
            }
            stop.store(true, Ordering::Relaxed);
            for t in tasks {
                let _ = t.await;
            }
            format!(
                "{n} watchers, {done} changes at 100/s, {} events delivered",
                events.load(Ordering::Relaxed)
            )
        },
    ));
    // Bound: 10,000 sessions and their watches, events queued per connection bounded by
    // max_queued_reply_bytes.
    run.check(&target, 320);
}

// ---- each limit, deterministically ----------------------------------------------------------

/// A connection from `ip` that got a session (true) or was closed at once (false).
fn try_session(addr: &str, ip: [u8; 4]) -> Option<TcpStream> {
    let mut s = socket2_connect(addr, ip)?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&common::raw::connect_frame()).ok()?;
    common::read_frame(&mut s, 1 << 20).ok().map(|_| s)
}

/// A blocking connection to `addr` from the loopback address `ip`.
fn socket2_connect(addr: &str, ip: [u8; 4]) -> Option<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr: SocketAddr = addr.parse().unwrap();
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().ok()?;
        socket.bind(SocketAddr::from((ip, 0))).ok()?;
        let s = socket.connect(addr).await.ok()?;
        s.into_std().ok()
    })
    .inspect(|s| s.set_nonblocking(false).unwrap())
}

/// Waits (bounded) until a session from `ip` is admitted.
fn session_within(addr: &str, ip: [u8; 4]) -> TcpStream {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = try_session(addr, ip) {
            return s;
        }
        assert!(Instant::now() < end, "no session from {ip:?} within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn max_client_cnxns_and_max_cnxns_refuse_connections_over_the_limits() {
    // ruok probes count too while they last: wait_serving is done before the sessions.
    let node = ZkrNode::start("max_client_connections = 2\nmax_connections = 4\n");
    let addr = node.addr();
    let a = [127, 0, 0, 1];
    let b = [127, 0, 0, 2];
    let c = [127, 0, 0, 3];
    let a1 = session_within(&addr, a);
    let _a2 = session_within(&addr, a);
    // A third from the same address: closed without a ConnectResponse (maxClientCnxns).
    assert!(
        try_session(&addr, a).is_none(),
        "a third connection from {a:?} was served"
    );
    let _b1 = session_within(&addr, b);
    let _b2 = session_within(&addr, b);
    // Four open: a fifth from a new address is refused too (maxCnxns).
    assert!(
        try_session(&addr, c).is_none(),
        "a fifth connection was served"
    );
    // One closes: there is room again.
    drop(a1);
    let _c1 = session_within(&addr, c);
    let log = log_with(&node, &["maxClientCnxns", "maxCnxns"]);
    assert!(
        log.contains("maxClientCnxns") && log.contains("maxCnxns"),
        "{log}"
    );
}

#[test]
fn a_client_that_does_not_read_its_replies_is_disconnected() {
    let node = ZkrNode::start("max_queued_reply_bytes = 65536\n");
    let addr: SocketAddr = node.addr().parse().unwrap();
    let pid = node.child.as_ref().unwrap().id();
    let before = load::rss(pid);
    let rt = runtime();
    rt.block_on(async {
        let path = fresh("unread");
        let (mut r, mut w, _) = load::session_retrying(addr, SESSION_MS).await;
        let value = vec![b'r'; 100_000];
        assert_eq!(
            load::call(&mut r, &mut w, &load::create(&path, &value)).await,
            Some(0)
        );
        let other = load::session_retrying(addr, SESSION_MS).await;
        // 2,000 reads of 100 KB (200 MB of replies), never read, on a small receive buffer.
        let (mut rr, mut ww, _) = load::session(addr, None, SESSION_MS, Some(4096))
            .await
            .unwrap();
        let mut chunk = BytesMut::new();
        for _ in 0..2000 {
            ww.encode(&load::get_data(&path, false), &mut chunk);
        }
        let _ = tokio::time::timeout(Duration::from_secs(60), ww.write_raw(&chunk)).await;
        // Whatever was in flight drains, then the connection ends.
        let end = tokio::time::timeout(Duration::from_secs(60), async {
            while rr.next().await.is_some() {}
        })
        .await;
        assert!(end.is_ok(), "the server kept a client that does not read");
        // Another session on the same server is unaffected.
        let (mut or, mut ow, _) = other;
        assert_eq!(
            load::call(&mut or, &mut ow, &load::get_data(&path, false)).await,
            Some(0)
        );
    });
    let log = log_with(&node, &["does not read its replies"]);
    assert!(log.contains("does not read its replies"), "{log}");
    let peak = load::rss(pid);
    assert!(
        peak < before + 64 * MB,
        "RSS grew from {} to {} MB",
        before / MB,
        peak / MB
    );
}

#[test]
fn global_outstanding_limit_pauses_a_busy_connection_and_others_are_still_served() {
    let node = ZkrNode::start("global_outstanding_limit = 10\n");
    let addr: SocketAddr = node.addr().parse().unwrap();
    runtime().block_on(async {
        let path = fresh("limited");
        let (mut r, mut w, _) = load::session_retrying(addr, SESSION_MS).await;
        assert_eq!(
            load::call(&mut r, &mut w, &load::create(&path, b"")).await,
            Some(0)
        );
        let (mut pr, mut pw, _) = load::session_retrying(addr, SESSION_MS).await;
        // 2,000 writes pipelined in one go; the replies are read as they come.
        let n = 2_000;
        let mut chunk = BytesMut::new();
        for _ in 0..n {
            w.encode(&load::set_data(&path, Bytes::from_static(b"v")), &mut chunk);
        }
        let writer = tokio::spawn(async move {
            w.write_raw(&chunk).await.unwrap();
            w
        });
        let pings = tokio::spawn(async move {
            for _ in 0..20 {
                pw.ping().await.unwrap();
                loop {
                    let f = pr.next().await.expect("the other session was dropped");
                    if f.xid == load::PING {
                        assert_eq!(f.err, 0);
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        // The create took xid 1.
        let mut expect = 2;
        while expect <= n + 1 {
            let f = tokio::time::timeout(Duration::from_secs(60), r.next())
                .await
                .expect("replies stopped")
                .expect("connection lost");
            assert_eq!((f.xid, f.err), (expect, 0), "replies in order, all ok");
            expect += 1;
        }
        writer.await.unwrap();
        tokio::time::timeout(Duration::from_secs(60), pings)
            .await
            .expect("pings of another session not answered")
            .unwrap();
    });
    let log = log_with(
        &node,
        &["too many requests in flight (globalOutstandingLimit)"],
    );
    assert!(
        log.contains("too many requests in flight (globalOutstandingLimit)"),
        "{log}"
    );
}

#[test]
fn a_follower_that_does_not_keep_up_is_dropped_and_syncs_again_while_the_leader_goes_on() {
    use common::ensemble::{zxid_of, Ensemble, EnsembleSpec};
    // A long syncLimit, so that the queue bound (1 MiB), not the ACK timeout, drops the follower.
    let e = Ensemble::start(
        "slow-follower",
        EnsembleSpec {
            proxied: true,
            sync_limit: 80,
            ensemble_extra: "peer_queue_bytes = 1048576\n".into(),
            ..EnsembleSpec::default()
        },
    );
    let leader = e.wait_leader(&e.ids(), Duration::from_secs(60));
    let slow = e.ids().into_iter().find(|id| *id != leader).unwrap();
    let from = e.log_len(leader);
    // The leader's link to `slow` stops moving (nothing read, nothing closed).
    e.proxies[&(leader, slow)].stall();
    let addr: SocketAddr = e.addr(leader).parse().unwrap();
    runtime().block_on(async {
        let path = fresh("slow-follower");
        let (mut r, mut w, _) = load::session_retrying(addr, SESSION_MS).await;
        assert_eq!(
            load::call(&mut r, &mut w, &load::create(&path, b"")).await,
            Some(0)
        );
        // 48 MB of writes, far past the queue bound and the socket buffers: each is
        // acknowledged (the leader and the other follower are a quorum), none waits for `slow`.
        let value = Bytes::from(vec![b's'; 500_000]);
        let writes = async {
            for _ in 0..96 {
                assert_eq!(
                    load::call(&mut r, &mut w, &load::set_data(&path, value.clone())).await,
                    Some(0)
                );
            }
        };
        tokio::time::timeout(Duration::from_secs(120), writes)
            .await
            .expect("the leader blocked on a slow follower");
    });
    let end = Instant::now() + Duration::from_secs(30);
    while !e.log_since(leader, from).contains("peer does not keep up") {
        assert!(
            Instant::now() < end,
            "no queue overflow:\n{}",
            e.log_since(leader, from)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Healed, the follower syncs again and catches up.
    e.proxies[&(leader, slow)].heal();
    let want = zxid_of(e.member(leader).client_port);
    let end = Instant::now() + Duration::from_secs(60);
    while zxid_of(e.member(slow).client_port) != want {
        assert!(Instant::now() < end, "member {slow} did not catch up");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(e.wait_leader(&e.ids(), Duration::from_secs(60)), leader);
}
