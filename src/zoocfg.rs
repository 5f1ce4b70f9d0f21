//! Reading ZooKeeper's `zoo.cfg` (for people moving from ZooKeeper): the usual keys map onto
//! zkr's configuration; keys zkr has no use for are named in a warning, never silently dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use zkr_actors::config::{EnsembleSection, NodeConfig, ServerEntry};

use crate::config::ConfigError;

fn invalid(file: &str, key: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_string(),
        key,
        message,
    }
}

/// Keys read and used.
const KNOWN: &[&str] = &[
    "tickTime",
    "initLimit",
    "syncLimit",
    "dataDir",
    "dataLogDir",
    "clientPort",
    "clientPortAddress",
    "secureClientPort",
    "secureClientPortAddress",
    "minSessionTimeout",
    "maxSessionTimeout",
    "maxClientCnxns",
    "4lw.commands.whitelist",
    "autopurge.snapRetainCount",
    "autopurge.purgeInterval",
    "snapCount",
    "snapSizeLimitInKb",
    "preAllocSize",
    "reconfigEnabled",
    "readonlymode.enabled",
    "standaloneEnabled",
    "dynamicConfigFile",
    "peerType",
    "metricsProvider.httpPort",
    "metricsProvider.httpHost",
    "forceSync",
    "myid",
    "admin.enableServer",
    "admin.serverAddress",
    "admin.serverPort",
    "admin.commandURL",
    "admin.snapshot.enabled",
    "admin.snapshot.intervalInMS",
    "audit.enable",
];

/// Parses `text` (the contents of `file`) into a zkr configuration. `myid` comes from
/// `dataDir/myid` when the file has servers.
pub fn parse(text: &str, file: &str) -> Result<NodeConfig, ConfigError> {
    let base = Path::new(file).parent().unwrap_or(Path::new("."));
    let mut kv: BTreeMap<String, String> = BTreeMap::new();
    let mut servers: Vec<(u8, String)> = Vec::new();
    let collect = |text: &str,
                   kv: &mut BTreeMap<String, String>,
                   servers: &mut Vec<(u8, String)>|
     -> Result<(), ConfigError> {
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(ConfigError::Parse {
                    file: file.to_string(),
                    message: format!("line {}: expected key=value, found {line:?}", n + 1),
                });
            };
            let (k, v) = (k.trim(), v.trim());
            if let Some(id) = k.strip_prefix("server.") {
                let id: u8 = id.parse().map_err(|_| {
                    invalid(
                        file,
                        "server.N",
                        format!("line {}: {k} is not server.<1..254>", n + 1),
                    )
                })?;
                servers.push((id, v.to_string()));
            } else {
                kv.insert(k.to_string(), v.to_string());
            }
        }
        Ok(())
    };
    collect(text, &mut kv, &mut servers)?;
    if let Some(dynamic) = kv.get("dynamicConfigFile").cloned() {
        let p = base.join(&dynamic);
        let t = std::fs::read_to_string(&p).map_err(|source| ConfigError::Read {
            file: p.clone(),
            source,
        })?;
        collect(&t, &mut kv, &mut servers)?;
    }
    for k in kv.keys() {
        if !KNOWN.contains(&k.as_str()) && !k.starts_with("ssl.") {
            tracing::warn!(file, key = %k, "zoo.cfg key not used by zkr");
        }
    }
    let mut c = NodeConfig::default();
    let num = |key: &'static str| -> Result<Option<u64>, ConfigError> {
        kv.get(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| invalid(file, key, format!("{v:?} is not a number")))
            })
            .transpose()
    };
    if let Some(v) = num("tickTime")? {
        c.node.tick_time_ms = v as u32;
    }
    if let Some(v) = kv.get("dataDir") {
        c.node.data_dir = base.join(v);
    }
    if let Some(v) = num("clientPort")? {
        c.node.client_port = v as u16;
    }
    if let Some(v) = kv.get("clientPortAddress") {
        c.node.client_address = v.parse().map_err(|_| {
            invalid(
                file,
                "clientPortAddress",
                format!("{v:?} is not an IP address"),
            )
        })?;
    }
    c.node.min_session_timeout_ms = num("minSessionTimeout")?.map(|v| v as u32);
    c.node.max_session_timeout_ms = num("maxSessionTimeout")?.map(|v| v as u32);
    if let Some(v) = num("maxClientCnxns")? {
        c.node.max_client_connections = v as u32;
    }
    if let Some(v) = kv.get("4lw.commands.whitelist") {
        c.node.four_letter_words = v
            .split(',')
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty())
            .collect();
    }
    if let Some(v) = num("autopurge.snapRetainCount")? {
        c.storage.snap_retain_count = v.max(3) as u32;
    }
    if let Some(v) = num("autopurge.purgeInterval")? {
        // ZooKeeper: 0 (its default) turns autopurge off. Written out, it is asked for.
        c.storage.purge_interval_hours = v as f64;
        c.storage.autopurge = v > 0;
    }
    if let Some(v) = num("snapSizeLimitInKb")? {
        c.storage.snap_size_limit_bytes = v.max(1) * 1024;
    }
    if let Some(v) = num("snapCount")? {
        c.storage.snap_count = v.max(2);
    }
    if let Some(v) = num("preAllocSize")? {
        c.storage.preallocate_bytes = v * 1024;
    }
    if let Some(v) = kv.get("forceSync") {
        c.storage.force_sync = v != "no";
    }
    if let Some(v) = kv.get("reconfigEnabled") {
        c.features.reconfig_enabled = v == "true";
    }
    // ZooKeeper reads this one as a Java system property (-Dreadonlymode.enabled=true); zoo.cfg
    // is where zkr users coming from ZooKeeper look for it.
    if let Some(v) = kv.get("readonlymode.enabled") {
        c.features.read_only_mode = v == "true";
    }
    if let Some(v) = num("metricsProvider.httpPort")? {
        c.metrics.port = v as u16;
    }
    if let Some(v) = kv.get("metricsProvider.httpHost") {
        c.metrics.address = v.parse().map_err(|_| {
            invalid(
                file,
                "metricsProvider.httpHost",
                format!("{v:?} is not an IP address"),
            )
        })?;
    }
    admin_keys(&kv, file, &mut c)?;
    if let Some(v) = kv.get("audit.enable") {
        c.audit.enabled = v == "true";
    }
    if servers.is_empty() {
        crate::config::validate(&c, file)?;
        return Ok(c);
    }
    let mut ens = EnsembleSection::default();
    if let Some(v) = num("initLimit")? {
        ens.init_limit = v as u32;
    }
    if let Some(v) = num("syncLimit")? {
        ens.sync_limit = v as u32;
    }
    for (id, spec) in servers {
        ens.servers.push(parse_server(file, id, &spec)?);
    }
    let myid_file = c.node.data_dir.join("myid");
    let myid = match kv.get("myid") {
        Some(v) => v.clone(),
        None => std::fs::read_to_string(&myid_file).map_err(|source| ConfigError::Read {
            file: myid_file.clone(),
            source,
        })?,
    };
    c.node.id = myid.trim().parse().map_err(|_| {
        invalid(
            file,
            "myid",
            format!("{myid:?} in {} is not a server id", myid_file.display()),
        )
    })?;
    if let Some(me) = ens.servers.iter().find(|s| s.id == c.node.id) {
        if let Some(p) = me.client_port {
            c.node.client_port = p;
        }
    } else {
        return Err(invalid(
            file,
            "myid",
            format!("server id {} has no server.{} line", c.node.id, c.node.id),
        ));
    }
    c.ensemble = Some(ens);
    crate::config::validate(&c, file)?;
    Ok(c)
}

