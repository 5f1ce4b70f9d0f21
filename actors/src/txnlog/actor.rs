//! The log actor: durable actions in order, with group commit; snapshots and purge.
//!
//! Jobs arrive with a token and run strictly in order on a blocking thread, one batch at a
//! time: consecutive appends form one batch (one write, one fsync: group commit); epoch saves,
//! truncations and snapshot installs run alone. Each finished batch is reported with its
//! tokens. Every `snap_count` appended txns (randomised between half and all of it, so servers
//! do not snapshot in step) the next append starts a new segment and a snapshot of the store is
//! written in the background. Purge runs on a timer.
//!
//! After a failed job the unsynced part of the log is cut off and every job queued behind it
//! is dropped (later appends were made on top of the failed ones); the report names all of
//! them.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::Rng;

use super::epochs::{self, Epochs};
use super::recovery::{self, Layout};
use super::{purge, snapshot, LogBackend, LogError};
use crate::quorum::core::DurableAction;
use crate::store::Store;
use crate::tree::DataTree;
use crate::txn::Zxid;

/// Quorum actor → log: perform this durable action; report it by `token`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Job {
    /// Completion token.
    pub token: u64,
    /// The action.
    pub action: DurableAction,
}

/// Log → quorum actor: these jobs are done (durable), in order; or they failed.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct JobsDone {
    /// Tokens, in submission order.
    pub tokens: Vec<u64>,
    /// `Err`: none of them happened (and every job queued after them was dropped and is in
    /// `tokens` too).
    pub result: Result<JobEffect, String>,
}

/// What a finished job changed beyond the log.
#[derive(Debug, Default)]
pub enum JobEffect {
    /// Nothing else.
    #[default]
    None,
    /// The tree was rebuilt (truncation) or replaced (snapshot install): the store must take
    /// it; its last zxid is the log's.
    Tree(Box<DataTree>),
}

/// Log → quorum actor: the lowest zxid the log can be cut back to changed.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct FloorChanged(pub Zxid);

