//! Counters and gauges kept outside the node's context: the sizes of the proposals this server
//! sent as leader and the depth of the actors' queues. A process runs one node, so they are
//! process-wide statics; the sampler and `mntr` read them.

use std::sync::atomic::{AtomicI64, Ordering};

/// Sizes of the proposals this server sent as leader (ZooKeeper's `last/min/max_proposal_size`).
#[derive(Debug)]
pub struct ProposalSizes {
    last: AtomicI64,
    min: AtomicI64,
    max: AtomicI64,
}

impl ProposalSizes {
    /// None yet (every figure -1, as ZooKeeper's `BufferStats`).
    pub const fn new() -> ProposalSizes {
        ProposalSizes {
            last: AtomicI64::new(-1),
            min: AtomicI64::new(-1),
            max: AtomicI64::new(-1),
        }
    }

    /// A proposal of `bytes` was sent.
    pub fn record(&self, bytes: usize) {
        let b = bytes as i64;
        self.last.store(b, Ordering::Relaxed);
        let _ = self
            .min
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                (m < 0 || b < m).then_some(b)
            });
        self.max.fetch_max(b, Ordering::Relaxed);
    }

    /// (last, min, max).
    pub fn get(&self) -> (i64, i64, i64) {
        (
            self.last.load(Ordering::Relaxed),
            self.min.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        )
    }
}

impl Default for ProposalSizes {
    fn default() -> Self {
        ProposalSizes::new()
    }
}

/// Proposals sent by this process's node.
pub static PROPOSAL_SIZES: ProposalSizes = ProposalSizes::new();

/// The depth of an actor's queue: messages sent and not handled yet, or jobs waiting.
#[derive(Debug, Default)]
pub struct QueueDepth(AtomicI64);

impl QueueDepth {
    /// Empty.
    pub const fn new() -> QueueDepth {
        QueueDepth(AtomicI64::new(0))
    }

    /// One more was sent.
    pub fn sent(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// One was handled.
    pub fn handled(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// The depth is `n`.
    pub fn set(&self, n: usize) {
        self.0.store(n as i64, Ordering::Relaxed);
    }

    /// The depth (never below 0).
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed).max(0)
    }
}

/// Jobs waiting at the log actor.
pub static LOG_QUEUE: QueueDepth = QueueDepth::new();
/// `Apply` batches waiting at the store actor.
pub static STORE_QUEUE: QueueDepth = QueueDepth::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposal_sizes_keep_last_min_max() {
        let p = ProposalSizes::new();
        assert_eq!(p.get(), (-1, -1, -1));
        p.record(100);
        assert_eq!(p.get(), (100, 100, 100));
        p.record(40);
        p.record(70);
        assert_eq!(p.get(), (70, 40, 100));
        p.record(500);
        assert_eq!(p.get(), (500, 40, 500));
    }

    #[test]
    fn queue_depth_counts_and_never_goes_negative() {
        let q = QueueDepth::new();
        q.sent();
        q.sent();
        q.handled();
        assert_eq!(q.get(), 1);
        q.handled();
        q.handled();
        assert_eq!(q.get(), 0);
        q.set(7);
        assert_eq!(q.get(), 7);
    }
}
