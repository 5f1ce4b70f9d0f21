//! What a node tells Prometheus and `mntr`.
//!
//! Every actor reports through the `metrics` facade; [`install`] puts metrics-exporter-prometheus
//! behind it, serving `/metrics` on `[metrics] address:port`. Names are Apache ZooKeeper's (its
//! `PrometheusMetricsProvider` exports `ServerMetrics` and the servers' gauges without a prefix)
//! wherever the meaning is the same, so dashboards and alerts written for ZooKeeper keep working;
//! the rest are `zkr_`-prefixed. ZooKeeper's summaries (`fsynctime`, `readlatency`, ...) are
//! summaries here too, with its quantiles (0.5, 0.9, 0.99) over a 60 s window and its units
//! (milliseconds); zkr's own latency and size distributions are histograms with buckets (seconds,
//! counts), so that `histogram_quantile` can aggregate them across servers.
//!
//! Gauges that describe state (the tree, sessions, connections, the ensemble) are not pushed on
//! every change: [`Figures::collect`] reads them from the node's shared state, the sampler sets them
//! once a [`SAMPLE_EVERY`], and `mntr` prints the same [`Figures`] (then, like ZooKeeper with the
//! Prometheus provider, every other sample of the registry under a `zk_` key).
//!
//! A process runs one node: the few counters kept outside the node's context (proposal sizes,
//! queue depths) are process-wide statics.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::context::{Mode, NodeContext};
use crate::proto::codes::opcode;
use crate::txn::Zxid;

/// How often the state gauges are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

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

/// Most proposals [`CommitTimer`] remembers (older ones are forgotten, not timed).
pub const COMMIT_TIMER_CAPACITY: usize = 100_000;

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

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder and, given an address, serves `/metrics` there (inside the
/// actix system). Without an address the registry is kept for `mntr` and the admin server's
/// `monitor` only.
pub fn install(addr: Option<SocketAddr>) -> Result<(), String> {
    let e = |e: metrics_exporter_prometheus::BuildError| e.to_string();
    let mut builder = PrometheusBuilder::new()
        .set_quantiles(&SUMMARY_QUANTILES)
        .map_err(e)?
        .set_bucket_duration(SUMMARY_BUCKET)
        .map_err(e)?
        .set_buckets_for_metric(
            Matcher::Full(REQUEST_LATENCY.into()),
            &LATENCY_BUCKETS_SECONDS,
        )
        .map_err(e)?
        .set_buckets_for_metric(
            Matcher::Full(PROPOSAL_COMMIT_LATENCY.into()),
            &LATENCY_BUCKETS_SECONDS,
        )
        .map_err(e)?
        .set_buckets_for_metric(Matcher::Full(FSYNC_BATCH_SIZE.into()), &BATCH_BUCKETS_TXNS)
        .map_err(e)?
        .set_buckets_for_metric(
            Matcher::Full(SNAPSHOT_DURATION.into()),
            &SNAPSHOT_BUCKETS_SECONDS,
        )
        .map_err(e)?;
    let (recorder, exporter) = match addr {
        Some(addr) => {
            builder = builder.with_http_listener(addr);
            let (r, x) = builder.build().map_err(e)?;
            (r, Some(x))
        }
        None => (builder.build_recorder(), None),
    };
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
    let _ = HANDLE.set(handle.clone());
    describe();
    // Before the exporter answers its first scrape (its socket is bound, not served yet).
    register_from_start();
    match exporter {
        Some(exporter) => {
            actix_rt::spawn(async move {
                if let Err(e) = exporter.await {
                    tracing::error!(error = ?e, "metrics exporter stopped");
                }
            });
        }
        None => {
            // What the exporter's builder would otherwise do: rotate the summaries' windows.
            actix_rt::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(5));
                loop {
                    every.tick().await;
                    handle.run_upkeep();
                }
            });
        }
    }
    Ok(())
}

/// Counters that exist from the start (at 0), so that rates and alerts see zeros.
pub const COUNTERS_FROM_START: [&str; 14] = [
    "looking_count",
    "connection_rejected",
    "zkr_elections_total",
    "zkr_role_changes_total",
    "zkr_session_expiries_total",
    "zkr_txns_applied_total",
    "zkr_log_bytes_total",
    "zkr_log_txns_total",
    "zkr_fsyncs_total",
    "zkr_log_write_errors_total",
    "zkr_snapshots_total",
    "zkr_snapshot_errors_total",
    "zkr_auth_failures_total",
    "zkr_requests_failed_disk_total",
];

