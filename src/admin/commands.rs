//! The AdminServer's commands with ZooKeeper's names, aliases and JSON shapes (its
//! `server/admin/Commands`): every answer is an object with the command's keys plus `command`
//! (the primary name) and `error` (null, or why it could not run). The shapes are checked key by
//! key against Debian's Apache ZooKeeper 3.8 with its Jetty AdminServer in
//! tests/kazoo/test_admin.py.
//!
//! Rules kept from ZooKeeper: an unknown command answers 200 with `error: "Unknown command:
//! NAME"`; a command that needs a running server answers 200 with `error: "This ZooKeeper
//! instance is not currently serving requests"` while the node recovers or has no quorum (zkr
//! counts a read-only server as running, as its four-letter words do); `snapshot` needs an
//! `Authorization: digest user:password` (or `ip`) header whose identities have ALL on `/`:
//! none is 401 "Auth info is missing for the command", unknown scheme or bad form is 401 "Not
//! authenticated", no permission is 403 "Not authorized"; it is rate limited (429) to one per
//! `admin.snapshot_interval_ms`, and off (503) when `admin.snapshot_enabled` is false.
//!
//! Where zkr has no such figure the value is the one ZooKeeper gives when it has none (-1 for
//! buffer sizes, 0 for latencies of a connection, empty lists) and the module says so here:
//! per-connection latencies (zkr does not time requests per connection), `client_response`
//! buffer sizes, `hash` digests (zkr keeps no tree digest), `observers` details (the leader
//! counts its synced observers but lists none), trace masks (tracing levels are set with
//! RUST_LOG, not a mask). `environment` and `system_properties` describe the zkr process (there
//! is no JVM: the `java.*` keys are absent). 3.9's `restore` and `shed_connections` are not
//! offered (unknown command).
//!
//! `snapshot` (3.9): the whole tree encoded under its read lock (a consistent snapshot at
//! `last_zxid`, writes wait while it is encoded, as for a learner's SNAP sync), in zkr's snapshot
//! file format (`zkr snapshot verify|dump` read it; put into a data directory's `snap/` it is
//! recovered from), with ZooKeeper's `last_zxid` and `snapshot_size` headers. It is streamed to
//! the caller, not written into the node's data directory.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use zkr_actors::connection::fourlw;
use zkr_actors::context::{Mode, NodeContext};
use zkr_actors::monitor::{self as telemetry, Figures};
use zkr_actors::proto::Id;

use super::Shared;

/// A command request.
pub struct Request {
    /// The name asked for (primary or alias).
    pub name: String,
    /// Query arguments (GET).
    pub args: HashMap<String, String>,
    /// The caller.
    pub remote: SocketAddr,
    /// The `Authorization` header.
    pub authorization: Option<String>,
}

/// A command's answer.
pub enum Answer {
    /// A JSON object.
    Json {
        /// HTTP status.
        status: StatusCode,
        /// The object.
        body: Value,
    },
    /// Bytes (the snapshot), with extra headers.
    Stream {
        /// Extra headers.
        headers: Vec<(&'static str, String)>,
        /// The bytes.
        body: bytes::Bytes,
    },
}

/// A command: its names (primary first), whether it needs a running server, whether it needs
/// authentication.
struct Command {
    names: &'static [&'static str],
    server_required: bool,
    auth: bool,
}

const fn cmd(names: &'static [&'static str], server_required: bool) -> Command {
    Command {
        names,
        server_required,
        auth: false,
    }
}

