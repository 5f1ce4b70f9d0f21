//! Metric names, help texts, counters, gauges and timers: what every actor reports through the
//! `metrics` facade. Nothing here knows Prometheus or the node: the node's exporter
//! (`node::exporter`) installs a recorder behind the facade and samples the state gauges, and
//! [`crate::monitor`] reads the same figures for `mntr`.
//!
//! Names are Apache ZooKeeper's (its `PrometheusMetricsProvider` exports `ServerMetrics` and the
//! servers' gauges without a prefix) wherever the meaning is the same, so dashboards and alerts
//! written for ZooKeeper keep working; the rest are `zkr_`-prefixed. ZooKeeper's summaries
//! (`fsynctime`, `readlatency`, ...) are summaries here too, with its quantiles (0.5, 0.9, 0.99)
//! over a 60 s window and its units (milliseconds); zkr's own latency and size distributions are
//! histograms with buckets (seconds, counts), so that `histogram_quantile` can aggregate them
//! across servers.
//!
//! This module shares its name with the `metrics` crate it wraps: inside it the facade is
//! `::metrics`; elsewhere `metrics::counter!` is the facade and this module is `crate::metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use crate::proto::codes::opcode;

pub mod counters;
mod help;
pub mod stats;
pub mod timers;

pub use counters::{ProposalSizes, QueueDepth, LOG_QUEUE, PROPOSAL_SIZES, STORE_QUEUE};
pub use help::{
    describe, preregister, register_from_start, COUNTERS_FROM_START, DISTRIBUTIONS_FROM_START,
    OPS_FROM_START,
};
pub use timers::{CommitTimer, COMMIT_TIMER_CAPACITY};

/// Quantiles of the summaries, as ZooKeeper's `PrometheusMetricsProvider` exports its ADVANCED
/// summaries (its BASIC ones have only the median, which is among these).
pub const SUMMARY_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// Summary window: ZooKeeper rotates its summaries every 60 s; here 3 buckets of 20 s.
pub const SUMMARY_BUCKET: Duration = Duration::from_secs(20);

/// Buckets of the latency histograms, in seconds (100 µs .. 10 s).
pub const LATENCY_BUCKETS_SECONDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Buckets of the fsync batch size histogram, in txns.
pub const BATCH_BUCKETS_TXNS: [f64; 12] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

/// Buckets of the snapshot duration histogram, in seconds.
pub const SNAPSHOT_BUCKETS_SECONDS: [f64; 12] = [
    0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

/// Per-operation request latency (histogram, `op` label).
pub const REQUEST_LATENCY: &str = "zkr_request_latency_seconds";
/// Leader: proposal to commit (histogram).
pub const PROPOSAL_COMMIT_LATENCY: &str = "zkr_proposal_commit_latency_seconds";
/// Txns per log write + fsync (histogram).
pub const FSYNC_BATCH_SIZE: &str = "zkr_fsync_batch_size";
/// Snapshot write duration (histogram).
pub const SNAPSHOT_DURATION: &str = "zkr_snapshot_duration_seconds";

/// Reasons of `zkr_bad_requests_total` (pre-registered at 0 so that rates exist).
pub const BAD_REQUEST_REASONS: [&str; 6] = [
    "unknown_opcode",
    "malformed",
    "malformed_header",
    "malformed_connect",
    "lone_check",
    "frame_length",
];

/// Actors whose restarts `zkr_actor_restarts_total` counts.
pub const RESTARTING_ACTORS: [&str; 2] = ["peer_link", "peer_inbound"];

/// The ZooKeeper-named gauges `monitor::Figures::export` sets: `mntr` prints them from the figures, by
/// ZooKeeper's rules (leader keys on the leader only), never a second time from the registry.
pub const FIGURE_GAUGES: [&str; 25] = [
    "znode_count",
    "watch_count",
    "ephemerals_count",
    "approximate_data_size",
    "num_alive_connections",
    "outstanding_requests",
    "global_sessions",
    "local_sessions",
    "uptime",
    "open_file_descriptor_count",
    "max_file_descriptor_count",
    "packets_received",
    "packets_sent",
    "min_latency",
    "avg_latency",
    "max_latency",
    "quorum_size",
    "learners",
    "synced_followers",
    "synced_observers",
    "pending_syncs",
    "leader_uptime",
    "last_proposal_size",
    "min_proposal_size",
    "max_proposal_size",
];

/// How to render the metrics registry as Prometheus text, once an exporter is installed.
static REGISTRY: OnceLock<Box<dyn Fn() -> String + Send + Sync>> = OnceLock::new();

/// The exporter tells how to render its registry (for `mntr`, which prints every sample).
pub fn set_registry(render: impl Fn() -> String + Send + Sync + 'static) {
    let _ = REGISTRY.set(Box::new(render));
}

/// The registry as Prometheus text (`None` without an exporter: `[metrics] port = 0`).
pub fn registry_text() -> Option<String> {
    REGISTRY.get().map(|render| render())
}

/// The ZooKeeper name of a request opcode, as the `op` label.
pub fn op_name(op: i32) -> &'static str {
    match op {
        opcode::CREATE => "create",
        opcode::DELETE => "delete",
        opcode::EXISTS => "exists",
        opcode::GET_DATA => "getData",
        opcode::SET_DATA => "setData",
        opcode::GET_ACL => "getACL",
        opcode::SET_ACL => "setACL",
        opcode::GET_CHILDREN => "getChildren",
        opcode::SYNC => "sync",
        opcode::PING => "ping",
        opcode::GET_CHILDREN2 => "getChildren2",
        opcode::CHECK => "check",
        opcode::MULTI => "multi",
        opcode::CREATE2 => "create2",
        opcode::RECONFIG => "reconfig",
        opcode::CHECK_WATCHES => "checkWatches",
        opcode::REMOVE_WATCHES => "removeWatches",
        opcode::CREATE_CONTAINER => "createContainer",
        opcode::DELETE_CONTAINER => "deleteContainer",
        opcode::CREATE_TTL => "createTTL",
        opcode::MULTI_READ => "multiRead",
        opcode::AUTH => "auth",
        opcode::SET_WATCHES => "setWatches",
        opcode::SASL => "sasl",
        opcode::GET_EPHEMERALS => "getEphemerals",
        opcode::GET_ALL_CHILDREN_NUMBER => "getAllChildrenNumber",
        opcode::SET_WATCHES2 => "setWatches2",
        opcode::ADD_WATCH => "addWatch",
        opcode::WHO_AM_I => "whoAmI",
        opcode::CREATE_SESSION => "createSession",
        opcode::CLOSE_SESSION => "closeSession",
        _ => "unknown",
    }
}

