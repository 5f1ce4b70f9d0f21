//! `zkr`: the node binary and its tools.

mod config;
mod dev;
mod tools;
mod zoocfg;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc, not the system allocator: it hands freed memory back to the OS after a short delay
/// (so the resident size follows the live heap after a snapshot or a burst of requests), and
/// its size classes waste less on the tree's many small blocks (docs/benchmarks.md, "Memory model"). The
/// `system-allocator` feature keeps glibc's, for heap profilers that hook malloc (heaptrack).
#[cfg(not(feature = "system-allocator"))]
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
    /// Delete old snapshots and the log segments only they needed (like zkCleanup.sh).
    Purge {
        /// The node's data directory.
        data_dir: PathBuf,
        /// Snapshots to keep.
        #[arg(long, default_value_t = 3)]
        keep: usize,
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

fn tool_result(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zkr: {e}");
            ExitCode::from(1)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
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

fn run_node(config: zkr_actors::config::NodeConfig) -> ExitCode {
    let system = actix_rt::System::new();
    let started = system.block_on(async move {
        match zkr_actors::node::start(config).await {
            Ok(node) => {
                actix_rt::spawn(async {
                    wait_for_shutdown_signal().await;
                    tracing::info!("shutting down");
                    actix_rt::System::current().stop();
                });
                Ok(node)
            }
            Err(e) => Err(e),
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
        Command::Purge { data_dir, keep } => return tool_result(tools::purge(data_dir, *keep)),
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
        Command::Node { .. } => {}
    }
    init_logging();
    install_panic_hook();
    match cli.command {
        Command::Node { config, zoo_cfg } => {
            let loaded = match (&config, &zoo_cfg) {
                (Some(path), _) => config::load(path),
                (None, Some(path)) => zoocfg::load(path),
                (None, None) => config::embedded_default(),
            };
            match loaded {
                Ok(c) => run_node(c),
                Err(e) => {
                    eprintln!("zkr: {e}");
                    ExitCode::from(2)
                }
            }
        }
        _ => ExitCode::SUCCESS,
    }
}