/// ZooKeeper 3.9's commands (less `restore` and `shed_connections`).
const COMMANDS: &[Command] = &[
    cmd(&["configuration", "conf", "config"], true),
    cmd(&["connection_stat_reset", "crst"], true),
    cmd(&["connections", "cons"], true),
    cmd(&["dirs"], true),
    cmd(&["dump"], true),
    cmd(&["environment", "env", "envi"], false),
    cmd(&["get_trace_mask", "gtmk"], false),
    cmd(&["hash"], true),
    cmd(&["initial_configuration", "icfg"], true),
    cmd(&["is_read_only", "isro"], true),
    cmd(&["last_snapshot", "lsnp"], true),
    cmd(&["leader", "lead"], true),
    cmd(&["monitor", "mntr"], false),
    cmd(&["observer_connection_stat_reset", "orst"], true),
    cmd(&["observers", "obsr"], true),
    cmd(&["ruok"], true),
    cmd(&["server_stats", "srvr"], true),
    cmd(&["set_trace_mask", "stmk"], false),
    Command {
        names: &["snapshot", "snap"],
        server_required: true,
        auth: true,
    },
    cmd(&["stat_reset", "srst"], true),
    cmd(&["stats", "stat"], true),
    cmd(&["system_properties", "sysp"], false),
    cmd(&["voting_view"], true),
    cmd(&["watches", "wchc"], true),
    cmd(&["watches_by_path", "wchp"], true),
    cmd(&["watch_summary", "wchs"], true),
    cmd(&["zabstate"], false),
];

/// The primary names, sorted (what `GET /commands` lists).
pub fn primary_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = COMMANDS.iter().map(|c| c.names[0]).collect();
    v.sort_unstable();
    v
}

fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

fn error_answer(command: &str, status: StatusCode, error: &str) -> Answer {
    Answer::Json {
        status,
        body: json!({ "command": command, "error": error }),
    }
}

/// Runs a command (blocking: may walk the tree or encode a snapshot).
pub fn run(shared: &Shared, node: Option<&NodeContext>, req: &Request) -> Answer {
    let Some(command) = find(&req.name) else {
        return error_answer(
            &req.name,
            StatusCode::OK,
            &format!("Unknown command: {}", req.name),
        );
    };
    let primary = command.names[0];
    let running = node.filter(|n| n.is_serving() || n.is_read_only());
    if command.server_required && running.is_none() {
        return error_answer(primary, StatusCode::OK, NOT_SERVING);
    }
    let Some(node) = node else {
        // Not started yet (recovering): what needs no node is answered from the configuration.
        return match primary {
            "environment" => ok_answer(primary, environment(&shared.config)),
            "system_properties" => ok_answer(primary, system_properties(shared)),
            "get_trace_mask" => ok_answer(primary, obj(json!({ "tracemask": 0 }))),
            _ => error_answer(primary, StatusCode::OK, NOT_SERVING),
        };
    };
    if command.auth {
        if let Err((status, why)) = authorize(node, req) {
            return error_answer(primary, status, why);
        }
    }
    if primary == "snapshot" {
        return snapshot(shared, node, req);
    }
    let mut body = match keys(primary, shared, node, req) {
        Ok(m) => m,
        Err(e) => {
            let mut m = Map::new();
            m.insert("error".into(), Value::String(e));
            m.insert("command".into(), Value::String(primary.into()));
            return Answer::Json {
                status: StatusCode::OK,
                body: Value::Object(m),
            };
        }
    };
    body.insert("command".into(), Value::String(primary.into()));
    body.entry("error").or_insert(Value::Null);
    Answer::Json {
        status: StatusCode::OK,
        body: Value::Object(body),
    }
}

fn ok_answer(primary: &str, mut body: Map<String, Value>) -> Answer {
    body.insert("command".into(), Value::String(primary.into()));
    body.insert("error".into(), Value::Null);
    Answer::Json {
        status: StatusCode::OK,
        body: Value::Object(body),
    }
}

