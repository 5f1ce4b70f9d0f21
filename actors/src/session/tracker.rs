//! The session tracker actor: expires sessions whose deadline passed.
//!
//! Connections refresh deadlines in the registry (an atomic store per request). The tracker keeps
//! the [`ExpiryQueue`] core; when a bucket comes due it re-reads each session's deadline, moves
//! the ones that were touched meanwhile, and for the rest marks them closing and asks the
//! pipeline to commit a closeSession txn. It runs on its own arbiter so a busy mailbox elsewhere
//! cannot delay expiry.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::expiry::ExpiryQueue;
use super::SessionRegistry;

/// Session tracker → quorum actor: this session expired; close it (leader and standalone
/// only; any other server clears the session's closing flag).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ExpireSession(pub crate::txn::SessionId);

/// How often the tracker looks at the queue.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The tracker actor.
pub struct SessionTracker {
    registry: Arc<SessionRegistry>,
    queue: ExpiryQueue,
    pipeline: Recipient<ExpireSession>,
}

impl SessionTracker {
    /// A tracker over `registry`, expiring through `pipeline`.
    pub fn new(
        registry: Arc<SessionRegistry>,
        pipeline: Recipient<ExpireSession>,
    ) -> SessionTracker {
        let queue = ExpiryQueue::new(registry.tick_ms());
        SessionTracker {
            registry,
            queue,
            pipeline,
        }
    }

    fn check(&mut self) {
        let now = crate::clock::now_ms();
        for id in expire_due(&self.registry, &mut self.queue, now) {
            crate::link::send(&self.pipeline, "tracker -> pipeline", ExpireSession(id));
        }
        metrics::gauge!("global_sessions").set(self.registry.len() as f64);
    }
}

/// One look at the queue at `now` (monotonic ms): schedules the sessions the queue does not
/// know yet, moves the ones touched meanwhile, and returns the sessions that expired (each marked
/// closing, so it is returned once). Nothing expires while the registry is not expiring
/// (followers leave expiry to the leader). The tracker actor and the simulator both run it.
pub fn expire_due(
    registry: &SessionRegistry,
    queue: &mut ExpiryQueue,
    now: i64,
) -> Vec<crate::txn::SessionId> {
    // Sessions the queue does not know yet (new, or restored at start-up).
    for id in registry.take_fresh() {
        if let Some(s) = registry.get(id) {
            queue.schedule(id, s.deadline_ms());
        }
    }
    if !registry.expiring() {
        return Vec::new();
    }
    let mut expired = Vec::new();
    for id in queue.take_due(now) {
        let Some(s) = registry.get(id) else {
            continue;
        };
        if s.is_closing() {
            continue;
        }
        if s.deadline_ms() > now {
            queue.schedule(id, s.deadline_ms());
            continue;
        }
        if !s.mark_closing() {
            expired.push(id);
        }
    }
    expired
}

impl Actor for SessionTracker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(CHECK_INTERVAL, |act, _| act.check());
    }
}
