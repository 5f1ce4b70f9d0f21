//! The log actor: durable actions in order, with group commit; snapshots, purge, and the other
//! files a node writes (dynamic configuration), all off the actor threads.
//!
//! Work arrives in one lane and runs strictly in order on a blocking thread, one batch at a
//! time: consecutive appends form one batch (one write, one fsync: group commit); epoch saves,
//! truncations, chunks of a snapshot streamed from the leader (appended to its incoming file,
//! `stream`), snapshot installs (from that file, checked whole), purges and file writes run
//! alone. Each finished job is reported with its token.
//!
//! Snapshots of the store are written in the background, beside the lane, on a thread at the
//! background priority (`background`; a streamed snapshot's install is not: it runs in the
//! lane at the normal priority, on this server's way back into the ensemble), when both enough
//! txns (`snap_count`, randomised between half and all of it so servers do not snapshot in
//! step) and enough log bytes (a quarter of the last snapshot's size: a big tree is not
//! written back to back) went by since the last one, or when the log since it passes
//! `snap_size_limit`. The next append then starts a new segment.
//!
//! Invariants:
//! * at most one snapshot is written at a time;
//! * a truncation, snapshot install or purge never runs while a snapshot is being written, and
//!   no snapshot starts while one of them is queued, running, or not yet reflected in the store
//!   (the store counts the trees it was given): a snapshot never holds a txn a truncation or
//!   install discarded, and purge never deletes what a running job needs;
//! * no snapshot is taken of a tree waiting for the tail behind a leader's fuzzy snapshot
//!   (`DataTree::tail_pending`): recovery would take it for a valid state;
//! * after a failed job the unsynced part of the log is cut off and every durable job queued
//!   behind it is dropped (later appends were made on top of the failed ones); the report names
//!   all of them.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::Rng;

use super::epochs::{self, Epochs};
use super::recovery::{self, Layout};
use super::{background, purge, snapshot, space, stream, LogBackend, LogError};
use crate::quorum::core::DurableAction;
use crate::store::Store;
use crate::tree::DataTree;
use crate::txn::Zxid;

/// A durable action for the log (sent in [`Jobs`]); it is reported by `token`.
pub struct Job {
    /// Completion token.
    pub token: u64,
    /// The action.
    pub action: DurableAction,
}

/// Quorum actor → log: these durable actions, in order (those one step of the pipeline asked
/// for: they start together in the next batch).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Jobs(pub Vec<Job>);

/// Log → quorum actor: these jobs are done (durable), in order; or they failed.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct JobsDone {
    /// Tokens, in submission order.
    pub tokens: Vec<u64>,
    /// `Err`: none of them happened (and every job queued after them was dropped and is in
    /// `tokens` too).
    pub result: Result<JobEffect, LogError>,
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

/// Quorum actor → log: write a small file (the dynamic configuration ZooKeeper keeps beside
/// its data), replacing it atomically, in order with the durable jobs. Failures are logged;
/// nobody waits for it.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct WriteFile {
    /// The file.
    pub path: PathBuf,
    /// Its contents.
    pub contents: String,
}

/// Snapshot and purge settings.
#[derive(Debug, Clone)]
pub struct SnapshotPolicy {
    /// Where snapshots and segments live (`None`: in-memory node, no snapshots).
    pub layout: Option<Layout>,
    /// Data directory (for the epochs file).
    pub data_dir: Option<PathBuf>,
    /// Txns between snapshots (randomised between half and all).
    pub snap_count: u64,
    /// Log bytes after which a snapshot is taken whatever the txn count (ZooKeeper's
    /// `snapSizeLimitInKb`), randomised between half and all.
    pub snap_size_limit: u64,
    /// Snapshots kept by purge.
    pub retain: usize,
    /// Purge after every snapshot (ZooKeeper's autopurge, on unless turned off).
    pub autopurge: bool,
    /// Purge period as well; `None` = only after snapshots.
    pub purge_interval: Option<Duration>,
    /// Free space under which the node warns (`None`: the size of the last snapshot plus two
    /// segments).
    pub low_space: Option<u64>,
    /// Log segment preallocation, for the free-space estimate.
    pub prealloc_bytes: u64,
}

/// One unit of work in the lane.
enum Work {
    Job(Job),
    Purge,
    WriteFile(WriteFile),
}

impl Work {
    fn is_append(&self) -> bool {
        matches!(
            self,
            Work::Job(Job {
                action: DurableAction::Append(_),
                ..
            })
        )
    }