/// Summaries and histograms that exist from the start (empty: count and sum 0).
pub const DISTRIBUTIONS_FROM_START: [&str; 8] = [
    "fsynctime",
    "snapshottime",
    "readlatency",
    "updatelatency",
    "election_time",
    PROPOSAL_COMMIT_LATENCY,
    FSYNC_BATCH_SIZE,
    SNAPSHOT_DURATION,
];

/// Operations whose `zkr_request_latency_seconds{op}` series exist from the start.
pub const OPS_FROM_START: [i32; 8] = [
    opcode::CREATE,
    opcode::DELETE,
    opcode::EXISTS,
    opcode::GET_DATA,
    opcode::SET_DATA,
    opcode::GET_CHILDREN2,
    opcode::MULTI,
    opcode::PING,
];

/// Registers every series a dashboard or alert queries with its "nothing yet" value (counters
/// and gauges 0, `zkr_leader_id` and the proposal sizes -1, distributions empty), before the
/// exporter answers its first scrape: a new node's panels never read "No data" while they wait
/// for a first snapshot, election or request. The sampler overwrites the state gauges within a
/// [`SAMPLE_EVERY`].
pub fn register_from_start() {
    for name in COUNTERS_FROM_START {
        metrics::counter!(name).increment(0);
    }
    metrics::counter!("zkr_actor_starts_total", "actor" => "connection").increment(0);
    for name in FIGURE_GAUGES.iter().chain(&[
        "zkr_role",
        "zkr_leader",
        "zkr_serving",
        "zkr_last_zxid",
        "zkr_accepted_epoch",
        "zkr_current_epoch",
        "zkr_snapshot_bytes",
    ]) {
        metrics::gauge!(*name).set(0.0);
    }
    for name in [
        "zkr_leader_id",
        "last_proposal_size",
        "min_proposal_size",
        "max_proposal_size",
    ] {
        metrics::gauge!(name).set(-1.0);
    }
    for actor in ["log", "store", "quorum"] {
        metrics::gauge!("zkr_mailbox_depth", "actor" => actor).set(0.0);
    }
    for name in DISTRIBUTIONS_FROM_START {
        let _ = metrics::histogram!(name);
    }
    for op in OPS_FROM_START {
        let _ = metrics::histogram!(REQUEST_LATENCY, "op" => op_name(op));
    }
}

/// After the node's actors started: registers the series that must exist before anything
/// happens (so that rates and alerts see zeros, not nothing), and samples the state gauges
/// every [`SAMPLE_EVERY`] when the exporter runs.
pub fn start(node: &Arc<NodeContext>) {
    for reason in BAD_REQUEST_REASONS {
        metrics::counter!("zkr_bad_requests_total", "reason" => reason).increment(0);
    }
    for actor in RESTARTING_ACTORS {
        metrics::counter!("zkr_actor_restarts_total", "actor" => actor).increment(0);
    }
    if let Some(ens) = &node.config.ensemble {
        for s in ens.servers.iter().filter(|s| s.id != node.config.node.id) {
            let peer = s.id.to_string();
            metrics::counter!("zkr_peer_reconnects_total", "peer" => peer.clone()).increment(0);
            metrics::gauge!("zkr_peer_link_up", "peer" => peer).increment(0.0);
        }
    }
    if node.mode() == Mode::Looking {
        metrics::counter!("looking_count").increment(1);
    }
    metrics::gauge!(
        "zkr_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "zk_version" => crate::connection::fourlw::ZK_COMPAT_VERSION
    )
    .set(1.0);
    metrics::gauge!("zkr_server_id").set(node.config.node.id as f64);
    metrics::gauge!("zkr_read_only").increment(0.0);
    if HANDLE.get().is_none() {
        return;
    }
    let node = node.clone();
    actix_rt::spawn(async move {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            Figures::collect(&node).export();
        }
    });
}

