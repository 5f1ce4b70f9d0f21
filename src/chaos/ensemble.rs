//! A local zkr ensemble of real `zkr node` processes, for the integration tests and `zkr chaos`:
//! free loopback ports, one directory per member (config, `node.log`, `data/`), generated TOML
//! (or zoo.cfg) configurations, optional fault-injecting proxies on every directed peer
//! connection and in front of every client port ([`super::proxy::Proxy`]), roles read from
//! `srvr`, every process stopped (or paused) by PID.
//!
//! On drop every process still running is killed; the directory is removed unless the thread
//! is panicking (a failing test) or [`Ensemble::keep`] is set, in which case the tail of each
//! member's log is printed and everything is kept for inspection (`ZKR_KEEP_ENSEMBLE=1` keeps
//! it always; `ZKR_TEST_LOG` overrides the members' `RUST_LOG`, default `info`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod start;
pub use start::{Exited, START_ATTEMPTS};

use super::process::{four_letter, free_port, kill_and_reap, signal, terminate};
use super::proxy::Proxy;

/// How to build an ensemble.
#[derive(Debug, Clone)]
pub struct EnsembleSpec {
    /// Voting members (ids 1..=voters).
    pub voters: usize,
    /// Observers (ids after the voters).
    pub observers: usize,
    /// Participants to be added by reconfig (ids after the observers): each one's configuration
    /// lists the founding members and itself, the others' do not list it; not started by
    /// [`Ensemble::start`].
    pub joiners: usize,
    /// tickTime, ms.
    pub tick_ms: u32,
    /// initLimit, ticks.
    pub init_limit: u32,
    /// syncLimit, ticks.
    pub sync_limit: u32,
    /// `[ensemble] commit_log_count`.
    pub commit_log_count: usize,
    /// Put a [`Proxy`] on every directed peer connection.
    pub proxied: bool,
    /// Put a [`Proxy`] in front of every member's client port (see
    /// [`Ensemble::client_connect_string`]).
    pub client_proxied: bool,
    /// Start from a ZooKeeper zoo.cfg (`zkr node --zoo-cfg`) instead of TOML.
    pub zoo_cfg: bool,
    /// Extra `key = value` lines of the `[node]` section (TOML only).
    pub node_extra: String,
    /// Extra sections appended to the TOML (`{member_dir}` is replaced by the member's
    /// directory).
    pub extra_toml: String,
    /// Extra `key = value` lines of the `[ensemble]` section (TOML only; `{member_dir}` as above).
    pub ensemble_extra: String,
    /// Fixed ports instead of free ones: member i's client port is base + i - 1, its peer port
    /// base + 1000 + i - 1 (as `zkr dev` has always used).
    pub base_port: Option<u16>,
    /// Fixed metrics ports (member i: base + i - 1) instead of any free one.
    pub metrics_base_port: Option<u16>,
    /// The lines of the `[storage]` section.
    pub storage: String,
    /// Extra environment variables of every member's process (e.g. the log's fault layer,
    /// `ZKR_TEST_FAULT_DIR`).
    pub env: Vec<(String, String)>,
}

impl Default for EnsembleSpec {
    fn default() -> Self {
        EnsembleSpec {
            voters: 3,
            observers: 0,
            joiners: 0,
            tick_ms: 250,
            init_limit: 20,
            sync_limit: 8,
            commit_log_count: 500,
            proxied: false,
            client_proxied: false,
            zoo_cfg: false,
            node_extra: String::new(),
            extra_toml: String::new(),
            ensemble_extra: String::new(),
            base_port: None,
            metrics_base_port: None,
            storage: "preallocate_bytes = 65536".into(),
            env: Vec::new(),
        }
    }
}

/// One member.
pub struct Member {
    /// Server id.
    pub id: u8,
    /// An observer?
    pub observer: bool,
    /// A participant to be added by reconfig ([`EnsembleSpec::joiners`])?
    pub joiner: bool,
    /// Client port.
    pub client_port: u16,
    /// Peer port it listens on.
    pub peer_port: u16,
    /// Election port written to zoo.cfg (unused by zkr).
    pub election_port: u16,
    /// Its directory (config, node.log, data/).
    pub dir: PathBuf,
    child: Option<Child>,
    /// Times it was started.
    pub starts: u32,
    /// Stopped with SIGSTOP (and not yet continued)?
    pub paused: bool,
}

