//! `zkr chaos`: a seeded, time-bounded nemesis against an ensemble of real `zkr node` processes
//! on loopback, with real clients (the `zookeeper-client` crate) running workloads whose
//! histories are checked:
//! * [`register`]: compare-and-set registers and synced reads, linearizable ([`linearizability`]);
//! * [`lock`]: the ephemeral-sequential lock recipe, never two holders;
//! * [`session`]: ephemerals live exactly as long as their sessions; no early expiry;
//! * [`multi`]: multi is all-or-nothing as readers see it;
//! * [`watch`]: every change fires a watch once, in zxid order, before its data is seen.
//!
//! The faults ([`nemesis`]): kill -9 and restart, SIGSTOP/SIGCONT for longer than syncLimit
//! (one time in three longer than the session timeout), peer partitions (minority/majority,
//! bridge, one-way) through a fault-injecting proxy on every directed peer connection, client
//! partitions through a proxy in front of every client port, and a FUSE disk under every node
//! ([`disk`]) whose fsync fails with EIO, that fills up, or whose fsync is slow.
//!
//! One line sums a run up: `ops N, faults M, violations V, longest unavailability T ms, seed S`
//! (plus what was unavailable, if anything), then the command that replays it.

pub mod client;
pub mod disk;
pub mod ensemble;
pub mod linearizability;
pub mod lock;
pub mod multi;
pub mod nemesis;
pub mod process;
pub mod proxy;
pub mod register;
pub mod session;
pub mod watch;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use client::Run;
use ensemble::{Ensemble, EnsembleSpec};
use nemesis::{FaultKind, Nemesis};

/// What `zkr chaos` runs.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Voting members (3 or 5).
    pub nodes: usize,
    /// The seed (random when absent; printed either way).
    pub seed: Option<u64>,
    /// How long the workloads and the nemesis run.
    pub duration: Duration,
    /// Fault kinds (all when empty).
    pub faults: Vec<FaultKind>,
    /// tickTime, ms.
    pub tick_ms: u32,
    /// Session timeout the clients ask for, ms.
    pub session_timeout_ms: u64,
    /// Where the ensemble lives (a fresh temp dir when absent).
    pub dir: Option<PathBuf>,
    /// Keep the ensemble's directory (it is kept anyway when a violation is found).
    pub keep: bool,
    /// The node binary.
    pub bin: PathBuf,
}

/// A run's outcome.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Operations started.
    pub ops: u64,
    /// Faults applied.
    pub faults: u64,
    /// Violations found (one line each).
    pub violations: Vec<String>,
    /// The longest time without a successful write, ms.
    pub longest_unavailability_ms: u64,
    /// The seed.
    pub seed: u64,
    /// What could not be used, and why.
    pub unavailable: Vec<String>,
    /// Other remarks (undecided checks...).
    pub notes: Vec<String>,
    /// The command that replays the run.
    pub replay: String,
    /// Where the ensemble was kept, if it was.
    pub kept: Option<PathBuf>,
}

impl Summary {
    /// The one-line summary.
    pub fn line(&self) -> String {
        let mut s = format!(
            "ops {}, faults {}, violations {}, longest unavailability {} ms, seed {}",
            self.ops,
            self.faults,
            self.violations.len(),
            self.longest_unavailability_ms,
            self.seed
        );
        if !self.unavailable.is_empty() {
            s.push_str(&format!("; unavailable: {}", self.unavailable.join("; ")));
        }
        s
    }
}

const REG_KEYS: usize = 8;
const REG_CLIENTS: usize = 4;
const LOCKS: usize = 2;
const LOCK_CLIENTS: usize = 3;
const SESSION_CLIENTS: usize = 4;
const MULTI_GROUPS: usize = 2;
const WATCH_KEYS: usize = 3;

