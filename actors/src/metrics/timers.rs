//! Timers kept by an actor: [`CommitTimer`] times the leader's proposals from propose to commit.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::txn::Zxid;

/// Most proposals [`CommitTimer`] remembers (older ones are forgotten, not timed).
pub const COMMIT_TIMER_CAPACITY: usize = 100_000;

/// Times proposals from the leader's propose to their commit (applied in zxid order).
#[derive(Debug, Default)]
pub struct CommitTimer {
    proposed: VecDeque<(Zxid, Instant)>,
}

impl CommitTimer {
    /// `zxid` was proposed `at` (the caller reads the clock once for a step's proposals).
    pub fn proposed(&mut self, zxid: Zxid, at: Instant) {
        if self.proposed.len() >= COMMIT_TIMER_CAPACITY {
            self.proposed.pop_front();
        }
        self.proposed.push_back((zxid, at));
    }

    /// `zxid` was committed (and is being applied) `now`: records its latency if it was
    /// proposed here, and forgets every proposal up to it. Returns the latency.
    pub fn committed(&mut self, zxid: Zxid, now: Instant) -> Option<Duration> {
        let mut took = None;
        while let Some(&(z, at)) = self.proposed.front() {
            if z > zxid {
                break;
            }
            self.proposed.pop_front();
            if z == zxid {
                took = Some(now.saturating_duration_since(at));
            }
        }
        if let Some(t) = took {
            super::proposal_committed(t);
        }
        took
    }

    /// A new term: nothing proposed before it will be timed.
    pub fn clear(&mut self) {
        self.proposed.clear();
    }

    /// Proposals being timed.
    pub fn len(&self) -> usize {
        self.proposed.len()
    }

    /// Nothing being timed.
    pub fn is_empty(&self) -> bool {
        self.proposed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_timer_times_proposals_in_zxid_order() {
        let mut t = CommitTimer::default();
        let at = Instant::now();
        t.proposed(5, at);
        t.proposed(6, at);
        t.proposed(8, at);
        let now = at + Duration::from_millis(3);
        assert!(t.committed(4, now).is_none(), "not proposed here");
        assert_eq!(t.len(), 3);
        assert_eq!(t.committed(6, now), Some(Duration::from_millis(3)));
        assert_eq!(t.len(), 1, "5 and 6 are forgotten");
        assert!(t.committed(7, now).is_none());
        assert!(t.committed(8, now).is_some());
        assert!(t.is_empty());
        for z in 0..(COMMIT_TIMER_CAPACITY as i64 + 10) {
            t.proposed(z, at);
        }
        assert_eq!(t.len(), COMMIT_TIMER_CAPACITY);
        t.clear();
        assert!(t.committed(i64::MAX, now).is_none());
    }
}
