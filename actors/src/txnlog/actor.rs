//! The log actor: group commit, snapshots and purge.
//!
//! Appends that arrive while a batch is being written and synced wait and form the next batch,
//! so one fsync covers every txn that arrived meanwhile. Each batch runs on a blocking thread
//! and reports back with a message. Every `snap_count` txns (randomised between half and all
//! of it, as ZooKeeper does, so servers do not snapshot in step) the next append starts a new
//! segment and a snapshot is written on another blocking thread. Purge runs on a timer.
//!
//! After a failed batch the unsynced part of the segment is cut off, every txn queued behind
//! it is dropped (they were validated against the failed ones), the pipeline is told, and
//! appends of that generation are ignored until the pipeline starts a new one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::Rng;

use super::recovery::Layout;
use super::{purge, snapshot, LogBackend, LogError};
use crate::store::Store;
use crate::txn::{Txn, Zxid};

/// Pipeline → log: append these txns (in zxid order, after everything appended before).
/// `generation` increases each time the pipeline restarts after a failed batch.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Append {
    /// The pipeline's generation.
    pub generation: u64,
    /// The txns.
    pub txns: Vec<Arc<Txn>>,
}

/// Log → pipeline: every txn up to `zxid` is durable, or a batch failed.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum LogOutcome {
    /// Durable up to and including this zxid.
    Durable(Zxid),
    /// The txns from `from` on (those of the failed batch and all queued after it) were not
    /// made durable and are dropped.
    Failed {
        /// The generation that failed.
        generation: u64,
        /// First zxid not durable.
        from: Zxid,
        /// Why.
        error: String,
    },
}

/// Snapshot and purge settings.
#[derive(Debug, Clone)]
pub struct SnapshotPolicy {
    /// Where snapshots and segments live (`None`: no snapshots, e.g. in-memory nodes).
    pub layout: Option<Layout>,
    /// Txns between snapshots (randomised between half and all).
    pub snap_count: u64,
    /// Snapshots kept by purge.
    pub retain: usize,
    /// Purge period; `None` = off.
    pub purge_interval: Option<Duration>,
}

/// The log actor.
pub struct LogActor {
    backend: Option<Box<dyn LogBackend>>,
    queued: Vec<Arc<Txn>>,
    generation: u64,
    dead_generation: Option<u64>,
    notify: Recipient<LogOutcome>,
    store: Arc<Store>,
    policy: SnapshotPolicy,
    since_snapshot: u64,
    snapshot_at: u64,
    roll_next: bool,
    snapshot_running: bool,
}

fn snapshot_threshold(snap_count: u64) -> u64 {
    let half = (snap_count / 2).max(1);
    half + rand::rng().random_range(0..=half)
}

impl LogActor {
    /// A log actor writing to `backend` and reporting to `notify`.
    pub fn new(
        backend: Box<dyn LogBackend>,
        notify: Recipient<LogOutcome>,
        store: Arc<Store>,
        policy: SnapshotPolicy,
    ) -> LogActor {
        let snapshot_at = snapshot_threshold(policy.snap_count);
        LogActor {
            backend: Some(backend),
            queued: Vec::new(),
            generation: 0,
            dead_generation: None,
            notify,
            store,
            policy,
            since_snapshot: 0,
            snapshot_at,
            roll_next: false,
            snapshot_running: false,
        }
    }