/// ZooKeeper's AdminServer keys. Without any, the endpoint is on at 0.0.0.0:8080 as in
/// ZooKeeper, and a port that cannot be bound is only a warning (ZooKeeper's quorum servers log
/// it and go on); a port or address asked for explicitly must be bound.
fn admin_keys(
    kv: &BTreeMap<String, String>,
    file: &str,
    c: &mut NodeConfig,
) -> Result<(), ConfigError> {
    let a = &mut c.admin;
    a.enabled = kv.get("admin.enableServer").is_none_or(|v| v == "true");
    a.optional = !kv.contains_key("admin.serverPort")
        && !kv.contains_key("admin.serverAddress")
        && kv.get("admin.enableServer").is_none_or(|v| v != "true");
    if let Some(v) = kv.get("admin.serverAddress") {
        a.address = v.parse().map_err(|_| {
            invalid(
                file,
                "admin.serverAddress",
                format!("{v:?} is not an IP address"),
            )
        })?;
    }
    if let Some(v) = kv.get("admin.serverPort") {
        a.port = v
            .parse()
            .map_err(|_| invalid(file, "admin.serverPort", format!("{v:?} is not a port")))?;
    }
    if let Some(v) = kv.get("admin.commandURL") {
        if !v.starts_with('/') {
            return Err(invalid(
                file,
                "admin.commandURL",
                format!("{v:?} does not start with /"),
            ));
        }
        a.command_url = v.clone();
    }
    if let Some(v) = kv.get("admin.snapshot.enabled") {
        a.snapshot_enabled = v == "true";
    }
    if let Some(v) = kv.get("admin.snapshot.intervalInMS") {
        a.snapshot_interval_ms = v.parse().map_err(|_| {
            invalid(
                file,
                "admin.snapshot.intervalInMS",
                format!("{v:?} is not a number"),
            )
        })?;
    }
    Ok(())
}

