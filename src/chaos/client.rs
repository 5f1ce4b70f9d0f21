//! The workloads' clients: real `zookeeper-client` sessions whose state changes are recorded
//! with the run's clock, operations bounded by a deadline, and the outcome rules every checker
//! shares (an error after which the operation may or may not have taken effect is *unknown*).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use zookeeper_client as zk;

/// What every workload shares: the run's clock, its counters and the violations found.
pub struct Run {
    /// Time zero of every recorded time.
    pub start: Instant,
    /// Workloads stop starting operations at this time.
    pub deadline: Instant,
    /// The connect string (through the client proxies).
    pub hosts: Vec<String>,
    /// Session timeout the clients ask for.
    pub session_timeout: Duration,
    /// How much earlier than its timeout a correct ensemble may expire a session whose client
    /// last heard from a server (a follower cut off from its leader answers pings until it
    /// notices, up to syncLimit, and touches reach the leader once a tick).
    pub expiry_slack: Duration,
    /// Operations started.
    pub ops: AtomicU64,
    /// Return times (µs) of successful writes.
    pub ok_writes: Mutex<Vec<u64>>,
    /// Violations found, each a line.
    pub violations: Mutex<Vec<String>>,
    /// Things the summary should mention (undecided checks...).
    pub notes: Mutex<Vec<String>>,
    /// Stopped early (an operator's Ctrl-C).
    pub stopped: AtomicBool,
}

impl Run {
    /// µs since the start.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Has the workload time run out (or the run been stopped)?
    pub fn over(&self) -> bool {
        Instant::now() >= self.deadline || self.stopped.load(Ordering::Relaxed)
    }

    /// Records a violation.
    pub fn violation(&self, what: String) {
        eprintln!("zkr chaos: VIOLATION at {} ms: {what}", self.now() / 1000);
        self.violations.lock().push(what);
    }

    /// Records a note for the summary.
    pub fn note(&self, what: String) {
        self.notes.lock().push(what);
    }