/// The figures of a node at one instant: what the sampler exports and `mntr` prints.
#[derive(Debug, Clone)]
pub struct Figures {
    /// The node's role.
    pub mode: Mode,
    /// Serving clients (has a leader, or standalone).
    pub serving: bool,
    /// Member of an ensemble (not standalone).
    pub ensemble: bool,
    /// Nodes, as ZooKeeper counts them (the root twice).
    pub znode_count: usize,
    /// (watcher, path) pairs, data and child watches.
    pub watch_count: usize,
    /// Ephemeral nodes.
    pub ephemerals_count: usize,
    /// Bytes of paths and data.
    pub approximate_data_size: u64,
    /// Open client connections (every connection actor alive, the asking one included).
    pub num_alive_connections: i64,
    /// Requests received and not answered yet, over every client connection.
    pub outstanding_requests: usize,
    /// Live sessions.
    pub global_sessions: usize,
    /// Read-only mode's sessions, local to this server.
    pub local_sessions: usize,
    /// Milliseconds since the node started.
    pub uptime_ms: i64,
    /// Open file descriptors of the process.
    pub open_fds: u64,
    /// The process's file descriptor limit.
    pub max_fds: u64,
    /// Frames received since `srst`.
    pub packets_received: u64,
    /// Frames sent since `srst`.
    pub packets_sent: u64,
    /// (min, avg, max) request latency in ms since `srst`.
    pub latency_ms: (u64, f64, u64),
    /// Last zxid applied to the tree.
    pub last_zxid: Zxid,
    /// Voting members of the ensemble (ZooKeeper's `quorum_size`; 1 standalone).
    pub quorum_size: usize,
    /// The leader this server follows, or itself.
    pub leader_id: Option<u64>,
    /// (acceptedEpoch, currentEpoch).
    pub epochs: (u64, u64),
    /// Leader (or standalone) only.
    pub leader: Option<LeaderFigures>,
    /// Proposal sizes in bytes: (last, min, max); -1 before the first.
    pub proposal_sizes: (i64, i64, i64),
    /// Jobs queued at the log actor, not yet in a write.
    pub log_queue: i64,
    /// `Apply` batches sent to the store actor and not handled yet.
    pub store_queue: i64,
}

/// What only a leader knows.
#[derive(Debug, Clone, Default)]
pub struct LeaderFigures {
    /// Learners connected (followers and observers).
    pub learners: usize,
    /// Voting followers in sync.
    pub synced_followers: usize,
    /// Observers in sync.
    pub synced_observers: usize,
    /// Learners being synchronised.
    pub pending_syncs: usize,
    /// Proposals not committed yet.
    pub outstanding_proposals: usize,
    /// Milliseconds since this server became leader.
    pub uptime_ms: i64,
}

impl Figures {
    /// Reads the figures from the node's shared state.
    pub fn collect(node: &NodeContext) -> Figures {
        let (znode_count, ephemerals_count, approximate_data_size, last_zxid) = {
            let tree = node.store.tree();
            (
                tree.node_count(),
                tree.ephemeral_count(),
                tree.approximate_data_size(),
                tree.last_zxid(),
            )
        };
        let watch_count = node.store.with_watches(|w| w.count());
        let outstanding_requests = node.store.connections().iter().map(|c| c.queued()).sum();
        let (open_fds, max_fds) = fd_counts();
        let mode = node.mode();
        let status = node.quorum.read().clone();
        let quorum_size = node
            .config
            .ensemble
            .as_ref()
            .map_or(1, |e| e.servers.iter().filter(|s| !s.observer).count());
        let leading = matches!(mode, Mode::Leader | Mode::Standalone);
        let leader = leading.then(|| {
            let st = status.leader_stats.clone().unwrap_or_default();
            LeaderFigures {
                learners: st.learners,
                synced_followers: st.synced_followers,
                synced_observers: st.synced_observers,
                pending_syncs: st.pending_syncs,
                outstanding_proposals: st.outstanding_proposals,
                uptime_ms: node.role_clock.lock().in_mode_ms(),
            }
        });
        Figures {
            mode,
            serving: node.is_serving(),
            ensemble: node.config.ensemble.is_some(),
            znode_count,
            watch_count,
            ephemerals_count,
            approximate_data_size,
            num_alive_connections: node.open_connections() as i64,
            outstanding_requests,
            global_sessions: node.sessions.len(),
            local_sessions: node.local_sessions.len(),
            uptime_ms: crate::clock::now_ms() - node.started_ms,
            open_fds,
            max_fds,
            packets_received: node.stats.received(),
            packets_sent: node.stats.sent(),
            latency_ms: node.stats.latency_ms(),
            last_zxid,
            quorum_size,
            leader_id: status.leader,
            epochs: status.epochs,
            leader,
            proposal_sizes: PROPOSAL_SIZES.get(),
            log_queue: LOG_QUEUE.get(),
            store_queue: STORE_QUEUE.get(),
        }
    }

    /// ZooKeeper's `zk_peer_state`: the peer state and the Zab phase, e.g. `leading - broadcast`.
    pub fn peer_state(&self) -> String {
        let state = match self.mode {
            Mode::Leader | Mode::Standalone => "leading",
            Mode::Follower => "following",
            Mode::Observer => "observing",
            Mode::Looking | Mode::ReadOnly => return "looking - election".into(),
        };
        let phase = if self.serving {
            "broadcast"
        } else {
            "synchronization"
        };
        format!("{state} - {phase}")
    }

