//! The node: builds a node's actors from its configuration and starts them ([`start`]), with
//! the node supervisor that owns its role transitions ([`supervisor`], [`roles`]) and the
//! Prometheus exporter ([`exporter`]). Nothing imports this module: it is the top of the
//! module table in `docs/architecture.md`.
//!
//! A standalone node is an ensemble of one: the same actors, a core that leads epoch 0
//! without election. Message graph (one-way sends, no actor awaits another):
//!
//! ```text
//!  listener ─► connection ──writes──► quorum ──Job──► log
//!                 │  ▲                 ▲ │ ▲            │
//!           reads │  │ replies, events │ │ └─JobsDone───┘
//!                 ▼  │                 │ │ Apply
//!               store (tree + watches) ◄─┘ │
//!  tracker ──ExpireSession──► quorum ◄──► peer links ◄──► other servers
//!                               └──RoleChanged, ServingChanged──► supervisor
//! ```

pub mod exporter;
pub mod roles;
pub mod supervisor;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::acl::AclPolicy;
use crate::config::NodeConfig;
use crate::context::{Mode, NodeContext};
use crate::metrics::stats::ServerStats;
use crate::peer::actor::{QuorumPeer, QuorumReports, QuorumSettings};
use crate::peer::auth::PeerSecurity;
use crate::peer::link::PeerLinks;
use crate::peer::messages::QuorumInbox;
use crate::peer::resolve::resolve_peers;
use crate::pipeline::prep::PrepConfig;
use crate::pipeline::{reaper, PipelineConfig};
use crate::quorum::config::{Membership, Timing};
use crate::quorum::core::{CoreConfig, PersistedState, QuorumStatus};
use crate::quorum::dynconfig::{DynamicConfig, ServerSpec};
use crate::quorum::msg::Sid;
use crate::session::tracker::SessionTracker;
use crate::session::{SessionIdGenerator, SessionRegistry};
use crate::store::actor::StoreActor;
use crate::store::Store;
use crate::tree::DataTree;
use crate::txn::{Txn, Zxid};
use crate::txnlog::actor::SnapshotPolicy;
use crate::txnlog::epochs::Epochs;
use crate::txnlog::memory::MemoryLog;
use crate::txnlog::recovery::{self, Layout};
use crate::txnlog::segment::FileLog;
use crate::txnlog::LogBackend;
use std::net::ToSocketAddrs;

pub use crate::startup::StartError;

use supervisor::NodeSupervisor;

/// A started node.
pub struct RunningNode {
    /// Shared state (for tests and the binary).
    pub context: Arc<NodeContext>,
    /// The bound client address.
    pub client_addr: SocketAddr,
}

/// The static configuration of `config`'s ensemble, as a dynamic configuration (version 0);
/// empty for a standalone node.
fn static_config(config: &NodeConfig) -> DynamicConfig {
    let mut c = DynamicConfig::default();
    if let Some(ens) = &config.ensemble {
        for s in &ens.servers {
            c.servers.insert(
                s.id as Sid,
                ServerSpec {
                    host: s.host.clone(),
                    peer_port: s.peer_port,
                    election_port: s.election_port.unwrap_or(s.peer_port),
                    observer: s.observer,
                    client: s.client_port.map(|p| (s.host.clone(), p)),
                },
            );
        }
    }
    c
}