/// Snapshot and purge settings.
#[derive(Debug, Clone)]
pub struct SnapshotPolicy {
    /// Where snapshots and segments live (`None`: in-memory node, no snapshots).
    pub layout: Option<Layout>,
    /// Data directory (for the epochs file).
    pub data_dir: Option<PathBuf>,
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
    queued: VecDeque<Job>,
    notify: Recipient<JobsDone>,
    floor: Recipient<FloorChanged>,
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

/// Runs one batch on the blocking thread.
fn run_batch(
    backend: &mut dyn LogBackend,
    policy: &SnapshotPolicy,
    batch: &[Job],
) -> Result<JobEffect, String> {
    match &batch[0].action {
        DurableAction::Append(_) => {
            let txns: Vec<_> = batch
                .iter()
                .flat_map(|j| match &j.action {
                    DurableAction::Append(t) => t.clone(),
                    _ => Vec::new(),
                })
                .collect();
            metrics::histogram!("zkr_fsync_batch_size").record(txns.len() as f64);
            metrics::counter!("zkr_log_txns_total").increment(txns.len() as u64);
            let r: Result<(), LogError> = backend.append(&txns).and_then(|_| backend.sync());
            if let Err(e) = r {
                if let Err(e2) = backend.discard_unsynced() {
                    return Err(format!("{e}; and cutting the log back failed: {e2}"));
                }
                return Err(e.to_string());
            }
            Ok(JobEffect::None)
        }
        DurableAction::SaveEpochs { accepted, current } => match &policy.data_dir {
            Some(dir) => epochs::save(
                dir,
                Epochs {
                    accepted: *accepted,
                    current: *current,
                },
            )
            .map(|_| JobEffect::None)
            .map_err(|e| format!("saving epochs: {e}")),
            None => Ok(JobEffect::None),
        },
        DurableAction::Truncate { to } => {
            let layout = policy
                .layout
                .as_ref()
                .ok_or("truncation needs an on-disk log")?;
            backend.truncate_after(*to).map_err(|e| e.to_string())?;
            for (z, p) in snapshot::list(&layout.snap_dir).map_err(|e| e.to_string())? {
                if z > *to {
                    std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                }
            }
            let rec = recovery::recover(layout).map_err(|e| e.to_string())?;
            Ok(JobEffect::Tree(Box::new(rec.tree)))
        }
        DurableAction::InstallSnapshot(blob) => {
            let layout = policy
                .layout
                .as_ref()
                .ok_or("a snapshot install needs an on-disk log")?;
            let tree = snapshot::decode_tree(&blob.data).map_err(|e| e.to_string())?;
            for (_, p) in snapshot::list(&layout.snap_dir).map_err(|e| e.to_string())? {
                std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            }
            snapshot::save_bytes(&layout.snap_dir, blob.zxid, &blob.data)
                .map_err(|e| format!("writing the leader's snapshot: {e}"))?;
            backend.clear(blob.zxid).map_err(|e| e.to_string())?;
            Ok(JobEffect::Tree(Box::new(tree)))
        }
    }
}

impl LogActor {
    /// A log actor writing to `backend`, reporting to `notify`.
    pub fn new(
        backend: Box<dyn LogBackend>,
        notify: Recipient<JobsDone>,
        floor: Recipient<FloorChanged>,
        store: Arc<Store>,
        policy: SnapshotPolicy,
    ) -> LogActor {
        let snapshot_at = snapshot_threshold(policy.snap_count);
        LogActor {
            backend: Some(backend),
            queued: VecDeque::new(),
            notify,
            floor,
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
        let mut batch = vec![self.queued.pop_front().expect("non-empty")];
        if matches!(batch[0].action, DurableAction::Append(_)) {
            while matches!(
                self.queued.front(),
                Some(Job {
                    action: DurableAction::Append(_),
                    ..
                })
            ) {
                batch.push(self.queued.pop_front().expect("front"));
            }
        }
        let policy = self.policy.clone();
        let started = Instant::now();
        let work = tokio::task::spawn_blocking(move || {
            let r = run_batch(backend.as_mut(), &policy, &batch);
            (backend, batch, r)
        });
        ctx.spawn(work.into_actor(self).map(move |joined, act, ctx| {
            metrics::histogram!("fsynctime").record(started.elapsed().as_secs_f64() * 1000.0);
            let (backend, batch, r) = match joined {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(error = %e, "log writer thread died; stopping the node");
                    System::current().stop_with_code(crate::link::EXIT_BROKEN_LINK);
                    return;
                }
            };
            act.backend = Some(backend);
            let mut tokens: Vec<u64> = batch.iter().map(|j| j.token).collect();
            if let Err(e) = &r {
                tracing::error!(error = %e, jobs = tokens.len(), dropped = act.queued.len(), "log write failed: these changes are not durable");
                metrics::counter!("zkr_log_write_errors_total").increment(1);
                tokens.extend(act.queued.drain(..).map(|j| j.token));
            }
            crate::link::send_to(&act.notify, "log -> quorum", JobsDone { tokens, result: r });
            act.start_batch(ctx);
            crate::metrics::LOG_QUEUE.set(act.queued.len());
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
                    metrics::histogram!(crate::metrics::SNAPSHOT_DURATION).record(ms / 1000.0);
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
                    act.report_floor();
                }
                Ok(Err(e)) => {
                    metrics::counter!("zkr_snapshot_errors_total").increment(1);
                    tracing::error!(error = %e, "snapshot failed; the log still has every txn");
                }
                Err(e) => tracing::error!(error = %e, "snapshot thread died"),
            }
        }));
    }

    fn report_floor(&self) {
        if let Some(layout) = &self.policy.layout {
            if let Ok(snaps) = snapshot::list(&layout.snap_dir) {
                let floor = snaps.first().map_or(0, |(z, _)| *z);
                crate::link::send_to(&self.floor, "log -> quorum", FloorChanged(floor));
            }
        }
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
                self.report_floor();
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

impl Handler<Job> for LogActor {
    type Result = ();
    fn handle(&mut self, job: Job, ctx: &mut Context<Self>) {
        if let DurableAction::Append(t) = &job.action {
            self.since_snapshot += t.len() as u64;
        }
        self.queued.push_back(job);
        self.maybe_snapshot(ctx);
        self.start_batch(ctx);
        crate::metrics::LOG_QUEUE.set(self.queued.len());
    }
}
