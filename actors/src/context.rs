//! What every connection of a node shares: configuration, the store, the sessions, where
//! requests go (the quorum actor's inbox: recipients, not its address), the node's mode and
//! flags (set by the node supervisor only), statistics.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::RwLock;

use crate::config::NodeConfig;
use crate::metrics::stats::ServerStats;
use crate::peer::messages::QuorumInbox;
use crate::quorum::core::QuorumStatus;
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

    /// The `zkr_role` gauge value: 0 looking (or read-only), 1 follower, 2 leader, 3 observer,
    /// 4 standalone.
    pub fn code(self) -> f64 {
        match self {
            Mode::Looking | Mode::ReadOnly => 0.0,
            Mode::Follower => 1.0,
            Mode::Leader => 2.0,
            Mode::Observer => 3.0,
            Mode::Standalone => 4.0,
        }
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
    /// Where writes, syncs and session requests go: the quorum actor's inbox.
    pub quorum_peer: QuorumInbox,
    /// The ensemble's state as the quorum actor last published it.
    pub quorum: Arc<RwLock<QuorumStatus>>,
    serving: std::sync::atomic::AtomicBool,
    read_only: std::sync::atomic::AtomicBool,
    /// Request statistics.
    pub stats: Arc<ServerStats>,
    /// Monotonic ms when the node started.
    pub started_ms: i64,
    /// The node's role (set by the node supervisor).
    pub mode: RwLock<Mode>,
    /// Since when it plays that role (metrics: election time, leader uptime).
    pub role_clock: parking_lot::Mutex<RoleClock>,
    next_conn_id: AtomicU64,
    per_ip: DashMap<IpAddr, u32>,
}

impl NodeContext {
    /// A context for a node.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: NodeConfig,
        store: Arc<Store>,
        sessions: Arc<SessionRegistry>,
        session_ids: SessionIdGenerator,
        quorum_peer: QuorumInbox,
        quorum: Arc<RwLock<QuorumStatus>>,
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
            quorum,
            serving: std::sync::atomic::AtomicBool::new(false),
            read_only: std::sync::atomic::AtomicBool::new(false),
            stats,
            started_ms: crate::clock::now_ms(),
            mode: RwLock::new(mode),
            role_clock: parking_lot::Mutex::new(RoleClock::new(mode)),
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

    /// Set by the node supervisor.
    pub fn set_serving(&self, on: bool) {
        self.serving.store(on, Ordering::Release);
    }

    /// Is the node in read-only mode (cut off from its quorum, serving read-only clients with
    /// local sessions)? Never at the same time as [`Self::is_serving`].
    pub fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::SeqCst)
    }

    /// Set by the node supervisor when it enters or leaves read-only mode.
    pub fn set_read_only(&self, on: bool) {
        self.read_only.store(on, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