    /// Counts an operation started.
    pub fn op(&self) {
        self.ops.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a successful write that returned now.
    pub fn write_ok(&self) {
        let t = self.now();
        self.ok_writes.lock().push(t);
    }

    /// The connect string for worker `i` (its preferred server first).
    pub fn hosts_for(&self, i: usize) -> String {
        let n = self.hosts.len();
        (0..n)
            .map(|k| self.hosts[(i + k) % n].clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The longest time (ms) between `from` and `to` (µs) without a successful write.
    pub fn longest_unavailability_ms(&self, from: u64, to: u64) -> u64 {
        let mut t = self.ok_writes.lock().clone();
        t.sort_unstable();
        let mut last = from;
        let mut worst = 0;
        for x in t.into_iter().filter(|x| *x >= from && *x <= to) {
            worst = worst.max(x - last);
            last = x;
        }
        worst.max(to.saturating_sub(last)) / 1000
    }
}

/// A session's state changes, with the run's time (µs) at which the client reported them.
#[derive(Default)]
pub struct StateLog {
    changes: Mutex<Vec<(u64, zk::SessionState)>>,
}

impl StateLog {
    /// Was the session ever not connected between `from` and `to` (µs), both included?
    pub fn disconnected_between(&self, from: u64, to: u64) -> bool {
        let ch = self.changes.lock();
        // The state in force at `from`...
        let before = ch.iter().rev().find(|(t, _)| *t < from).map(|(_, s)| *s);
        if before.is_some_and(|s| s != zk::SessionState::SyncConnected) {
            return true;
        }
        // ... and every change up to `to`.
        ch.iter()
            .any(|(t, s)| *t >= from && *t <= to && *s != zk::SessionState::SyncConnected)
    }

    /// When the session was first reported expired (µs).
    pub fn expired_at(&self) -> Option<u64> {
        self.changes
            .lock()
            .iter()
            .find(|(_, s)| *s == zk::SessionState::Expired)
            .map(|(t, _)| *t)
    }

    /// The first change to a state other than connected at or after `from` (µs).
    pub fn first_disconnect_after(&self, from: u64) -> Option<u64> {
        self.changes
            .lock()
            .iter()
            .find(|(t, s)| *t >= from && *s != zk::SessionState::SyncConnected)
            .map(|(t, _)| *t)
    }

    fn push(&self, t: u64, s: zk::SessionState) {
        self.changes.lock().push((t, s));
    }
}

/// A connected session and the record of its states.
pub struct Session {
    /// The client.
    pub client: zk::Client,
    /// Its session id.
    pub id: i64,
    /// Its state changes.
    pub states: Arc<StateLog>,
    /// Negotiated timeout.
    pub timeout: Duration,
    /// Call time (µs) of the latest operation a server answered.
    last_ok: AtomicU64,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

impl Session {
    /// Connects a new session to `hosts`; `None` if no server took it within the session
    /// timeout.
    pub async fn connect(run: &Arc<Run>, hosts: &str) -> Option<Session> {
        let c = tokio::time::timeout(
            run.session_timeout * 2,
            zk::Client::connector()
                .with_session_timeout(run.session_timeout)
                .connect(hosts),
        )
        .await
        .ok()?
        .ok()?;
        let states = Arc::new(StateLog::default());
        states.push(run.now(), zk::SessionState::SyncConnected);
        let mut w = c.state_watcher();
        let (log, r) = (states.clone(), run.clone());
        let watcher = tokio::spawn(async move {
            loop {
                let s = w.changed().await;
                log.push(r.now(), s);
                if s.is_terminated() {
                    return;
                }
            }
        });
        Some(Session {
            last_ok: AtomicU64::new(run.now()),
            id: c.session_id().0,
            timeout: c.session_timeout(),
            client: c,
            states,
            watcher,
        })
    }

    /// Is the session known to be over (expired, closed, auth failed)?
    pub fn is_over(&self) -> bool {
        self.client.state().is_terminated()
    }

    /// Runs one operation of this session (counted, bounded by the session timeout); an answer
    /// from a server, success or refusal, confirms the session was alive when it was called.
    pub async fn op<T, F>(&self, run: &Run, op: F) -> Outcome<T>
    where
        F: std::future::Future<Output = Result<T, zk::Error>>,
    {
        run.op();
        let call = run.now();
        let r = bounded(run.session_timeout, op).await;
        if !matches!(r, Outcome::Unknown(_)) {
            self.confirm(call);
        }
        r
    }

    /// A server answered an operation of this session called at `call` (µs): it touched the
    /// session then or later.
    pub fn confirm(&self, call: u64) {
        self.last_ok.fetch_max(call, Ordering::Relaxed);
    }

    /// If the session was reported expired sooner after its last answered operation than a
    /// correct ensemble may expire it, the violation line.
    pub fn early_expiry(&self, slack: Duration) -> Option<String> {
        let expired = self.states.expired_at()?;
        let last = self.last_ok.load(Ordering::Relaxed);
        early_expiry(self.id, last, expired, self.timeout, slack)
    }

    /// Our ephemeral `path` is gone although we never deleted it: a violation if a server then
    /// still answers this session (it is alive, so its ephemerals must exist).
    pub async fn vanished(&self, run: &Run, path: &str) {
        let call = run.now();
        if let Outcome::Ok(_) = bounded(run.session_timeout, self.client.check_stat("/")).await {
            if !self.is_over() {
                run.violation(format!(
                    "the ephemeral {path} of session 0x{:x} vanished while the session lives \
                     (a server answered it at {} ms)",
                    self.id,
                    call / 1000
                ));
            }
        }
    }
}

/// The violation, if session `id` was reported expired at `expired` (µs) although a server
/// answered it at `last_ok` (µs), less than `timeout - slack` earlier.
pub fn early_expiry(
    id: i64,
    last_ok: u64,
    expired: u64,
    timeout: Duration,
    slack: Duration,
) -> Option<String> {
    let gap = Duration::from_micros(expired.saturating_sub(last_ok));
    (gap + slack < timeout).then(|| {
        format!(
            "session 0x{id:x} expired {} ms after a server last answered it (at {} ms); its \
             timeout is {} ms",
            gap.as_millis(),
            last_ok / 1000,
            timeout.as_millis()
        )
    })
}

/// A workload client's loop: its random source and its session, reconnected when over.
pub struct Worker {
    run: Arc<Run>,
    id: usize,
    rng: SmallRng,
    session: Option<Session>,
}

impl Worker {
    /// Worker `id` with its own seed.
    pub fn new(run: &Arc<Run>, id: usize, seed: u64) -> Worker {
        Worker {
            run: run.clone(),
            id,
            rng: SmallRng::seed_from_u64(seed),
            session: None,
        }
    }

    /// After a think time of `think_ms`, the session for the next operation (a new one if the
    /// last is over) and the random source; `None` once the run's time is up.
    pub async fn next(
        &mut self,
        think_ms: std::ops::Range<u64>,
    ) -> Option<(&Session, &mut SmallRng)> {
        loop {
            if self.run.over() {
                return None;
            }
            if self.session.as_ref().is_none_or(Session::is_over) {
                if let Some(v) = self
                    .session
                    .as_ref()
                    .and_then(|s| s.early_expiry(self.run.expiry_slack))
                {
                    self.run.violation(v);
                }
                self.session = Session::connect(&self.run, &self.run.hosts_for(self.id)).await;
                if self.session.is_none() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                continue;
            }
            tokio::time::sleep(Duration::from_millis(
                self.rng.random_range(think_ms.clone()),
            ))
            .await;
            return self.session.as_ref().map(|s| (s, &mut self.rng));
        }
    }
}

/// A session for a workload's setup, with `paths` created (data as given) if missing.
pub async fn setup(
    run: &Arc<Run>,
    what: &str,
    paths: &[(String, &[u8])],
) -> Result<Session, String> {
    let s = Session::connect(run, &run.hosts_for(0))
        .await
        .ok_or_else(|| format!("{what} setup: no session"))?;
    for (p, data) in paths {
        if !ensure_path(&s.client, p, data, run.session_timeout * 4).await {
            return Err(format!("{what} setup: cannot create {p}"));
        }
    }
    Ok(s)
}

/// How an operation ended.
#[derive(Debug)]
pub enum Outcome<T> {
    /// It took effect and returned this.
    Ok(T),
    /// A server refused it: it did not take effect.
    Failed(zk::Error),
    /// It may or may not have taken effect.
    Unknown(String),
}

/// Errors after which an operation's outcome is unknown: the connection or the session failed
/// (the crate reports a reset connection as a `Custom` I/O error), or the server could not say
/// (a system error from a server whose disk failed).
pub fn indeterminate(e: &zk::Error) -> bool {
    matches!(
        e,
        zk::Error::ConnectionLoss
            | zk::Error::Timeout
            | zk::Error::SessionExpired
            | zk::Error::SessionMoved
            | zk::Error::ClientClosed
            | zk::Error::NoHosts
            | zk::Error::Custom(_)
            | zk::Error::Throttled
            | zk::Error::RuntimeInconsistent
            | zk::Error::UnexpectedErrorCode(_)
            | zk::Error::UnexpectedError(_)
            | zk::Error::MarshallingError
    )
}

/// Runs `op` with a deadline of `limit` and classifies its result.
pub async fn bounded<T, F>(limit: Duration, op: F) -> Outcome<T>
where
    F: std::future::Future<Output = Result<T, zk::Error>>,
{
    match tokio::time::timeout(limit, op).await {
        Ok(Ok(v)) => Outcome::Ok(v),
        Ok(Err(e)) if indeterminate(&e) => Outcome::Unknown(e.to_string()),
        Ok(Err(e)) => Outcome::Failed(e),
        Err(_) => Outcome::Unknown(format!("no answer within {limit:?}")),
    }
}

/// A counter that hands out ids unique within the run.
#[derive(Default)]
pub struct Ids(AtomicU64);

impl Ids {
    /// The next id (from 1).
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Persistent, open-ACL create options.
pub fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Ephemeral, open-ACL create options.
pub fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

/// Ephemeral sequential, open-ACL create options.
pub fn ephemeral_sequential() -> zk::CreateOptions<'static> {
    zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all())
}

/// Creates `path` (and its parents) if missing, retrying through faults until `within` runs
/// out.
pub async fn ensure_path(c: &zk::Client, path: &str, data: &[u8], within: Duration) -> bool {
    let end = Instant::now() + within;
    let mut prefix = String::new();
    for part in path.trim_start_matches('/').split('/') {
        prefix.push('/');
        prefix.push_str(part);
        let d: &[u8] = if prefix == path { data } else { b"" };
        loop {
            match bounded(Duration::from_secs(5), c.create(&prefix, d, &persistent())).await {
                Outcome::Ok(_) | Outcome::Failed(zk::Error::NodeExists) => break,
                _ if Instant::now() >= end => return false,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disconnect_before_or_inside_a_window_counts() {
        let log = StateLog::default();
        log.push(0, zk::SessionState::SyncConnected);
        log.push(100, zk::SessionState::Disconnected);
        log.push(200, zk::SessionState::SyncConnected);
        assert!(!log.disconnected_between(10, 90));
        assert!(log.disconnected_between(90, 110));
        assert!(log.disconnected_between(150, 160));
        assert!(!log.disconnected_between(210, 300));
        assert_eq!(log.first_disconnect_after(50), Some(100));
        assert_eq!(log.expired_at(), None);
    }

    #[test]
    fn a_session_expired_well_within_its_timeout_is_a_violation() {
        let t = Duration::from_secs(6);
        let slack = Duration::from_secs(2);
        // Expired 1 s after its last answer: the hole of a new leader expiring live sessions.
        assert!(early_expiry(1, 10_000_000, 11_000_000, t, slack).is_some());
        // Expired after its client was cut off for longer than timeout - slack: allowed.
        assert!(early_expiry(1, 10_000_000, 14_500_000, t, slack).is_none());
        assert!(early_expiry(1, 10_000_000, 30_000_000, t, slack).is_none());
    }
}
