//! The session expiry queue (ZooKeeper's `ExpiryQueue`): sessions in buckets by deadline,
//! deadlines rounded up to the next multiple of the tick.
//!
//! Pure core: time is an argument. A session lives between `timeout` and `timeout + tick` after
//! its last touch.
//!
//! Invariant: every queued session is in exactly one bucket, the one of its deadline.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::txn::SessionId;

/// `time` rounded up to the next multiple of `tick_ms` (`ExpiryQueue.roundToNextInterval`).
pub fn round_up(time_ms: i64, tick_ms: i64) -> i64 {
    (time_ms / tick_ms + 1) * tick_ms
}

/// Sessions by expiry bucket.
#[derive(Debug)]
pub struct ExpiryQueue {
    tick_ms: i64,
    buckets: BTreeMap<i64, HashSet<SessionId>>,
    deadlines: HashMap<SessionId, i64>,
}

impl ExpiryQueue {
    /// An empty queue with buckets `tick_ms` wide.
    pub fn new(tick_ms: i64) -> ExpiryQueue {
        assert!(tick_ms > 0, "tick must be positive");
        ExpiryQueue {
            tick_ms,
            buckets: BTreeMap::new(),
            deadlines: HashMap::new(),
        }
    }

    /// The deadline of a session touched at `now_ms` with `timeout_ms`.
    pub fn deadline_for(&self, now_ms: i64, timeout_ms: i64) -> i64 {
        round_up(now_ms + timeout_ms, self.tick_ms)
    }

    /// Puts `id` in the bucket of `deadline_ms` (moving it if it was elsewhere).
    pub fn schedule(&mut self, id: SessionId, deadline_ms: i64) {
        if let Some(old) = self.deadlines.insert(id, deadline_ms) {
            if old == deadline_ms {
                return;
            }
            if let Some(b) = self.buckets.get_mut(&old) {
                b.remove(&id);
                if b.is_empty() {
                    self.buckets.remove(&old);
                }
            }
        }
        self.buckets.entry(deadline_ms).or_default().insert(id);
    }

    /// Forgets `id`.
    pub fn remove(&mut self, id: SessionId) {
        if let Some(old) = self.deadlines.remove(&id) {
            if let Some(b) = self.buckets.get_mut(&old) {
                b.remove(&id);
                if b.is_empty() {
                    self.buckets.remove(&old);
                }
            }
        }
    }

    /// Removes and returns every session whose deadline is at or before `now_ms`.
    pub fn take_due(&mut self, now_ms: i64) -> Vec<SessionId> {
        let later = self.buckets.split_off(&(now_ms + 1));
        let due = std::mem::replace(&mut self.buckets, later);
        let mut out: Vec<SessionId> = due.into_values().flatten().collect();
        for id in &out {
            self.deadlines.remove(id);
        }
        out.sort();
        out
    }

    /// The deadline of `id`, if queued.
    pub fn deadline(&self, id: SessionId) -> Option<i64> {
        self.deadlines.get(&id).copied()
    }

    /// Buckets in deadline order, for the `dump` four-letter word.
    pub fn buckets(&self) -> impl Iterator<Item = (&i64, &HashSet<SessionId>)> {
        self.buckets.iter()
    }

    /// Number of queued sessions.
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// True if no session is queued.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_the_next_tick() {
        assert_eq!(round_up(0, 2000), 2000);
        assert_eq!(round_up(1999, 2000), 2000);
        assert_eq!(round_up(2000, 2000), 4000);
        let q = ExpiryQueue::new(2000);
        assert_eq!(q.deadline_for(500, 10_000), 12_000);
    }

    #[test]
    fn due_sessions_come_out_once() {
        let mut q = ExpiryQueue::new(100);
        q.schedule(1, 200);
        q.schedule(2, 300);
        q.schedule(1, 400);
        assert_eq!(q.take_due(250), Vec::<SessionId>::new());
        assert_eq!(q.take_due(300), vec![2]);
        assert_eq!(q.take_due(1000), vec![1]);
        assert!(q.is_empty());
    }

    #[test]
    fn removed_sessions_never_expire() {
        let mut q = ExpiryQueue::new(100);
        q.schedule(7, 100);
        q.remove(7);
        assert!(q.take_due(1000).is_empty());
    }
}