/// ZooKeeper's `handleAuthentication` + `handleAuthorization` for ALL on `/`.
fn authorize(node: &NodeContext, req: &Request) -> Result<(), (StatusCode, &'static str)> {
    let Some(auth) = req.authorization.as_deref() else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "Auth info is missing for the command",
        ));
    };
    let parts: Vec<&str> = auth.split(' ').collect();
    let not_authenticated = (StatusCode::UNAUTHORIZED, "Not authenticated");
    let ids: Vec<Id> = match parts.as_slice() {
        ["digest", user_password] if user_password.contains(':') => {
            let digest = zkr_actors::acl::digest_id(user_password);
            let mut ids = Vec::new();
            if node.config.auth.super_digest.as_deref() == Some(digest.as_str()) {
                ids.push(Id {
                    scheme: "super".into(),
                    id: String::new(),
                });
            }
            ids.push(Id {
                scheme: "digest".into(),
                id: digest,
            });
            ids
        }
        ["ip"] | ["ip", _] => vec![Id {
            scheme: "ip".into(),
            id: zkr_actors::acl::ip_identity(req.remote.ip()),
        }],
        _ => return Err(not_authenticated),
    };
    let policy = zkr_actors::acl::AclPolicy::from_config(&node.config);
    let acl = match node.store.tree().get("/") {
        Some(root) => root.acl().as_ref().clone(),
        None => return Err((StatusCode::FORBIDDEN, "Not authorized")),
    };
    // Every bit of ALL, as ZooKeeper checks them one by one.
    let all_bits = [1, 2, 4, 8, 16];
    if all_bits
        .iter()
        .all(|bit| zkr_actors::acl::check(&policy, &acl, *bit, &ids))
    {
        Ok(())
    } else {
        Err((StatusCode::FORBIDDEN, "Not authorized"))
    }
}

