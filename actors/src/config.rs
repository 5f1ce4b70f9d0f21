//! A node's configuration, as the actors use it. The `zkr` binary fills it from a TOML file
//! (or the embedded default, or a ZooKeeper `zoo.cfg`); every field has ZooKeeper's default
//! unless noted.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Identity, addresses and timing.
    pub node: NodeSection,
    /// Authentication and ACL settings.
    pub auth: AuthSection,
    /// Optional ZooKeeper features.
    pub features: FeaturesSection,
    /// Log and snapshot settings.
    pub storage: StorageSection,
    /// Prometheus exporter.
    pub metrics: MetricsSection,
    /// The ensemble (absent: a standalone node).
    pub ensemble: Option<EnsembleSection>,
    /// SASL DIGEST-MD5 users.
    pub sasl: SaslSection,
    /// The TLS client port.
    pub tls: TlsSection,
    /// The AdminServer-compatible HTTP endpoint.
    pub admin: AdminSection,
    /// The audit log.
    pub audit: AuditSection,
}

/// `[admin]`: the HTTP endpoint of ZooKeeper's AdminServer (`admin.enableServer`,
/// `admin.serverAddress`, `admin.serverPort`, `admin.commandURL`), with zkr's readiness and
/// liveness probes beside it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// Serve it (`admin.enableServer`). Off unless a configuration turns it on: the shipped
    /// configurations and a zoo.cfg (ZooKeeper's default) do.
    pub enabled: bool,
    /// Address it binds to (`admin.serverAddress`).
    pub address: IpAddr,
    /// Port (`admin.serverPort`); 0 takes any free port.
    pub port: u16,
    /// Where the commands are (`admin.commandURL`).
    pub command_url: String,
    /// A port that cannot be bound is a warning, not a refusal to start: set for ZooKeeper's
    /// implicit default (a zoo.cfg that names no `admin.` key), as ZooKeeper's quorum servers
    /// log "Problem starting AdminServer" and go on.
    pub optional: bool,
    /// The `snapshot` command (`zookeeper.admin.snapshot.enabled`).
    pub snapshot_enabled: bool,
    /// Least time between two `snapshot` commands, ms (`zookeeper.admin.snapshot.intervalInMS`).
    pub snapshot_interval_ms: u64,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            enabled: false,
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 8080,
            command_url: "/commands".into(),
            optional: false,
            snapshot_enabled: true,
            snapshot_interval_ms: 300_000,
        }
    }
}

impl AdminSection {
    /// The socket address it binds to.
    pub fn socket(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// `[audit]`: ZooKeeper 3.6's audit log (`audit.enable`): one line per create, delete, setData,
/// setACL, multi, reconfig and session-close deletion of ephemerals, with who asked and the
/// result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// Write audit lines (`audit.enable`).
    pub enabled: bool,
}

/// `[ensemble]`: the members and the timing of an ensemble.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EnsembleSection {
    /// initLimit, in ticks.
    pub init_limit: u32,
    /// syncLimit, in ticks.
    pub sync_limit: u32,
    /// Committed txns kept in memory for DIFF syncs (`zookeeper.commitLogCount`).
    pub commit_log_count: usize,
    /// At most about this many bytes of them (zkr; ZooKeeper keeps 500 txns whatever their size).
    pub commit_log_bytes: usize,
    /// Every member, this node included (matched by `node.id`).
    pub servers: Vec<ServerEntry>,
    /// Bytes queued on an outgoing peer link before the link is dropped: a peer that cannot keep
    /// up is disconnected and re-syncs (a leader never blocks on a slow follower). A single
    /// frame larger than this (a snapshot) is still sent when the queue is empty.
    pub peer_queue_bytes: usize,
    /// A file holding a shared secret (at least 16 bytes, mode 600): peer links authenticate
    /// each other with an HMAC challenge-response (zoo.cfg `zkr.quorum.secretFile`).
    pub secret_file: Option<PathBuf>,
    /// Mutual TLS on peer links (zoo.cfg `sslQuorum=true` and `ssl.quorum.*`).
    pub tls: Option<QuorumTlsSection>,
    /// TCP keepalive on peer connections (`tcpKeepAlive`).
    pub tcp_keepalive: bool,
    /// Listen for peers on every address, not only this server's configured one
    /// (`quorumListenOnAllIPs`; for hosts behind NAT).
    pub listen_on_all_ips: bool,
}

