//! `zkr dev --nodes N`: a local ensemble of N separate `zkr node` processes on loopback, for
//! development ([`zkr::chaos::ensemble`], with fixed ports). Prints how to connect; Ctrl-C stops
//! them all.

use std::path::PathBuf;
use std::time::Duration;

use zkr::chaos::ensemble::{Ensemble, EnsembleSpec};

/// Options of `zkr dev`.
pub struct DevOptions {
    /// Number of nodes (participants).
    pub nodes: u8,
    /// Client port of node 1; node i gets base + i - 1.
    pub base_port: u16,
    /// Where the nodes' data and logs go.
    pub dir: PathBuf,
}

/// Metrics port of node 1; node i gets this + i - 1.
const METRICS_BASE_PORT: u16 = 7000;

/// Runs the ensemble until Ctrl-C.
pub fn run(o: DevOptions) -> Result<(), String> {
    if o.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the zkr binary: {e}"))?;
    let spec = EnsembleSpec {
        voters: o.nodes as usize,
        tick_ms: 2000,
        init_limit: 10,
        sync_limit: 5,
        base_port: Some(o.base_port),
        metrics_base_port: Some(METRICS_BASE_PORT),
        ..EnsembleSpec::default()
    };
    let mut ens = Ensemble::create_in(o.dir.clone(), spec, &exe);
    // The data stays for the next `zkr dev` in the same directory.
    ens.keep = true;
    for id in ens.ids() {
        ens.spawn(id);
    }
    let ids = ens.ids();
    let hosts = ens.connect_string(&ids);
    println!(
        "zkr dev: {} nodes, data and logs under {} (n<id>/data, n<id>/node.log)",
        o.nodes,
        o.dir.display()
    );
    println!("connect with:   {hosts}");
    println!("e.g.            /usr/share/zookeeper/bin/zkCli.sh -server {hosts}");
    println!(
        "metrics:        http://127.0.0.1:{METRICS_BASE_PORT}/metrics .. :{}",
        METRICS_BASE_PORT as u32 + o.nodes as u32 - 1
    );
    println!("Ctrl-C stops them all.");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let outcome = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        let mut every = tokio::time::interval(Duration::from_millis(200));
        let mut running = ids.clone();
        loop {
            tokio::select! {
                _ = term.recv() => return Ok(()),
                _ = int.recv() => return Ok(()),
                _ = every.tick() => {
                    for id in &ids {
                        if let Some(status) = ens.reap_exited(*id) {
                            eprintln!("zkr dev: node {id} exited ({status}); see its node.log");
                            running.retain(|r| r != id);
                        }
                    }
                    if running.is_empty() {
                        return Err("every node exited".to_string());
                    }
                }
            }
        }
    });
    println!("zkr dev: stopping");
    for id in ids {
        ens.stop(id);
    }
    outcome
}