    fn start_batch(&mut self, ctx: &mut Context<Self>) {
        if self.queued.is_empty() {
            return;
        }
        let Some(mut backend) = self.backend.take() else {
            return; // a batch is in flight; this one follows it
        };
        if std::mem::take(&mut self.roll_next) {
            backend.request_roll();
        }
        let batch = std::mem::take(&mut self.queued);
        let generation = self.generation;
        let from = batch.first().map_or(0, |t| t.zxid);
        let to = batch.last().map_or(0, |t| t.zxid);
        metrics::histogram!("zkr_fsync_batch_size").record(batch.len() as f64);
        metrics::counter!("zkr_log_txns_total").increment(batch.len() as u64);
        let started = Instant::now();
        let work = tokio::task::spawn_blocking(move || {
            let r: Result<(), LogError> = backend.append(&batch).and_then(|_| backend.sync());
            let cleanup = match &r {
                Err(_) => backend.discard_unsynced().err(),
                Ok(()) => None,
            };
            (backend, r, cleanup)
        });
        ctx.spawn(work.into_actor(self).map(move |joined, act, ctx| {
            metrics::histogram!("fsynctime").record(started.elapsed().as_secs_f64() * 1000.0);
            let (backend, r, cleanup) = match joined {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(error = %e, "log writer thread died; stopping the node");
                    System::current().stop_with_code(crate::link::EXIT_BROKEN_LINK);
                    return;
                }
            };
            if let Some(e) = cleanup {
                tracing::error!(error = %e, "cannot cut the log back after a failed write; stopping the node to keep the log consistent");
                System::current().stop_with_code(74);
                return;
            }
            act.backend = Some(backend);
            match r {
                Ok(()) => {
                    crate::link::send_to(&act.notify, "log -> pipeline", LogOutcome::Durable(to));
                }
                Err(e) => {
                    tracing::error!(
                        from = %format!("{from:#x}"),
                        to = %format!("{to:#x}"),
                        error = %e,
                        "log write failed: these txns are not durable and their requests fail"
                    );
                    metrics::counter!("zkr_log_write_errors_total").increment(1);
                    act.queued.clear();
                    act.dead_generation = Some(generation);
                    crate::link::send_to(
                        &act.notify,
                        "log -> pipeline",
                        LogOutcome::Failed {
                            generation,
                            from,
                            error: e.to_string(),
                        },
                    );
                }
            }
            act.start_batch(ctx);
        }));
    }

    fn maybe_snapshot(&mut self, ctx: &mut Context<Self>) {
        let Some(layout) = self.policy.layout.clone() else {
            return;
        };
        if self.since_snapshot < self.snapshot_at || self.snapshot_running {
            return;
        }
        self.since_snapshot = 0;
        self.snapshot_at = snapshot_threshold(self.policy.snap_count);
        self.roll_next = true;
        self.snapshot_running = true;
        let store = self.store.clone();
        let dir: PathBuf = layout.snap_dir.clone();
        let started = Instant::now();
        let work = tokio::task::spawn_blocking(move || snapshot::write(&store, &dir));
        ctx.spawn(work.into_actor(self).map(move |r, act, _| {
            act.snapshot_running = false;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            match r {
                Ok(Ok(w)) => {
                    metrics::histogram!("snapshottime").record(ms);
                    metrics::gauge!("zkr_snapshot_bytes").set(w.bytes as f64);
                    metrics::counter!("zkr_snapshots_total").increment(1);
                    tracing::info!(
                        snapshot = %w.path.display(),
                        zxid = %format!("{:#x}", w.zxid),
                        nodes = w.nodes,
                        bytes = w.bytes,
                        ms = ms as u64,
                        "snapshot written"
                    );
                }
                Ok(Err(e)) => {
                    metrics::counter!("zkr_snapshot_errors_total").increment(1);
                    tracing::error!(error = %e, "snapshot failed; the log still has every txn");
                }
                Err(e) => tracing::error!(error = %e, "snapshot thread died"),
            }
        }));
    }

    fn purge(&mut self) {
        let Some(layout) = &self.policy.layout else {
            return;
        };
        if self.snapshot_running {
            return;
        }
        match purge::purge(layout, self.policy.retain) {
            Ok(p) if !p.snapshots.is_empty() || !p.segments.is_empty() => {
                tracing::info!(snapshots = ?p.snapshots, segments = ?p.segments, "purged old snapshots and log segments");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purge failed"),
        }
    }
}

impl Actor for LogActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(every) = self.policy.purge_interval {
            ctx.run_interval(every, |act, _| act.purge());
        }
    }
}

impl Handler<Append> for LogActor {
    type Result = ();
    fn handle(&mut self, msg: Append, ctx: &mut Context<Self>) {
        if self.dead_generation.is_some_and(|d| msg.generation <= d) {
            return; // validated against txns that failed; the pipeline fails them too
        }
        self.generation = msg.generation;
        self.since_snapshot += msg.txns.len() as u64;
        self.queued.extend(msg.txns);
        self.maybe_snapshot(ctx);
        self.start_batch(ctx);
    }
}