    /// Must not run beside a snapshot being written.
    fn excludes_snapshot(&self) -> bool {
        matches!(
            self,
            Work::Purge
                | Work::Job(Job {
                    action: DurableAction::Truncate { .. } | DurableAction::InstallSnapshot(_),
                    ..
                })
        )
    }

    fn resets_tree(&self) -> bool {
        matches!(
            self,
            Work::Job(Job {
                action: DurableAction::Truncate { .. } | DurableAction::InstallSnapshot(_),
                ..
            })
        )
    }
}

/// What one batch did.
struct Outcome {
    result: Result<JobEffect, LogError>,
    /// Bytes appended.
    bytes: u64,
    /// The floor, when the batch may have changed it.
    floor: Option<Zxid>,
}

/// The log actor.
pub struct LogActor {
    backend: Option<Box<dyn LogBackend>>,
    queued: VecDeque<Work>,
    notify: Recipient<JobsDone>,
    floor: Recipient<FloorChanged>,
    store: Arc<Store>,
    policy: SnapshotPolicy,
    since_snapshot: u64,
    bytes_since_snapshot: u64,
    snapshot_at: u64,
    bytes_at: u64,
    last_snapshot_bytes: u64,
    roll_next: bool,
    snapshot_running: bool,
    /// Truncations and installs completed (the store must have replaced as many trees before
    /// the next snapshot).
    resets_done: u64,
    /// The batch in flight is a truncation or install.
    reset_in_flight: bool,
    /// Free space was under the warning level at the last check (warned once per episode).
    space_low: bool,
    last_floor: Option<Zxid>,
    /// Where a snapshot streamed from a leader is received.
    incoming: PathBuf,
}

fn randomised(n: u64) -> u64 {
    let half = (n / 2).max(1);
    half + rand::rng().random_range(0..=half)
}

/// The lowest zxid the log can be cut back to: the oldest snapshot's (0 without one).
fn floor_of(layout: &Layout) -> Option<Zxid> {
    snapshot::floor(&layout.snap_dir).ok()
}

