//! `zkr dev --nodes N`: a local ensemble of N separate `zkr node` processes on loopback, for
//! development. Prints how to connect; Ctrl-C stops them all.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Options of `zkr dev`.
pub struct DevOptions {
    /// Number of nodes (participants).
    pub nodes: u8,
    /// Client port of node 1; node i gets base + i - 1.
    pub base_port: u16,
    /// Where the nodes' data and logs go.
    pub dir: PathBuf,
}

fn node_toml(o: &DevOptions, i: u8, dir: &Path) -> String {
    let mut servers = String::new();
    for j in 1..=o.nodes {
        servers.push_str(&format!(
            "  {{ id = {j}, host = \"127.0.0.1\", peer_port = {}, client_port = {} }},\n",
            o.base_port as u32 + 1000 + j as u32 - 1,
            o.base_port as u32 + j as u32 - 1
        ));
    }
    format!(
        "# Written by `zkr dev`.\n[node]\nid = {i}\ndata_dir = {:?}\nclient_port = {}\nclient_address = \"127.0.0.1\"\n\
         tick_time_ms = 2000\nfour_letter_words = [\"*\"]\nmax_client_connections = 0\n\n\
         [ensemble]\ninit_limit = 10\nsync_limit = 5\nservers = [\n{servers}]\n\n\
         [metrics]\nport = {}\naddress = \"127.0.0.1\"\n",
        dir.join("data").display().to_string(),
        o.base_port as u32 + i as u32 - 1,
        7000 + i as u32 - 1
    )
}

/// Runs the ensemble until Ctrl-C.
pub fn run(o: DevOptions) -> Result<(), String> {
    if o.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the zkr binary: {e}"))?;
    let mut children: Vec<(u8, Child)> = Vec::new();
    for i in 1..=o.nodes {
        let dir = o.dir.join(format!("node{i}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cfg = dir.join("zkr.toml");
        std::fs::write(&cfg, node_toml(&o, i, &dir))
            .map_err(|e| format!("{}: {e}", cfg.display()))?;
        let log = std::fs::File::create(dir.join("node.log")).map_err(|e| e.to_string())?;
        let child = Command::new(&exe)
            .args(["node", "--config"])
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting node {i}: {e}"))?;
        children.push((i, child));
    }
    let hosts: Vec<String> = (1..=o.nodes)
        .map(|i| format!("127.0.0.1:{}", o.base_port as u32 + i as u32 - 1))
        .collect();
    println!(
        "zkr dev: {} nodes, data and logs under {}",
        o.nodes,
        o.dir.display()
    );
    println!("connect with:   {}", hosts.join(","));
    println!(
        "e.g.            /usr/share/zookeeper/bin/zkCli.sh -server {}",
        hosts.join(",")
    );
    println!(
        "metrics:        http://127.0.0.1:7000/metrics .. :{}",
        7000 + o.nodes as u32 - 1
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
        loop {
            tokio::select! {
                _ = term.recv() => return Ok(()),
                _ = int.recv() => return Ok(()),
                _ = every.tick() => {
                    for (i, c) in children.iter_mut() {
                        if let Ok(Some(status)) = c.try_wait() {
                            eprintln!("zkr dev: node {i} exited ({status}); see its node.log");
                        }
                    }
                    children.retain_mut(|(_, c)| matches!(c.try_wait(), Ok(None)));
                    if children.is_empty() {
                        return Err("every node exited".to_string());
                    }
                }
            }
        }
    });
    println!("zkr dev: stopping");
    for (_, c) in &children {
        // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
    }
    for (_, c) in &mut children {
        let _ = c.wait();
    }
    outcome
}
