//! Server-wide request statistics for `srvr`/`stat`/`mntr` (ZooKeeper's `ServerStats`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters and latency summary; reset by `srst`.
#[derive(Debug)]
pub struct ServerStats {
    received: AtomicU64,
    sent: AtomicU64,
    latency_count: AtomicU64,
    latency_total_us: AtomicU64,
    latency_min_us: AtomicU64,
    latency_max_us: AtomicU64,
    /// Requests in flight (admitted, not answered).
    pub outstanding: AtomicI64,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            latency_count: AtomicU64::new(0),
            latency_total_us: AtomicU64::new(0),
            latency_min_us: AtomicU64::new(u64::MAX),
            latency_max_us: AtomicU64::new(0),
            outstanding: AtomicI64::new(0),
        }
    }
}

impl ServerStats {
    /// A frame arrived.
    pub fn packet_received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// A frame left.
    pub fn packet_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was answered after `us` microseconds.
    pub fn record_latency_us(&self, us: u64) {
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_total_us.fetch_add(us, Ordering::Relaxed);
        self.latency_min_us.fetch_min(us, Ordering::Relaxed);
        self.latency_max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// Frames received since the last reset.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Frames sent since the last reset.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// (min, avg, max) latency in ms as ZooKeeper prints them (0 when idle).
    pub fn latency_ms(&self) -> (u64, f64, u64) {
        let n = self.latency_count.load(Ordering::Relaxed);
        if n == 0 {
            return (0, 0.0, 0);
        }
        let total = self.latency_total_us.load(Ordering::Relaxed) as f64;
        (
            self.latency_min_us.load(Ordering::Relaxed) / 1000,
            total / n as f64 / 1000.0,
            self.latency_max_us.load(Ordering::Relaxed) / 1000,
        )
    }

    /// `srst`: zero the counters.
    pub fn reset(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.sent.store(0, Ordering::Relaxed);
        self.latency_count.store(0, Ordering::Relaxed);
        self.latency_total_us.store(0, Ordering::Relaxed);
        self.latency_min_us.store(u64::MAX, Ordering::Relaxed);
        self.latency_max_us.store(0, Ordering::Relaxed);
    }
}