/// This server's own peer address in `cfg`.
fn my_peer_address(cfg: &DynamicConfig, me: Sid) -> Result<Option<SocketAddr>, StartError> {
    let Some(spec) = cfg.servers.get(&me) else {
        return if cfg.servers.is_empty() {
            Ok(None)
        } else {
            Err(StartError::Config(format!(
                "node.id {me} is not one of the ensemble's servers"
            )))
        };
    };
    (spec.host.as_str(), spec.peer_port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(Some)
        .ok_or_else(|| StartError::Config(format!("cannot resolve server.{me} host {}", spec.host)))
}

/// Starts a node (standalone, or a member of an ensemble) inside the current actix `System`.
pub async fn start(config: NodeConfig) -> Result<RunningNode, StartError> {
    // Bind first: a node that cannot take its ports must fail before any actor starts.
    let addr = config.node.client_socket();
    let listener =
        bind_client_port(addr, config.node.client_port_listen_backlog).map_err(|source| {
            StartError::Bind {
                port: "client",
                addr,
                source,
            }
        })?;
    let client_addr = listener.local_addr().unwrap_or(addr);
    let me = config.node.id as Sid;
    let static_cfg = static_config(&config);
    let my_peer_addr = my_peer_address(&static_cfg, me)?;
    let standalone = config.ensemble.is_none();
    let peer_listener = match my_peer_addr {
        Some(a) => Some(
            std::net::TcpListener::bind(SocketAddr::new(
                // quorumListenOnAllIPs: for a server whose configured address is not its own
                // (NAT); otherwise only the configured address, as ZooKeeper.
                if config
                    .ensemble
                    .as_ref()
                    .is_some_and(|e| e.listen_on_all_ips)
                {
                    std::net::Ipv4Addr::UNSPECIFIED.into()
                } else {
                    a.ip()
                },
                a.port(),
            ))
            .map_err(|source| StartError::Bind {
                port: "peer",
                addr: a,
                source,
            })?,
        ),
        None => None,
    };
    if !standalone && config.storage.in_memory {
        return Err(StartError::Config(
            "storage.in_memory cannot be used by an ensemble member".into(),
        ));
    }
    if config.metrics.port != 0 {
        start_metrics(&config)?;
    } else if config.admin.enabled {
        // No /metrics, but the admin server's `monitor` reports the registry.
        exporter::install(None).map_err(|message| StartError::Metrics {
            addr: config.admin.socket(),
            message,
        })?;
    }
    let tick_ms = config.node.tick_time_ms.max(1) as i64;
    let policy = AclPolicy::from_config(&config);
    let Restored {
        tree,
        backend,
        layout,
        recent,
        floor,
    } = restore(&config)?;
    // The last committed configuration (reconfig) wins over the static one.
    let dynamic = match tree
        .get(crate::quorum::CONFIG_NODE)
        .and_then(|n| n.data().map(<[u8]>::to_vec))
    {
        Some(d) if !d.is_empty() && !standalone => {
            match crate::quorum::dynconfig::parse(&String::from_utf8_lossy(&d)) {
                Ok(c) => {
                    tracing::info!(version = %format!("{:#x}", c.version), "using the ensemble configuration committed in the log");
                    c
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the committed configuration cannot be parsed; using the static one");
                    static_cfg.clone()
                }
            }
        }
        _ => static_cfg.clone(),
    };
    let epochs = if config.storage.in_memory {
        Epochs::default()
    } else {
        crate::txnlog::epochs::load(&config.node.data_dir).map_err(|e| {
            StartError::Config(format!(
                "{}: {e}",
                config.node.data_dir.join("epochs").display()
            ))
        })?
    };
    let last_zxid = tree.last_zxid();
    let sessions = Arc::new(SessionRegistry::new(tick_ms));
    // Sessions that were alive when the node stopped get a fresh timeout: their clients may
    // come back; if they do not, the sessions expire and their ephemerals go.
    let now = crate::clock::now_ms();
    for (id, rec) in tree.sessions() {
        sessions.insert(*id, rec.timeout_ms as i64, rec.password.clone(), now);
    }
    let store = Arc::new(Store::new(tree, policy.clone()));
    let stats = Arc::new(ServerStats::default());
    let store_actor = StoreActor::new(store.clone(), sessions.clone(), stats.clone()).start();
    let ens = config.ensemble.clone().unwrap_or_default();
    let container_check_interval =
        Duration::from_millis(config.features.container_check_interval_ms.max(10) as u64);
    let tick_every = Duration::from_millis((tick_ms / 10).clamp(5, 100) as u64);
    let settings = QuorumSettings {
        pipeline: PipelineConfig {
            core: CoreConfig {
                membership: if standalone {
                    Membership::new(me, &[me], &[])
                } else {
                    dynamic.membership(me)
                },
                timing: Timing {
                    tick_ms,
                    init_limit: ens.init_limit.max(1) as i64,
                    sync_limit: ens.sync_limit.max(1) as i64,
                },
                commit_log_count: ens.commit_log_count.max(1),
                commit_log_bytes: ens.commit_log_bytes,
                tail_slice: crate::quorum::msg::TAIL_SLICE,
                standalone,
            },
            prep: PrepConfig {
                acl: policy,
                extended_types: config.features.extended_types,
                reconfig_enabled: config.features.reconfig_enabled,
                standalone,
            },
            dynamic: dynamic.clone(),
            reap_budget: reaper::budget(
                config.features.container_max_per_minute,
                container_check_interval.as_millis(),
            ),
        },
        container_check_interval,
        snapshots: SnapshotPolicy {
            layout,
            data_dir: (!config.storage.in_memory).then(|| config.node.data_dir.clone()),
            snap_count: config.storage.snap_count,
            snap_size_limit: config.storage.snap_size_limit_bytes.max(1),
            retain: config.storage.snap_retain_count as usize,
            autopurge: config.storage.autopurge,
            purge_interval: (config.storage.purge_interval_hours > 0.0)
                .then(|| Duration::from_secs_f64(config.storage.purge_interval_hours * 3600.0)),
            low_space: config.storage.low_space_bytes,
            prealloc_bytes: config.storage.preallocate_bytes,
        },
        tick_every,
        data_dir: (!config.storage.in_memory).then(|| config.node.data_dir.clone()),
    };
    // Before the exporter answers a scrape (nothing above awaits): the disk gauges are there
    // from the first one, as every other queried series.
    crate::txnlog::space::publish_before_serving(&settings.snapshots);
    let core = &settings.pipeline.core;
    let mut recent_kept = recent.len().saturating_sub(core.commit_log_count);
    let mut recent_bytes: usize = recent[recent_kept..].iter().map(|t| t.weight()).sum();
    while recent_bytes > core.commit_log_bytes && recent_kept + 1 < recent.len() {
        recent_bytes -= recent[recent_kept].weight();
        recent_kept += 1;
    }
    let persisted = PersistedState {
        accepted_epoch: epochs.accepted,
        current_epoch: epochs.current,
        last_zxid,
        recent: recent[recent_kept..].to_vec(),
        floor,
    };
    let security =
        PeerSecurity::from_config(&ens).map_err(|e| StartError::Config(e.to_string()))?;
    let hosts = static_cfg
        .servers
        .iter()
        .map(|(id, spec)| (*id, spec.host.clone()))
        .collect();
    let mut links = PeerLinks::new(
        me,
        crate::quorum::routes::after_commit(
            &static_cfg,
            &dynamic,
            resolve_peers(&dynamic, me),
            &resolve_peers(&static_cfg, me),
        ),
        peer_listener,
        security,
        hosts,
        ens.peer_queue_bytes,
    );
    links.set_listen_addr(
        static_cfg
            .servers
            .get(&me)
            .map(|s| format!("{}:{}", s.host, s.peer_port)),
    );
    // The supervisor's mailbox exists before it runs: the quorum actor reports to it from its
    // first step, and it starts once the node context (which holds the quorum's inbox) exists.
    let supervisor_ctx: Context<NodeSupervisor> = Context::new();
    let supervisor = supervisor_ctx.address();
    let status = Arc::new(parking_lot::RwLock::new(QuorumStatus::default()));
    let reports = QuorumReports {
        roles: supervisor.clone().recipient(),
        serving: supervisor.recipient(),
        status: status.clone(),
    };
    // The write pipeline (quorum, log, store) and the supervisor share the node's event loop:
    // a request crosses no thread between its proposal and its reply (decision 18).
    let quorum = QuorumPeer::new(
        settings,
        persisted,
        store.clone(),
        store_actor,
        sessions.clone(),
        backend,
        links,
        reports,
    )
    .start();
    let tracker_arbiter = Arbiter::new();
    {
        let sessions = sessions.clone();
        let expire = quorum.clone().recipient();
        SessionTracker::start_in_arbiter(&tracker_arbiter.handle(), move |_| {
            SessionTracker::new(sessions, expire)
        });
    }
    let context = Arc::new(NodeContext::new(
        config.clone(),
        store,
        sessions,
        SessionIdGenerator::new(config.node.id, crate::clock::wall_ms()),
        QuorumInbox::of(&quorum),
        status,
        stats,
        if standalone {
            Mode::Standalone
        } else {
            Mode::Looking
        },
    ));
    supervisor_ctx.run(NodeSupervisor::new(context.clone(), tick_every));
    exporter::start(&context);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let arbiters: Vec<ArbiterHandle> = match config.node.client_threads_for(cores) {
        0 => vec![Arbiter::current()],
        n => (0..n).map(|_| Arbiter::new().handle()).collect(),
    };
    crate::connection::listener::start_secure(&context, &arbiters).await?;
    actix_rt::spawn(crate::connection::listener::serve(
        context.clone(),
        listener,
        arbiters,
    ));
    // Keep the tracker's arbiter alive for the life of the system.
    std::mem::forget(tracker_arbiter);
    tracing::info!(
        %client_addr,
        id = config.node.id,
        ensemble = !standalone,
        data_dir = %config.node.data_dir.display(),
        "zkr node started"
    );
    Ok(RunningNode {
        context,
        client_addr,
    })
}

/// Binds the client port, with `clientPortListenBacklog` if set.
fn bind_client_port(
    addr: SocketAddr,
    backlog: Option<u32>,
) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog.unwrap_or(1024))
}