/// The opcodes [`op_name`] knows lie in `OP_LOW..OP_LOW + OP_SPAN`.
const OP_LOW: i32 = -11;
const OP_SPAN: usize = 119;

/// The per-request histograms' handles, looked up once in the installed recorder: a
/// `histogram!` call hashes its key into the registry, once or twice per request otherwise.
struct RequestHistograms {
    update: ::metrics::Histogram,
    read: ::metrics::Histogram,
    /// `PROPOSAL_COMMIT_LATENCY`, recorded for every txn the leader commits.
    commit: ::metrics::Histogram,
    /// `REQUEST_LATENCY` by opcode, from `OP_LOW`; the last is "unknown". Each is registered
    /// at its first request, as the `histogram!` call would (an op never used is not exported).
    by_op: Vec<OnceLock<::metrics::Histogram>>,
}

static REQUEST_HISTOGRAMS: OnceLock<RequestHistograms> = OnceLock::new();

/// Looks the per-request histograms up in the recorder just installed (before any request).
pub fn cache_request_histograms() {
    let _ = REQUEST_HISTOGRAMS.set(RequestHistograms {
        update: ::metrics::histogram!("updatelatency"),
        read: ::metrics::histogram!("readlatency"),
        commit: ::metrics::histogram!(PROPOSAL_COMMIT_LATENCY),
        by_op: (0..=OP_SPAN).map(|_| OnceLock::new()).collect(),
    });
}

/// A request of type `op` was answered `took` after it arrived: ZooKeeper's `readlatency` or
/// `updatelatency` (ms; writes, syncs and closeSession are updates) and zkr's per-op histogram.
pub fn request_answered(op: i32, took: Duration, update: bool) {
    let ms = took.as_secs_f64() * 1000.0;
    // Set with the recorder (`node::exporter::install`): without it there is nothing to record
    // into, as a `histogram!` call would find.
    let Some(h) = REQUEST_HISTOGRAMS.get() else {
        return;
    };
    if update { &h.update } else { &h.read }.record(ms);
    let i = usize::try_from(op.saturating_sub(OP_LOW)).map_or(OP_SPAN, |i| i.min(OP_SPAN));
    h.by_op[i]
        .get_or_init(|| ::metrics::histogram!(REQUEST_LATENCY, "op" => op_name(op)))
        .record(took.as_secs_f64());
}

/// A proposal of this leader was committed `took` after it was proposed (seconds).
pub fn proposal_committed(took: Duration) {
    if let Some(h) = REQUEST_HISTOGRAMS.get() {
        h.commit.record(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn op_names_are_zookeepers() {
        assert_eq!(op_name(opcode::GET_DATA), "getData");
        assert_eq!(op_name(opcode::CREATE2), "create2");
        assert_eq!(op_name(opcode::MULTI), "multi");
        assert_eq!(op_name(opcode::CLOSE_SESSION), "closeSession");
        assert_eq!(op_name(12345), "unknown");
        let all: BTreeSet<&str> = (-11..=107).map(op_name).collect();
        assert_eq!(OP_LOW, -11);
        assert_eq!(
            OP_LOW + OP_SPAN as i32,
            108,
            "the cached table covers -11..=107"
        );
        assert!(all.len() > 25, "distinct names: {all:?}");
    }
}
