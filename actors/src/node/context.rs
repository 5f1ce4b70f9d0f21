//! What every connection of a node shares: configuration, the store, the sessions, the
//! pipeline's address, statistics.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::Addr;
use dashmap::DashMap;

use super::stats::ServerStats;
use crate::config::NodeConfig;
use crate::pipeline::actor::Pipeline;
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
    /// New session ids.
    pub session_ids: SessionIdGenerator,
    /// Where writes go.
    pub pipeline: Addr<Pipeline>,
    /// Request statistics.
    pub stats: Arc<ServerStats>,
    /// Monotonic ms when the node started.
    pub started_ms: i64,
    /// The node's role.
    pub mode: parking_lot::RwLock<Mode>,
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
        pipeline: Addr<Pipeline>,
        stats: Arc<ServerStats>,
        mode: Mode,
    ) -> NodeContext {
        NodeContext {
            config,
            store,
            sessions,
            session_ids,
            pipeline,
            stats,
            started_ms: crate::clock::now_ms(),
            mode: parking_lot::RwLock::new(mode),
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
}