/// `[ensemble.tls]`: mutual TLS on peer links, PEM files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuorumTlsSection {
    /// This server's certificate chain, PEM, leaf first (`ssl.quorum.keyStore.location`).
    pub cert_file: PathBuf,
    /// Its private key, PEM; default: the key in `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// CA certificates every member's certificate must chain to
    /// (`ssl.quorum.trustStore.location`).
    pub ca_file: PathBuf,
    /// Check that a member's certificate is valid for its configured host (an IP address or a
    /// DNS name, as in the server list) (`ssl.quorum.hostnameVerification`, default true).
    #[serde(default = "default_true")]
    pub hostname_verification: bool,
}

fn default_true() -> bool {
    true
}

impl Default for EnsembleSection {
    fn default() -> Self {
        EnsembleSection {
            init_limit: 10,
            sync_limit: 5,
            commit_log_count: 500,
            commit_log_bytes: 64 << 20,
            servers: Vec::new(),
            peer_queue_bytes: 64 << 20,
            secret_file: None,
            tls: None,
            tcp_keepalive: false,
            listen_on_all_ips: false,
        }
    }
}

/// One member of the ensemble (ZooKeeper's `server.N=host:quorumPort:electionPort[:observer];clientPort`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// Its id (`myid`), 1..=254.
    pub id: u8,
    /// Host or IP its peers reach it at.
    pub host: String,
    /// Peer port: zkr's peer protocol (ZooKeeper's quorum port).
    pub peer_port: u16,
    /// ZooKeeper's election port (zkr carries elections on the peer port; kept for zoo.cfg
    /// round trips and /zookeeper/config).
    #[serde(default)]
    pub election_port: Option<u16>,
    /// Its client port (for /zookeeper/config and the tools).
    #[serde(default)]
    pub client_port: Option<u16>,
    /// An observer: neither votes nor acknowledges.
    #[serde(default)]
    pub observer: bool,
}

/// `[node]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// Server id (`myid`); 0 for a standalone node.
    pub id: u8,
    /// Where snapshots, epochs and (without `data_log_dir`) the log live.
    pub data_dir: PathBuf,
    /// Where the txn log lives, if not under `data_dir` (`dataLogDir`: a disk of its own).
    pub data_log_dir: Option<PathBuf>,
    /// Client port.
    pub client_port: u16,
    /// Address the client port binds to.
    pub client_address: IpAddr,
    /// Listen backlog of the client port (`clientPortListenBacklog`); default: the system's.
    pub client_port_listen_backlog: Option<u32>,
    /// TCP keepalive on client connections (`clientTcpKeepAlive`).
    pub tcp_keepalive: bool,
    /// ZooKeeper's tickTime, ms.
    pub tick_time_ms: u32,
    /// Smallest session timeout granted, ms (default 2 × tick).
    pub min_session_timeout_ms: Option<u32>,
    /// Largest session timeout granted, ms (default 20 × tick).
    pub max_session_timeout_ms: Option<u32>,
    /// Connections per client IP (`maxClientCnxns`); 0 = unlimited.
    pub max_client_connections: u32,
    /// Client connections in total (`maxCnxns`, ZooKeeper's `zookeeper.maxCnxns`); 0 (the
    /// default) = the process's open-file limit minus 256 descriptors kept for the log,
    /// snapshots and peers (ZooKeeper's 0 means unlimited, which ends in EMFILE).
    pub max_connections: u32,
    /// Largest frame payload accepted (`jute.maxbuffer`), bytes.
    pub jute_max_buffer_bytes: usize,
    /// Requests in flight across all connections before sockets stop being read
    /// (`globalOutstandingLimit`).
    pub global_outstanding_limit: usize,
    /// Bytes of requests in flight across all connections before busy sockets stop being read
    /// (zkr's byte bound on the same rule as `global_outstanding_limit`).
    pub global_outstanding_bytes: usize,
    /// Bytes a connection may have queued for its socket and not written yet; a client that
    /// does not read its replies and events past this is disconnected (zkr; ZooKeeper buffers
    /// without bound).
    pub max_queued_reply_bytes: usize,
    /// Four-letter words answered (`4lw.commands.whitelist`); `"*"` allows all.
    pub four_letter_words: Vec<String>,
    /// Handshake deadline for a new connection, ms (`zookeeper.nio.sessionlessCnxnTimeout`).
    pub sessionless_connection_timeout_ms: u32,
    /// Threads (actix arbiters) that run client connections besides the node's event loop,
    /// which runs the write pipeline (quorum, log, store). 0: connections run on the event loop
    /// too. Default: one per 4 cores (0 below 4 cores, where a hop between threads costs more
    /// than the parallelism gives; docs/architecture.md, decision 18).
    pub client_threads: Option<usize>,
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            id: 0,
            data_dir: PathBuf::from("./zkr-data"),
            data_log_dir: None,
            client_port: 2181,
            client_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            client_port_listen_backlog: None,
            tcp_keepalive: false,
            tick_time_ms: 2000,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            max_client_connections: 60,
            jute_max_buffer_bytes: crate::proto::codes::JUTE_MAX_BUFFER_DEFAULT,
            max_connections: 0,
            global_outstanding_limit: 1000,
            global_outstanding_bytes: 64 << 20,
            max_queued_reply_bytes: 16 << 20,
            four_letter_words: vec!["srvr".into()],
            sessionless_connection_timeout_ms: 10_000,
            client_threads: None,
        }
    }
}