fn snapshot(shared: &Shared, node: &NodeContext, req: &Request) -> Answer {
    if !shared.config.admin.snapshot_enabled {
        return Answer::Json {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: json!({ "command": "snapshot", "error": null }),
        };
    }
    {
        let mut last = shared.last_snapshot.lock();
        let interval = Duration::from_millis(shared.config.admin.snapshot_interval_ms);
        if let Some(at) = *last {
            if at.elapsed() < interval {
                return Answer::Json {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    body: json!({ "command": "snapshot", "error": null }),
                };
            }
        }
        *last = Some(Instant::now());
    }
    let streaming = req
        .args
        .get("streaming")
        .map(|v| v.eq_ignore_ascii_case("true"))
        .unwrap_or(true);
    let (zxid, bytes) = {
        let tree = node.store.tree();
        (
            tree.last_zxid(),
            zkr_actors::txnlog::snapshot::encode_tree(&tree),
        )
    };
    tracing::info!(zxid = %format!("{zxid:#x}"), bytes = bytes.len(), remote = %req.remote, "snapshot taken for the admin snapshot command");
    let headers = vec![
        ("last_zxid", format!("0x{zxid:x}")),
        ("snapshot_size", bytes.len().to_string()),
    ];
    if streaming {
        Answer::Stream {
            headers,
            body: bytes,
        }
    } else {
        Answer::Json {
            status: StatusCode::OK,
            body: json!({ "command": "snapshot", "error": null, "last_zxid": headers[0].1, "snapshot_size": bytes.len() }),
        }
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The command's own keys.
fn keys(
    primary: &str,
    shared: &Shared,
    node: &NodeContext,
    req: &Request,
) -> Result<Map<String, Value>, String> {
    Ok(match primary {
        "ruok" => Map::new(),
        "configuration" => obj(configuration(node)),
        "connection_stat_reset" => {
            for c in node.store.connections() {
                c.stats.received.store(0, Ordering::Relaxed);
                c.stats.sent.store(0, Ordering::Relaxed);
            }
            Map::new()
        }
        "observer_connection_stat_reset" => Map::new(),
        "stat_reset" => {
            node.stats.reset();
            Map::new()
        }
        "connections" => obj(json!({
            "connections": connections(node, true),
            "secure_connections": [],
        })),
        "dirs" => {
            let size = fourlw::dir_size(&node.config.node.data_dir);
            obj(json!({ "datadir_size": size, "logdir_size": size }))
        }
        "dump" => dump(node),
        "environment" => environment(&node.config),
        "system_properties" => system_properties(shared),
        "get_trace_mask" => obj(json!({ "tracemask": 0 })),
        "set_trace_mask" => match req.args.get("traceMask").map(|v| v.parse::<i64>()) {
            Some(Ok(_)) => obj(json!({ "tracemask": 0 })),
            _ => return Err("setTraceMask requires long traceMask argument".into()),
        },
        "hash" => obj(json!({ "digests": [] })),
        "initial_configuration" => {
            obj(json!({ "initial_configuration": shared.initial_configuration }))
        }
        "is_read_only" => obj(json!({ "read_only": node.mode() == Mode::ReadOnly })),
        "last_snapshot" => last_snapshot(node),
        "leader" => leader(node)?,
        "monitor" => monitor(node),
        "observers" => {
            let figures = Figures::collect(node);
            let synced = figures.leader.map_or(0, |l| l.synced_observers);
            obj(json!({ "synced_observers": synced, "observers": [] }))
        }
        "server_stats" => server_stats(node, false),
        "stats" => server_stats(node, true),
        "voting_view" => voting_view(node),
        "watches" => {
            let sessions = session_of_connection(node);
            let by_conn = node.store.with_watches(|w| w.by_watcher());
            let mut m = BTreeMap::new();
            for (conn, paths) in by_conn {
                let sid = sessions.get(&conn).copied().unwrap_or(0);
                let e: &mut Vec<String> = m.entry(sid.to_string()).or_default();
                e.extend(paths);
                e.sort();
            }
            obj(json!({ "session_id_to_watched_paths": m }))
        }
        "watches_by_path" => {
            let sessions = session_of_connection(node);
            let by_path = node.store.with_watches(|w| w.by_path());
            let m: BTreeMap<String, Vec<i64>> = by_path
                .into_iter()
                .map(|(p, conns)| {
                    let mut ids: Vec<i64> = conns
                        .iter()
                        .map(|c| sessions.get(c).copied().unwrap_or(0))
                        .collect();
                    ids.sort_unstable();
                    (p, ids)
                })
                .collect();
            obj(json!({ "path_to_session_ids": m }))
        }
        "watch_summary" => {
            let (conns, paths, total) = node.store.with_watches(|w| w.summary());
            obj(json!({
                "num_connections": conns,
                "num_paths": paths,
                "num_total_watches": total,
            }))
        }
        "zabstate" => zabstate(node),
        _ => Map::new(),
    })
}

fn session_of_connection(node: &NodeContext) -> HashMap<u64, i64> {
    node.store
        .connections()
        .iter()
        .map(|c| (c.id(), c.session()))
        .collect()
}

fn configuration(node: &NodeContext) -> Value {
    let c = &node.config.node;
    let data = format!("{}/version-2", c.data_dir.display());
    json!({
        "client_port": c.client_port,
        "data_dir": data,
        "data_log_dir": data,
        "tick_time": c.tick_time_ms,
        "max_client_cnxns": c.max_client_connections,
        "min_session_timeout": c.min_session_timeout(),
        "max_session_timeout": c.max_session_timeout(),
        "server_id": c.id,
        "client_port_listen_backlog": -1,
    })
}

/// One object per client connection; `full` adds the session keys (`cons`), as ZooKeeper's
/// `getConnectionInfo(brief)`.
fn connections(node: &NodeContext, full: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for c in node.store.connections() {
        let st = &c.stats;
        let mut m = obj(json!({
            "remote_socket_address": format!("{}:{}", c.remote().ip(), c.remote().port()),
            "interest_ops": 1,
            "outstanding_requests": c.queued(),
            "packets_received": st.received.load(Ordering::Relaxed),
            "packets_sent": st.sent.load(Ordering::Relaxed),
        }));
        if full && c.session() != 0 {
            let op = fourlw::op_abbreviation(st.last_op.load(Ordering::Relaxed) as i32);
            m.extend(obj(json!({
                "session_id": c.session(),
                "last_operation": op,
                "established": st.established_ms.load(Ordering::Relaxed),
                "session_timeout": c.timeout_ms(),
                "last_cxid": st.last_cxid.load(Ordering::Relaxed),
                "last_zxid": st.last_zxid.load(Ordering::Relaxed).max(0),
                "last_response_time": st.last_response_ms.load(Ordering::Relaxed),
                "last_latency": 0,
                "min_latency": 0,
                "avg_latency": 0,
                "max_latency": 0,
            })));
        }
        out.push(Value::Object(m));
    }
    out
}

fn dump(node: &NodeContext) -> Map<String, Value> {
    let wall_offset = zkr_actors::clock::wall_ms() - zkr_actors::clock::now_ms();
    let mut by_deadline: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for s in node.sessions.all() {
        by_deadline
            .entry((s.deadline_ms() + wall_offset).to_string())
            .or_default()
            .push(s.id);
    }
    for ids in by_deadline.values_mut() {
        ids.sort_unstable();
    }
    let tree = node.store.tree();
    let eph: BTreeMap<String, Vec<String>> = tree
        .all_ephemerals()
        .into_iter()
        .map(|(sid, paths)| (sid.to_string(), paths))
        .collect();
    obj(json!({
        "expiry_time_to_session_ids": by_deadline,
        "session_id_to_ephemeral_paths": eph,
    }))
}

fn environment(config: &zkr_actors::config::NodeConfig) -> Map<String, Value> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let os_version = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let (free, total) = memory();
    obj(json!({
        "zookeeper.version": zkr_actors::version::version_string(),
        "zkr.version": env!("CARGO_PKG_VERSION"),
        "host.name": host,
        "os.name": "Linux",
        "os.arch": std::env::consts::ARCH,
        "os.version": os_version,
        "user.name": std::env::var("USER").unwrap_or_default(),
        "user.home": std::env::var("HOME").unwrap_or_default(),
        "user.dir": cwd,
        "os.memory.free": free,
        "os.memory.max": total,
        "os.memory.total": total,
        "zkr.data.dir": config.node.data_dir.display().to_string(),
    }))
}

/// (available, total) memory of the machine in MB, as `os.memory.*` (ZooKeeper reports the
/// JVM's heap there; a zkr process has no heap limit of its own).
fn memory() -> (String, String) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        format!("{}MB", field("MemAvailable:") / 1024),
        format!("{}MB", field("MemTotal:") / 1024),
    )
}

