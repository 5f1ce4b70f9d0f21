//! The live session registry: what connections and the tracker share about each session.
//!
//! The replicated session table (id, timeout, password) lives in the data tree; this registry
//! adds the local, non-replicated part: the deadline refreshed by every request (an atomic, so a
//! touch costs no message), the closing flag, and the connection currently bound to the session.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use parking_lot::Mutex;

use super::expiry::round_up;
use crate::outbox::Outbox;
use crate::txn::SessionId;

/// One live session.
#[derive(Debug)]
pub struct LiveSession {
    /// The session id.
    pub id: SessionId,
    /// The password.
    pub password: Bytes,
    timeout_ms: AtomicI64,
    deadline_ms: AtomicI64,
    closing: AtomicBool,
    touched: AtomicBool,
    conn: Mutex<Option<Arc<Outbox>>>,
}

impl LiveSession {
    /// Negotiated timeout.
    pub fn timeout_ms(&self) -> i64 {
        self.timeout_ms.load(Ordering::Acquire)
    }

    /// Sets the timeout (a reconnect renegotiates it).
    pub fn set_timeout_ms(&self, t: i64) {
        self.timeout_ms.store(t, Ordering::Release)
    }

    /// The current deadline (monotonic ms).
    pub fn deadline_ms(&self) -> i64 {
        self.deadline_ms.load(Ordering::Acquire)
    }

    /// Refreshes the deadline: `now + timeout` rounded up to the tick.
    pub fn touch(&self, now_ms: i64, tick_ms: i64) {
        let d = round_up(now_ms + self.timeout_ms(), tick_ms);
        self.deadline_ms.fetch_max(d, Ordering::AcqRel);
        self.touched.store(true, Ordering::Release);
    }

    /// Refreshes the deadline because the leader saw the session active: like [`Self::touch`],
    /// but not reported back to the leader (a learner's report would echo it forever).
    pub fn refresh(&self, now_ms: i64, tick_ms: i64) {
        let d = round_up(now_ms + self.timeout_ms(), tick_ms);
        self.deadline_ms.fetch_max(d, Ordering::AcqRel);
    }

    /// Marks the session as closing (expiry or close in progress); returns whether it already was.
    pub fn mark_closing(&self) -> bool {
        self.closing.swap(true, Ordering::AcqRel)
    }

    /// Clears the closing flag (its close could not be logged).
    pub fn unmark_closing(&self) {
        self.closing.store(false, Ordering::Release)
    }

    /// Is the session closing?
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Binds a connection; returns the one it replaces.
    pub fn bind(&self, conn: Arc<Outbox>) -> Option<Arc<Outbox>> {
        self.conn.lock().replace(conn)
    }

    /// Unbinds `conn_id` if it is the bound connection.
    pub fn unbind(&self, conn_id: u64) {
        let mut c = self.conn.lock();
        if c.as_ref().is_some_and(|o| o.id() == conn_id) {
            *c = None;
        }
    }

    /// The bound connection.
    pub fn connection(&self) -> Option<Arc<Outbox>> {
        self.conn.lock().clone()
    }
}

/// All live sessions of this server.
#[derive(Debug)]
pub struct SessionRegistry {
    sessions: DashMap<SessionId, Arc<LiveSession>>,
    fresh: Mutex<Vec<SessionId>>,
    tick_ms: i64,
    expiring: AtomicBool,
}

impl SessionRegistry {
    /// An empty registry with expiry buckets `tick_ms` wide.
    pub fn new(tick_ms: i64) -> SessionRegistry {
        SessionRegistry {
            sessions: DashMap::new(),
            fresh: Mutex::new(Vec::new()),
            tick_ms,
            expiring: AtomicBool::new(false),
        }
    }

    /// The tick.
    pub fn tick_ms(&self) -> i64 {
        self.tick_ms
    }

    /// Does this server expire sessions (it leads, or is standalone)?
    pub fn expiring(&self) -> bool {
        self.expiring.load(Ordering::Acquire)
    }