    /// The `zkr_role` value: 0 looking (or read-only), 1 follower, 2 leader, 3 observer,
    /// 4 standalone.
    pub fn role_code(&self) -> f64 {
        role_code(self.mode)
    }

    /// Sets the state gauges.
    pub fn export(&self) {
        use metrics::gauge;
        gauge!("znode_count").set(self.znode_count as f64);
        gauge!("watch_count").set(self.watch_count as f64);
        gauge!("ephemerals_count").set(self.ephemerals_count as f64);
        gauge!("approximate_data_size").set(self.approximate_data_size as f64);
        gauge!("num_alive_connections").set(self.num_alive_connections as f64);
        gauge!("outstanding_requests").set(self.outstanding_requests as f64);
        gauge!("global_sessions").set(self.global_sessions as f64);
        gauge!("local_sessions").set(self.local_sessions as f64);
        gauge!("uptime").set(self.uptime_ms as f64);
        gauge!("open_file_descriptor_count").set(self.open_fds as f64);
        gauge!("max_file_descriptor_count").set(self.max_fds as f64);
        gauge!("packets_received").set(self.packets_received as f64);
        gauge!("packets_sent").set(self.packets_sent as f64);
        gauge!("min_latency").set(self.latency_ms.0 as f64);
        gauge!("avg_latency").set(self.latency_ms.1);
        gauge!("max_latency").set(self.latency_ms.2 as f64);
        gauge!("quorum_size").set(self.quorum_size as f64);
        let l = self.leader.clone().unwrap_or_default();
        gauge!("learners").set(l.learners as f64);
        gauge!("synced_followers").set(l.synced_followers as f64);
        gauge!("synced_observers").set(l.synced_observers as f64);
        gauge!("pending_syncs").set(l.pending_syncs as f64);
        gauge!("leader_uptime").set(l.uptime_ms as f64);
        gauge!("last_proposal_size").set(self.proposal_sizes.0 as f64);
        gauge!("min_proposal_size").set(self.proposal_sizes.1 as f64);
        gauge!("max_proposal_size").set(self.proposal_sizes.2 as f64);
        gauge!("zkr_role").set(self.role_code());
        gauge!("zkr_leader").set(if self.leader.is_some() { 1.0 } else { 0.0 });
        gauge!("zkr_serving").set(if self.serving { 1.0 } else { 0.0 });
        gauge!("zkr_leader_id").set(self.leader_id.map_or(-1.0, |id| id as f64));
        gauge!("zkr_last_zxid").set(self.last_zxid as f64);
        gauge!("zkr_accepted_epoch").set(self.epochs.0 as f64);
        gauge!("zkr_current_epoch").set(self.epochs.1 as f64);
        gauge!("zkr_mailbox_depth", "actor" => "log").set(self.log_queue as f64);
        gauge!("zkr_mailbox_depth", "actor" => "store").set(self.store_queue as f64);
        gauge!("zkr_mailbox_depth", "actor" => "quorum").set(l.outstanding_proposals as f64);
    }

