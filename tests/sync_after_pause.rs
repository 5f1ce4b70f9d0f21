//! A sync on a leader woken from a pause is never answered from its old tree: real `zkr node`
//! processes, raw client frames (docs/architecture.md, decision 22; the simulator's
//! `sim::scenarios::scenario_a_leader_woken_after_it_was_replaced_answers_no_sync_from_its_old_tree`).
//!
//! Each round, on one 3-server ensemble (tick 10 ms, syncLimit 100 ticks = 1 s):
//! 1. a session A is opened on the leader L (30 s session timeout, so it outlives the pause;
//!    the servers' cap is raised to match) and sets `/k = old-<round>`, and reads it back;
//! 2. clients on the two followers send syncs as fast as they are answered: each follower
//!    forwards them to L, so L's event loop is always busy with its followers' messages, and
//!    with them (one read carries several) their ping replies: the short tick makes L ping
//!    every few milliseconds, so most of what it reads from a follower holds one;
//! 3. L is stopped with SIGSTOP: some of those messages were read and wait, not yet handled,
//!    in its quorum actor's mailbox (a real process is stopped in the middle of its work);
//! 4. once one of the other two leads (`srvr`), a second client sets `/k = new-<round>` there
//!    until it is acknowledged: a new leader committed it without L (nothing is sent through
//!    them before, or it would be forwarded to L and wait in its socket as a proposal of its
//!    own on waking, which no sync behind it could pass);
//! 5. a sync of `/k` and a getData of `/k` are written (pipelined) into A's socket while L is
//!    still stopped, then L gets SIGCONT;
//! 6. the outcome: the sync answered and the getData reading `new-<round>`, or the connection
//!    closed or the requests answered with an error (the woken leader stepped down, as any
//!    server without a leader does) are both correct; the getData reading `old-<round>` after
//!    the sync is the bug (a sync answered from the tree of a leader that was replaced).
//!
//! Before the fix (commit c1a4131) a woken leader handled what waited in its mailbox before
//! its first tick (actix polls an actor's mailbox before its timers), each message counting as
//! its follower heard just now, so that tick found a quorum and the sync was answered from the
//! old tree, in most rounds. Without the load of step 2 the pre-fix binary passed too, in every
//! round tried: its first tick on waking came before anything it read from its sockets, and
//! found its followers silent for longer than syncLimit.
//!
//! Every round is run and its outcome printed before the test fails, so a run says how many
//! rounds read the old value. Bounded: [`ROUNDS`] rounds, every wait has a deadline ([`WAIT`]);
//! nothing asserts timings (a round whose pause lands where nothing waits in L's mailbox ends
//! with L stepping down, which passes). Processes are stopped by PID (the ensemble's harness),
//! on loopback ports only.

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::ensemble::{Ensemble, EnsembleSpec};
use common::raw::{self, Reply, ReplyError};
use zkr_actors::proto::records::PathRequest;
use zkr_actors::proto::{ErrorCode, Request};

/// Rounds, each on the leader of the moment.
const ROUNDS: usize = 8;
/// tickTime, ms.
const TICK_MS: u32 = 10;
/// syncLimit, ticks.
const SYNC_LIMIT: u32 = 100;
/// How long the load runs before the leader is paused.
const LOAD_BEFORE_PAUSE: Duration = Duration::from_millis(300);
/// Sessions of the load on each follower, each pipelining syncs.
const LOAD_SESSIONS: usize = 4;
/// The first session's timeout: longer than a round, so it cannot expire while its server is
/// stopped.
const SESSION_TIMEOUT_MS: i32 = 30_000;
/// Deadline of every wait (a leader, a write acknowledged, a reply, a member following again).
const WAIT: Duration = Duration::from_secs(30);
/// The znode under test.
const PATH: &str = "/k";

const SYNC_XID: i32 = 100;
const GET_XID: i32 = 101;

/// What the woken leader's client saw after its sync.
enum Outcome {
    /// The sync was answered and the getData read the new leader's write.
    Fresh,
    /// The connection was closed, or a request answered with an error: it stepped down.
    SteppedDown(String),
    /// The getData after the sync read the value from before the pause: the bug.
    Stale(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Fresh => write!(f, "answered from the new tree"),
            Outcome::SteppedDown(how) => write!(f, "stepped down: {how}"),
            Outcome::Stale(why) => write!(f, "STALE: {why}"),
        }
    }
}

