//! The node's clocks, read only by actor shells (cores get time as an argument).

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Monotonic milliseconds since the process started (session deadlines, timers).
pub fn now_ms() -> i64 {
    origin().elapsed().as_millis() as i64
}

/// Wall-clock milliseconds since the Unix epoch (txn times, ctime/mtime).
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
