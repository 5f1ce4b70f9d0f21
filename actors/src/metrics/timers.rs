//! Timers kept by an actor: [`CommitTimer`] times the leader's proposals from propose to commit.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::PROPOSAL_COMMIT_LATENCY;
use crate::txn::Zxid;

/// Most proposals [`CommitTimer`] remembers (older ones are forgotten, not timed).
pub const COMMIT_TIMER_CAPACITY: usize = 100_000;

/// Times proposals from the leader's propose to their commit (applied in zxid order).
#[derive(Debug, Default)]
pub struct CommitTimer {
    proposed: VecDeque<(Zxid, Instant)>,
}

impl CommitTimer {
    /// `zxid` was proposed now.
    pub fn proposed(&mut self, zxid: Zxid) {
        if self.proposed.len() >= COMMIT_TIMER_CAPACITY {
            self.proposed.pop_front();
        }
        self.proposed.push_back((zxid, Instant::now()));
    }

    /// `zxid` was committed (and is being applied): records its latency if it was proposed
    /// here, and forgets every proposal up to it. Returns the latency.
    pub fn committed(&mut self, zxid: Zxid) -> Option<Duration> {
        let mut took = None;
        while let Some(&(z, at)) = self.proposed.front() {
            if z > zxid {
                break;
            }
            self.proposed.pop_front();
            if z == zxid {
                took = Some(at.elapsed());
            }
        }
        if let Some(t) = took {
            metrics::histogram!(PROPOSAL_COMMIT_LATENCY).record(t.as_secs_f64());
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
        t.proposed(5);
        t.proposed(6);
        t.proposed(8);
        assert!(t.committed(4).is_none(), "not proposed here");
        assert_eq!(t.len(), 3);
        assert!(t.committed(6).is_some());
        assert_eq!(t.len(), 1, "5 and 6 are forgotten");
        assert!(t.committed(7).is_none());
        assert!(t.committed(8).is_some());
        assert!(t.is_empty());
        for z in 0..(COMMIT_TIMER_CAPACITY as i64 + 10) {
            t.proposed(z);
        }
        assert_eq!(t.len(), COMMIT_TIMER_CAPACITY);
        t.clear();
        assert!(t.committed(i64::MAX).is_none());
    }
}