impl NodeSection {
    /// The connection threads to start besides the event loop: `client_threads`, or one per 4
    /// of `cores`.
    pub fn client_threads_for(&self, cores: usize) -> usize {
        self.client_threads.unwrap_or(cores / 4)
    }

    /// The client socket address.
    pub fn client_socket(&self) -> SocketAddr {
        SocketAddr::new(self.client_address, self.client_port)
    }

    /// The negotiated-timeout lower bound, ms.
    pub fn min_session_timeout(&self) -> i32 {
        self.min_session_timeout_ms.unwrap_or(2 * self.tick_time_ms) as i32
    }

    /// The negotiated-timeout upper bound, ms.
    pub fn max_session_timeout(&self) -> i32 {
        self.max_session_timeout_ms
            .unwrap_or(20 * self.tick_time_ms) as i32
    }

    /// Is the four-letter word `w` allowed?
    pub fn four_letter_word_allowed(&self, w: &str) -> bool {
        self.four_letter_words.iter().any(|x| x == "*" || x == w)
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// `user:base64(sha1(user:password))` of the super user
    /// (`zookeeper.DigestAuthenticationProvider.superDigest`).
    pub super_digest: Option<String>,
    /// `zookeeper.skipACL`: no ACL checks at all.
    pub skip_acl: bool,
}

/// `[features]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturesSection {
    /// TTL nodes (`zookeeper.extendedTypesEnabled`).
    pub extended_types: bool,
    /// Dynamic reconfiguration (`reconfigEnabled`).
    pub reconfig_enabled: bool,
    /// How often containers and TTL nodes are checked, ms (`znode.container.checkIntervalMs`).
    pub container_check_interval_ms: u32,
    /// Most container/TTL deletions per minute (`znode.container.maxPerMinute`).
    pub container_max_per_minute: u32,
    /// Read-only mode (`readonlymode.enabled`): an ensemble member cut off from its quorum for
    /// max(2 s, tickTime) serves clients that ask for read-only access, until the quorum returns.
    pub read_only_mode: bool,
}

impl Default for FeaturesSection {
    fn default() -> Self {
        FeaturesSection {
            extended_types: false,
            reconfig_enabled: false,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            read_only_mode: false,
        }
    }
}

