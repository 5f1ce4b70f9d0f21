//! Shared helpers of the integration tests: start a real `zkr node` process on free loopback
//! ports with its own temporary data directory, wait until it serves, stop it by PID.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A temporary directory under the system temp dir, removed on drop (`tempfile`).
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    /// A fresh directory whose name starts with `zkr-test-{tag}-`.
    pub fn new(tag: &str) -> TempDir {
        TempDir(
            tempfile::Builder::new()
                .prefix(&format!("zkr-test-{tag}-"))
                .tempdir()
                .expect("create temp dir"),
        )
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// A running zkr node process.
pub struct ZkrNode {
    /// The process.
    pub child: Option<Child>,
    /// Client port.
    pub port: u16,
    /// Its data and log directory.
    pub dir: TempDir,
    /// The TOML it runs with (without the [node] basics).
    pub extra_toml: String,
    /// Where its data lives (default: `dir/data`).
    pub data_dir: PathBuf,
    /// Extra environment variables of the process.
    pub env: Vec<(String, String)>,
}

impl ZkrNode {
    /// Starts a standalone node with default settings plus `extra_toml` (appended sections).
    pub fn start(extra_toml: &str) -> ZkrNode {
        let dir = TempDir::new("node");
        let data = dir.path().join("data");
        ZkrNode::start_in(dir, data, extra_toml)
    }

    /// Starts a standalone node whose data directory is `data_dir`.
    pub fn start_with_data_dir(data_dir: &Path, extra_toml: &str) -> ZkrNode {
        ZkrNode::start_in(TempDir::new("node"), data_dir.to_path_buf(), extra_toml)
    }

    /// Starts a node with extra environment variables.
    pub fn start_with_env(
        data_dir: &Path,
        extra_toml: &str,
        env: Vec<(String, String)>,
    ) -> ZkrNode {
        ZkrNode::start_full(
            TempDir::new("node"),
            data_dir.to_path_buf(),
            extra_toml,
            env,
        )
    }

    fn start_in(dir: TempDir, data_dir: PathBuf, extra_toml: &str) -> ZkrNode {
        ZkrNode::start_full(dir, data_dir, extra_toml, Vec::new())
    }

    fn start_full(
        dir: TempDir,
        data_dir: PathBuf,
        extra_toml: &str,
        env: Vec<(String, String)>,
    ) -> ZkrNode {
        let port = free_port();
        let mut node = ZkrNode {
            child: None,
            port,
            dir,
            extra_toml: extra_toml.to_string(),
            data_dir,
            env,
        };
        node.spawn();
        node
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("zkr.toml")
    }

    fn spawn(&mut self) {
        let data = self.data_dir.clone();
        // No per-IP limit unless the test sets one (many tests open many connections).
        let per_ip = if self.extra_toml.contains("max_client_connections") {
            ""
        } else {
            "max_client_connections = 0\n"
        };
        let toml = format!(
            "[node]\nid = 0\ndata_dir = {:?}\nclient_port = {}\nclient_address = \"127.0.0.1\"\n\
             tick_time_ms = 2000\nfour_letter_words = [\"*\"]\n{per_ip}{}\n",
            data.display().to_string(),
            self.port,
            self.extra_toml
        );
        let toml = if toml.contains("[metrics]") {
            toml
        } else {
            format!("{toml}\n[metrics]\nport = 0\n")
        };
        std::fs::write(self.config_path(), toml).expect("write config");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("node.log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_zkr"))
            .arg("node")
            .arg("--config")
            .arg(self.config_path())
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn zkr");
        self.child = Some(child);
        wait_serving(self.port, Duration::from_secs(30));
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }

    /// The node's log once it contains `needle` (lines are written by the node's log-output
    /// thread, a moment after what they report); panics after 10 s.
    pub fn log_with(&self, needle: &str) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < end, "{needle:?} not logged; log:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill9(&mut self) {
        if let Some(c) = self.child.take() {
            kill_and_reap(c);
        }
    }

    /// Stops the process with SIGTERM and waits (SIGKILL after 10 s).
    pub fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            terminate(c);
        }
    }

    /// Starts the process again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts the process on the kept data, expecting it to exit with an error; returns its
    /// log (the test asserts on the message).
    pub fn start_expecting_failure(&mut self) -> String {
        self.stop();
        let before = self.log().len();
        let status = Command::new(env!("CARGO_BIN_EXE_zkr"))
            .arg("node")
            .arg("--config")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .output()
            .expect("run zkr");
        assert!(
            !status.status.success(),
            "the node started although it should refuse"
        );
        let mut out = String::from_utf8_lossy(&status.stdout).into_owned();
        out.push_str(&String::from_utf8_lossy(&status.stderr));
        let _ = before;
        out
    }

    /// Is the process still running?
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for ZkrNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits until the node on `port` serves clients (`srvr` gives its mode).
pub fn wait_serving(port: u16, within: Duration) {
    let end = Instant::now() + within;
    while Instant::now() < end {
        // `ruok` answers `imok` as soon as the port is open, serving or not (as ZooKeeper's
        // does); `srvr` says "not currently serving" until the node serves, then its mode.
        let srvr = four_letter(port, "srvr");
        if srvr.contains("Mode:")
            || (srvr.contains("not in the whitelist") && four_letter(port, "ruok") == "imok")
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("node on port {port} not serving after {within:?}");
}

/// Reads `path` relative to the repository root.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Reads one client-protocol frame (4-byte big-endian length, then the payload) of at most
/// `max_len` bytes; `Err` says what happened (a close, a timeout, an absurd length).
pub fn read_frame(s: &mut impl Read, max_len: i32) -> Result<Vec<u8>, String> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)
        .map_err(|e| format!("reading a length: {e}"))?;
    let len = i32::from_be_bytes(len);
    if !(0..=max_len).contains(&len) {
        return Err(format!("server sent frame length {len}"));
    }
    let mut p = vec![0u8; len as usize];
    s.read_exact(&mut p)
        .map_err(|e| format!("reading {len} payload bytes: {e}"))?;
    Ok(p)
}

