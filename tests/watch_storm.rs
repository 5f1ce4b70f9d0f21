//! A watch storm keeps ZooKeeper's ordering: 2,000 sessions watch one znode, one setData fires
//! them all, and every watcher, reading the node right after the change was acknowledged, sees
//! the event before the read's reply (which shows the new data); each gets exactly one event.
//! The server sends a storm's first notifications at once and the rest in slices
//! (`actors/src/store/fanout.rs`), so most of these reads arrive while their connection's
//! notification is still held back: it must leave first all the same. Run with the
//! connections on the node's event loop and on connection threads of their own.
//!
//! Raw frames over real sockets (`tests/common/load.rs`); every wait is bounded.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::load::{self, Frame};
use common::ZkrNode;
use tokio::sync::{watch, Semaphore};

/// Watching sessions (fewer if the open-file limit is lower).
const WATCHERS: usize = 2_000;
/// Upper bound of every wait.
const WAIT: Duration = Duration::from_secs(120);
/// Long enough that no session expires on a slow machine.
const SESSION_MS: i32 = 40_000;
/// NodeDataChanged.
const NODE_DATA_CHANGED: i32 = 3;

/// Where the test is: watchers wait for the next phase.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Phase {
    Registering,
    Changed,
    ChangedAgain,
}

/// What the watchers share with the test.
struct Shared {
    path: String,
    phase: watch::Receiver<Phase>,
    /// A permit per watcher when it is registered, then again when it read the change, then
    /// when it checked that no second event came; closed when one fails (the test stops).
    progress: Semaphore,
    failures: Mutex<Vec<String>>,
}

impl Shared {
    fn fail(&self, i: usize, what: String) {
        self.failures
            .lock()
            .expect("failures")
            .push(format!("watcher {i}: {what}"));
        self.progress.close();
    }