/// `host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`.
fn parse_server(file: &str, id: u8, spec: &str) -> Result<ServerEntry, ConfigError> {
    let bad = |why: &str| invalid(file, "server.N", format!("server.{id}={spec}: {why}"));
    let (peer, client) = match spec.split_once(';') {
        Some((p, c)) => (p, Some(c)),
        None => (spec, None),
    };
    let parts: Vec<&str> = peer.split(':').collect();
    if parts.len() < 3 {
        return Err(bad("expected host:quorumPort:electionPort"));
    }
    let port = |s: &str| s.parse::<u16>().map_err(|_| bad("a port is not a number"));
    let observer = match parts.get(3) {
        None | Some(&"participant") => false,
        Some(&"observer") => true,
        Some(_) => return Err(bad("the role must be participant or observer")),
    };
    let client_port = match client {
        None => None,
        Some(c) => Some(port(c.rsplit(':').next().unwrap_or(c))?),
    };
    Ok(ServerEntry {
        id,
        host: parts[0].to_string(),
        peer_port: port(parts[1])?,
        election_port: Some(port(parts[2])?),
        client_port,
        observer,
    })
}

/// Reads and parses a zoo.cfg file.
pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: PathBuf::from(path),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_mode_can_be_enabled_from_zoo_cfg() {
        let c = parse(
            "dataDir=/var/zk\nclientPort=2182\nreadonlymode.enabled=true\n",
            "zoo.cfg",
        )
        .unwrap();
        assert!(c.features.read_only_mode);
        let c = parse("dataDir=/var/zk\nclientPort=2182\n", "zoo.cfg").unwrap();
        assert!(!c.features.read_only_mode);
    }

    #[test]
    fn a_standalone_zoo_cfg() {
        let c = parse(
            "tickTime=2000\ndataDir=/var/zk\nclientPort=2182\n4lw.commands.whitelist=ruok, srvr\n",
            "/etc/zoo.cfg",
        )
        .unwrap();
        assert_eq!(c.node.client_port, 2182);
        assert_eq!(c.node.data_dir, PathBuf::from("/var/zk"));
        assert_eq!(c.node.four_letter_words, vec!["ruok", "srvr"]);
        assert!(c.ensemble.is_none());
    }

    #[test]
    fn an_ensemble_zoo_cfg_with_an_observer() {
        let text = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/d\nmyid=2\n\
            server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889;2182\n\
            server.3=127.0.0.1:2890:3890:observer;127.0.0.1:2183\n";
        let c = parse(text, "zoo.cfg").unwrap();
        assert_eq!(c.node.id, 2);
        assert_eq!(c.node.client_port, 2182);
        let e = c.ensemble.unwrap();
        assert_eq!((e.init_limit, e.sync_limit), (10, 5));
        assert_eq!(e.servers.len(), 3);
        assert!(e.servers[2].observer);
        assert_eq!(e.servers[2].client_port, Some(2183));
        assert_eq!(e.servers[0].peer_port, 2888);
    }

    #[test]
    fn admin_server_keys_follow_zookeeper() {
        let c = parse("dataDir=/d\n", "zoo.cfg").unwrap();
        assert!(
            c.admin.enabled && c.admin.optional,
            "ZooKeeper's default: on, 8080"
        );
        assert_eq!(c.admin.port, 8080);
        assert_eq!(c.admin.command_url, "/commands");
        let c = parse(
            "dataDir=/d\nadmin.serverPort=9090\nadmin.serverAddress=127.0.0.1\n\
             admin.commandURL=/admin\naudit.enable=true\n",
            "zoo.cfg",
        )
        .unwrap();
        assert!(c.admin.enabled && !c.admin.optional, "asked for: must bind");
        assert_eq!(c.admin.socket().to_string(), "127.0.0.1:9090");
        assert_eq!(c.admin.command_url, "/admin");
        assert!(c.audit.enabled);
        let c = parse("dataDir=/d\nadmin.enableServer=false\n", "zoo.cfg").unwrap();
        assert!(!c.admin.enabled && !c.audit.enabled);
        let e = parse("dataDir=/d\nadmin.serverPort=http\n", "z.cfg")
            .unwrap_err()
            .to_string();
        assert!(e.contains("admin.serverPort"), "{e}");
    }

    #[test]
    fn errors_name_the_key_and_file() {
        let e = parse("tickTime=fast\n", "z.cfg").unwrap_err().to_string();
        assert!(e.contains("z.cfg") && e.contains("tickTime"), "{e}");
        let e = parse("myid=1\nserver.1=h:1\n", "z.cfg")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.N"), "{e}");
    }
}
