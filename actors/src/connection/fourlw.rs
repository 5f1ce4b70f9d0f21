//! Four-letter words on the client port (ZooKeeper's `FourLetterCommands` and `server/command`).
//! Output formats follow ZooKeeper's so that `zkServer.sh status`, monitoring scripts and the
//! client libraries' parsers keep working (protocol doc §21).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::dump::{self, Dump, Sessions};
use crate::context::{Mode, NodeContext};
use crate::outbox::Outbox;
use crate::version::version_string;

/// The text answer to `word` (may be empty: the connection is just closed).
pub fn answer(node: &NodeContext, word: &str, this: &Outbox) -> String {
    if word == "\u{fff4}" {
        // Telnet's interrupt: close, unless the default whitelist makes it a refused word.
        return if node.config.node.four_letter_word_allowed("*") {
            String::new()
        } else {
            format!("{word} is not executed because it is not in the whitelist.\n")
        };
    }
    if !node.config.node.four_letter_word_allowed(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    metrics::counter!("zkr_four_letter_words_total", "word" => word.to_string()).increment(1);
    if !node.is_serving()
        && !node.is_read_only()
        && !matches!(
            word,
            "ruok" | "envi" | "conf" | "dirs" | "isro" | "gtmk" | "stmk"
        )
    {
        return "This ZooKeeper instance is not currently serving requests\n".into();
    }
    match word {
        "ruok" => "imok".into(),
        "isro" => if node.mode() == Mode::ReadOnly {
            "ro"
        } else {
            "rw"
        }
        .into(),
        "srvr" => server_summary(node, this, false),
        "stat" => server_summary(node, this, true),
        "mntr" => monitor(node),
        "conf" => conf(node),
        "cons" => {
            let mut s = String::new();
            for line in connection_lines(node, this, true) {
                s.push_str(&line);
                s.push('\n');
            }
            s.push('\n');
            s
        }
        "crst" => {
            for c in node.store.connections() {
                c.stats.received.store(0, Ordering::Relaxed);
                c.stats.sent.store(0, Ordering::Relaxed);
            }
            "Connection stats reset.\n".into()
        }
        "srst" => {
            node.stats.reset();
            "Server stats reset.\n".into()
        }
        "wchs" => {
            let (conns, paths, total) = node.store.with_watches(|w| w.summary());
            format!("{conns} connections watching {paths} paths\nTotal watches:{total}\n")
        }
        "wchc" => {
            let by_conn = node.store.with_watches(|w| w.by_watcher());
            let sessions: std::collections::HashMap<u64, i64> = node
                .store
                .connections()
                .iter()
                .map(|c| (c.id(), c.session()))
                .collect();
            let mut s = String::new();
            let mut entries: Vec<_> = by_conn.into_iter().collect();
            entries.sort();
            for (conn, paths) in entries {
                let sid = sessions.get(&conn).copied().unwrap_or(0);
                let _ = writeln!(s, "0x{sid:x}");
                for p in paths {
                    let _ = writeln!(s, "\t{p}");
                }
            }
            s.push('\n'); // ZooKeeper's WatchCommand ends with an empty line
            s
        }
        "wchp" => {
            let by_path = node.store.with_watches(|w| w.by_path());
            let sessions: std::collections::HashMap<u64, i64> = node
                .store
                .connections()
                .iter()
                .map(|c| (c.id(), c.session()))
                .collect();
            let mut entries: Vec<_> = by_path.into_iter().collect();
            entries.sort();
            let mut s = String::new();
            for (p, conns) in entries {
                let _ = writeln!(s, "{p}");
                for c in conns {
                    let _ = writeln!(s, "\t0x{:x}", sessions.get(&c).copied().unwrap_or(0));
                }
            }
            s.push('\n');
            s
        }
        "dump" => dump(node, this),
        "envi" => envi(node),
        "dirs" => {
            let size = dir_size(&node.config.node.data_dir);
            format!("datadir_size: {size}\nlogdir_size: {size}\n")
        }
        "gtmk" | "stmk" => "0".into(),
        "hash" => format!("{:x}: 0\n", node.store.tree().last_zxid()),
        _ => String::new(),
    }
}

/// Bytes of the files under `p`, recursively (0 if unreadable).
pub fn dir_size(p: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// One line per client connection, the asking (four-letter-word) connection included: ZooKeeper
/// lists every open connection, and the one asking is always open (protocol doc §21.3).
fn connection_lines(node: &NodeContext, this: &Outbox, full: bool) -> Vec<String> {
    let conns = node.store.connections();
    let mut lines: Vec<String> = conns.iter().map(|c| connection_line(c, full)).collect();
    if !conns.iter().any(|c| c.id() == this.id()) {
        lines.push(connection_line(this, full));
    }
    lines
}

/// The number of open client connections as ZooKeeper counts them (the asker included).
fn connection_count(node: &NodeContext, this: &Outbox) -> usize {
    let conns = node.store.connections();
    conns.len() + usize::from(!conns.iter().any(|c| c.id() == this.id()))
}

fn server_summary(node: &NodeContext, this: &Outbox, with_clients: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Zookeeper version: {}", version_string());
    if node.mode() == Mode::ReadOnly {
        s.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if with_clients {
        s.push_str("Clients:\n");
        for line in connection_lines(node, this, false) {
            s.push_str(&line);
            s.push('\n');
        }
        s.push('\n');
    }
    let (min, avg, max) = node.stats.latency_ms();
    let tree = node.store.tree();
    let _ = writeln!(s, "Latency min/avg/max: {min}/{}/{max}", java_double(avg));
    let _ = writeln!(s, "Received: {}", node.stats.received());
    let _ = writeln!(s, "Sent: {}", node.stats.sent());
    let _ = writeln!(s, "Connections: {}", connection_count(node, this));
    let outstanding: usize = node.store.connections().iter().map(|c| c.queued()).sum();
    let _ = writeln!(s, "Outstanding: {outstanding}");
    let _ = writeln!(s, "Zxid: 0x{:x}", tree.last_zxid());
    let _ = writeln!(s, "Mode: {}", node.mode().name());
    let _ = writeln!(s, "Node count: {}", tree.node_count());
    s
}

/// A double as Java prints it in these outputs (at most 4 fraction digits, at least one).
fn java_double(v: f64) -> String {
    let r = (v * 10_000.0).round() / 10_000.0;
    let mut t = format!("{r}");
    if !t.contains('.') {
        t.push_str(".0");
    }
    t
}

/// ZooKeeper's four-letter abbreviation of an opcode (`Request.op2String`'s short form), as
/// `cons` shows a connection's last operation.
pub fn op_abbreviation(op: i32) -> &'static str {
    match op {
        11 => "PING",
        4 => "GETD",
        5 => "SETD",
        1 | 15 | 19 | 21 => "CREA",
        2 => "DELE",
        3 => "EXIS",
        6 => "GETA",
        7 => "SETA",
        8 | 12 => "GETC",
        14 => "MULT",
        9 => "SYNC",
        101 | 105 => "SETW",
        -11 => "CLOS",
        _ => "NA",
    }
}

fn connection_line(c: &Outbox, full: bool) -> String {
    let st = &c.stats;
    let mut s = format!(
        " /{}:{}[1](queued={},recved={},sent={}",
        c.remote().ip(),
        c.remote().port(),
        c.queued(),
        st.received.load(Ordering::Relaxed),
        st.sent.load(Ordering::Relaxed)
    );
    if full && c.session() != 0 {
        let op = op_abbreviation(st.last_op.load(Ordering::Relaxed) as i32);
        let _ = write!(
            s,
            ",sid=0x{:x},lop={op},est={},to={},lcxid=0x{:x},lzxid=0x{:x},lresp={},llat=0,minlat=0,avglat=0,maxlat=0",
            c.session(),
            st.established_ms.load(Ordering::Relaxed),
            c.timeout_ms(),
            st.last_cxid.load(Ordering::Relaxed),
            st.last_zxid.load(Ordering::Relaxed).max(0),
            st.last_response_ms.load(Ordering::Relaxed),
        );
    }
    s.push(')');
    s
}

/// `mntr`: the node's figures under ZooKeeper's `zk_` keys, as its Prometheus metrics show them
/// (see [`crate::monitor`]).
fn monitor(node: &NodeContext) -> String {
    crate::monitor::mntr(node)
}

fn conf(node: &NodeContext) -> String {
    let c = &node.config.node;
    let data = c.data_dir.display();
    let mut s = String::new();
    let _ = writeln!(s, "clientPort={}", c.client_port);
    let _ = writeln!(s, "secureClientPort=-1");
    let _ = writeln!(s, "dataDir={data}/version-2");
    let _ = writeln!(s, "dataDirSize={}", dir_size(&c.data_dir));
    let _ = writeln!(s, "dataLogDir={data}/version-2");
    let _ = writeln!(s, "dataLogSize={}", dir_size(&c.data_dir));
    let _ = writeln!(s, "tickTime={}", c.tick_time_ms);
    let _ = writeln!(s, "maxClientCnxns={}", c.max_client_connections);
    let _ = writeln!(s, "minSessionTimeout={}", c.min_session_timeout());
    let _ = writeln!(s, "maxSessionTimeout={}", c.max_session_timeout());
    let _ = writeln!(s, "clientPortListenBacklog=-1");
    let _ = writeln!(s, "serverId={}", c.id);
    if let Some(e) = &node.config.ensemble {
        let me = e.servers.iter().find(|x| x.id == c.id);
        let _ = writeln!(s, "initLimit={}", e.init_limit);
        let _ = writeln!(s, "syncLimit={}", e.sync_limit);
        let _ = writeln!(s, "electionAlg=3");
        if let Some(me) = me {
            let _ = writeln!(
                s,
                "electionPort={}",
                me.election_port.unwrap_or(me.peer_port)
            );
            let _ = writeln!(s, "quorumPort={}", me.peer_port);
            let _ = writeln!(s, "peerType={}", u8::from(me.observer));
        }
        let tree = node.store.tree();
        let text = tree
            .get(crate::quorum::CONFIG_NODE)
            .and_then(|n| n.data())
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .unwrap_or_default();
        let _ = writeln!(s, "membership: ");
        let _ = writeln!(s, "{text}");
    }
    s
}

/// `dump`: the figures of [`super::dump::text`], gathered now; expiry times move from the
/// monotonic clock they are kept on to the wall clock, and print in the system's time zone.
fn dump(node: &NodeContext, this: &Outbox) -> String {
    let wall_offset = crate::clock::wall_ms() - crate::clock::now_ms();
    let live = node.sessions.all();
    let sessions = match node.mode() {
        Mode::Follower | Mode::Observer => {
            Sessions::Global(live.iter().map(|x| (x.id, x.timeout_ms())).collect())
        }
        _ => Sessions::Buckets(
            live.iter()
                .map(|x| (x.deadline_ms() + wall_offset, x.id))
                .collect(),
        ),
    };
    let sessionless = i64::from(node.config.node.sessionless_connection_timeout_ms);
    let connection = |c: &Outbox| {
        let timeout = match c.session() {
            0 => sessionless,
            _ => i64::from(c.timeout_ms()),
        };
        let at = dump::connection_expiry(c.last_active_ms(), timeout, sessionless);
        (at + wall_offset, dump::connection(c.remote(), c.session()))
    };
    let open = node.store.connections();
    let mut connections: Vec<_> = open.iter().map(|c| connection(c)).collect();
    if !open.iter().any(|c| c.id() == this.id()) {
        connections.push(connection(this));
    }
    let d = Dump {
        sessions,
        ephemerals: node.store.tree().all_ephemerals(),
        connections,
    };
    dump::text(&d, &crate::javadate::local_zone())
}

fn envi(node: &NodeContext) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let user = std::env::var("USER").unwrap_or_default();
    let home = std::env::var("HOME").unwrap_or_default();
    let mut s = String::from("Environment:\n");
    let _ = writeln!(s, "zookeeper.version={}", version_string());
    let _ = writeln!(s, "zkr.version={}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(s, "host.name={host}");
    let _ = writeln!(s, "java.version=none (zkr is written in Rust)");
    let _ = writeln!(s, "os.name={}", std::env::consts::OS);
    let _ = writeln!(s, "os.arch={}", std::env::consts::ARCH);
    let _ = writeln!(s, "user.name={user}");
    let _ = writeln!(s, "user.home={home}");
    let _ = writeln!(s, "user.dir={cwd}");
    let _ = writeln!(s, "zkr.data.dir={}", node.config.node.data_dir.display());
    s
}
