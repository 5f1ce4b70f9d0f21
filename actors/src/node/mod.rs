//! The node supervisor: builds a node's actors from its configuration and starts them.
//!
//! A standalone node is an ensemble of one: client listener → connections → pipeline → log →
//! pipeline → store → connections, with the session tracker on its own arbiter. Message graph
//! (one-way sends, no actor awaits another):
//!
//! ```text
//!  listener ─► connection ──writes──► pipeline ──Append──► log
//!                 │  ▲                   ▲  │                │
//!           reads │  │ replies, events   │  └─◄─Durable──────┘
//!                 ▼  │                   │  Apply
//!               store (tree + watches) ◄─┘
//!  tracker ──ExpireSession──► pipeline
//! ```

pub mod context;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::acl::AclPolicy;
use crate::config::NodeConfig;
use crate::pipeline::actor::{Pipeline, PipelineConfig};
use crate::pipeline::prep::PrepConfig;
use crate::session::tracker::SessionTracker;
use crate::session::{SessionIdGenerator, SessionRegistry};
use crate::store::actor::StoreActor;
use crate::store::Store;
use crate::tree::DataTree;
use crate::txnlog::actor::SnapshotPolicy;
use crate::txnlog::memory::MemoryLog;
use crate::txnlog::recovery::{self, Layout};
use crate::txnlog::segment::FileLog;
use crate::txnlog::LogBackend;
use context::{Mode, NodeContext};
use stats::ServerStats;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The client port could not be bound.
    #[error("cannot listen on client address {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory could not be recovered.
    #[error("recovery of {dir} failed: {source}")]
    Recovery {
        /// The data directory.
        dir: String,
        /// Why.
        source: crate::txnlog::recovery::RecoveryError,
    },
    /// The log could not be opened.
    #[error("cannot open the log: {0}")]
    Log(#[from] crate::txnlog::LogError),
    /// The metrics exporter could not start.
    #[error("cannot start the metrics exporter on {addr}: {message}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// Why.
        message: String,
    },
}

/// A started node.
pub struct RunningNode {
    /// Shared state (for tests and the binary).
    pub context: Arc<NodeContext>,
    /// The bound client address.
    pub client_addr: SocketAddr,
}

/// Starts a standalone node inside the current actix `System`.
pub async fn start(config: NodeConfig) -> Result<RunningNode, StartError> {
    // Bind first: a node that cannot take its port must fail before any actor starts.
    let addr = config.node.client_socket();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let client_addr = listener.local_addr().unwrap_or(addr);
    if config.metrics.port != 0 {
        start_metrics(&config)?;
    }
    let tick_ms = config.node.tick_time_ms.max(1) as i64;
    let policy = AclPolicy::from_config(&config);
    let (tree, backend, layout): (DataTree, Box<dyn LogBackend>, Option<Layout>) =
        if config.storage.in_memory {
            tracing::warn!(
                "storage.in_memory is set: nothing is written to disk, a restart starts empty"
            );
            (DataTree::new(), Box::new(MemoryLog::default()), None)
        } else {
            let layout = Layout::new(&config.node.data_dir);
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
                "recovered data directory"
            );
            let log = FileLog::open(
                &layout.log_dir,
                rec.tail.clone(),
                config.storage.force_sync,
                config.storage.preallocate_bytes,
            )?;
            (rec.tree, Box::new(log), Some(layout))
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
    let pipeline_config = PipelineConfig {
        prep: PrepConfig {
            acl: policy,
            extended_types: config.features.extended_types,
            reconfig_enabled: config.features.reconfig_enabled,
            standalone: true,
        },
        container_check_interval: Duration::from_millis(
            config.features.container_check_interval_ms.max(10) as u64,
        ),
        container_max_per_minute: config.features.container_max_per_minute,
        snapshots: SnapshotPolicy {
            layout,
            snap_count: config.storage.snap_count,
            retain: config.storage.snap_retain_count as usize,
            purge_interval: (config.storage.purge_interval_hours > 0.0)
                .then(|| Duration::from_secs_f64(config.storage.purge_interval_hours * 3600.0)),
        },
    };
    let pipeline = Pipeline::new(
        pipeline_config,
        store.clone(),
        store_actor,
        backend,
        last_zxid,
    )
    .start();
    let tracker_arbiter = Arbiter::new();
    {
        let sessions = sessions.clone();
        let pipeline = pipeline.clone();
        SessionTracker::start_in_arbiter(&tracker_arbiter.handle(), move |_| {
            SessionTracker::new(sessions, pipeline)
        });
    }
    let context = Arc::new(NodeContext::new(
        config.clone(),
        store,
        sessions,
        SessionIdGenerator::new(config.node.id, crate::clock::wall_ms()),
        pipeline,
        stats,
        Mode::Standalone,
    ));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let arbiters: Vec<ArbiterHandle> = (0..workers).map(|_| Arbiter::new().handle()).collect();
    crate::connection::listener::start_secure(&context, &arbiters).await?;
    actix_rt::spawn(crate::connection::listener::serve(
        context.clone(),
        listener,
        arbiters,
    ));
    // Keep the tracker's arbiter alive for the life of the system.
    std::mem::forget(tracker_arbiter);
    tracing::info!(%client_addr, data_dir = %config.node.data_dir.display(), "zkr standalone node serving");
    Ok(RunningNode {
        context,
        client_addr,
    })
}

fn start_metrics(config: &NodeConfig) -> Result<(), StartError> {
    let addr = SocketAddr::new(config.metrics.address, config.metrics.port);
    let (recorder, exporter) = metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .build()
        .map_err(|e| StartError::Metrics {
            addr,
            message: e.to_string(),
        })?;
    metrics::set_global_recorder(recorder).map_err(|e| StartError::Metrics {
        addr,
        message: e.to_string(),
    })?;
    actix_rt::spawn(async move {
        if let Err(e) = exporter.await {
            tracing::error!(error = ?e, "metrics exporter stopped");
        }
    });
    Ok(())
}