#[test]
fn a_leader_woken_after_it_was_replaced_answers_no_sync_from_its_old_tree() {
    let started = Instant::now();
    let mut ens = Ensemble::start(
        "sync-after-pause",
        EnsembleSpec {
            tick_ms: TICK_MS,
            init_limit: 2 * SYNC_LIMIT,
            // The default cap, 20 ticks, is less than a round.
            node_extra: format!("max_session_timeout_ms = {SESSION_TIMEOUT_MS}\n"),
            sync_limit: SYNC_LIMIT,
            ..EnsembleSpec::default()
        },
    );
    let mut outcomes = Vec::new();
    for round in 0..ROUNDS {
        let t = Instant::now();
        let (leader, outcome) = run_round(&mut ens, round);
        println!(
            "round {round}: leader s{leader} woken: {outcome} ({:?})",
            t.elapsed()
        );
        outcomes.push(outcome);
    }
    let stale: Vec<&String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Stale(why) => Some(why),
            _ => None,
        })
        .collect();
    let fresh = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Fresh))
        .count();
    println!(
        "{ROUNDS} rounds in {:?}: {fresh} answered from the new tree, {} stepped down, {} stale",
        started.elapsed(),
        ROUNDS - fresh - stale.len(),
        stale.len()
    );
    assert!(
        stale.is_empty(),
        "{} of {ROUNDS} rounds read the old value after a sync on a woken leader:\n{}",
        stale.len(),
        stale
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// One round (see the module doc); returns the leader that was paused and what its client saw.
fn run_round(ens: &mut Ensemble, round: usize) -> (u8, Outcome) {
    let old = format!("old-{round}");
    let new = format!("new-{round}");
    let (leader, mut a) = session_on_leader(ens, &old);
    let followers: Vec<u8> = ens
        .voter_ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let log_from = ens.log_len(leader);

    // Syncs through the followers keep the leader busy with their messages, so that it is
    // stopped with some of them not yet handled.
    let ports: Vec<u16> = followers
        .iter()
        .map(|f| ens.member(*f).client_port)
        .collect();
    let load = Load::start(&ports);
    std::thread::sleep(LOAD_BEFORE_PAUSE);
    ens.pause(leader);

    let acked_at = write_through(ens, &followers, &new);

    // The sync and the read reach the stopped leader's socket; then it wakes.
    let mut frames = Request::Sync(PathRequest { path: PATH.into() })
        .to_frame(SYNC_XID)
        .to_vec();
    frames.extend_from_slice(&common::load::get_data(PATH, false).to_frame(GET_XID));
    a.write_all(&frames)
        .expect("write the sync and getData to the stopped leader's socket");
    ens.resume(leader);

    let outcome = outcome(&mut a, &old, &new).unwrap_or_else(|e| {
        panic!(
            "round {round}: the woken leader s{leader}: {e}; its log since the round, last lines:\n{}",
            log_tail(ens, leader, log_from)
        )
    });
    let outcome = match outcome {
        Outcome::Stale(why) => Outcome::Stale(format!(
            "round {round}: {why} on the woken leader s{leader}, though {new:?} was acknowledged \
             (zxid {acked_at:#x}) through s{:?} before the sync was sent; its log since the round, \
             last lines:\n{}",
            followers,
            log_tail(ens, leader, log_from)
        )),
        o => o,
    };
    drop(a);
    let answered = load.stop();
    // The next round starts from a whole ensemble: the woken server follows the new leader.
    ens.wait_mode(leader, "follower", WAIT);
    // Which check made it step down (its tick, or the one before a sync), for the record.
    let log = ens.log_since(leader, log_from);
    let step_down = log
        .lines()
        .find(|l| l.contains("stepping down"))
        .and_then(|l| l.split("INFO ").nth(1))
        .unwrap_or("no step-down logged yet");
    println!("round {round}: {answered} syncs of the load answered; s{leader}: {step_down}");
    (leader, outcome)
}

/// A session A on the leader that has set [`PATH`] to `old` and read it back, retried until
/// [`WAIT`] (a leader can change before the round starts on a loaded machine).
fn session_on_leader(ens: &Ensemble, old: &str) -> (u8, TcpStream) {
    let end = Instant::now() + WAIT;
    loop {
        let leader = ens.wait_leader(&ens.voter_ids(), WAIT);
        match prepare(ens.member(leader).client_port, old) {
            Ok(a) => return (leader, a),
            Err(e) => assert!(
                Instant::now() < end,
                "no session on the leader s{leader} set {PATH} to {old:?}: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Creates [`PATH`] (or sets it) to `old` through a new session on `port`, reads it back, and
/// returns the session.
fn prepare(port: u16, old: &str) -> Result<TcpStream, String> {
    let mut a = raw::try_session(port, SESSION_TIMEOUT_MS)?;
    let create = common::load::create(PATH, old.as_bytes());
    let set = common::load::set_data(PATH, Bytes::from(old.to_string()));
    let w = request(&mut a, 1, &create)?;
    if w.header.err == ErrorCode::NodeExists.code() {
        let w = request(&mut a, 2, &set)?;
        if w.header.err != 0 {
            return Err(format!("setData {old:?}: error {}", w.header.err));
        }
    } else if w.header.err != 0 {
        return Err(format!("create {old:?}: error {}", w.header.err));
    }
    let r = request(&mut a, 3, &common::load::get_data(PATH, false))?;
    let data = raw::data_of(&r)?;
    if r.header.err != 0 || data != old.as_bytes() {
        return Err(format!(
            "reading back {old:?}: error {}, data {:?}",
            r.header.err,
            String::from_utf8_lossy(&data)
        ));
    }
    Ok(a)
}

/// A new session of [`SESSION_TIMEOUT_MS`] on `port`, retried until [`WAIT`] while the server
/// does not serve.
fn session_on(port: u16) -> TcpStream {
    let end = Instant::now() + WAIT;
    loop {
        match raw::try_session(port, SESSION_TIMEOUT_MS) {
            Ok(s) => return s,
            Err(e) => assert!(Instant::now() < end, "no session on port {port}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `req` as `xid` and returns its reply.
fn request(s: &mut TcpStream, xid: i32, req: &Request) -> Result<Reply, String> {
    s.write_all(&req.to_frame(xid))
        .map_err(|e| format!("send xid {xid}: {e}"))?;
    let reply = raw::read_reply(s).map_err(|e| format!("no reply to xid {xid}: {e}"))?;
    if reply.header.xid != xid {
        return Err(format!("reply xid {} to xid {xid}", reply.header.xid));
    }
    Ok(reply)
}

/// Waits until one of `servers` leads, then sets [`PATH`] to `value` through it (a new
/// session each attempt), retried until it is acknowledged; returns the zxid of the
/// acknowledgement. Nothing is sent before a new leader is up: a request sent through a server
/// still following the paused leader would be forwarded to it and wait in its socket, a
/// proposal of its own on waking, which no sync behind it could pass.
fn write_through(ens: &Ensemble, servers: &[u8], value: &str) -> i64 {
    let end = Instant::now() + WAIT;
    let mut last = String::new();
    loop {
        assert!(
            Instant::now() < end,
            "no setData of {value:?} acknowledged through s{servers:?} within {WAIT:?}: {last}"
        );
        let modes = ens.modes(servers);
        let leading = modes
            .iter()
            .find(|(_, m)| m.as_deref() == Some("leader"))
            .map(|(id, _)| *id);
        match leading {
            Some(id) => match set_once(ens.member(id).client_port, value) {
                Ok(zxid) => return zxid,
                Err(e) => last = format!("s{id}: {e}"),
            },
            None => last = format!("no leader among them yet: {modes:?}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One setData of [`PATH`] to `value` through a new session on `port`, then its closeSession.
fn set_once(port: u16, value: &str) -> Result<i64, String> {
    let mut s = raw::try_session(port, 10_000)?;
    let req = common::load::set_data(PATH, Bytes::from(value.to_string()));
    let reply = request(&mut s, 1, &req)?;
    if reply.header.err != 0 {
        return Err(format!("setData answered error {}", reply.header.err));
    }
    let _ = s.write_all(&Request::CloseSession.to_frame(2));
    Ok(reply.header.zxid)
}

/// Reads what the woken leader answered the pipelined sync and getData: an [`Outcome`], or
/// `Err` when it neither answered nor closed within the socket's read timeout, or answered
/// something this test does not expect.
fn outcome(s: &mut TcpStream, old: &str, new: &str) -> Result<Outcome, String> {
    s.set_read_timeout(Some(WAIT))
        .map_err(|e| format!("set a read timeout: {e}"))?;
    let sync = match next_reply(s, "the sync", SYNC_XID)? {
        Ok(r) => r,
        Err(stepped_down) => return Ok(stepped_down),
    };
    let get = match next_reply(s, "the getData after the sync", GET_XID)? {
        Ok(r) => r,
        Err(stepped_down) => return Ok(stepped_down),
    };
    let data = raw::data_of(&get)?;
    if data == new.as_bytes() {
        Ok(Outcome::Fresh)
    } else if data == old.as_bytes() {
        Ok(Outcome::Stale(format!(
            "the sync was answered (zxid {:#x}) and the getData after it read {old:?} (zxid {:#x})",
            sync.header.zxid, get.header.zxid
        )))
    } else {
        Err(format!(
            "the getData after the sync read {:?}, neither {old:?} nor {new:?}",
            String::from_utf8_lossy(&data)
        ))
    }
}

/// The next reply, which must be to `xid`: the reply, or (`Ok(Err(..))`) the outcome of a
/// closed connection or of an error answered; `Err` if it timed out, was malformed or answers
/// another xid.
fn next_reply(s: &mut TcpStream, what: &str, xid: i32) -> Result<Result<Reply, Outcome>, String> {
    match raw::read_reply(s) {
        Ok(r) if r.header.xid != xid => Err(format!(
            "the reply to {what} has xid {}, not {xid}",
            r.header.xid
        )),
        Ok(r) if r.header.err != 0 => Ok(Err(Outcome::SteppedDown(format!(
            "{what} answered error {}",
            r.header.err
        )))),
        Ok(r) => Ok(Ok(r)),
        Err(ReplyError::Closed(e)) => Ok(Err(Outcome::SteppedDown(format!(
            "the connection closed before the reply to {what} ({e})"
        )))),
        Err(e) => Err(format!("no reply to {what}: {e}")),
    }
}

/// Sessions on some servers, each sending syncs as fast as its server takes them (a follower
/// forwards each to the leader, which answers it without a proposal): one thread writes
/// pipelined syncs, another reads the replies. Each stops at [`Load::stop`] or when its
/// server closes the connection.
struct Load {
    stop: Arc<AtomicBool>,
    sockets: Vec<TcpStream>,
    writers: Vec<JoinHandle<()>>,
    /// Each returns the syncs answered on its session.
    readers: Vec<JoinHandle<u64>>,
}

impl Load {
    /// [`LOAD_SESSIONS`] sessions on each of `ports`.
    fn start(ports: &[u16]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut load = Load {
            stop: stop.clone(),
            sockets: Vec::new(),
            writers: Vec::new(),
            readers: Vec::new(),
        };
        let sync = Request::Sync(PathRequest { path: "/".into() });
        let batch: Vec<u8> = (0..32).flat_map(|x| sync.to_frame(x).to_vec()).collect();
        for port in ports.iter().flat_map(|p| [*p; LOAD_SESSIONS]) {
            let s = session_on(port);
            let (Ok(mut w), Ok(mut r)) = (s.try_clone(), s.try_clone()) else {
                panic!("clone a load socket")
            };
            load.sockets.push(s);
            let (stop, batch) = (stop.clone(), batch.clone());
            load.writers.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) && w.write_all(&batch).is_ok() {}
            }));
            load.readers.push(std::thread::spawn(move || {
                let mut answered = 0;
                while let Ok(reply) = raw::read_reply(&mut r) {
                    answered += u64::from(reply.header.err == 0);
                }
                answered
            }));
        }
        load
    }

    /// Stops the load (its connections shut down, which ends every blocked read or write) and
    /// returns the syncs answered.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for s in &self.sockets {
            let _ = s.shutdown(Shutdown::Both);
        }
        for w in self.writers {
            w.join().expect("a load writer");
        }
        self.readers
            .into_iter()
            .map(|r| r.join().expect("a load reader"))
            .sum()
    }
}

/// The last lines of member `id`'s log after byte `from`.
fn log_tail(ens: &Ensemble, id: u8, from: usize) -> String {
    let log = ens.log_since(id, from);
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
