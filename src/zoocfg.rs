//! Reading ZooKeeper's `zoo.cfg` (for people moving from ZooKeeper): every key of ZooKeeper 3.9's
//! administrator's guide is honoured, mapped, accepted with a warning, or refused with a message
//! naming it (the table is [`crate::zoocfg_keys`], documented in docs/zoo-cfg.md); nothing is
//! silently dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use zkr_actors::config::{ClientAuth, EnsembleSection, NodeConfig, QuorumTlsSection, ServerEntry};

use crate::config::ConfigError;
use crate::zoocfg_keys::{self as keys, Treatment};

fn invalid(file: &str, key: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_string(),
        key,
        message,
    }
}

/// Parses `text` (the contents of `file`) into a zkr configuration. `myid` comes from
/// `dataDir/myid` when the file has servers. Every key is checked against
/// [`crate::zoocfg_keys::KEYS`] first: a refused key (or value) stops here with a message naming
/// it; a key without effect in zkr is named in a warning.
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
            if let Some(message) = keys::refusal(k, v) {
                return Err(ConfigError::Refused {
                    file: file.to_string(),
                    key: k.to_string(),
                    message,
                });
            }
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
                let k = k.strip_prefix("zookeeper.").unwrap_or(k);
                kv.insert(k.to_string(), v.to_string());
            }
        }
        Ok(())
    };
    collect(text, &mut kv, &mut servers)?;
    if let Some(dynamic) = kv.get("dynamicConfigFile").cloned() {
        let p = base.join(&dynamic);
        let t = crate::config::read_text(&p)?;
        collect(&t, &mut kv, &mut servers)?;
    }
    for (k, v) in &kv {
        match keys::lookup(k).map(|e| (e.treatment, e.note)) {
            Some((Treatment::NoEffect, why)) => {
                tracing::warn!(file, key = %k, value = %v, "zoo.cfg key has no effect in zkr: {why}")
            }
            Some((Treatment::Mapped, how)) => {
                tracing::info!(file, key = %k, value = %v, "zoo.cfg key: {how}")
            }
            _ => {}
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
    let flag = |key: &'static str| kv.get(key).map(|v| keys::is_true(v));
    let path = |key: &'static str| kv.get(key).map(|v| base.join(v));
    if let Some(v) = num("tickTime")? {
        c.node.tick_time_ms = v as u32;
    }
    if let Some(v) = path("dataDir") {
        c.node.data_dir = v;
    }
    c.node.data_log_dir = path("dataLogDir");
    if let Some(v) = num("clientPort")? {
        c.node.client_port = v as u16;
    }
    if let Some(v) = kv.get("clientPortAddress") {
        c.node.client_address = ip(file, "clientPortAddress", v)?;
    }
    c.node.client_port_listen_backlog = num("clientPortListenBacklog")?.map(|v| v as u32);
    c.node.min_session_timeout_ms = num("minSessionTimeout")?.map(|v| v as u32);
    c.node.max_session_timeout_ms = num("maxSessionTimeout")?.map(|v| v as u32);
    if let Some(v) = num("maxClientCnxns")? {
        c.node.max_client_connections = v as u32;
    }
    if let Some(v) = num("maxCnxns")? {
        c.node.max_connections = v as u32;
    }
    if let Some(v) = num("globalOutstandingLimit")? {
        c.node.global_outstanding_limit = v as usize;
    }
    if let Some(v) = num("jute.maxbuffer")? {
        c.node.jute_max_buffer_bytes = v as usize;
    }
    if let Some(v) = flag("clientTcpKeepAlive") {
        c.node.tcp_keepalive = v;
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
    if let Some(v) = flag("reconfigEnabled") {
        c.features.reconfig_enabled = v;
    }
    // ZooKeeper reads this one as a Java system property (-Dreadonlymode.enabled=true); zoo.cfg
    // is where zkr users coming from ZooKeeper look for it.
    if let Some(v) = flag("readonlymode.enabled") {
        c.features.read_only_mode = v;
    }
    if let Some(v) = flag("extendedTypesEnabled") {
        c.features.extended_types = v;
    }
    if let Some(v) = num("znode.container.checkIntervalMs")? {
        c.features.container_check_interval_ms = v as u32;
    }
    if let Some(v) = num("znode.container.maxPerMinute")? {
        c.features.container_max_per_minute = v as u32;
    }
    if let Some(v) = kv.get("DigestAuthenticationProvider.superDigest") {
        c.auth.super_digest = Some(v.clone());
    }
    if let Some(v) = flag("skipACL") {
        c.auth.skip_acl = v;
    }
    if let Some(v) = kv.get("superUser") {
        c.sasl.super_users.push(v.clone());
    }
    if let Some(v) = num("metricsProvider.httpPort")? {
        c.metrics.port = v as u16;
    }
    if let Some(v) = kv.get("metricsProvider.httpHost") {
        c.metrics.address = ip(file, "metricsProvider.httpHost", v)?;
    }
    secure_client_port(&kv, base, file, &mut c)?;
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
    if let Some(v) = num("commitLogCount")? {
        ens.commit_log_count = v as usize;
    }
    if let Some(v) = flag("tcpKeepAlive") {
        ens.tcp_keepalive = v;
    }
    if let Some(v) = flag("quorumListenOnAllIPs") {
        ens.listen_on_all_ips = v;
    }
    ens.secret_file = path("zkr.quorum.secretFile");
    if flag("sslQuorum") == Some(true) {
        ens.tls = Some(quorum_tls(&kv, base, file)?);
    } else if kv.keys().any(|k| k.starts_with("ssl.quorum.")) {
        tracing::warn!(
            file,
            "ssl.quorum.* keys are not used: sslQuorum is not true"
        );
    }
    for (id, spec) in servers {
        ens.servers.push(parse_server(file, id, &spec)?);
    }
    let myid_file = c.node.data_dir.join("myid");
    let myid = match kv.get("myid") {
        Some(v) => v.clone(),
        None => crate::config::read_text(&myid_file)?,
    };
    c.node.id = myid.trim().parse().map_err(|_| {
        invalid(
            file,
            "myid",
            format!("{myid:?} in {} is not a server id", myid_file.display()),
        )
    })?;
    let Some(me) = ens.servers.iter().find(|s| s.id == c.node.id) else {
        return Err(invalid(
            file,
            "myid",
            format!("server id {} has no server.{} line", c.node.id, c.node.id),
        ));
    };
    if let Some(p) = me.client_port {
        c.node.client_port = p;
    }
    if let Some(t) = kv.get("peerType") {
        let observer = match t.as_str() {
            "observer" => true,
            "participant" => false,
            _ => {
                return Err(invalid(
                    file,
                    "peerType",
                    format!("{t:?} is not observer or participant"),
                ))
            }
        };
        if observer != me.observer {
            return Err(invalid(
                file,
                "peerType",
                format!(
                    "peerType={t} but server.{} is {}",
                    me.id,
                    if me.observer {
                        "an observer"
                    } else {
                        "a participant"
                    }
                ),
            ));
        }
    }
    c.ensemble = Some(ens);
    crate::config::validate(&c, file)?;
    Ok(c)
}

fn ip(file: &str, key: &'static str, v: &str) -> Result<std::net::IpAddr, ConfigError> {
    v.parse()
        .map_err(|_| invalid(file, key, format!("{v:?} is not an IP address")))
}

/// How to turn a Java key or trust store into the PEM files zkr reads.
fn convert_hint(key: &str, location: &str, trust: bool) -> String {
    if trust {
        format!(
            "{location} is not PEM; zkr reads PEM only. Export the CA certificates, e.g. \
             `keytool -exportcert -rfc -keystore {location} -alias <ca alias> -file ca.pem`, then \
             set {key}=ca.pem and {}.type=PEM",
            key.trim_end_matches(".location")
        )
    } else {
        format!(
            "{location} is not PEM; zkr reads PEM only. Convert it: `keytool -importkeystore \
             -srckeystore {location} -destkeystore server.p12 -deststoretype PKCS12` then \
             `openssl pkcs12 -in server.p12 -nodes -out server.pem` (key and certificate in one \
             file), and set {key}=server.pem and {}.type=PEM",
            key.trim_end_matches(".location")
        )
    }
}

/// A key or trust store location (`prefix.location`), which must be PEM: `prefix.type=PEM`, or
/// no type and a `.pem` file name (ZooKeeper infers the type from the extension).
fn pem_store(
    kv: &BTreeMap<String, String>,
    base: &Path,
    file: &str,
    prefix: &str,
    trust: bool,
) -> Result<Option<PathBuf>, ConfigError> {
    let location_key = format!("{prefix}.location");
    let Some(location) = kv.get(&location_key) else {
        return Ok(None);
    };
    let type_key = format!("{prefix}.type");
    let pem = match kv.get(&type_key) {
        Some(t) => t.eq_ignore_ascii_case("PEM"),
        None => location.to_ascii_lowercase().ends_with(".pem"),
    };
    if !pem {
        return Err(ConfigError::Refused {
            file: file.to_string(),
            key: if kv.contains_key(&type_key) {
                type_key
            } else {
                location_key.clone()
            },
            message: convert_hint(&location_key, location, trust),
        });
    }
    Ok(Some(base.join(location)))
}

/// `secureClientPort` with `ssl.keyStore.*` / `ssl.trustStore.*` / `ssl.clientAuth` → `[tls]`.
fn secure_client_port(
    kv: &BTreeMap<String, String>,
    base: &Path,
    file: &str,
    c: &mut NodeConfig,
) -> Result<(), ConfigError> {
    let cert = pem_store(kv, base, file, "ssl.keyStore", false)?;
    let ca = pem_store(kv, base, file, "ssl.trustStore", true)?;
    let Some(port) = kv.get("secureClientPort") else {
        return Ok(());
    };
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid(file, "secureClientPort", format!("{port:?} is not a port")))?;
    let t = &mut c.tls;
    t.secure_client_port = Some(port);
    if let Some(v) = kv.get("secureClientPortAddress") {
        t.secure_client_address = Some(ip(file, "secureClientPortAddress", v)?);
    }
    t.cert_file = Some(cert.ok_or_else(|| {
        invalid(
            file,
            "ssl.keyStore.location",
            "secureClientPort needs the server's key and certificate (a PEM file)".into(),
        )
    })?);
    t.client_auth = match kv.get("ssl.clientAuth").map(|v| v.to_ascii_lowercase()) {
        None => ClientAuth::Need,
        Some(v) if v == "need" => ClientAuth::Need,
        Some(v) if v == "want" => ClientAuth::Want,
        Some(_) => ClientAuth::None,
    };
    if t.client_auth != ClientAuth::None && ca.is_none() {
        return Err(invalid(
            file,
            "ssl.trustStore.location",
            "ssl.clientAuth is need or want: the CA certificates that client certificates chain \
             to are required (a PEM file)"
                .into(),
        ));
    }
    t.ca_file = ca;
    t.super_user = kv.get("X509AuthenticationProvider.superUser").cloned();
    Ok(())
}

/// `sslQuorum=true` with `ssl.quorum.*` → `[ensemble.tls]`.
fn quorum_tls(
    kv: &BTreeMap<String, String>,
    base: &Path,
    file: &str,
) -> Result<QuorumTlsSection, ConfigError> {
    let cert = pem_store(kv, base, file, "ssl.quorum.keyStore", false)?;
    let ca = pem_store(kv, base, file, "ssl.quorum.trustStore", true)?;
    let missing = |key: &'static str| {
        invalid(
            file,
            key,
            "sslQuorum=true needs it (a PEM file)".to_string(),
        )
    };
    Ok(QuorumTlsSection {
        cert_file: cert.ok_or_else(|| missing("ssl.quorum.keyStore.location"))?,
        key_file: None,
        ca_file: ca.ok_or_else(|| missing("ssl.quorum.trustStore.location"))?,
        hostname_verification: kv
            .get("ssl.quorum.hostnameVerification")
            .is_none_or(|v| keys::is_true(v)),
    })
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
    let text = crate::config::read_text(path)?;
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

    /// A value of `key` that is refused.
    fn refused_value(r: &crate::zoocfg_keys::Refused) -> &'static str {
        use crate::zoocfg_keys::When;
        match r.when {
            When::Any | When::True => "true",
            When::False => "false",
            When::Unless(..) => "bogus-value",
        }
    }

    #[test]
    fn every_refused_key_stops_the_node_with_a_message_naming_it() {
        let mut checked = 0;
        for entry in crate::zoocfg_keys::KEYS {
            let Some(r) = entry.refused_if else { continue };
            let key = entry.name.replace(".N", ".1");
            let value = refused_value(&r);
            let text = format!("dataDir=/var/zk\nclientPort=2182\n{key}={value}\n");
            let e = parse(&text, "zoo.cfg").expect_err(&key).to_string();
            assert!(
                e.contains(&format!("`{key}`")) && e.contains("refused") && e.contains(r.message),
                "{key}={value}: {e}"
            );
            checked += 1;
        }
        assert!(checked >= 50, "{checked}");
    }

    #[test]
    fn accepted_values_of_value_dependent_keys_start() {
        for line in [
            "electionAlg=3",
            "sslQuorum=false",
            "portUnification=false",
            "ssl.clientAuth=want",
            "ssl.enabledProtocols=TLSv1.3,TLSv1.2",
            "DigestAuthenticationProvider.digestAlg=SHA1",
            "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider",
            "zookeeper.snapCount=1000",
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
            "admin.enableServer=false",
        ] {
            let text = format!("dataDir=/var/zk\nclientPort=2182\n{line}\n");
            assert!(parse(&text, "zoo.cfg").is_ok(), "{line}");
        }
        let c = parse("dataDir=/d\nzookeeper.snapCount=1000\n", "zoo.cfg").unwrap();
        assert_eq!(c.storage.snap_count, 1000);
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let e = parse("dataDir=/d\nsslQourum=true\n", "z.cfg")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`sslQourum`") && e.contains("refused"), "{e}");
    }

    #[test]
    fn secure_client_port_with_pem_stores_configures_tls() {
        let c = parse(
            "dataDir=/d\nsecureClientPort=2281\nssl.keyStore.location=/etc/zk/server.pem\n\
             ssl.keyStore.type=PEM\nssl.trustStore.location=/etc/zk/ca.pem\nssl.clientAuth=want\n\
             X509AuthenticationProvider.superUser=CN=admin\n",
            "/etc/zk/zoo.cfg",
        )
        .unwrap();
        assert_eq!(c.tls.secure_client_port, Some(2281));
        assert_eq!(c.tls.cert_file, Some(PathBuf::from("/etc/zk/server.pem")));
        assert_eq!(c.tls.ca_file, Some(PathBuf::from("/etc/zk/ca.pem")));
        assert_eq!(c.tls.client_auth, ClientAuth::Want);
        assert_eq!(c.tls.super_user.as_deref(), Some("CN=admin"));
    }

    #[test]
    fn a_jks_key_store_is_refused_with_how_to_convert_it() {
        for (cfg, key) in [
            (
                "ssl.keyStore.location=/k/keystore.jks\nssl.keyStore.password=p\n",
                "ssl.keyStore.location",
            ),
            (
                "ssl.keyStore.location=/k/ks\nssl.keyStore.type=JKS\n",
                "ssl.keyStore.type",
            ),
            (
                "ssl.keyStore.location=/k/s.pem\nssl.trustStore.location=/k/trust.jks\n",
                "ssl.trustStore.location",
            ),
        ] {
            let text = format!("dataDir=/d\nsecureClientPort=2281\n{cfg}");
            let e = parse(&text, "zoo.cfg").unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")) && e.contains("PEM"), "{e}");
            assert!(e.contains("keytool"), "{e}");
        }
    }

    #[test]
    fn secure_client_port_without_a_key_store_names_the_missing_key() {
        let e = parse("dataDir=/d\nsecureClientPort=2281\n", "zoo.cfg")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ssl.keyStore.location"), "{e}");
    }

    #[test]
    fn data_log_dir_and_other_node_keys_map() {
        let c = parse(
            "dataDir=/d\ndataLogDir=/fast/log\nmaxCnxns=500\nglobalOutstandingLimit=50\n\
             jute.maxbuffer=2097152\nclientPortListenBacklog=64\nclientTcpKeepAlive=true\n\
             skipACL=yes\nextendedTypesEnabled=true\n",
            "zoo.cfg",
        )
        .unwrap();
        assert_eq!(c.node.data_log_dir, Some(PathBuf::from("/fast/log")));
        assert_eq!(c.node.max_connections, 500);
        assert_eq!(c.node.global_outstanding_limit, 50);
        assert_eq!(c.node.jute_max_buffer_bytes, 2097152);
        assert_eq!(c.node.client_port_listen_backlog, Some(64));
        assert!(c.node.tcp_keepalive && c.auth.skip_acl && c.features.extended_types);
    }

    #[test]
    fn ssl_quorum_configures_mutual_tls_on_peer_links() {
        let text = "dataDir=/d\nmyid=1\nserver.1=127.0.0.1:2888:3888\n\
            server.2=127.0.0.1:2889:3889\nsslQuorum=true\n\
            ssl.quorum.keyStore.location=/k/node1.pem\nssl.quorum.keyStore.type=PEM\n\
            ssl.quorum.trustStore.location=/k/ca.pem\nssl.quorum.hostnameVerification=false\n\
            zkr.quorum.secretFile=/k/secret\ntcpKeepAlive=true\nquorumListenOnAllIPs=true\n";
        let e = parse(text, "zoo.cfg").unwrap().ensemble.unwrap();
        let t = e.tls.unwrap();
        assert_eq!(t.cert_file, PathBuf::from("/k/node1.pem"));
        assert_eq!(t.ca_file, PathBuf::from("/k/ca.pem"));
        assert!(!t.hostname_verification);
        assert_eq!(e.secret_file, Some(PathBuf::from("/k/secret")));
        assert!(e.tcp_keepalive && e.listen_on_all_ips);
        let e = parse(
            "dataDir=/d\nmyid=1\nserver.1=127.0.0.1:2888:3888\nsslQuorum=true\n",
            "zoo.cfg",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ssl.quorum.keyStore.location"), "{e}");
    }

    #[test]
    fn peer_type_must_agree_with_the_server_line() {
        let e = parse(
            "dataDir=/d\nmyid=1\nserver.1=127.0.0.1:2888:3888\npeerType=observer\n",
            "zoo.cfg",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("peerType"), "{e}");
    }

    #[test]
    fn zoo_cfg_docs_table_is_the_code_table() {
        let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/zoo-cfg.md");
        let doc = std::fs::read_to_string(doc_path).unwrap_or_default();
        let table = crate::zoocfg_keys::markdown();
        let marker = "<!-- table generated from src/zoocfg_keys.rs -->\n";
        let (head, _) = doc.split_once(marker).unwrap_or((doc.as_str(), ""));
        let want = format!("{head}{marker}{table}");
        if std::env::var_os("ZKR_WRITE_DOCS").is_some() {
            std::fs::write(doc_path, &want).unwrap();
            return;
        }
        assert!(
            doc == want,
            "docs/zoo-cfg.md is out of date: run ZKR_WRITE_DOCS=1 cargo test --bin zkr zoo_cfg_docs"
        );
    }

    #[test]
    fn a_dynamic_config_file_that_never_ends_is_refused() {
        let e = parse("dataDir=/d\ndynamicConfigFile=/dev/zero\n", "zoo.cfg")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/zero") && e.contains("larger than"), "{e}");
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