/// Runs one batch on the blocking thread.
fn run_batch(
    backend: &mut dyn LogBackend,
    policy: &SnapshotPolicy,
    incoming: &std::path::Path,
    batch: &[Work],
) -> Outcome {
    let mut out = Outcome {
        result: Ok(JobEffect::None),
        bytes: 0,
        floor: None,
    };
    let job = match &batch[0] {
        Work::Job(j) => j,
        Work::Purge => {
            if let Some(layout) = &policy.layout {
                match purge::purge(layout, policy.retain) {
                    Ok(p) if !p.snapshots.is_empty() || !p.segments.is_empty() => {
                        tracing::info!(snapshots = ?p.snapshots, segments = ?p.segments, "purged old snapshots and log segments");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purge failed"),
                }
                out.floor = floor_of(layout);
            }
            return out;
        }
        Work::WriteFile(w) => {
            if let Err(e) = write_file(w) {
                tracing::warn!(file = %w.path.display(), error = %e, "cannot write the file");
            }
            return out;
        }
    };
    out.result = match &job.action {
        DurableAction::Append(_) => {
            let txns: Vec<_> = batch
                .iter()
                .flat_map(|w| match w {
                    Work::Job(Job {
                        action: DurableAction::Append(t),
                        ..
                    }) => t.clone(),
                    _ => Vec::new(),
                })
                .collect();
            metrics::histogram!("zkr_fsync_batch_size").record(txns.len() as f64);
            metrics::counter!("zkr_log_txns_total").increment(txns.len() as u64);
            match backend
                .append(&txns)
                .and_then(|n| backend.sync().map(|_| n))
            {
                Ok(n) => {
                    out.bytes = n;
                    Ok(JobEffect::None)
                }
                Err(e) => {
                    if let Err(e2) = backend.discard_unsynced() {
                        tracing::error!(error = %e2, "cutting the log back failed; the next append tries again first");
                    }
                    Err(e)
                }
            }
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
            .map_err(|e| LogError::io(&dir.join("epochs"), e)),
            None => Ok(JobEffect::None),
        },
        DurableAction::Truncate { to } => match &policy.layout {
            None => Err(LogError::NotOnDisk("truncation")),
            Some(layout) => backend
                .truncate_after(*to)
                .and_then(|_| Ok(recovery::recover(layout)?))
                .map(|rec| JobEffect::Tree(Box::new(rec.tree))),
        },
        DurableAction::SnapChunk { seq, data } => stream::write_chunk(incoming, *seq, data)
            .map(|_| JobEffect::None)
            .map_err(|e| LogError::io(incoming, e)),
        DurableAction::InstallSnapshot(m) => {
            // At the normal priority, unlike the node's own snapshots: the install is on the
            // critical path of this server's rejoining and must end within initLimit of the
            // last chunk; a lower priority would only make room for another node sharing the
            // machine, and on cores saturated by other work could keep it from ever rejoining.
            stream::install(backend, incoming, m).map(|tree| JobEffect::Tree(Box::new(tree)))
        }
        DurableAction::AbortSnapshot => {
            stream::discard(incoming);
            Ok(JobEffect::None)
        }
    };
    if batch[0].resets_tree() {
        out.floor = policy.layout.as_ref().and_then(floor_of);
    }
    out
}

/// A truncation whose log rebuilt to another txn than its cut: the error for what was queued
/// behind it. (The rebuilt tree itself is reported: the store must match the disk, and the
/// quorum actor, seeing the other zxid, goes back to LOOKING.)
fn cut_missed(first: &Work, result: &Result<JobEffect, LogError>) -> Option<LogError> {
    let Work::Job(Job {
        action: DurableAction::Truncate { to },
        ..
    }) = first
    else {
        return None;
    };
    match result {
        Ok(JobEffect::Tree(tree)) if tree.last_zxid() != *to => Some(LogError::CutMissed {
            to: *to,
            rebuilt: tree.last_zxid(),
        }),
        _ => None,
    }
}

/// Replaces a file atomically (temp file, fsync, rename, fsync the directory).
fn write_file(w: &WriteFile) -> std::io::Result<()> {
    use std::io::Write;
    let dir = w.path.parent().unwrap_or(std::path::Path::new("."));
    let tmp = w.path.with_extension("tmp");
    let r = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(w.contents.as_bytes())?;
            f.sync_all()
        })
        .and_then(|_| std::fs::rename(&tmp, &w.path))
        .and_then(|_| super::segment::sync_dir(dir));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
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
        let snapshot_at = randomised(policy.snap_count);
        let bytes_at = randomised(policy.snap_size_limit);
        let incoming = stream::incoming_path(&stream::dir_for(policy.layout.as_ref()));
        LogActor {
            incoming,
            backend: Some(backend),
            queued: VecDeque::new(),
            notify,
            floor,
            store,
            policy,
            since_snapshot: 0,
            bytes_since_snapshot: 0,
            snapshot_at,
            bytes_at,
            last_snapshot_bytes: 0,
            roll_next: false,
            snapshot_running: false,
            resets_done: 0,
            reset_in_flight: false,
            space_low: false,
            last_floor: None,
        }
    }

    fn start_batch(&mut self, ctx: &mut Context<Self>) {
        let Some(front) = self.queued.front() else {
            return;
        };
        if self.snapshot_running && front.excludes_snapshot() {
            return; // runs once the snapshot is written
        }
        let Some(mut backend) = self.backend.take() else {
            return; // a batch is in flight; this one follows it
        };
        if std::mem::take(&mut self.roll_next) {
            backend.request_roll();
        }
        let mut batch = vec![self.queued.pop_front().expect("non-empty")];
        if batch[0].is_append() {
            while self.queued.front().is_some_and(Work::is_append) {
                batch.push(self.queued.pop_front().expect("front"));
            }
        }
        self.reset_in_flight = batch[0].resets_tree();
        let policy = self.policy.clone();
        let incoming = self.incoming.clone();
        let started = Instant::now();
        let work = tokio::task::spawn_blocking(move || {
            let r = run_batch(backend.as_mut(), &policy, &incoming, &batch);
            (backend, batch, r)
        });
        ctx.spawn(work.into_actor(self).map(move |joined, act, ctx| {
            metrics::histogram!("fsynctime").record(started.elapsed().as_secs_f64() * 1000.0);
            let (backend, batch, out) = match joined {
                Ok(x) => x,
                Err(e) => {
                    // A panic in the log writer is a broken invariant (the panic hook aborts
                    // the process before this runs in a release build).
                    tracing::error!(error = %e, "log writer thread died; stopping the node");
                    System::current().stop_with_code(crate::link::EXIT_BROKEN_LINK);
                    return;
                }
            };
            act.backend = Some(backend);
            act.finished(batch, out, ctx);
            act.start_batch(ctx);
            act.maybe_snapshot(ctx);
            crate::metrics::LOG_QUEUE.set(act.queued.len());
        }));
    }

    /// Reports a finished batch.
    fn finished(&mut self, batch: Vec<Work>, out: Outcome, _ctx: &mut Context<Self>) {
        if let Some(f) = out.floor {
            self.report_floor(f);
        }
        self.bytes_since_snapshot += out.bytes;
        self.reset_in_flight = false;
        if batch[0].resets_tree() && out.result.is_ok() {
            self.resets_done += 1;
        }
        let mut tokens: Vec<u64> = batch
            .iter()
            .filter_map(|w| match w {
                Work::Job(j) => Some(j.token),
                _ => None,
            })
            .collect();
        if tokens.is_empty() {
            return; // internal work (purge, a file)
        }
        let missed = cut_missed(&batch[0], &out.result);
        if let Err(e) = &out.result {
            let kind = e.kind();
            let dropped = self.take_queued_jobs();
            if matches!(e, LogError::BelowFloor { .. }) {
                // Not the disk: a sync chose its cut from a floor that a purge or an install
                // has raised since. Nothing was changed; the quorum actor syncs again.
                tracing::warn!(error = %e, dropped = dropped.len(), "the leader asked for a cut below this log's oldest snapshot; syncing again");
            } else {
                tracing::error!(error = %e, kind = kind.label(), jobs = tokens.len(), dropped = dropped.len(), "log write failed: these changes are not durable");
                metrics::counter!("zkr_log_write_errors_total", "kind" => kind.label())
                    .increment(1);
            }
            tokens.extend(dropped);
        }
        crate::link::send_to(
            &self.notify,
            "log -> quorum",
            JobsDone {
                tokens,
                result: out.result,
            },
        );
        if let Some(e) = missed {
            self.fail_queued(e);
        }
    }

    /// Removes the jobs still queued (internal work stays) and returns their tokens: what
    /// follows a failed job must not run (an epoch save behind a cut, appends behind a lost one).
    fn take_queued_jobs(&mut self) -> Vec<u64> {
        let dropped = self
            .queued
            .iter()
            .filter_map(|w| match w {
                Work::Job(j) => Some(j.token),
                _ => None,
            })
            .collect();
        self.queued.retain(|w| !matches!(w, Work::Job(_)));
        dropped
    }

    /// Fails every job still queued, reporting them with `e` (a cut that missed its point).
    fn fail_queued(&mut self, e: LogError) {
        let dropped = self.take_queued_jobs();
        tracing::error!(error = %e, dropped = dropped.len(), "the log does not end where the leader's cut put it: dropping what was queued behind the cut");
        metrics::counter!("zkr_log_write_errors_total", "kind" => e.kind().label()).increment(1);
        if !dropped.is_empty() {
            crate::link::send_to(
                &self.notify,
                "log -> quorum",
                JobsDone {
                    tokens: dropped,
                    result: Err(e),
                },
            );
        }
    }

    fn snapshot_due(&self) -> bool {
        let by_count = self.since_snapshot >= self.snapshot_at
            && self.bytes_since_snapshot >= self.last_snapshot_bytes / 4;
        let by_size = self.bytes_since_snapshot >= self.bytes_at;
        by_count || by_size
    }

    fn maybe_snapshot(&mut self, ctx: &mut Context<Self>) {
        let Some(layout) = self.policy.layout.clone() else {
            return;
        };
        if self.snapshot_running
            || !self.snapshot_due()
            || self.queued.iter().any(Work::resets_tree)
            || self.reset_in_flight
            || self.store.trees_replaced() != self.resets_done
            // A leader's fuzzy snapshot waiting for its tail is no valid state: a snapshot of
            // it would be recovered from as if it were (decision 17). It waits for the sync.
            || self.store.tree().tail_pending()
        {
            return;
        }
        self.since_snapshot = 0;
        self.bytes_since_snapshot = 0;
        self.snapshot_at = randomised(self.policy.snap_count);
        self.bytes_at = randomised(self.policy.snap_size_limit);
        self.roll_next = true;
        self.snapshot_running = true;
        let store = self.store.clone();
        let dir: PathBuf = layout.snap_dir.clone();
        let started = Instant::now();
        // At the background priority: the clients' writes go first.
        let work = background::spawn("zkr-snapshot", move || {
            // Its own priority, as the scheduler sees it, goes into the log line.
            let nice = background::this_thread_nice().ok();
            let w = snapshot::write(&store, &dir);
            let floor = floor_of(&layout);
            (w, floor, nice)
        });
        ctx.spawn(work.into_actor(self).map(move |r, act, ctx| {
            act.snapshot_running = false;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            match r {
                Ok((Ok(w), floor, nice)) => {
                    metrics::histogram!("snapshottime").record(ms);
                    metrics::histogram!(crate::metrics::SNAPSHOT_DURATION).record(ms / 1000.0);
                    metrics::gauge!("zkr_snapshot_bytes").set(w.bytes as f64);
                    metrics::counter!("zkr_snapshots_total").increment(1);
                    act.last_snapshot_bytes = w.bytes;
                    tracing::info!(
                        snapshot = %w.path.display(),
                        zxid = %format!("{:#x}", w.zxid),
                        scan_end = %format!("{:#x}", w.end),
                        nodes = w.nodes,
                        bytes = w.bytes,
                        ms = ms as u64,
                        nice,
                        "snapshot written"
                    );
                    if let Some(f) = floor {
                        act.report_floor(f);
                    }
                    if act.policy.autopurge {
                        act.enqueue(Work::Purge, ctx);
                    }
                }
                Ok((Err(e), _, _)) => {
                    metrics::counter!("zkr_snapshot_errors_total").increment(1);
                    tracing::error!(error = %e, "snapshot failed; the log still has every txn");
                }
                Err(e) => tracing::error!(error = %e, "snapshot thread died"),
            }
            act.start_batch(ctx);
        }));
    }

    fn report_floor(&mut self, floor: Zxid) {
        if self.last_floor != Some(floor) {
            self.last_floor = Some(floor);
            crate::link::send_to(&self.floor, "log -> quorum", FloorChanged(floor));
        }
    }

    fn enqueue(&mut self, w: Work, ctx: &mut Context<Self>) {
        self.queued.push_back(w);
        self.start_queued(ctx);
    }

    /// Work was queued: start a batch if none runs.
    fn start_queued(&mut self, ctx: &mut Context<Self>) {
        self.start_batch(ctx);
        crate::metrics::LOG_QUEUE.set(self.queued.len());
    }

    /// Samples the free space of the log and snapshot directories (on a blocking thread),
    /// sets the gauges and warns once when it falls under the warning level (`space`).
    fn check_space(&mut self, ctx: &mut Context<Self>) {
        let Some(layout) = self.policy.layout.clone() else {
            return;
        };
        let newest_wanted = self.last_snapshot_bytes == 0;
        let work = tokio::task::spawn_blocking(move || space::sample(&layout, newest_wanted));
        ctx.spawn(work.into_actor(self).map(move |r, act, _| {
            let Ok(sample) = r else { return };
            if let Some(n) = sample.newest_snapshot {
                if act.last_snapshot_bytes == 0 {
                    act.last_snapshot_bytes = n;
                }
            }
            let threshold = space::warning_level(&act.policy, act.last_snapshot_bytes);
            let low = space::publish(&sample, threshold);
            if !act.space_low {
                for l in &low {
                    tracing::warn!(dir = %l.dir.display(), free = l.free, needed = threshold, "free disk space is low: the next snapshot or log segment may not fit");
                }
            }
            if act.space_low && low.is_empty() {
                tracing::info!("free disk space is back above the warning level");
            }
            act.space_low = !low.is_empty();
        }));
    }
}

impl Actor for LogActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(every) = self.policy.purge_interval {
            ctx.run_interval(every, |act, ctx| act.enqueue(Work::Purge, ctx));
        }
        if self.policy.layout.is_some() {
            self.check_space(ctx);
            ctx.run_interval(Duration::from_secs(10), |act, ctx| act.check_space(ctx));
        }
    }
}

impl Handler<Jobs> for LogActor {
    type Result = ();
    fn handle(&mut self, jobs: Jobs, ctx: &mut Context<Self>) {
        for job in jobs.0 {
            if let DurableAction::Append(t) = &job.action {
                self.since_snapshot += t.len() as u64;
            }
            self.queued.push_back(Work::Job(job));
        }
        self.start_queued(ctx);
        self.maybe_snapshot(ctx);
    }
}

impl Handler<WriteFile> for LogActor {
    type Result = ();
    fn handle(&mut self, w: WriteFile, ctx: &mut Context<Self>) {
        self.enqueue(Work::WriteFile(w), ctx);
    }
}

#[cfg(test)]
#[path = "actor_tests.rs"]
mod tests;
