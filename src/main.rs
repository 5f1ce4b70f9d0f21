//! `zkr`: the node binary and its tools.

mod admin;
mod cli;
mod config;
mod dev;
mod fuzz_config;
mod logging;
mod tools;
mod zk_export;
mod zk_import;
mod zoocfg;
mod zoocfg_keys;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc, not the system allocator: it hands freed memory back to the OS after a short delay
/// (so the resident size follows the live heap after a snapshot or a burst of requests), and
/// its size classes waste less on the tree's many small blocks (docs/benchmarks.md, "Memory
/// model"). The `system-allocator` feature keeps glibc's, for heap profilers that hook malloc (heaptrack).
/// The binary's unit tests count allocations instead (below).
#[cfg(not(any(feature = "system-allocator", test)))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "zkr",
    version,
    about = "A ZooKeeper-compatible coordination service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node (standalone on port 2181 with data under ./zkr-data, unless configured).
    Node {
        /// A zkr TOML configuration file (see config/standalone.toml).
        #[arg(long, conflicts_with = "zoo_cfg")]
        config: Option<PathBuf>,
        /// A ZooKeeper zoo.cfg (tickTime, dataDir, clientPort, server.N, ... and dataDir/myid).
        #[arg(long)]
        zoo_cfg: Option<PathBuf>,
        #[command(flatten)]
        logs: logging::LogOptions,
    },
    /// Run a local ensemble of separate node processes on loopback (Ctrl-C stops them).
    Dev {
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u8,
        /// Client port of node 1 (node i: base + i - 1; peers: base + 1000 + i - 1).
        #[arg(long, default_value_t = 2181)]
        base_port: u16,
        /// Where the nodes keep their data and logs.
        #[arg(long, default_value = "./zkr-dev")]
        dir: PathBuf,
    },
    /// Run a nemesis against a local ensemble of node processes and check what clients see
    /// (see README: "Chaos"). Prints `ops N, faults M, violations V, ...`; exits 1 on a violation.
    Chaos {
        /// Voting members (3 or 5).
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// How long the nemesis and the workloads run, seconds.
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// The seed of the fault schedule and the workloads (random if absent).
        #[arg(long)]
        seed: Option<u64>,
        /// Fault kinds, comma-separated (default: all): kill, pause, partition, bridge, one-way,
        /// client-partition, disk-eio, disk-full, disk-slow.
        #[arg(long, value_delimiter = ',')]
        faults: Vec<String>,
        /// tickTime of the ensemble, ms.
        #[arg(long, default_value_t = zkr::chaos::DEFAULT_TICK_MS)]
        tick_ms: u32,
        /// Session timeout of the clients, ms.
        #[arg(long, default_value_t = zkr::chaos::DEFAULT_SESSION_TIMEOUT_MS)]
        session_timeout_ms: u64,
        /// Where the ensemble lives (default: a fresh directory under the temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Keep the ensemble's directory (kept anyway when a violation is found).
        #[arg(long)]
        keep: bool,
    },
    /// Transaction log tools.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Snapshot tools.
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
    /// A ZooKeeper shell with zkCli.sh's commands and output:
    /// `zkr cli [-server host:port] [-timeout ms] [-r] [cmd args...]` (no command: interactive).
    #[command(disable_help_flag = true)]
    Cli {
        /// zkCli's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Delete old snapshots and the log segments only they needed (like zkCleanup.sh).
    Purge {
        /// The node's data directory.
        data_dir: PathBuf,
        /// The node's log directory, if not under the data directory (dataLogDir).
        #[arg(long)]
        data_log_dir: Option<PathBuf>,
        /// Snapshots to keep.
        #[arg(long, default_value_t = 3)]
        keep: usize,
    },
    /// Bring an Apache ZooKeeper server's data (3.4-3.9 snapshots and logs) into a zkr data dir.
    Import {
        /// ZooKeeper's dataDir (holding version-2/).
        #[arg(long = "from-zookeeper", value_name = "DATA_DIR")]
        from: PathBuf,
        /// ZooKeeper's dataLogDir, when its logs are kept apart.
        #[arg(long = "zookeeper-log-dir", value_name = "DATA_LOG_DIR")]
        log_dir: Option<PathBuf>,
        /// The zkr data directory to write (may be ZooKeeper's dataDir itself).
        #[arg(long)]
        data_dir: PathBuf,
        /// Read and check everything, report, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write even if a digest ZooKeeper recorded does not match the rebuilt tree.
        #[arg(long)]
        accept_digest_mismatch: bool,
    },
    /// Write a stopped zkr node's state as an Apache ZooKeeper snapshot (the way back).
    Export {
        /// ZooKeeper's dataDir to write (the snapshot and epochs go into its version-2/).
        #[arg(long = "to-zookeeper", value_name = "DATA_DIR")]
        to: PathBuf,
        /// The zkr data directory to read.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Print every txn of a data directory's log (or of one segment).
    Dump {
        /// A data directory, its log/ directory, or a segment file.
        path: PathBuf,
    },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Print a snapshot's sessions, ACLs and nodes.
    Dump {
        /// The snapshot file.
        file: PathBuf,
    },
    /// Check the checksums and completeness of snapshots.
    Verify {
        /// Snapshot files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Tests count allocations (the fuzz targets' allocation bound).
#[cfg(test)]
#[global_allocator]
static ALLOC: zkr_actors::fuzz::alloc::Counting = zkr_actors::fuzz::alloc::Counting;

fn tool_result(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zkr: {e}");
            ExitCode::from(1)
        }
    }
}

/// The audit lines the server itself writes (ZooKeeper's `serverStart` / `serverStop`).
fn server_audit(operation: &str, result: &str) {
    if zkr_actors::audit::enabled() {
        let user = zkr_actors::audit::server_user();
        zkr_actors::audit::emit(&zkr_actors::audit::line(
            None, &user, None, operation, None, None, None, result,
        ));
    }
}

/// A panic is a broken invariant: log it and abort, so the process supervisor restarts the node
/// and it recovers from its log (actix would otherwise let the panicking actor die silently).
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(%info, "panic: a broken invariant; aborting");
        default(info);
        std::process::abort();
    }));
}

