//! The versions zkr reports: ZooKeeper's where clients and tools read ZooKeeper's (they pick
//! features from it), and zkr's own beside it.

/// The version zkr reports where ZooKeeper reports its own (clients pick features from it).
pub const ZK_COMPAT_VERSION: &str = "3.9.4";

/// The version line text: ZooKeeper's compatibility version, then zkr's.
pub fn version_string() -> String {
    format!(
        "{ZK_COMPAT_VERSION}-zkr-{}, built on {} UTC",
        env!("CARGO_PKG_VERSION"),
        "2026-11-26 00:00"
    )
}