fn system_properties(shared: &Shared) -> Map<String, Value> {
    let s = &shared.config.admin;
    obj(json!({
        "zkr.version": env!("CARGO_PKG_VERSION"),
        "zookeeper.admin.serverAddress": s.address.to_string(),
        "zookeeper.admin.serverPort": s.port.to_string(),
        "zookeeper.admin.commandURL": s.command_url,
        "zookeeper.admin.snapshot.enabled": s.snapshot_enabled.to_string(),
        "zookeeper.admin.snapshot.intervalInMS": s.snapshot_interval_ms.to_string(),
        "RUST_LOG": std::env::var("RUST_LOG").unwrap_or_default(),
    }))
}

fn last_snapshot(node: &NodeContext) -> Map<String, Value> {
    let layout = zkr_actors::txnlog::recovery::Layout::new(&node.config.node.data_dir);
    let newest = zkr_actors::txnlog::snapshot::list(&layout.snap_dir)
        .ok()
        .and_then(|v| v.into_iter().last());
    let (zxid, timestamp) = match newest {
        Some((zxid, path)) => {
            let secs = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(-1, |d| d.as_secs() as i64);
            (format!("{zxid:x}"), secs)
        }
        None => ("ffffffffffffffff".to_string(), -1),
    };
    obj(json!({ "zxid": zxid, "timestamp": timestamp }))
}