/// What a node starts from: its recovered tree and log.
struct Restored {
    tree: DataTree,
    backend: Box<dyn LogBackend>,
    layout: Option<Layout>,
    recent: Vec<Arc<Txn>>,
    floor: Zxid,
}

/// Recovers the data directory (or starts empty, in memory).
fn restore(config: &NodeConfig) -> Result<Restored, StartError> {
    Ok(if config.storage.in_memory {
        tracing::warn!(
            "storage.in_memory is set: nothing is written to disk, a restart starts empty"
        );
        Restored {
            tree: DataTree::new(),
            backend: Box::new(MemoryLog::default()),
            layout: None,
            recent: Vec::new(),
            floor: 0,
        }
    } else {
        if let Some(why) = crate::zkfiles::layout::refuse_zookeeper_data(
            &config.node.data_dir,
            config.node.data_log_dir.as_deref(),
        ) {
            return Err(StartError::Config(why));
        }
        let layout =
            Layout::with_log_dir(&config.node.data_dir, config.node.data_log_dir.as_deref());
        if config.node.data_log_dir.is_some() {
            // ZooKeeper's check: a log left under dataDir means dataLogDir was added (or changed)
            // without moving the log; starting would silently lose its txns.
            let stray = Layout::new(&config.node.data_dir).log_dir;
            let has_segments = std::fs::read_dir(&stray)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
            if has_segments && stray != layout.log_dir {
                return Err(StartError::Config(format!(
                    "node.data_log_dir (dataLogDir) is {}, but {} holds a txn log: move it \
                     there (or remove data_log_dir)",
                    layout.log_dir.display(),
                    stray.display()
                )));
            }
        }
        let started = std::time::Instant::now();
        let rec = recovery::recover(&layout).map_err(|source| StartError::Recovery {
            dir: config.node.data_dir.display().to_string(),
            source,
        })?;
        tracing::info!(
            zxid = %format!("{:#x}", rec.tree.last_zxid()),
            snapshot = ?rec.snapshot.map(|z| format!("{z:#x}")),
            replayed = rec.replayed,
            truncated_bytes = rec.truncated_bytes,
            nodes = rec.tree.node_count(),
            sessions = rec.tree.sessions().len(),
            ms = started.elapsed().as_millis() as u64,
            dropped = rec.dropped.len(),
            "recovered data directory"
        );
        for d in &rec.dropped {
            tracing::warn!("recovery dropped {d}");
        }
        if let (Some(end), None) = (rec.short_of, &config.ensemble) {
            // Only a sync with a leader makes that tree a valid state (decision 17).
            return Err(StartError::Config(format!(
                "{} holds a snapshot that is a valid state only once the log reaches \
                 {end:#x} (a leader's it was catching up from, or its own, scanned while txns \
                 up to {end:#x} were applied), and the log stops at {:#x} (the server died \
                 first): a standalone server cannot finish that sync; start it in its ensemble",
                config.node.data_dir.display(),
                rec.tree.last_zxid()
            )));
        }
        let log = FileLog::open_on(
            crate::txnlog::fs::FaultyFs::from_env(),
            &layout,
            rec.tail.clone(),
            rec.tree.last_zxid(),
            config.storage.force_sync,
            config.storage.preallocate_bytes,
        )?;
        Restored {
            tree: rec.tree,
            backend: Box::new(log),
            layout: Some(layout),
            recent: rec.recent,
            floor: rec.floor,
        }
    })
}

fn start_metrics(config: &NodeConfig) -> Result<(), StartError> {
    let addr = SocketAddr::new(config.metrics.address, config.metrics.port);
    exporter::install(Some(addr)).map_err(|message| StartError::Metrics { addr, message })
}