    /// Starts expiring sessions (a leader that now serves, or a standalone node): every
    /// session gets a full timeout from `now_ms` (ZooKeeper's rule: a failover shorter than the
    /// session timeout expires no session, whatever the deadlines this server held), and a
    /// close left pending by an earlier term is forgotten (its txn, if it was ever logged, is
    /// committed or gone by now; a committed close has removed the session), so the tracker
    /// schedules every session afresh.
    pub fn start_expiring(&self, now_ms: i64) {
        for e in self.sessions.iter() {
            let s = e.value();
            s.unmark_closing();
            s.touch(now_ms, self.tick_ms);
        }
        self.fresh
            .lock()
            .extend(self.sessions.iter().map(|e| *e.key()));
        self.expiring.store(true, Ordering::Release);
    }

    /// Stops expiring sessions (the role ended, or it stopped serving). Closes this server
    /// asked for and that were not committed are forgotten: the next leader decides, and the
    /// clients of those sessions may resume them meanwhile.
    pub fn stop_expiring(&self) {
        self.expiring.store(false, Ordering::Release);
        for e in self.sessions.iter() {
            e.value().unmark_closing();
        }
    }

    /// Sessions active since the last call (a follower reports them to the leader).
    pub fn take_touched(&self) -> Vec<SessionId> {
        self.sessions
            .iter()
            .filter(|e| e.value().touched.swap(false, Ordering::AcqRel))
            .map(|e| *e.key())
            .collect()
    }

    /// Adds a session touched at `now_ms`.
    pub fn insert(
        &self,
        id: SessionId,
        timeout_ms: i64,
        password: Bytes,
        now_ms: i64,
    ) -> Arc<LiveSession> {
        let s = Arc::new(LiveSession {
            id,
            password,
            timeout_ms: AtomicI64::new(timeout_ms),
            deadline_ms: AtomicI64::new(round_up(now_ms + timeout_ms, self.tick_ms)),
            closing: AtomicBool::new(false),
            touched: AtomicBool::new(false),
            conn: Mutex::new(None),
        });
        self.sessions.insert(id, s.clone());
        self.fresh.lock().push(id);
        s
    }

    /// Asks the tracker to schedule `id` again.
    pub fn requeue(&self, id: SessionId) {
        self.fresh.lock().push(id);
    }

    /// Sessions inserted since the last call (the tracker schedules them).
    pub fn take_fresh(&self) -> Vec<SessionId> {
        std::mem::take(&mut *self.fresh.lock())
    }

    /// The session `id`.
    pub fn get(&self, id: SessionId) -> Option<Arc<LiveSession>> {
        self.sessions.get(&id).map(|e| e.value().clone())
    }

    /// Removes `id`, returning it.
    pub fn remove(&self, id: SessionId) -> Option<Arc<LiveSession>> {
        self.sessions.remove(&id).map(|(_, s)| s)
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when there is no session.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Every session.
    pub fn all(&self) -> Vec<Arc<LiveSession>> {
        self.sessions.iter().map(|e| e.value().clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_expiring_gives_every_session_a_full_timeout_and_forgets_pending_closes() {
        let r = SessionRegistry::new(100);
        let old = r.insert(1, 1_000, Bytes::new(), 0);
        let closing = r.insert(2, 1_000, Bytes::new(), 0);
        assert!(!closing.mark_closing());
        r.take_fresh();
        r.start_expiring(50_000);
        assert!(r.expiring());
        assert_eq!(old.deadline_ms(), round_up(51_000, 100));
        assert!(!closing.is_closing());
        let mut fresh = r.take_fresh();
        fresh.sort();
        assert_eq!(
            fresh,
            vec![1, 2],
            "the tracker schedules every session again"
        );
    }

    #[test]
    fn stop_expiring_forgets_closes_not_committed() {
        let r = SessionRegistry::new(100);
        let s = r.insert(1, 1_000, Bytes::new(), 0);
        r.start_expiring(0);
        s.mark_closing();
        r.stop_expiring();
        assert!(!r.expiring());
        assert!(!s.is_closing(), "a client may resume it on this server");
    }

    #[test]
    fn a_refresh_from_the_leader_is_not_reported_back() {
        let r = SessionRegistry::new(100);
        let s = r.insert(1, 1_000, Bytes::new(), 0);
        s.refresh(5_000, 100);
        assert_eq!(s.deadline_ms(), round_up(6_000, 100));
        assert!(r.take_touched().is_empty());
        s.touch(6_000, 100);
        assert_eq!(r.take_touched(), vec![1]);
    }
}