/// Runs the nemesis and the workloads; the summary says what was found.
pub fn run(o: &ChaosOptions) -> Result<Summary, String> {
    if !(3..=9).contains(&o.nodes) || o.nodes % 2 == 0 {
        return Err("--nodes must be odd, from 3 to 9".into());
    }
    let seed = o.seed.unwrap_or_else(rand::random);
    let kinds: Vec<FaultKind> = if o.faults.is_empty() {
        FaultKind::ALL.to_vec()
    } else {
        o.faults.clone()
    };
    let mut replay = format!(
        "zkr chaos --nodes {} --duration {} --seed {seed}",
        o.nodes,
        o.duration.as_secs()
    );
    if !o.faults.is_empty() {
        let names: Vec<_> = o.faults.iter().map(|k| k.name()).collect();
        replay.push_str(&format!(" --faults {}", names.join(",")));
    }
    if o.tick_ms != DEFAULT_TICK_MS {
        replay.push_str(&format!(" --tick-ms {}", o.tick_ms));
    }
    if o.session_timeout_ms != DEFAULT_SESSION_TIMEOUT_MS {
        replay.push_str(&format!(" --session-timeout-ms {}", o.session_timeout_ms));
    }
    let sync_limit = 5u32;
    let spec = EnsembleSpec {
        voters: o.nodes,
        tick_ms: o.tick_ms,
        init_limit: 10,
        sync_limit,
        proxied: true,
        client_proxied: true,
        ..EnsembleSpec::default()
    };
    let base = o.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("zkr-chaos-{}-{seed}", std::process::id()))
    });
    let mut ens = Ensemble::create_in(base.clone(), spec, &o.bin);
    ens.keep = o.keep;
    // Nodes die with this process even if it is killed (they are spawned from this thread).
    ens.die_with_parent = true;
    let mut unavailable = Vec::new();
    let mut disks = BTreeMap::new();
    let mut kinds = kinds;
    if kinds.iter().any(|k| k.is_disk()) {
        for id in ens.ids() {
            let m = ens.member(id);
            match disk::FaultyDisk::mount(&m.dir.join("disk"), &m.data_dir()) {
                Ok(d) => {
                    disks.insert(id, d);
                }
                Err(e) => {
                    unavailable.push(format!("disk faults ({e})"));
                    disks.clear();
                    kinds.retain(|k| !k.is_disk());
                    break;
                }
            }
        }
    }
    if kinds.is_empty() {
        return Err(format!("no fault kind is available: {unavailable:?}"));
    }
    for id in ens.ids() {
        ens.spawn(id);
    }
    // Unmount the disks only after the processes are gone.
    let mut guard = Teardown {
        nemesis: None,
        ens: Some(ens),
        disks,
    };
    let ids = guard.ens.as_ref().map(|e| e.ids()).unwrap_or_default();
    guard
        .ens
        .as_ref()
        .ok_or("no ensemble")?
        .try_wait_leader(&ids, Duration::from_secs(60))
        .map_err(|e| format!("the ensemble did not start: {e}"))?;
    let ens = guard.ens.take().ok_or("no ensemble")?;
    let direct: Vec<String> = ens.ids().iter().map(|id| ens.addr(*id)).collect();
    let tick = Duration::from_millis(o.tick_ms as u64);
    let session_timeout = Duration::from_millis(o.session_timeout_ms);
    let start = Instant::now();
    let hosts = ens
        .client_connect_string(&ens.ids())
        .split(',')
        .map(str::to_string)
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let mut run_state = Run {
        start,
        deadline: start + Duration::from_secs(3600 * 24),
        hosts,
        session_timeout,
        expiry_slack: tick * (sync_limit + 2),
        ops: AtomicU64::new(0),
        ok_writes: Mutex::new(Vec::new()),
        violations: Mutex::new(Vec::new()),
        notes: Mutex::new(Vec::new()),
        stopped: AtomicBool::new(false),
    };
    // Setup first (with no deadline), then the clock of the run starts.
    let setup_run = Arc::new(Run {
        start,
        deadline: run_state.deadline,
        hosts: run_state.hosts.clone(),
        session_timeout,
        expiry_slack: run_state.expiry_slack,
        ops: AtomicU64::new(0),
        ok_writes: Mutex::new(Vec::new()),
        violations: Mutex::new(Vec::new()),
        notes: Mutex::new(Vec::new()),
        stopped: AtomicBool::new(false),
    });
    let (regs, locks, multis, watches) = rt.block_on(async {
        let regs = register::Registers::setup(&setup_run, REG_KEYS).await?;
        let locks = lock::Locks::setup(&setup_run, LOCKS).await?;
        session::setup(&setup_run).await?;
        let multis = multi::Multis::setup(&setup_run, MULTI_GROUPS).await?;
        let watches = watch::Watches::setup(&setup_run, WATCH_KEYS).await?;
        Ok::<_, String>((regs, locks, multis, watches))
    })?;
    let work_start_us = start.elapsed().as_micros() as u64;
    run_state.deadline = Instant::now() + o.duration;
    let run = Arc::new(run_state);
    let mut nemesis = Nemesis::new(
        ens,
        std::mem::take(&mut guard.disks),
        SmallRng::seed_from_u64(seed),
        kinds,
        run.clone(),
        tick * sync_limit,
    );
    // Ctrl-C or SIGTERM ends the run early; it still heals, checks and cleans up.
    {
        let run = run.clone();
        rt.spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            run.note("stopped early by a signal".into());
            run.stopped.store(true, Ordering::SeqCst);
        });
    }
    // The workloads, each client with a seed of its own derived from the run's.
    let sub = |k: u64| seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(k);
    let mut tasks = Vec::new();
    let mut worker = 0usize;
    let mut next = || {
        worker += 1;
        worker
    };
    for _ in 0..REG_CLIENTS {
        let i = next();
        tasks.push(rt.spawn(regs.clone().client(run.clone(), i, sub(i as u64))));
    }
    for _ in 0..LOCK_CLIENTS {
        let i = next();
        tasks.push(rt.spawn(locks.clone().client(run.clone(), i, sub(i as u64))));
    }
    for _ in 0..SESSION_CLIENTS {
        let i = next();
        tasks.push(rt.spawn(session::client(run.clone(), i, sub(i as u64))));
    }
    for _ in 0..2 {
        let i = next();
        tasks.push(rt.spawn(multis.clone().writer(run.clone(), i, sub(i as u64))));
        let i = next();
        tasks.push(rt.spawn(multis.clone().reader(run.clone(), i, sub(i as u64))));
    }
    let i = next();
    tasks.push(rt.spawn(watches.clone().writer(run.clone(), i, sub(i as u64))));
    for _ in 0..2 {
        let i = next();
        tasks.push(rt.spawn(watches.clone().watcher(run.clone(), i, sub(i as u64))));
    }
    // The nemesis runs on this thread until the deadline, then heals and waits for a leader.
    nemesis.run();
    let work_end_us = (run.deadline.duration_since(start).as_micros() as u64).min(run.now());
    // Every client stops by itself (each operation is bounded); its sessions close.
    rt.block_on(async {
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(session_timeout * 4, all)
            .await
            .is_err()
        {
            run.note("some clients did not stop in time".into());
        }
    });
    nemesis.heal();
    nemesis.settle();
    // The final checks, on a healed ensemble.
    rt.block_on(async {
        regs.check(&run);
        locks.check(&run);
        watches.check(&run);
        multis.finish(&run, &direct).await;
        registers_agree(&run, &direct).await;
        let mut dirs = vec![session::dir()];
        dirs.extend((0..LOCKS).map(|l| format!("/chaos/lock/l{l}")));
        match session::leftover_ephemerals(&run, &dirs, session_timeout * 3).await {
            Ok(left) => {
                for l in left {
                    run.violation(format!(
                        "an ephemeral outlived its session (every session of the run is over): {l}"
                    ));
                }
            }
            Err(e) => run.violation(e),
        }
    });
    // A member that exited (a panic aborts) since the last look is a violation too.
    nemesis.heal();
    let violations = run.violations.lock().clone();
    let kept = if !violations.is_empty() || o.keep {
        nemesis.ens.keep = true;
        Some(nemesis.ens.dir().to_path_buf())
    } else {
        None
    };
    let summary = Summary {
        ops: run.ops.load(Ordering::Relaxed),
        faults: nemesis.faults,
        violations,
        longest_unavailability_ms: run.longest_unavailability_ms(work_start_us, work_end_us),
        seed,
        unavailable,
        notes: run.notes.lock().clone(),
        replay,
        kept,
    };
    guard.nemesis = Some(nemesis);
    drop(guard);
    drop(rt);
    Ok(summary)
}