impl Member {
    /// `127.0.0.1:<client port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// Its data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("node.log")
    }

    fn config_path(&self, zoo_cfg: bool) -> PathBuf {
        self.dir.join(if zoo_cfg { "zoo.cfg" } else { "zkr.toml" })
    }

    /// The process id, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

/// A running ensemble.
pub struct Ensemble {
    /// How it was built.
    pub spec: EnsembleSpec,
    /// Members, in id order (`members[i].id == i + 1`).
    pub members: Vec<Member>,
    /// Proxies by (from, to): `from`'s outgoing link to `to` goes through it.
    pub proxies: BTreeMap<(u8, u8), Proxy>,
    /// Proxies in front of the client ports, by member id (`client_proxied`).
    pub client_proxies: BTreeMap<u8, Proxy>,
    /// Keep the directory on drop (quietly; a panicking thread's ensemble is kept and its log
    /// tails printed anyway).
    pub keep: bool,
    /// Members get SIGKILL when the thread that spawned them exits (PR_SET_PDEATHSIG), so none
    /// outlives a killed `zkr chaos`. Only for a caller that spawns from one long-lived thread.
    pub die_with_parent: bool,
    base: PathBuf,
    bin: PathBuf,
}

/// `srvr`'s `Mode:` value, `None` if the server does not answer it (down, or not serving).
pub fn mode_of(port: u16) -> Option<String> {
    let out = four_letter(port, "srvr");
    out.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(|m| m.trim().to_string())
}

/// `srvr`'s `Zxid:` value.
pub fn zxid_of(port: u16) -> Option<i64> {
    let out = four_letter(port, "srvr");
    out.lines()
        .find_map(|l| l.strip_prefix("Zxid: 0x"))
        .and_then(|z| i64::from_str_radix(z.trim(), 16).ok())
}