/// The ensemble's members (the committed dynamic configuration, else the static one).
fn members(node: &NodeContext) -> BTreeMap<u64, zkr_actors::quorum::dynconfig::ServerSpec> {
    let committed = node
        .store
        .tree()
        .get(zkr_actors::quorum::CONFIG_NODE)
        .and_then(|n| n.data().map(<[u8]>::to_vec))
        .filter(|d| !d.is_empty())
        .and_then(|d| zkr_actors::quorum::dynconfig::parse(&String::from_utf8_lossy(&d)).ok());
    if let Some(c) = committed {
        return c.servers.into_iter().collect();
    }
    node.config
        .ensemble
        .iter()
        .flat_map(|e| e.servers.iter())
        .map(|s| {
            (
                s.id as u64,
                zkr_actors::quorum::dynconfig::ServerSpec {
                    host: s.host.clone(),
                    peer_port: s.peer_port,
                    election_port: s.election_port.unwrap_or(s.peer_port),
                    observer: s.observer,
                    client: s.client_port.map(|p| (s.host.clone(), p)),
                },
            )
        })
        .collect()
}

fn leader(node: &NodeContext) -> Result<Map<String, Value>, String> {
    if node.config.ensemble.is_none() {
        return Err("server is not initialized".into());
    }
    let status = node.quorum.read().clone();
    let leader_id = status.leader.map_or(-1, |l| l as i64);
    let leader_ip = status
        .leader
        .and_then(|l| members(node).get(&l).map(|s| s.host.clone()))
        .unwrap_or_default();
    Ok(obj(json!({
        "is_leader": node.mode() == Mode::Leader,
        "leader_id": leader_id,
        "leader_ip": leader_ip,
    })))
}

fn voting_view(node: &NodeContext) -> Map<String, Value> {
    let mut view = Map::new();
    if node.config.ensemble.is_some() {
        for (id, s) in members(node).into_iter().filter(|(_, s)| !s.observer) {
            view.insert(
                id.to_string(),
                json!({
                    "server_addresses": [format!("{}:{}", s.host, s.peer_port)],
                    "election_addresses": [format!("{}:{}", s.host, s.election_port)],
                    "client_address": s.client.map(|(h, p)| format!("{h}:{p}")).unwrap_or_default(),
                    "learner_type": "participant",
                }),
            );
        }
    }
    obj(json!({ "current_config": view }))
}

fn zabstate(node: &NodeContext) -> Map<String, Value> {
    if node.config.ensemble.is_none() {
        return obj(json!({ "voting": false, "zabstate": "" }));
    }
    let me = node.config.node.id as u64;
    let all = members(node);
    let spec = all.get(&me);
    let zxid = node.store.tree().last_zxid();
    let phase = match (node.mode(), node.is_serving()) {
        (Mode::Looking | Mode::ReadOnly, _) => "election",
        (_, true) => "broadcast",
        (_, false) => "synchronization",
    };
    obj(json!({
        "myid": me,
        "is_leader": node.mode() == Mode::Leader,
        "quorum_address": spec.map(|s| format!("{}:{}", s.host, s.peer_port)).unwrap_or_default(),
        "election_address": spec.map(|s| format!("{}:{}", s.host, s.election_port)).unwrap_or_default(),
        "client_address": format!("{}:{}", node.config.node.client_address, node.config.node.client_port),
        "voting": spec.is_some_and(|s| !s.observer),
        "last_zxid": format!("0x{zxid:x}"),
        "zab_epoch": zxid >> 32,
        "zab_counter": zxid & 0xffff_ffff,
        "zabstate": phase,
    }))
}