    /// The `mntr` lines of these figures (keys without `zk_`), in ZooKeeper's order where it has
    /// one; the ensemble keys only on a member, the leader keys only on the leader, as ZooKeeper.
    pub fn mntr_pairs(&self) -> Vec<(String, String)> {
        let (min, avg, max) = self.latency_ms;
        let mut v: Vec<(&str, String)> = vec![
            ("version", crate::connection::fourlw::version_string()),
            ("server_state", self.mode.name().into()),
            ("avg_latency", java_double(avg)),
            ("max_latency", max.to_string()),
            ("min_latency", min.to_string()),
            ("packets_received", self.packets_received.to_string()),
            ("packets_sent", self.packets_sent.to_string()),
            (
                "num_alive_connections",
                self.num_alive_connections.to_string(),
            ),
            (
                "outstanding_requests",
                self.outstanding_requests.to_string(),
            ),
            ("znode_count", self.znode_count.to_string()),
            ("watch_count", self.watch_count.to_string()),
            ("ephemerals_count", self.ephemerals_count.to_string()),
            (
                "approximate_data_size",
                self.approximate_data_size.to_string(),
            ),
            ("open_file_descriptor_count", self.open_fds.to_string()),
            ("max_file_descriptor_count", self.max_fds.to_string()),
            ("uptime", self.uptime_ms.to_string()),
            ("global_sessions", self.global_sessions.to_string()),
            ("local_sessions", self.local_sessions.to_string()),
            ("connection_drop_probability", "0.0".into()),
            ("outstanding_tls_handshake", "0".into()),
        ];
        if self.ensemble {
            v.push(("quorum_size", self.quorum_size.to_string()));
            v.push(("peer_state", self.peer_state()));
        }
        match (&self.leader, self.ensemble) {
            (Some(l), true) => {
                v.push(("learners", l.learners.to_string()));
                v.push(("followers", l.learners.to_string()));
                v.push(("synced_followers", l.synced_followers.to_string()));
                v.push(("synced_non_voting_followers", "0".into()));
                v.push(("synced_observers", l.synced_observers.to_string()));
                v.push(("pending_syncs", l.pending_syncs.to_string()));
                v.push(("leader_uptime", l.uptime_ms.to_string()));
                v.push(("last_proposal_size", self.proposal_sizes.0.to_string()));
                v.push(("max_proposal_size", self.proposal_sizes.2.to_string()));
                v.push(("min_proposal_size", self.proposal_sizes.1.to_string()));
            }
            _ => v.push(("last_proposal_size", "-1".into())),
        }
        v.push(("last_zxid", format!("0x{:x}", self.last_zxid)));
        v.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// The whole `mntr` answer: the node's [`Figures`], then every other sample the Prometheus
/// registry holds (counters, summaries' quantiles, sums and counts, labelled series such as
/// `zk_zkr_peer_link_up{peer="2"}`), as ZooKeeper prints its registry with the Prometheus
/// provider. Histogram buckets are left to `/metrics`. Without the exporter (`[metrics] port =
/// 0`) only the figures are printed.
pub fn mntr(node: &NodeContext) -> String {
    let figures = Figures::collect(node);
    let registry = registry_samples();
    let auth_failed = registry
        .iter()
        .find(|(k, _)| k == "zkr_auth_failures_total")
        .map_or_else(|| "0".to_string(), |(_, v)| v.clone());
    let mut s = String::new();
    for (k, v) in figures.mntr_pairs() {
        let _ = writeln!(s, "zk_{k}\t{v}");
    }
    let _ = writeln!(s, "zk_auth_failed_count\t{auth_failed}");
    let mut rest: Vec<&(String, String)> = registry
        .iter()
        .filter(|(k, _)| {
            let base = k.split('{').next().unwrap_or(k);
            !FIGURE_GAUGES.contains(&base) && !base.ends_with("_bucket")
        })
        .collect();
    rest.sort();
    for (k, v) in rest {
        let _ = writeln!(s, "zk_{k}\t{v}");
    }
    s
}

/// The ZooKeeper-named gauges [`Figures::export`] sets: `mntr` prints them from the figures, by
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

/// Every sample the Prometheus registry holds now, as (`name{labels}`, value); empty when the
/// exporter does not run.
pub fn registry_samples() -> Vec<(String, String)> {
    HANDLE
        .get()
        .map(|h| exposition_samples(&h.render()))
        .unwrap_or_default()
}

/// The samples of a Prometheus text exposition, as (`name{labels}`, value), comments skipped.
pub fn exposition_samples(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.trim_end().rsplit_once(' ')?;
            Some((k.trim_end().to_string(), v.to_string()))
        })
        .collect()
}

/// A double as Java prints it in `mntr` (at most 4 fraction digits, at least one).
fn java_double(v: f64) -> String {
    let r = (v * 10_000.0).round() / 10_000.0;
    let mut t = format!("{r}");
    if !t.contains('.') && !t.contains("inf") && !t.contains("NaN") {
        t.push_str(".0");
    }
    t
}

/// (open, limit) file descriptors of the process.
pub fn fd_counts() -> (u64, u64) {
    let open = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and has no other effect.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        0
    };
    (open, max)
}

fn role_code(mode: Mode) -> f64 {
    match mode {
        Mode::Looking | Mode::ReadOnly => 0.0,
        Mode::Follower => 1.0,
        Mode::Leader => 2.0,
        Mode::Observer => 3.0,
        Mode::Standalone => 4.0,
    }
}

/// When the node's role last changed, and since when it has been electing.
#[derive(Debug)]
pub struct RoleClock {
    mode: Mode,
    since: Instant,
}

impl RoleClock {
    /// A clock starting in `mode` now.
    pub fn new(mode: Mode) -> RoleClock {
        RoleClock {
            mode,
            since: Instant::now(),
        }
    }

    /// The role is now `mode` (at `now`). Returns the previous role and how long it lasted, or
    /// `None` if the role did not change.
    pub fn change(&mut self, mode: Mode, now: Instant) -> Option<(Mode, Duration)> {
        if mode == self.mode {
            return None;
        }
        let prev = std::mem::replace(&mut self.mode, mode);
        let lasted = now.saturating_duration_since(self.since);
        self.since = now;
        Some((prev, lasted))
    }