/// `[storage]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// fsync before acknowledging (`zookeeper.forceSync`).
    pub force_sync: bool,
    /// Txns between snapshots (`snapCount`), randomised per snapshot between half and all.
    pub snap_count: u64,
    /// Log bytes after which a snapshot is taken whatever the txn count
    /// (`snapSizeLimitInKb`, ZooKeeper's default 4 GiB), randomised between half and all.
    pub snap_size_limit_bytes: u64,
    /// Snapshots kept by purge (`autopurge.snapRetainCount`).
    pub snap_retain_count: u32,
    /// Purge after every snapshot, keeping `snap_retain_count` snapshots and the log they need.
    /// On by default (unlike ZooKeeper, where a full disk is the usual way to find out);
    /// `autopurge.purgeInterval=0` in a zoo.cfg turns it off.
    pub autopurge: bool,
    /// Hours between purges (`autopurge.purgeInterval`), on top of the purge after each
    /// snapshot; 0 = only after snapshots. Fractions are allowed.
    pub purge_interval_hours: f64,
    /// Free space (bytes) of the data directory under which the node warns (log line and
    /// `zkr_disk_space_low`); default: the newest snapshot's size plus two log segments.
    pub low_space_bytes: Option<u64>,
    /// Keep everything in memory, nothing on disk (tests and experiments only).
    pub in_memory: bool,
    /// Log segments are preallocated in steps of this many bytes (ZooKeeper: 64 MiB).
    pub preallocate_bytes: u64,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            force_sync: true,
            snap_count: 100_000,
            snap_size_limit_bytes: 4 << 30,
            snap_retain_count: 3,
            autopurge: true,
            purge_interval_hours: 0.0,
            low_space_bytes: None,
            in_memory: false,
            preallocate_bytes: 64 << 20,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Prometheus port (`/metrics`); 0 = off.
    pub port: u16,
    /// Address the exporter binds to.
    pub address: IpAddr,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            port: 7000,
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

/// `[sasl]`: SASL DIGEST-MD5 on the client ports. ZooKeeper takes the users from the JAAS
/// `Server` section (`org.apache.zookeeper.server.auth.DigestLoginModule required
/// user_NAME="password";`) and the `sasl` ACL scheme from
/// `authProvider.N=org.apache.zookeeper.server.auth.SASLAuthenticationProvider`; here both are on
/// as soon as one user is configured.
#[derive(Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SaslSection {
    /// User name → password (JAAS `user_NAME="password"`).
    pub users: BTreeMap<String, String>,
    /// Authorization ids that are also granted the `super` identity (`zookeeper.superUser`,
    /// `zookeeper.superUser.*`).
    pub super_users: Vec<String>,
}

impl SaslSection {
    /// Is SASL (and the `sasl` ACL scheme) on?
    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }
}

impl std::fmt::Debug for SaslSection {
    /// Passwords stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSection")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("super_users", &self.super_users)
            .finish()
    }
}

/// Whether the TLS port asks clients for a certificate (`ssl.clientAuth`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// A certificate signed by the CA is required (ZooKeeper's default).
    #[default]
    Need,
    /// A certificate is asked for; without one the connection goes on unauthenticated.
    Want,
    /// No certificate is asked for.
    None,
}

/// `[tls]`: the secure client port, the same protocol inside TLS (ZooKeeper's
/// `secureClientPort` with the Netty connection factory and `ssl.*` settings). PEM files only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// The TLS port (`secureClientPort`); none = no TLS port. 0 takes any free port.
    pub secure_client_port: Option<u16>,
    /// Address it binds to (`secureClientPortAddress`); default: `node.client_address`.
    pub secure_client_address: Option<IpAddr>,
    /// The server certificate chain, PEM, leaf first (`ssl.keyStore.location` with
    /// `ssl.keyStore.type=PEM`).
    pub cert_file: Option<PathBuf>,
    /// The server private key, PEM (PKCS#8, PKCS#1 or SEC1, unencrypted); default: the key in
    /// `cert_file` (a ZooKeeper PEM key store holds both).
    pub key_file: Option<PathBuf>,
    /// CA certificates, PEM, that client certificates must chain to (`ssl.trustStore.location`);
    /// required unless `client_auth = "none"`.
    pub ca_file: Option<PathBuf>,
    /// `need` (default), `want` or `none` (`ssl.clientAuth`).
    pub client_auth: ClientAuth,
    /// A client certificate subject (RFC 2253, e.g. `CN=admin`) that is also granted the
    /// `super` identity (`zookeeper.X509AuthenticationProvider.superUser`).
    pub super_user: Option<String>,
}

impl TlsSection {
    /// Is the TLS port on?
    pub fn enabled(&self) -> bool {
        self.secure_client_port.is_some()
    }
}