    async fn wait_for(&self, phase: Phase) -> bool {
        let mut rx = self.phase.clone();
        tokio::time::timeout(WAIT, rx.wait_for(|p| *p >= phase))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until all `n` watchers reported a step done, or fails with what went wrong.
    async fn all_done(&self, n: usize, step: &str) {
        let got = tokio::time::timeout(WAIT, self.progress.acquire_many(n as u32)).await;
        let failures = self.failures.lock().expect("failures").clone();
        assert!(
            failures.is_empty(),
            "{step}: {} watchers failed (the test stops at the first), the first: {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        got.expect("bounded wait")
            .expect("closed only on a failure")
            .forget();
    }
}

/// The data of a getData reply's body.
fn data_of(reply: &Frame) -> Option<&[u8]> {
    let len = i32::from_be_bytes(reply.body.get(..4)?.try_into().ok()?);
    reply.body.get(4..4 + usize::try_from(len).ok()?)
}

/// The type and path of a notification's body (WatcherEvent: type, state, path).
fn event_of(n: &Frame) -> Option<(i32, String)> {
    let b = &n.body;
    let kind = i32::from_be_bytes(b.get(..4)?.try_into().ok()?);
    let len = usize::try_from(i32::from_be_bytes(b.get(8..12)?.try_into().ok()?)).ok()?;
    let path = String::from_utf8(b.get(12..12 + len)?.to_vec()).ok()?;
    Some((kind, path))
}

/// Frames until the one with `xid` (returned last), within [`WAIT`].
async fn frames_until(r: &mut load::Reader, xid: i32) -> Result<Vec<Frame>, String> {
    let mut frames = Vec::new();
    loop {
        let f = tokio::time::timeout(WAIT, r.next())
            .await
            .map_err(|_| format!("no reply to xid {xid} in {WAIT:?}"))?
            .ok_or("connection closed")?;
        let last = f.xid == xid;
        frames.push(f);
        if last {
            return Ok(frames);
        }
    }
}

/// One watcher: registers, reads the node once it changed (the event must come first), then
/// checks that the second change fired nothing (its watch was used up).
async fn watcher(
    (mut r, mut w): (load::Reader, load::Writer),
    shared: Arc<Shared>,
) -> Result<(), String> {
    let path = &shared.path;
    let xid = w
        .send(&load::get_data(path, true))
        .await
        .map_err(|e| e.to_string())?;
    let registered = frames_until(&mut r, xid).await?;
    if registered.len() != 1 || data_of(&registered[0]) != Some(&b"before"[..]) {
        return Err(format!("registering read: {registered:?}"));
    }
    shared.progress.add_permits(1);

    if !shared.wait_for(Phase::Changed).await {
        return Err("the change never came".into());
    }
    let xid = w
        .send(&load::get_data(path, false))
        .await
        .map_err(|e| e.to_string())?;
    let frames = frames_until(&mut r, xid).await?;
    let (reply, before) = frames.split_last().expect("the reply is last");
    if data_of(reply) != Some(&b"after"[..]) {
        return Err(format!("the read after the change got {reply:?}"));
    }
    let events: Vec<_> = before
        .iter()
        .filter(|f| f.xid == load::NOTIFICATION)
        .map(event_of)
        .collect();
    if events != [Some((NODE_DATA_CHANGED, path.clone()))] {
        return Err(format!(
            "before the reply that shows the change: {before:?} (one NodeDataChanged expected)"
        ));
    }
    shared.progress.add_permits(1);

    if !shared.wait_for(Phase::ChangedAgain).await {
        return Err("the second change never came".into());
    }
    // Anything the server queued for this session before the ping's reply leaves before it.
    w.ping().await.map_err(|e| e.to_string())?;
    let frames = frames_until(&mut r, load::PING).await?;
    if frames.len() != 1 {
        return Err(format!("a used-up watch fired again: {frames:?}"));
    }
    shared.progress.add_permits(1);
    Ok(())
}

/// Opens a session on `addr`, retrying for up to 5 s (a full listen backlog refuses some).
async fn open(addr: SocketAddr) -> Result<(load::Reader, load::Writer), String> {
    for _ in 0..50 {
        if let Ok((r, w, _)) = load::session(addr, None, SESSION_MS, None).await {
            return Ok((r, w));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("no session".into())
}

/// The storm, with `watchers` sessions, on the node at `addr`.
async fn storm(addr: SocketAddr, watchers: usize) {
    let path = format!("/storm-{}", rand::random::<u32>());
    let (mut r, mut w, _) = load::session_retrying(addr, SESSION_MS).await;
    assert_eq!(
        load::call(&mut r, &mut w, &load::create(&path, b"before")).await,
        Some(0)
    );
    let (phase, phase_rx) = watch::channel(Phase::Registering);
    let shared = Arc::new(Shared {
        path: path.clone(),
        phase: phase_rx,
        progress: Semaphore::new(0),
        failures: Mutex::new(Vec::new()),
    });
    // At most 128 handshakes at a time (the listen backlog).
    let opening = Arc::new(Semaphore::new(128));
    let mut tasks = Vec::with_capacity(watchers);
    for i in 0..watchers {
        let (shared, opening) = (shared.clone(), opening.clone());
        tasks.push(tokio::spawn(async move {
            let session = {
                let _one_of_128 = opening.acquire_owned().await.expect("open");
                open(addr).await
            };
            let result = match session {
                Ok(session) => watcher(session, shared.clone()).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                shared.fail(i, e);
            }
        }));
    }
    shared.all_done(watchers, "registering").await;

    let set = |data: &'static [u8]| load::set_data(&path, Bytes::from_static(data));
    assert_eq!(load::call(&mut r, &mut w, &set(b"after")).await, Some(0));
    phase.send(Phase::Changed).expect("watchers");
    shared.all_done(watchers, "reading the change").await;

    assert_eq!(load::call(&mut r, &mut w, &set(b"again")).await, Some(0));
    phase.send(Phase::ChangedAgain).expect("watchers");
    shared.all_done(watchers, "after the second change").await;
    for t in tasks {
        t.await.expect("watcher task");
    }
}

fn run_storm(extra_toml: &str) {
    let nofile = load::raise_nofile();
    let watchers = WATCHERS.min(nofile.saturating_sub(200) as usize / 2);
    println!("{watchers} watchers");
    let mut node = ZkrNode::start(extra_toml);
    let addr: SocketAddr = node.addr().parse().expect("address");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(storm(addr, watchers));
    node.stop();
}

#[test]
fn every_watcher_of_a_storm_sees_the_event_before_a_read_of_the_change_on_the_event_loop() {
    run_storm("client_threads = 0\n");
}

#[test]
fn every_watcher_of_a_storm_sees_the_event_before_a_read_of_the_change_on_connection_threads() {
    run_storm("client_threads = 2\n");
}
