//! The help text and unit of every metric zkr exports, and the series registered at zero when a
//! node starts (so that rates and alerts see zeros, not nothing).

use ::metrics::Unit;

use super::{
    op_name, BAD_REQUEST_REASONS, FIGURE_GAUGES, FSYNC_BATCH_SIZE, PROPOSAL_COMMIT_LATENCY,
    REQUEST_LATENCY, RESTARTING_ACTORS, SNAPSHOT_DURATION,
};
use crate::proto::codes::opcode;

/// Help text and units of every metric zkr exports.
pub fn describe() {
    use ::metrics::{describe_counter as c, describe_gauge as g, describe_histogram as h};
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

/// Registers the series of server `me` and its `peers` (at zero) and its identity gauges, once
/// the node's actors started.
pub fn preregister(me: u64, peers: impl Iterator<Item = u64>) {
    for reason in BAD_REQUEST_REASONS {
        ::metrics::counter!("zkr_bad_requests_total", "reason" => reason).increment(0);
    }
    for actor in RESTARTING_ACTORS {
        ::metrics::counter!("zkr_actor_restarts_total", "actor" => actor).increment(0);
    }
    for peer in peers {
        let peer = peer.to_string();
        ::metrics::counter!("zkr_peer_reconnects_total", "peer" => peer.clone()).increment(0);
        ::metrics::gauge!("zkr_peer_link_up", "peer" => peer).increment(0.0);
    }
    ::metrics::gauge!(
        "zkr_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "zk_version" => crate::version::ZK_COMPAT_VERSION
    )
    .set(1.0);
    ::metrics::gauge!("zkr_server_id").set(me as f64);
    ::metrics::gauge!("zkr_read_only").increment(0.0);
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
/// second.
pub fn register_from_start() {
    for name in COUNTERS_FROM_START {
        ::metrics::counter!(name).increment(0);
    }
    ::metrics::counter!("zkr_actor_starts_total", "actor" => "connection").increment(0);
    for name in FIGURE_GAUGES.iter().chain(&[
        "zkr_role",
        "zkr_leader",
        "zkr_serving",
        "zkr_last_zxid",
        "zkr_accepted_epoch",
        "zkr_current_epoch",
        "zkr_snapshot_bytes",
    ]) {
        ::metrics::gauge!(*name).set(0.0);
    }
    for name in [
        "zkr_leader_id",
        "last_proposal_size",
        "min_proposal_size",
        "max_proposal_size",
    ] {
        ::metrics::gauge!(name).set(-1.0);
    }
    for actor in ["log", "store", "quorum"] {
        ::metrics::gauge!("zkr_mailbox_depth", "actor" => actor).set(0.0);
    }
    for name in DISTRIBUTIONS_FROM_START {
        let _ = ::metrics::histogram!(name);
    }
    for op in OPS_FROM_START {
        let _ = ::metrics::histogram!(REQUEST_LATENCY, "op" => op_name(op));
    }
}