/// Removes ANSI colour sequences (the node logs are written by tracing's fmt layer).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Ensemble {
    /// Builds the configurations in a fresh directory under the system's temp dir without
    /// starting anything.
    pub fn create(tag: &str, spec: EnsembleSpec, bin: &Path) -> Ensemble {
        let base = std::env::temp_dir().join(format!(
            "zkr-ens-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        Ensemble::create_in(base, spec, bin)
    }

    /// Builds the configurations in `base` (created if missing) without starting anything.
    pub fn create_in(base: PathBuf, spec: EnsembleSpec, bin: &Path) -> Ensemble {
        std::fs::create_dir_all(&base).expect("ensemble dir");
        let n = spec.voters + spec.observers + spec.joiners;
        // Fixed ports, or ones from the process-wide picker (below the ephemeral range, never
        // handed out twice, so no proxy or connection can take one before its member binds it).
        let port = |fixed: Option<u16>| fixed.unwrap_or_else(free_port);
        let mut members = Vec::new();
        for i in 0..n {
            let id = (i + 1) as u8;
            let dir = base.join(format!("n{id}"));
            std::fs::create_dir_all(dir.join("data")).expect("member dir");
            let fixed = |offset: u16| spec.base_port.map(|b| b + offset + i as u16);
            members.push(Member {
                id,
                observer: i >= spec.voters && i < spec.voters + spec.observers,
                joiner: i >= spec.voters + spec.observers,
                client_port: port(fixed(0)),
                peer_port: port(fixed(1000)),
                election_port: port(fixed(2000)),
                dir,
                child: None,
                starts: 0,
                paused: false,
            });
        }
        let mut proxies = BTreeMap::new();
        if spec.proxied {
            for a in &members {
                for b in &members {
                    if a.id != b.id {
                        let target = SocketAddr::from(([127, 0, 0, 1], b.peer_port));
                        proxies.insert((a.id, b.id), Proxy::start(target));
                    }
                }
            }
        }
        let mut client_proxies = BTreeMap::new();
        if spec.client_proxied {
            for m in &members {
                let target = SocketAddr::from(([127, 0, 0, 1], m.client_port));
                client_proxies.insert(m.id, Proxy::start(target));
            }
        }
        let e = Ensemble {
            spec,
            members,
            proxies,
            client_proxies,
            keep: false,
            die_with_parent: false,
            base,
            bin: bin.to_path_buf(),
        };
        for m in &e.members {
            e.write_config(m);
        }
        e
    }

    /// The peer port member `from` dials to reach `to`.
    fn peer_port_seen_by(&self, from: u8, to: u8) -> u16 {
        if from != to {
            if let Some(p) = self.proxies.get(&(from, to)) {
                return p.port;
            }
        }
        self.member(to).peer_port
    }

    fn write_config(&self, m: &Member) {
        let s = &self.spec;
        if s.zoo_cfg {
            let mut cfg = format!(
                "# generated by tests/common/ensemble.rs\ntickTime={}\ninitLimit={}\nsyncLimit={}\n\
                 dataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n\
                 4lw.commands.whitelist=*\npreAllocSize=64\nmetricsProvider.httpPort=0\n\
                 admin.enableServer=false\n",
                s.tick_ms,
                s.init_limit,
                s.sync_limit,
                m.data_dir().display(),
                m.client_port
            );
            for o in self.members.iter().filter(|o| !o.joiner || o.id == m.id) {
                cfg.push_str(&format!(
                    "server.{}=127.0.0.1:{}:{}{};{}\n",
                    o.id,
                    self.peer_port_seen_by(m.id, o.id),
                    // The election port is unused by zkr (one peer port carries everything).
                    o.election_port,
                    if o.observer { ":observer" } else { "" },
                    o.client_port
                ));
            }
            if m.observer {
                cfg.push_str("peerType=observer\n");
            }
            std::fs::write(m.config_path(true), cfg).expect("write zoo.cfg");
            std::fs::write(m.data_dir().join("myid"), format!("{}\n", m.id)).expect("myid");
            return;
        }
        let mut servers = String::new();
        for o in self.members.iter().filter(|o| !o.joiner || o.id == m.id) {
            servers.push_str(&format!(
                "  {{ id = {}, host = \"127.0.0.1\", peer_port = {}, client_port = {}{} }},\n",
                o.id,
                self.peer_port_seen_by(m.id, o.id),
                o.client_port,
                if o.observer { ", observer = true" } else { "" }
            ));
        }
        let toml = format!(
            "[node]\nid = {}\ndata_dir = {:?}\nclient_port = {}\nclient_address = \"127.0.0.1\"\n\
             tick_time_ms = {}\nfour_letter_words = [\"*\"]\nmax_client_connections = 0\n{}\n\
             [ensemble]\ninit_limit = {}\nsync_limit = {}\ncommit_log_count = {}\n{}\nservers = [\n{}]\n\n\
             [storage]\n{}\n\n[metrics]\nport = {}\naddress = \"127.0.0.1\"\n\n{}\n",
            m.id,
            m.data_dir().display().to_string(),
            m.client_port,
            s.tick_ms,
            s.node_extra,
            s.init_limit,
            s.sync_limit,
            s.commit_log_count,
            s.ensemble_extra.replace("{member_dir}", &m.dir.display().to_string()),
            servers,
            s.storage,
            s.metrics_base_port.map_or(0, |b| b as u32 + m.id as u32 - 1),
            s.extra_toml.replace("{member_dir}", &m.dir.display().to_string())
        );
        std::fs::write(m.config_path(false), toml).expect("write config");
    }

    /// Every member id.
    pub fn ids(&self) -> Vec<u8> {
        self.members.iter().map(|m| m.id).collect()
    }

    /// The members the ensemble starts with (all but the joiners).
    pub fn founder_ids(&self) -> Vec<u8> {
        self.members
            .iter()
            .filter(|m| !m.joiner)
            .map(|m| m.id)
            .collect()
    }

    /// The ZooKeeper server line (`server.N=host:peer:election[:observer];client`) of `id`,
    /// as a participant: what a reconfig adds.
    pub fn participant_line(&self, id: u8) -> String {
        let m = self.member(id);
        format!(
            "server.{id}=127.0.0.1:{}:{}:participant;127.0.0.1:{}",
            m.peer_port, m.election_port, m.client_port
        )
    }

    /// Voter ids.
    pub fn voter_ids(&self) -> Vec<u8> {
        self.members
            .iter()
            .filter(|m| !m.observer)
            .map(|m| m.id)
            .collect()
    }

    /// Member `id`.
    pub fn member(&self, id: u8) -> &Member {
        &self.members[id as usize - 1]
    }

    fn member_mut(&mut self, id: u8) -> &mut Member {
        &mut self.members[id as usize - 1]
    }

    /// `127.0.0.1:<client port>` of `id`.
    pub fn addr(&self, id: u8) -> String {
        self.member(id).addr()
    }

    /// A connect string of `ids`.
    pub fn connect_string(&self, ids: &[u8]) -> String {
        ids.iter()
            .map(|id| self.addr(*id))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A connect string of `ids` through their client proxies (`client_proxied`; the client
    /// ports themselves otherwise).
    pub fn client_connect_string(&self, ids: &[u8]) -> String {
        ids.iter()
            .map(|id| match self.client_proxies.get(id) {
                Some(p) => format!("127.0.0.1:{}", p.port),
                None => self.addr(*id),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts member `id` (its config and data as they are).
    pub fn spawn(&mut self, id: u8) {
        let zoo = self.spec.zoo_cfg;
        let bin = self.bin.clone();
        let die_with_parent = self.die_with_parent;
        let env = self.spec.env.clone();
        let m = self.member_mut(id);
        assert!(m.child.is_none(), "member {id} is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.log_path())
            .expect("log file");
        let mut cmd = Command::new(bin);
        cmd.arg("node")
            .arg(if zoo { "--zoo-cfg" } else { "--config" })
            .arg(m.config_path(zoo))
            .env(
                "RUST_LOG",
                std::env::var("ZKR_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        if die_with_parent {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl(2) is async-signal-safe; it only sets this child's death signal.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        m.child = Some(cmd.spawn().expect("spawn zkr"));
        m.starts += 1;
        m.paused = false;
    }

    /// Kills member `id` with SIGKILL and reaps it.
    pub fn kill9(&mut self, id: u8) {
        let m = self.member_mut(id);
        m.paused = false;
        if let Some(c) = m.child.take() {
            kill_and_reap(c);
        }
    }

    /// Stops member `id` with SIGTERM (SIGKILL after 10 s) and reaps it.
    pub fn stop(&mut self, id: u8) {
        let m = self.member_mut(id);
        m.paused = false;
        if let Some(c) = m.child.take() {
            terminate(c);
        }
    }

    /// Pauses member `id` with SIGSTOP (it keeps its sockets; nothing it owns runs).
    pub fn pause(&mut self, id: u8) {
        let m = self.member_mut(id);
        if let Some(c) = &m.child {
            signal(c, libc::SIGSTOP);
            m.paused = true;
        }
    }

    /// Resumes a paused member `id` with SIGCONT.
    pub fn resume(&mut self, id: u8) {
        let m = self.member_mut(id);
        if let Some(c) = &m.child {
            signal(c, libc::SIGCONT);
        }
        m.paused = false;
    }

    /// If member `id` was running and has exited on its own, reaps it and returns its exit
    /// status (a member we killed or stopped is not running).
    pub fn reap_exited(&mut self, id: u8) -> Option<std::process::ExitStatus> {
        let m = self.member_mut(id);
        let status = match &mut m.child {
            Some(c) => c.try_wait().ok().flatten(),
            None => None,
        };
        if status.is_some() {
            m.child = None;
            m.paused = false;
        }
        status
    }

    /// Is member `id` running?
    pub fn is_running(&mut self, id: u8) -> bool {
        match &mut self.member_mut(id).child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// `srvr` Mode of `id` (None: down or not serving).
    pub fn mode(&self, id: u8) -> Option<String> {
        mode_of(self.member(id).client_port)
    }

    /// Modes of `ids`.
    pub fn modes(&self, ids: &[u8]) -> BTreeMap<u8, Option<String>> {
        ids.iter().map(|id| (*id, self.mode(*id))).collect()
    }

    /// Waits until `id` answers srvr with mode `want`; panics after `within`.
    pub fn wait_mode(&self, id: u8, want: &str, within: Duration) {
        let end = Instant::now() + within;
        let mut last = None;
        while Instant::now() < end {
            last = self.mode(id);
            if last.as_deref() == Some(want) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("member {id} not in mode {want} within {within:?} (last: {last:?})");
    }

    /// Member `id`'s log so far, without colours.
    pub fn log(&self, id: u8) -> String {
        strip_ansi(&std::fs::read_to_string(self.member(id).log_path()).unwrap_or_default())
    }

    /// Length of member `id`'s raw log file (to look only at what comes after).
    pub fn log_len(&self, id: u8) -> usize {
        std::fs::metadata(self.member(id).log_path())
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    }

    /// Member `id`'s log after byte `from` of the raw file, without colours.
    pub fn log_since(&self, id: u8, from: usize) -> String {
        let raw = std::fs::read(self.member(id).log_path()).unwrap_or_default();
        strip_ansi(&String::from_utf8_lossy(&raw[from.min(raw.len())..]))
    }

    /// The leader `leader`'s "synchronising learner" lines about `learner` after `from`.
    pub fn sync_lines(&self, leader: u8, learner: u8, from: usize) -> Vec<String> {
        let needle = format!("learner={learner} ");
        self.log_since(leader, from)
            .lines()
            .filter(|l| l.contains("synchronising learner") && l.contains(&needle))
            .map(str::to_string)
            .collect()
    }

    /// The sync mode in a "synchronising learner" line (`DIFF`, `TRUNC`, `SNAP`).
    pub fn sync_mode(line: &str) -> Option<String> {
        let i = line.find("mode=")?;
        let rest = line[i + 5..].trim_start_matches('"');
        Some(
            rest.chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect(),
        )
    }

    /// Waits for a "synchronising learner" line of `leader` about `learner` after `from`;
    /// returns the lines so far.
    pub fn wait_sync_lines(
        &self,
        leader: u8,
        learner: u8,
        from: usize,
        within: Duration,
    ) -> Vec<String> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            let lines = self.sync_lines(leader, learner, from);
            if !lines.is_empty() {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("leader {leader} never logged synchronising learner {learner} within {within:?}");
    }

    /// Partitions `id` from every other member: cuts the proxies of its peer connections in
    /// both directions (needs `proxied`).
    pub fn isolate(&self, id: u8) {
        assert!(self.spec.proxied, "isolate needs proxies");
        for ((a, b), p) in &self.proxies {
            if *a == id || *b == id {
                p.cut();
            }
        }
    }

    /// Partitions `id` silently: stalls the proxies of its peer connections in both directions
    /// (nothing is closed; what was sent arrives after healing).
    pub fn stall(&self, id: u8) {
        assert!(self.spec.proxied, "stall needs proxies");
        for ((a, b), p) in &self.proxies {
            if *a == id || *b == id {
                p.stall();
            }
        }
    }

    /// Heals every proxy.
    pub fn heal_all(&self) {
        for p in self.proxies.values() {
            p.heal();
        }
    }

    /// The last `lines` lines of member `id`'s log.
    pub fn log_tail(&self, id: u8, lines: usize) -> String {
        let log = self.log(id);
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The ensemble's directory.
    pub fn dir(&self) -> &Path {
        &self.base
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        let ids = self.ids();
        for id in &ids {
            self.kill9(*id);
        }
        self.proxies.clear();
        self.client_proxies.clear();
        if self.keep {
            // Kept on purpose: the owner says where.
        } else if std::thread::panicking() {
            eprintln!(
                "=== ensemble kept for inspection in {} ===",
                self.base.display()
            );
            for id in ids {
                eprintln!(
                    "--- member {id} (client port {}) log tail ---\n{}",
                    self.member(id).client_port,
                    self.log_tail(id, 40)
                );
            }
        } else if std::env::var_os("ZKR_KEEP_ENSEMBLE").is_some() {
            eprintln!(
                "ensemble kept in {} (ZKR_KEEP_ENSEMBLE)",
                self.base.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }
}