/// `srvr` (`stats`: with the connections).
fn server_stats(node: &NodeContext, with_connections: bool) -> Map<String, Value> {
    let f = Figures::collect(node);
    let size = fourlw::dir_size(&node.config.node.data_dir);
    let auth_failed = registry_value("zkr_auth_failures_total").unwrap_or(0.0) as u64;
    let buffers = json!({ "last_buffer_size": -1, "min_buffer_size": -1, "max_buffer_size": -1 });
    let mut m = obj(json!({
        "version": zkr_actors::version::version_string(),
        "read_only": node.mode() == Mode::ReadOnly,
        "server_stats": {
            "packets_sent": f.packets_sent,
            "packets_received": f.packets_received,
            "fsync_threshold_exceed_count": 0,
            "client_response_stats": buffers,
            "data_dir_size": size,
            "log_dir_size": size,
            "provider_null": false,
            "server_state": f.mode.name(),
            "last_processed_zxid": f.last_zxid,
            "outstanding_requests": f.outstanding_requests,
            "avg_latency": f.latency_ms.1,
            "max_latency": f.latency_ms.2,
            "min_latency": f.latency_ms.0,
            "num_alive_client_connections": f.num_alive_connections,
            "auth_failed_count": auth_failed,
            "non_mtlsremote_conn_count": 0,
            "non_mtlslocal_conn_count": 0,
            "uptime": f.uptime_ms,
        },
        "client_response": buffers,
        "node_count": f.znode_count,
    }));
    if with_connections {
        m.insert("connections".into(), Value::Array(connections(node, false)));
        m.insert("secure_connections".into(), Value::Array(Vec::new()));
    }
    m
}

fn registry_value(name: &str) -> Option<f64> {
    telemetry::registry_samples()
        .into_iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// ZooKeeper's summaries: `mntr`'s `name_sum`/`name_count`/quantiles become `sum_name`,
/// `cnt_name`, `avg_name`, `p50_name`, `p99_name` in the monitor command, as ZooKeeper's
/// `SummarySet`s print themselves.
const SUMMARIES: [&str; 5] = [
    "fsynctime",
    "snapshottime",
    "readlatency",
    "updatelatency",
    "election_time",
];

/// `monitor`: `mntr`'s keys without `zk_`, numbers as JSON numbers.
fn monitor(node: &NodeContext) -> Map<String, Value> {
    let mut m = Map::new();
    let mut sums: HashMap<&str, (f64, f64)> = HashMap::new();
    for line in telemetry::mntr(node).lines() {
        let Some((k, v)) = line.split_once('\t') else {
            continue;
        };
        let k = k.strip_prefix("zk_").unwrap_or(k);
        if let Some((base, labels)) = k.split_once('{') {
            if let Some(s) = SUMMARIES.iter().find(|s| **s == base) {
                let q = match labels {
                    "quantile=\"0.5\"}" => "p50",
                    "quantile=\"0.99\"}" => "p99",
                    _ => continue,
                };
                m.insert(format!("{q}_{s}"), whole_ms(v));
            }
            continue;
        }
        if let Some(s) = SUMMARIES
            .iter()
            .find(|s| k.strip_suffix("_sum") == Some(**s) || k.strip_suffix("_count") == Some(**s))
        {
            let e = sums.entry(s).or_default();
            let x: f64 = v.parse().unwrap_or(0.0);
            if k.ends_with("_sum") {
                e.0 = x;
                m.insert(format!("sum_{s}"), whole_ms(v));
            } else {
                e.1 = x;
                m.insert(format!("cnt_{s}"), number(v));
            }
            continue;
        }
        m.insert(k.to_string(), number(v));
    }
    for (s, (sum, count)) in sums {
        let avg = if count > 0.0 { sum / count } else { 0.0 };
        m.insert(format!("avg_{s}"), json!(avg));
    }
    m
}

/// Milliseconds as ZooKeeper's summaries count them (whole numbers).
fn whole_ms(v: &str) -> Value {
    json!(v.parse::<f64>().unwrap_or(0.0).round() as i64)
}

/// A value as ZooKeeper's JSON has it: an integer, a decimal, or a string.
fn number(v: &str) -> Value {
    if let Ok(i) = v.parse::<i64>() {
        return json!(i);
    }
    if v.contains('.') || v.contains('e') {
        if let Ok(f) = v.parse::<f64>() {
            if f.is_finite() {
                return json!(f);
            }
        }
    }
    Value::String(v.to_string())
}

#[cfg(test)]
#[path = "commands_tests.rs"]
mod tests;