    /// Milliseconds in the current role.
    pub fn in_mode_ms(&self) -> i64 {
        self.since.elapsed().as_millis() as i64
    }
}

/// The quorum actor changed the node's role to `mode`: role gauges, and the election metrics
/// (ZooKeeper's `looking_count` when the node starts electing, `election_time` in ms when an
/// election ends, `zkr_elections_total`).
pub fn role_changed(node: &NodeContext, mode: Mode) {
    let Some((prev, lasted)) = node.role_clock.lock().change(mode, Instant::now()) else {
        return;
    };
    metrics::counter!("zkr_role_changes_total").increment(1);
    metrics::gauge!("zkr_role").set(role_code(mode));
    if mode == Mode::Looking {
        metrics::counter!("looking_count").increment(1);
    } else if prev == Mode::Looking {
        metrics::histogram!("election_time").record(lasted.as_secs_f64() * 1000.0);
        metrics::counter!("zkr_elections_total").increment(1);
    }
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

/// A request of type `op` was answered `took` after it arrived: ZooKeeper's `readlatency` or
/// `updatelatency` (ms; writes, syncs and closeSession are updates) and zkr's per-op histogram.
pub fn request_answered(op: i32, took: Duration, update: bool) {
    let ms = took.as_secs_f64() * 1000.0;
    if update {
        metrics::histogram!("updatelatency").record(ms);
    } else {
        metrics::histogram!("readlatency").record(ms);
    }
    metrics::histogram!(REQUEST_LATENCY, "op" => op_name(op)).record(took.as_secs_f64());
}

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

/// Help text and units of every metric zkr exports.
pub fn describe() {
    use metrics::{describe_counter as c, describe_gauge as g, describe_histogram as h};
    // ZooKeeper's names.
    g!(
        "znode_count",
        "Znodes in the tree (the root counted twice, as ZooKeeper)"
    );
    g!("watch_count", "Watches (watcher, path) set on this server");
    g!("ephemerals_count", "Ephemeral znodes");
    g!(
        "approximate_data_size",
        Unit::Bytes,
        "Bytes of paths and data in the tree"
    );
    g!("num_alive_connections", "Open client connections");
    g!(
        "outstanding_requests",
        "Client requests received and not answered yet"
    );
    g!("global_sessions", "Live sessions");
    g!(
        "local_sessions",
        "Read-only mode's sessions, local to this server"
    );
    g!(
        "uptime",
        Unit::Milliseconds,
        "Time since the server started"
    );
    g!("open_file_descriptor_count", "Open file descriptors");
    g!("max_file_descriptor_count", "File descriptor limit");
    g!("packets_received", "Client frames received since srst");
    g!("packets_sent", "Client frames sent since srst");
    g!(
        "avg_latency",
        Unit::Milliseconds,
        "Average request latency since srst"
    );
    g!(
        "min_latency",
        Unit::Milliseconds,
        "Minimum request latency since srst"
    );
    g!(
        "max_latency",
        Unit::Milliseconds,
        "Maximum request latency since srst"
    );
    g!(
        "quorum_size",
        "Voting members of the ensemble (1 standalone)"
    );
    g!("learners", "Leader: learners connected (0 elsewhere)");
    g!(
        "synced_followers",
        "Leader: voting followers in sync (0 elsewhere)"
    );
    g!(
        "synced_observers",
        "Leader: observers in sync (0 elsewhere)"
    );
    g!(
        "pending_syncs",
        "Leader: learners being synchronised (0 elsewhere)"
    );
    g!(
        "leader_uptime",
        Unit::Milliseconds,
        "Leader: time since it became leader (0 elsewhere)"
    );
    g!(
        "last_proposal_size",
        Unit::Bytes,
        "Leader: size of the last proposal (-1: none)"
    );
    g!(
        "min_proposal_size",
        Unit::Bytes,
        "Leader: smallest proposal (-1: none)"
    );
    g!(
        "max_proposal_size",
        Unit::Bytes,
        "Leader: largest proposal (-1: none)"
    );
    h!(
        "fsynctime",
        Unit::Milliseconds,
        "Txn log write + fsync time per batch"
    );
    h!("snapshottime", Unit::Milliseconds, "Snapshot write time");
    h!(
        "readlatency",
        Unit::Milliseconds,
        "Latency of reads answered by this server"
    );
    h!(
        "updatelatency",
        Unit::Milliseconds,
        "Latency of writes from this server's clients, arrival to reply"
    );
    h!(
        "election_time",
        Unit::Milliseconds,
        "Leader election time: looking to a role"
    );
    c!(
        "looking_count",
        "Times the server started looking for a leader"
    );
    c!(
        "connection_rejected",
        "Client connections refused (maxClientCnxns per address)"
    );
    // zkr's own.
    h!(
        REQUEST_LATENCY,
        Unit::Seconds,
        "Request latency by operation (op), arrival to reply"
    );
    h!(
        PROPOSAL_COMMIT_LATENCY,
        Unit::Seconds,
        "Leader: proposal to commit"
    );
    h!(
        FSYNC_BATCH_SIZE,
        "Txns per log write + fsync (group commit)"
    );
    h!(SNAPSHOT_DURATION, Unit::Seconds, "Snapshot write duration");
    g!(
        "zkr_snapshot_bytes",
        Unit::Bytes,
        "Size of the last snapshot written"
    );
    c!("zkr_snapshots_total", "Snapshots written");
    c!("zkr_snapshot_errors_total", "Snapshots that failed");
    c!(
        "zkr_snapshots_unusable_total",
        "Snapshots skipped at recovery"
    );
    c!(
        "zkr_log_bytes_total",
        Unit::Bytes,
        "Bytes appended to the txn log"
    );
    c!("zkr_log_txns_total", "Txns appended to the txn log");
    c!("zkr_fsyncs_total", "fsync calls on the txn log");
    c!("zkr_log_write_errors_total", "Failed txn log writes");
    c!("zkr_log_truncations_total", "Log tails cut at recovery");
    c!("zkr_txns_applied_total", "Txns applied to the tree");
    c!(
        "zkr_requests_failed_disk_total",
        "Requests failed because the log could not be written"
    );
    c!(
        "zkr_session_expiries_total",
        "Sessions expired (counted by the leader or standalone server)"
    );
    g!(
        "zkr_role",
        "Role: 0 looking, 1 follower, 2 leader, 3 observer, 4 standalone"
    );
    g!("zkr_leader", "1 if this server leads (or is standalone)");
    g!(
        "zkr_serving",
        "1 if this server serves clients (has a leader)"
    );
    g!(
        "zkr_read_only",
        "1 while the server is in read-only mode (no quorum; read-only clients only)"
    );
    g!(
        "zkr_leader_id",
        "Server id of the leader this server follows (-1: none)"
    );
    g!("zkr_server_id", "This server's id");
    g!("zkr_build_info", "Version labels (value 1)");
    g!("zkr_last_zxid", "Last zxid applied to the tree");
    g!("zkr_accepted_epoch", "acceptedEpoch");
    g!("zkr_current_epoch", "currentEpoch");
    c!(
        "zkr_elections_total",
        "Leader elections this server completed"
    );
    c!("zkr_role_changes_total", "Role changes");
    g!(
        "zkr_peer_link_up",
        "1 while the outgoing link to peer is connected"
    );
    c!(
        "zkr_peer_reconnects_total",
        "Outgoing peer links lost (and reconnecting)"
    );
    c!(
        "zkr_actor_restarts_total",
        "Disposable actors restarted, by actor (peer_link: outgoing link re-established; peer_inbound: a peer's connection replaced)"
    );
    c!(
        "zkr_actor_starts_total",
        "Actors started, by actor (connection: one per client socket)"
    );
    g!(
        "zkr_mailbox_depth",
        "Work queued at an actor (log: jobs waiting; store: Apply batches; quorum: proposals not committed)"
    );
    c!(
        "zkr_bad_requests_total",
        "Client requests rejected as malformed, by reason"
    );
    c!("zkr_auth_failures_total", "Failed authentications");
    c!(
        "zkr_four_letter_words_total",
        "Four-letter words answered, by word"
    );
    c!("zkr_tls_handshake_failures_total", "Failed TLS handshakes");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn role_clock_reports_changes_only() {
        let t0 = Instant::now();
        let mut c = RoleClock::new(Mode::Looking);
        assert!(c.change(Mode::Looking, t0).is_none());
        let later = t0 + Duration::from_millis(250);
        let (prev, lasted) = c.change(Mode::Leader, later).expect("a change");
        assert_eq!(prev, Mode::Looking);
        assert!(lasted <= Duration::from_millis(250) + t0.elapsed());
        assert!(c.change(Mode::Leader, later).is_none());
        let (prev, lasted) = c
            .change(Mode::Looking, later + Duration::from_millis(40))
            .expect("a change");
        assert_eq!(prev, Mode::Leader);
        assert_eq!(lasted, Duration::from_millis(40));
    }

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

    #[test]
    fn op_names_are_zookeepers() {
        assert_eq!(op_name(opcode::GET_DATA), "getData");
        assert_eq!(op_name(opcode::CREATE2), "create2");
        assert_eq!(op_name(opcode::MULTI), "multi");
        assert_eq!(op_name(opcode::CLOSE_SESSION), "closeSession");
        assert_eq!(op_name(12345), "unknown");
        let all: BTreeSet<&str> = (-11..=107).map(op_name).collect();
        assert!(all.len() > 25, "distinct names: {all:?}");
    }

    #[test]
    fn exposition_samples_parse_names_labels_and_values() {
        let text = "# HELP znode_count Znodes\n# TYPE znode_count gauge\nznode_count 5\n\
                    fsynctime{quantile=\"0.5\"} 0.25\nfsynctime_sum 3.5\n\
                    zkr_peer_link_up{peer=\"2\"} 1\n\n";
        let s = exposition_samples(text);
        assert_eq!(
            s,
            vec![
                ("znode_count".to_string(), "5".to_string()),
                ("fsynctime{quantile=\"0.5\"}".into(), "0.25".into()),
                ("fsynctime_sum".into(), "3.5".into()),
                ("zkr_peer_link_up{peer=\"2\"}".into(), "1".into()),
            ]
        );
    }

    fn figures(mode: Mode, ensemble: bool, leader: Option<LeaderFigures>) -> Figures {
        Figures {
            mode,
            serving: true,
            ensemble,
            znode_count: 7,
            watch_count: 3,
            ephemerals_count: 1,
            approximate_data_size: 99,
            num_alive_connections: 2,
            outstanding_requests: 0,
            global_sessions: 2,
            local_sessions: 0,
            uptime_ms: 1234,
            open_fds: 40,
            max_fds: 1024,
            packets_received: 10,
            packets_sent: 11,
            latency_ms: (0, 0.5, 3),
            last_zxid: 0x1_0000_0005,
            quorum_size: 3,
            leader_id: Some(2),
            epochs: (1, 1),
            leader,
            proposal_sizes: (120, 80, 300),
            log_queue: 0,
            store_queue: 0,
        }
    }

    #[test]
    fn mntr_pairs_follow_zookeeper_keys_by_role() {
        let leader = LeaderFigures {
            learners: 2,
            synced_followers: 2,
            synced_observers: 0,
            pending_syncs: 0,
            outstanding_proposals: 1,
            uptime_ms: 500,
        };
        let kv = |f: &Figures| -> std::collections::HashMap<String, String> {
            f.mntr_pairs().into_iter().collect()
        };
        let l = kv(&figures(Mode::Leader, true, Some(leader.clone())));
        assert_eq!(l["server_state"], "leader");
        assert_eq!(l["quorum_size"], "3");
        assert_eq!(l["synced_followers"], "2");
        assert_eq!(l["followers"], "2");
        assert_eq!(l["learners"], "2");
        assert_eq!(l["pending_syncs"], "0");
        assert_eq!(l["leader_uptime"], "500");
        assert_eq!(l["last_proposal_size"], "120");
        assert_eq!(l["min_proposal_size"], "80");
        assert_eq!(l["max_proposal_size"], "300");
        assert_eq!(l["avg_latency"], "0.5");
        assert_eq!(l["last_zxid"], "0x100000005");
        assert_eq!(l["peer_state"], "leading - broadcast");
        let f = kv(&figures(Mode::Follower, true, None));
        assert_eq!(f["server_state"], "follower");
        assert_eq!(f["quorum_size"], "3");
        assert!(!f.contains_key("synced_followers"));
        assert_eq!(f["last_proposal_size"], "-1");
        assert_eq!(f["peer_state"], "following - broadcast");
        let mut looking = figures(Mode::Looking, true, None);
        looking.serving = false;
        assert_eq!(looking.peer_state(), "looking - election");
        let s = kv(&figures(Mode::Standalone, false, Some(leader)));
        assert!(!s.contains_key("quorum_size"));
        assert!(!s.contains_key("peer_state"));
        assert!(!s.contains_key("synced_followers"));
        let pairs = figures(Mode::Standalone, false, None).mntr_pairs();
        assert_eq!(pairs[0].0, "version");
        assert_eq!(pairs[1], ("server_state".into(), "standalone".into()));
    }

    #[test]
    fn java_double_prints_like_java() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(2.0), "2.0");
        assert_eq!(java_double(0.123456), "0.1235");
    }
}
