//! What a node's figures are at one instant ([`Figures`]): the state gauges the exporter samples
//! and the numbers `mntr`, `srvr` and `stat` print. Gauges that describe state (the tree,
//! sessions, connections, the ensemble) are not pushed on every change: [`Figures::collect`]
//! reads them from the node's shared state, the exporter's sampler sets them once a second, and
//! `mntr` prints the same figures (then, like ZooKeeper with the Prometheus provider, every other
//! sample of the registry under a `zk_` key: see [`mntr`]).

use crate::context::{Mode, NodeContext};
use crate::txn::Zxid;

mod mntr;

pub use mntr::{exposition_samples, mntr, registry_samples};

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
            proposal_sizes: crate::metrics::PROPOSAL_SIZES.get(),
            log_queue: crate::metrics::LOG_QUEUE.get(),
            store_queue: crate::metrics::STORE_QUEUE.get(),
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
        self.mode.code()
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