fn run_node(config: zkr_actors::config::NodeConfig, config_text: String) -> ExitCode {
    let system = actix_rt::System::new();
    let started = system.block_on(async move {
        // The admin endpoint first: it answers probes ("not ready") while the node recovers.
        let admin = if config.admin.enabled {
            admin::AdminServer::start(&config, config_text).map_err(|e| e.to_string())?
        } else {
            None
        };
        match zkr_actors::node::start(config).await {
            Ok(node) => {
                if let Some(a) = &admin {
                    a.attach(node.context.clone());
                }
                actix_rt::spawn(async move {
                    wait_for_shutdown_signal().await;
                    tracing::info!("shutting down");
                    if let Some(a) = &admin {
                        a.stopping();
                    }
                    actix_rt::System::current().stop();
                });
                Ok(node)
            }
            Err(e) => Err(e.to_string()),
        }
    });
    let node = match started {
        Ok(n) => n,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    let code = system.run_with_code();
    drop(node);
    match code {
        Ok(0) => ExitCode::SUCCESS,
        Ok(c) => ExitCode::from(c.clamp(1, 255) as u8),
        Err(e) => {
            tracing::error!("system error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

/// No transparent huge pages for this process: with them, each 2 MiB region the allocator
/// touches is resident whole and freed memory is handed back in 2 MiB units, which costs the
/// node tens of MB (docs/benchmarks.md, "Memory model"). Refused by an old kernel: harmless.
fn no_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[allow(clippy::too_many_arguments)]
fn run_chaos(
    nodes: usize,
    duration: u64,
    seed: Option<u64>,
    faults: &[String],
    tick_ms: u32,
    session_timeout_ms: u64,
    dir: Option<PathBuf>,
    keep: bool,
) -> ExitCode {
    use zkr::chaos::{nemesis::FaultKind, ChaosOptions};
    let faults: Result<Vec<FaultKind>, String> =
        faults.iter().map(|f| FaultKind::parse(f.trim())).collect();
    let bin = std::env::current_exe();
    let (faults, bin) = match (faults, bin) {
        (Ok(f), Ok(b)) => (f, b),
        (Err(e), _) => return tool_result(Err(e)),
        (_, Err(e)) => return tool_result(Err(format!("cannot find the zkr binary: {e}"))),
    };
    let o = ChaosOptions {
        nodes,
        seed,
        duration: std::time::Duration::from_secs(duration),
        faults,
        tick_ms,
        session_timeout_ms,
        dir,
        keep,
        bin,
    };
    match zkr::chaos::run(&o) {
        Ok(s) => {
            for v in &s.violations {
                eprintln!("zkr chaos: violation: {v}");
            }
            for n in &s.notes {
                eprintln!("zkr chaos: note: {n}");
            }
            if let Some(k) = &s.kept {
                eprintln!("zkr chaos: ensemble kept in {}", k.display());
            }
            println!("{}", s.line());
            println!("replay: {}", s.replay);
            if s.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("zkr chaos: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    no_huge_pages();
    let cli = Cli::parse();
    match &cli.command {
        Command::Log {
            command: LogCommand::Dump { path },
        } => return tool_result(tools::log_dump(path)),
        Command::Snapshot { command } => {
            return tool_result(match command {
                SnapshotCommand::Dump { file } => tools::snapshot_dump(file),
                SnapshotCommand::Verify { files } => tools::snapshot_verify(files),
            })
        }
        Command::Purge {
            data_dir,
            data_log_dir,
            keep,
        } => return tool_result(tools::purge(data_dir, data_log_dir.as_deref(), *keep)),
        Command::Import {
            from,
            log_dir,
            data_dir,
            dry_run,
            accept_digest_mismatch,
        } => {
            return tool_result(zk_import::run(&zk_import::ImportOptions {
                from: from.clone(),
                log_dir: log_dir.clone(),
                data_dir: data_dir.clone(),
                dry_run: *dry_run,
                accept_digest_mismatch: *accept_digest_mismatch,
            }))
        }
        Command::Export { to, data_dir } => {
            return tool_result(zk_export::run(&zk_export::ExportOptions {
                to: to.clone(),
                data_dir: data_dir.clone(),
            }))
        }
        Command::Dev {
            nodes,
            base_port,
            dir,
        } => {
            return tool_result(dev::run(dev::DevOptions {
                nodes: *nodes,
                base_port: *base_port,
                dir: dir.clone(),
            }))
        }
        Command::Cli { args } => return cli::run(args.clone()),
        Command::Chaos {
            nodes,
            duration,
            seed,
            faults,
            tick_ms,
            session_timeout_ms,
            dir,
            keep,
        } => {
            return run_chaos(
                *nodes,
                *duration,
                *seed,
                faults,
                *tick_ms,
                *session_timeout_ms,
                dir.clone(),
                *keep,
            )
        }
        Command::Node { .. } => {}
    }
    let Command::Node { logs, .. } = &cli.command else {
        return ExitCode::SUCCESS;
    };
    let _log_guards = logging::init(logs);
    install_panic_hook();
    match cli.command {
        Command::Node {
            config, zoo_cfg, ..
        } => {
            let loaded = match (&config, &zoo_cfg) {
                (Some(path), _) => config::load(path),
                (None, Some(path)) => zoocfg::load(path),
                (None, None) => config::embedded_default(),
            };
            let text = match config.as_ref().or(zoo_cfg.as_ref()) {
                Some(path) => std::fs::read_to_string(path).unwrap_or_default(),
                None => config::DEFAULT_TOML.to_string(),
            };
            match loaded {
                Ok(c) => {
                    zkr_actors::audit::enable(c.audit.enabled);
                    server_audit("serverStart", "success");
                    let code = run_node(c, text);
                    server_audit(
                        "serverStop",
                        if code == ExitCode::SUCCESS {
                            "invoked"
                        } else {
                            "failure"
                        },
                    );
                    code
                }
                Err(e) => {
                    logging::stderr_line(&format!("zkr: {e}"));
                    ExitCode::from(2)
                }
            }
        }
        _ => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod panic_tests {
    //! The panic hook is what aborts the process on a broken invariant (the release profile does
    //! not set `panic = "abort"`, so that the release binary and the release tests share one
    //! build of the dependencies; decision 7 in docs/architecture.md). Each test runs itself again
    //! as a child process that installs the hook and panics; the child must die of SIGABRT.
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    const CHILD: &str = "ZKR_PANIC_HOOK_CHILD";

    /// Runs test `name` of this binary in a child with [`CHILD`] set; returns its signal.
    fn child_signal(name: &str) -> Option<i32> {
        let exe = std::env::current_exe().expect("the test binary's path");
        let out = Command::new(exe)
            .args([name, "--exact", "--test-threads=1", "--nocapture"])
            .env(CHILD, "1")
            .output()
            .expect("the child runs");
        out.status.signal()
    }

    #[test]
    fn a_panic_in_a_plain_thread_aborts_the_process() {
        if std::env::var_os(CHILD).is_some() {
            super::install_panic_hook();
            let _ = std::thread::spawn(|| panic!("a broken invariant (test)")).join();
            std::process::exit(0);
        }
        assert_eq!(
            child_signal("panic_tests::a_panic_in_a_plain_thread_aborts_the_process"),
            Some(libc::SIGABRT)
        );
    }

    #[test]
    fn a_panic_that_tokio_would_catch_still_aborts_the_process() {
        if std::env::var_os(CHILD).is_some() {
            super::install_panic_hook();
            // tokio turns a panicking blocking task (and an actix actor's) into an error value;
            // the hook runs first and aborts.
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime");
            let r = rt.block_on(tokio::task::spawn_blocking(|| panic!("a broken invariant")));
            let _ = r;
            std::process::exit(0);
        }
        assert_eq!(
            child_signal("panic_tests::a_panic_that_tokio_would_catch_still_aborts_the_process"),
            Some(libc::SIGABRT)
        );
    }
}