/// A small tmpfs mounted for the test (unmounted on drop), or `None` where mounting is not
/// permitted.
pub struct SmallFs(pub PathBuf);

impl SmallFs {
    /// Mounts a tmpfs of `size` (mount's syntax: 16m) on `dir`.
    pub fn mount(dir: &Path, size: &str) -> Option<SmallFs> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallFs(dir.to_path_buf()))
    }

    /// Grows (or shrinks) it.
    pub fn grow(&self, size: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount to {size}");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
pub mod ensemble;

/// The nice value process `pid` runs at (field 19 of `/proc/<pid>/stat`): the priority its
/// serving threads have and background work is lowered from.
#[allow(dead_code)]
pub fn process_nice(pid: u32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // Fields after the command's closing parenthesis start at field 3 (the state).
    let after = &stat[stat.rfind(')').expect("a stat line") + 2..];
    after
        .split_whitespace()
        .nth(19 - 3)
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("no nice field in {stat:?}"))
}

/// Asserts that every log line with `message` reports (`nice=N`) the background priority
/// below `serving` (`txnlog::background`), and that there is one.
#[allow(dead_code)]
pub fn assert_logged_at_background_nice(log: &str, message: &str, serving: i32) {
    let nices = logged_nices(log, message);
    assert!(!nices.is_empty(), "no nice in the {message:?} lines: {log}");
    let want = zkr_actors::txnlog::background::background_nice(serving);
    assert!(
        nices.iter().all(|n| *n == want),
        "{message:?} at nice {nices:?}, the process serves at {serving}"
    );
}

/// The `nice=N` field of each log line that contains `message`.
fn logged_nices(log: &str, message: &str) -> Vec<i32> {
    log.lines()
        .filter(|l| l.contains(message))
        .filter_map(|l| {
            let l = zkr::chaos::ensemble::strip_ansi(l);
            let i = l.find("nice=")?;
            l[i + 5..]
                .split(|c: char| !(c == '-' || c.is_ascii_digit()))
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[allow(unused_imports)]
pub use zkr::chaos::process::{four_letter, free_port, kill_and_reap, terminate};
pub mod load;
pub mod pki;
pub mod raw;
