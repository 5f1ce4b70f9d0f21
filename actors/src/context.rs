//! What every connection of a node shares: configuration, the store, the sessions, the
//! pipeline's address, statistics.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::Addr;
use dashmap::DashMap;

use crate::config::NodeConfig;
use crate::metrics::stats::ServerStats;
use crate::peer::actor::QuorumPeer;
use crate::quorum::leader::LeaderStats;
use crate::quorum::msg::Sid;
use crate::session::{SessionIdGenerator, SessionRegistry};
use crate::store::Store;

/// The role a node plays, for `srvr` and `mntr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A single server.
    Standalone,
    /// Ensemble leader.
    Leader,
    /// Ensemble follower.
    Follower,
    /// Ensemble observer.
    Observer,
    /// Cut off from its quorum, serving read-only clients.
    ReadOnly,
    /// Electing a leader (not serving).
    Looking,
}

impl Mode {
    /// The name ZooKeeper prints.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Observer => "observer",
            Mode::ReadOnly => "read-only",
            Mode::Looking => "looking",
        }
    }
}

/// Shared by every connection of the node.
pub struct NodeContext {
    /// Configuration.
    pub config: NodeConfig,
    /// Tree and watches.
    pub store: Arc<Store>,
    /// Live sessions.
    pub sessions: Arc<SessionRegistry>,
    /// Read-only mode's sessions: local to this server, never replicated, dropped when the
    /// server leaves read-only mode. Their ids come from `session_ids` too, so they never
    /// collide with the global sessions this server creates (other servers' ids differ in the
    /// top byte).
    pub local_sessions: SessionRegistry,
    /// New session ids.
    pub session_ids: SessionIdGenerator,
    /// Where writes go.
    pub quorum_peer: Addr<QuorumPeer>,
    /// The ensemble's state as the quorum actor last published it.
    pub quorum: parking_lot::RwLock<QuorumStatus>,
    serving: std::sync::atomic::AtomicBool,
    read_only: std::sync::atomic::AtomicBool,
    /// Request statistics.
    pub stats: Arc<ServerStats>,
    /// Monotonic ms when the node started.
    pub started_ms: i64,
    /// The node's role.
    pub mode: parking_lot::RwLock<Mode>,
    /// Since when it plays that role (metrics: election time, leader uptime).
    pub role_clock: parking_lot::Mutex<crate::metrics::RoleClock>,
    next_conn_id: AtomicU64,
    per_ip: DashMap<IpAddr, u32>,
}

impl NodeContext {
    /// A context for a node.
    pub fn new(
        config: NodeConfig,
        store: Arc<Store>,
        sessions: Arc<SessionRegistry>,
        session_ids: SessionIdGenerator,
        quorum_peer: Addr<QuorumPeer>,
        stats: Arc<ServerStats>,
        mode: Mode,
    ) -> NodeContext {
        let tick_ms = config.node.tick_time_ms.max(1) as i64;
        NodeContext {
            config,
            store,
            sessions,
            local_sessions: SessionRegistry::new(tick_ms),
            session_ids,
            quorum_peer,
            quorum: parking_lot::RwLock::new(QuorumStatus::default()),
            serving: std::sync::atomic::AtomicBool::new(false),
            read_only: std::sync::atomic::AtomicBool::new(false),
            stats,
            started_ms: crate::clock::now_ms(),
            mode: parking_lot::RwLock::new(mode),
            role_clock: parking_lot::Mutex::new(crate::metrics::RoleClock::new(mode)),
            next_conn_id: AtomicU64::new(1),
            per_ip: DashMap::new(),
        }
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a connection from `ip`; false if that exceeds `maxClientCnxns`.
    pub fn admit_ip(&self, ip: IpAddr) -> bool {
        let max = self.config.node.max_client_connections;
        let mut n = self.per_ip.entry(ip).or_insert(0);
        if max != 0 && *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    /// Client connections open now (admitted and not closed), over every address.
    pub fn open_connections(&self) -> usize {
        self.per_ip.iter().map(|e| *e.value() as usize).sum()
    }

    /// A connection from `ip` closed.
    pub fn release_ip(&self, ip: IpAddr) {
        if let Some(mut n) = self.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
        }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.read()
    }

    /// Does the node serve clients (has a leader, or is standalone)?
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// Set by the quorum actor.
    pub fn set_serving(&self, on: bool) {
        self.serving.store(on, Ordering::Release);
    }

    /// Is the node in read-only mode (cut off from its quorum, serving read-only clients with
    /// local sessions)? Never at the same time as [`Self::is_serving`].
    pub fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::SeqCst)
    }

    /// Set by the quorum actor when it enters or leaves read-only mode.
    pub fn set_read_only(&self, on: bool) {
        self.read_only.store(on, Ordering::SeqCst);
    }
}

/// The ensemble as seen by this server (for `srvr`, `mntr`, metrics).
#[derive(Debug, Clone, Default)]
pub struct QuorumStatus {
    /// The leader this server follows, or itself.
    pub leader: Option<Sid>,
    /// Leader only: its learners.
    pub leader_stats: Option<LeaderStats>,
    /// (acceptedEpoch, currentEpoch).
    pub epochs: (u64, u64),
    /// Voters needed for a quorum.
    pub quorum_size: usize,
    /// Last zxid in the log.
    pub last_logged: i64,
}