/// Default tickTime of `zkr chaos`, ms.
pub const DEFAULT_TICK_MS: u32 = 300;
/// Default session timeout of its clients, ms (the most tickTime 300 allows: 20 ticks).
pub const DEFAULT_SESSION_TIMEOUT_MS: u64 = 6000;

/// Every server holds the same registers at rest.
async fn registers_agree(run: &Arc<Run>, direct: &[String]) {
    let mut seen: BTreeMap<usize, (String, Vec<u8>, i32)> = BTreeMap::new();
    for h in direct {
        let Some(s) = client::Session::connect(run, h).await else {
            run.violation(format!("final check: no session on {h}"));
            continue;
        };
        for k in 0..REG_KEYS {
            let p = format!("/chaos/reg/k{k}");
            let r = client::bounded(run.session_timeout, async {
                s.client.sync(&p).await?;
                s.client.get_data(&p).await
            })
            .await;
            match r {
                client::Outcome::Ok((data, st)) => match seen.get(&k) {
                    Some((h0, d0, v0)) if *d0 != data || *v0 != st.version => {
                        run.violation(format!(
                            "{p} differs at rest: {h0} has version {v0}, {h} has version {}",
                            st.version
                        ))
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(k, (h.clone(), data, st.version));
                    }
                },
                other => run.violation(format!("final check of {p} on {h}: {other:?}")),
            }
        }
    }
}

/// Stops the processes before the FUSE disks under them are unmounted.
struct Teardown {
    nemesis: Option<Nemesis>,
    ens: Option<Ensemble>,
    disks: BTreeMap<u8, disk::FaultyDisk>,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(mut n) = self.nemesis.take() {
            kill_all(&mut n.ens);
            n.disks.clear();
            drop(n);
        }
        if let Some(mut e) = self.ens.take() {
            kill_all(&mut e);
            self.disks.clear();
            drop(e);
        }
        self.disks.clear();
    }
}

fn kill_all(e: &mut Ensemble) {
    for id in e.ids() {
        e.kill9(id);
    }
}
