//! Every `zoo.cfg` key of ZooKeeper 3.9's administrator's guide, and what zkr does with it.
//!
//! No setting is silently ignored: a key is **honoured** (read and used, the zkr TOML key named),
//! **mapped** (zkr does the same thing its own way, said in the note), **no effect** (a tuning knob
//! of ZooKeeper's Java internals that zkr has no counterpart for: accepted, and named in a
//! warning at start), or **refused** (the node does not start, and the message names the key and
//! says what to do). A key is refused when ignoring it would weaken security or durability, or
//! change what clients see; some keys are refused only for some values (`refused_if`). A key that
//! is not in this table is refused too: ZooKeeper turns unknown keys into Java system properties,
//! which zkr cannot honour. `docs/zoo-cfg.md` is generated from this table
//! (`ZKR_WRITE_DOCS=1 cargo test --bin zkr zoo_cfg_docs`), and a test keeps the two equal.
//!
//! In zoo.cfg a Java system property `zookeeper.X` is written `X` (ZooKeeper adds the prefix);
//! zkr also accepts the prefixed form.

/// What zkr does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Read and used.
    Honoured,
    /// Done zkr's own way.
    Mapped,
    /// Accepted with a warning; no effect.
    NoEffect,
    /// The node does not start.
    Refused,
    /// The admin server and audit log (issue 15); handled by that work.
    Issue15,
}

impl Treatment {
    #[cfg(test)]
    fn label(self) -> &'static str {
        match self {
            Treatment::Honoured => "honoured",
            Treatment::Mapped => "mapped",
            Treatment::NoEffect => "no effect (warning)",
            Treatment::Refused => "refused",
            Treatment::Issue15 => "honoured (issue 15)",
        }
    }
}

/// One key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Its zoo.cfg name; a family (`server.N`) ends in `.N`.
    pub name: &'static str,
    /// What zkr does.
    pub treatment: Treatment,
    /// The zkr equivalent, or why.
    pub note: &'static str,
    /// Values that are refused (the test, which values in words, the message).
    pub refused_if: Option<Refused>,
}

/// Which values of a key are refused.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// Every value.
    Any,
    /// true / yes.
    True,
    /// false / no.
    False,
    /// Every value this test fails on; the accepted values in words.
    Unless(fn(&str) -> bool, &'static str),
}

impl When {
    /// Is `value` refused?
    pub fn refuses(self, value: &str) -> bool {
        match self {
            When::Any => true,
            When::True => is_true(value),
            When::False => is_false(value),
            When::Unless(ok, _) => !ok(value),
        }
    }

    #[cfg(test)]
    fn describe(self) -> String {
        match self {
            When::Any => "any value".into(),
            When::True => "true".into(),
            When::False => "false".into(),
            When::Unless(_, ok) => format!("other than {ok}"),
        }
    }
}

/// The values of a key that are refused, and why.
#[derive(Debug, Clone, Copy)]
pub struct Refused {
    /// Which values.
    pub when: When,
    /// Why, and what to do.
    pub message: &'static str,
}

/// true / yes (any case).
pub fn is_true(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "yes")
}

fn is_false(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "no")
}

fn is_3(v: &str) -> bool {
    v.trim() == "3"
}

fn is_sha1(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("SHA1") || v.trim().eq_ignore_ascii_case("SHA-1")
}

fn is_x509(v: &str) -> bool {
    v.trim() == "x509"
}

fn is_prometheus(v: &str) -> bool {
    v.trim().ends_with("PrometheusMetricsProvider")
}

fn is_known_auth_provider(v: &str) -> bool {
    matches!(
        v.trim(),
        "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
            | "org.apache.zookeeper.server.auth.X509AuthenticationProvider"
            | "org.apache.zookeeper.server.auth.DigestAuthenticationProvider"
            | "org.apache.zookeeper.server.auth.IPAuthenticationProvider"
    )
}

fn is_client_auth(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "need" | "want" | "none"
    )
}

fn is_need(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("need")
}

/// A protocol list with both TLSv1.2 and TLSv1.3 (what rustls negotiates; a narrower list would
/// not be honoured).
fn has_tls12_and_13(v: &str) -> bool {
    let names: Vec<String> = v
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .collect();
    names.iter().any(|n| n == "TLSV1.2") && names.iter().any(|n| n == "TLSV1.3")
}

fn is_tls_protocol(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_uppercase().as_str(),
        "TLS" | "TLSV1.2" | "TLSV1.3"
    )
}

const fn k(name: &'static str, treatment: Treatment, note: &'static str) -> Key {
    Key {
        name,
        treatment,
        note,
        refused_if: None,
    }
}

const fn kr(
    name: &'static str,
    treatment: Treatment,
    note: &'static str,
    when: When,
    message: &'static str,
) -> Key {
    Key {
        name,
        treatment,
        note,
        refused_if: Some(Refused { when, message }),
    }
}

use Treatment::*;

const KEYSTORE_TYPES: &str =
    "PEM only; a JKS or PKCS#12 store is refused with the commands that convert it";
const NO_SASL_QUORUM: &str = "quorum SASL (DIGEST-MD5/Kerberos on peer links) is not supported: \
    authenticate peer links with sslQuorum=true and ssl.quorum.* (mutual TLS) or with \
    zkr.quorum.secretFile (a shared secret)";
const NO_CONN_THROTTLE: &str = "ZooKeeper's connection token bucket is not implemented; zkr \
    bounds connections with maxClientCnxns (per IP) and maxCnxns (in total): remove the key";

/// The table, in the order of the administrator's guide (then the keys it documents elsewhere).
pub const KEYS: &[Key] = &[
    // Minimum configuration
    k("clientPort", Honoured, "node.client_port"),
    k("secureClientPort", Honoured, "tls.secure_client_port (with ssl.keyStore.* / ssl.trustStore.*, PEM)"),
    k("observerMasterPort", NoEffect, "zkr observers always sync from the leader"),
    k("dataDir", Honoured, "node.data_dir"),
    k("tickTime", Honoured, "node.tick_time_ms"),
    // Advanced configuration
    k("dataLogDir", Honoured, "node.data_log_dir: the txn log in its own directory"),
    k("globalOutstandingLimit", Honoured, "node.global_outstanding_limit (ZooKeeper 3.8's rule)"),
    k("preAllocSize", Honoured, "storage.preallocate_bytes (KB in zoo.cfg)"),
    k("snapCount", Honoured, "storage.snap_count"),
    k("commitLogCount", Honoured, "ensemble.commit_log_count"),
    k("snapSizeLimitInKb", Honoured, "storage.snap_size_limit_bytes"),
    k("txnLogSizeLimitInKb", NoEffect, "zkr's log segments roll by txn count"),
    k("maxCnxns", Honoured, "node.max_connections"),
    k("maxClientCnxns", Honoured, "node.max_client_connections"),
    k("clientPortAddress", Honoured, "node.client_address"),
    k("minSessionTimeout", Honoured, "node.min_session_timeout_ms"),
    k("maxSessionTimeout", Honoured, "node.max_session_timeout_ms"),
    k("fsync.warningthresholdms", NoEffect, "fsync times are in zkr's fsynctime summary and zkr_fsync metrics"),
    k("maxResponseCacheSize", NoEffect, "zkr has no response cache"),
    k("maxGetChildrenResponseCacheSize", NoEffect, "zkr has no response cache"),
    k("autopurge.snapRetainCount", Honoured, "storage.snap_retain_count"),
    k("autopurge.purgeInterval", Honoured, "storage.purge_interval_hours (0: storage.autopurge = false)"),
    kr("syncEnabled", Mapped, "zkr observers always log txns to disk", When::False,
       "zkr observers always persist their log; remove syncEnabled=false"),
    k("extendedTypesEnabled", Honoured, "features.extended_types"),
    kr("emulate353TTLNodes", Refused, "", When::True, "3.5.3 TTL emulation is not supported"),
    k("watchManagerName", NoEffect, "zkr has one watch manager"),
    k("watcherCleanThreadsNum", NoEffect, "zkr removes dead watchers when the connection closes"),
    k("watcherCleanThreshold", NoEffect, "zkr removes dead watchers when the connection closes"),
    k("watcherCleanIntervalInSeconds", NoEffect, "zkr removes dead watchers when the connection closes"),
    k("maxInProcessingDeadWatchers", NoEffect, "zkr removes dead watchers when the connection closes"),
    k("bitHashCacheSize", NoEffect, "zkr has one watch manager"),
    k("fastleader.minNotificationInterval", NoEffect, "zkr's election timing follows tickTime"),
    k("fastleader.maxNotificationInterval", NoEffect, "zkr's election timing follows tickTime"),
    kr("connectionMaxTokens", Refused, "", When::Any, NO_CONN_THROTTLE),
    kr("connectionTokenFillTime", Refused, "", When::Any, NO_CONN_THROTTLE),
    kr("connectionTokenFillCount", Refused, "", When::Any, NO_CONN_THROTTLE),
    kr("connectionFreezeTime", Refused, "", When::Any, NO_CONN_THROTTLE),
    kr("connectionDropIncrease", Refused, "", When::Any, NO_CONN_THROTTLE),
    kr("connectionDropDecrease", Refused, "", When::Any, NO_CONN_THROTTLE),
    kr("connectionDecreaseRatio", Refused, "", When::Any, NO_CONN_THROTTLE),
    kr("connection_throttle_weight_enabled", Refused, "", When::True, NO_CONN_THROTTLE),
    kr("connection_throttle_global_session_weight", Refused, "", When::Any, NO_CONN_THROTTLE),
    kr("connection_throttle_local_session_weight", Refused, "", When::Any, NO_CONN_THROTTLE),
    kr("connection_throttle_renew_session_weight", Refused, "", When::Any, NO_CONN_THROTTLE),
    k("clientPortListenBacklog", Honoured, "node.client_port_listen_backlog"),
    k("serverCnxnFactory", NoEffect, "zkr has one network layer (NIO and Netty behave alike to clients)"),
    k("flushDelay", NoEffect, "zkr's group commit batches what is ready"),
    k("maxWriteQueuePollTime", NoEffect, "zkr's group commit batches what is ready"),
    k("maxBatchSize", NoEffect, "zkr's group commit batches what is ready"),
    kr("enforceQuota", Mapped, "quotas are counted, never enforced (ZooKeeper's default)", When::True,
       "hard quota enforcement is not supported; remove enforceQuota=true"),
    k("requestThrottleLimit", NoEffect, "zkr bounds requests in flight with globalOutstandingLimit"),
    k("requestThrottleStallTime", NoEffect, "zkr bounds requests in flight with globalOutstandingLimit"),
    k("requestThrottleDropStale", NoEffect, "zkr bounds requests in flight with globalOutstandingLimit"),
    k("requestStaleLatencyCheck", NoEffect, "zkr bounds requests in flight with globalOutstandingLimit"),
    k("requestStaleConnectionCheck", NoEffect, "zkr bounds requests in flight with globalOutstandingLimit"),
    k("request_throttler.shutdownTimeout", NoEffect, "zkr has no request throttler thread"),
    k("advancedFlowControlEnabled", Mapped, "zkr stops reading busy connections (globalOutstandingLimit) always"),
    k("enableEagerACLCheck", NoEffect, "ACLs are checked by the leader's pipeline"),
    k("maxConcurrentSnapSyncs", NoEffect, "zkr syncs every learner that asks"),
    k("maxConcurrentDiffSyncs", NoEffect, "zkr syncs every learner that asks"),
    k("digest.enabled", NoEffect, "zkr checks its log and snapshots with CRCs, not tree digests"),
    k("snapshot.compression.method", NoEffect, "zkr's snapshots have their own format"),
    k("snapshot.trust.empty", NoEffect, "zkr recovers from its log when there is no snapshot"),
    k("audit.enable", Issue15, "audit.enabled"),
    kr("audit.impl.class", Refused, "", When::Any, "pluggable audit loggers are not supported"),
    k("largeRequestMaxBytes", NoEffect, "zkr bounds request bytes in flight with node.global_outstanding_bytes"),
    k("largeRequestThreshold", NoEffect, "zkr bounds request bytes in flight with node.global_outstanding_bytes"),
    k("netty.server.outstandingHandshake.limit", NoEffect, "TLS handshakes are bounded by the handshake deadline"),
    k("netty.server.earlyDropSecureConnectionHandshakes", NoEffect, "TLS handshakes are bounded by the handshake deadline"),
    k("throttled_op_wait_time", NoEffect, "zkr has no request throttler"),
    k("learner.closeSocketAsync", NoEffect, "zkr's peer links never block"),
    k("leader.closeSocketAsync", NoEffect, "zkr's peer links never block"),
    k("learner.asyncSending", NoEffect, "zkr's peer links never block"),
    k("forward_learner_requests_to_commit_processor_disabled", NoEffect, "zkr has no commit processor"),
    k("serializeLastProcessedZxid.enabled", NoEffect, "zkr's snapshots always carry their zxid"),
    // Cluster options
    kr("electionAlg", Mapped, "zkr's fast leader election (3)", When::Unless(is_3, "3"),
       "only electionAlg=3 (fast leader election) exists since ZooKeeper 3.6"),
    k("maxTimeToWaitForEpoch", NoEffect, "zkr's epoch wait follows initLimit"),
    k("initLimit", Honoured, "ensemble.init_limit"),
    k("connectToLearnerMasterLimit", NoEffect, "zkr's learners connect within initLimit"),
    k("leaderServes", NoEffect, "a zkr leader always serves clients"),
    k("server.N", Honoured, "ensemble.servers (host:quorumPort:electionPort[:role][;client])"),
    k("syncLimit", Honoured, "ensemble.sync_limit"),
    kr("group.N", Refused, "", When::Any, "hierarchical quorums are not supported"),
    kr("weight.N", Refused, "", When::Any, "hierarchical quorums (weights) are not supported"),
    k("cnxTimeout", NoEffect, "zkr's peer connect timeout is 2 s"),
    k("quorumCnxnTimeoutMs", NoEffect, "zkr's peer handshake deadline is 10 s"),
    k("standaloneEnabled", Mapped, "a server with a server.N list runs as an ensemble member, even alone"),
    k("reconfigEnabled", Honoured, "features.reconfig_enabled"),
    k("4lw.commands.whitelist", Honoured, "node.four_letter_words"),
    k("tcpKeepAlive", Honoured, "ensemble.tcp_keepalive"),
    k("clientTcpKeepAlive", Honoured, "node.tcp_keepalive"),
    k("electionPortBindRetry", NoEffect, "zkr has no separate election port"),
    k("observer.reconnectDelayMs", NoEffect, "zkr's links reconnect with back-off"),
    k("observer.election.DelayMs", NoEffect, "zkr's links reconnect with back-off"),
    k("localSessionsEnabled", NoEffect, "sessions are always global (replicated)"),
    k("localSessionsUpgradingEnabled", NoEffect, "sessions are always global (replicated)"),
    // Authentication and authorization
    kr("DigestAuthenticationProvider.enabled", Honoured, "digest auth is on", When::False,
       "the digest scheme cannot be turned off in zkr"),
    k("DigestAuthenticationProvider.superDigest", Honoured, "auth.super_digest"),
    kr("DigestAuthenticationProvider.digestAlg", Honoured, "SHA1", When::Unless(is_sha1, "SHA1"),
       "only SHA1 digests are supported (ZooKeeper's default)"),
    kr("IPAuthenticationProvider.usexforwardedfor", Mapped, "the ip scheme uses the socket's address", When::True,
       "X-Forwarded-For is not supported"),
    k("X509AuthenticationProvider.superUser", Honoured, "tls.super_user"),
    k("superUser", Honoured, "sasl.super_users"),
    kr("ssl.authProvider", Honoured, "x509", When::Unless(is_x509, "x509"), "only the x509 provider is supported"),
    kr("ensembleAuthName", Refused, "", When::Any, "the ensemble auth provider is not supported"),
    kr("sessionRequireClientSASLAuth", Refused, "", When::True, "requiring SASL for every session is not supported"),
    kr("enforce.auth.enabled", Refused, "", When::True, "enforced authentication is not supported"),
    kr("enforce.auth.schemes", Refused, "", When::Any, "enforced authentication is not supported"),
    k("sslQuorum", Honoured, "ensemble.tls (mutual TLS on peer links)"),
    k("ssl.keyStore.location", Honoured, "tls.cert_file (and the key in it)"),
    k("ssl.keyStore.password", NoEffect, "zkr reads unencrypted PEM keys"),
    k("ssl.keyStore.passwordPath", NoEffect, "zkr reads unencrypted PEM keys"),
    k("ssl.keyStore.type", Honoured, KEYSTORE_TYPES),
    k("ssl.trustStore.location", Honoured, "tls.ca_file"),
    k("ssl.trustStore.password", NoEffect, "PEM trust stores have no password"),
    k("ssl.trustStore.passwordPath", NoEffect, "PEM trust stores have no password"),
    k("ssl.trustStore.type", Honoured, KEYSTORE_TYPES),
    k("ssl.quorum.keyStore.location", Honoured, "ensemble.tls.cert_file"),
    k("ssl.quorum.keyStore.password", NoEffect, "zkr reads unencrypted PEM keys"),
    k("ssl.quorum.keyStore.passwordPath", NoEffect, "zkr reads unencrypted PEM keys"),
    k("ssl.quorum.keyStore.type", Honoured, KEYSTORE_TYPES),
    k("ssl.quorum.trustStore.location", Honoured, "ensemble.tls.ca_file"),
    k("ssl.quorum.trustStore.password", NoEffect, "PEM trust stores have no password"),
    k("ssl.quorum.trustStore.passwordPath", NoEffect, "PEM trust stores have no password"),
    k("ssl.quorum.trustStore.type", Honoured, KEYSTORE_TYPES),
    kr("ssl.protocol", Mapped, "rustls negotiates TLSv1.3 or TLSv1.2", When::Unless(is_tls_protocol, "TLS, TLSv1.2, TLSv1.3"),
       "only TLS, TLSv1.2 and TLSv1.3 are supported"),
    kr("ssl.quorum.protocol", Mapped, "rustls negotiates TLSv1.3 or TLSv1.2", When::Unless(is_tls_protocol, "TLS, TLSv1.2, TLSv1.3"),
       "only TLS, TLSv1.2 and TLSv1.3 are supported"),
    kr("ssl.enabledProtocols", Mapped, "TLSv1.2 and TLSv1.3", When::Unless(has_tls12_and_13, "a list with TLSv1.2 and TLSv1.3"),
       "zkr enables TLSv1.2 and TLSv1.3; a narrower list is not supported"),
    kr("ssl.quorum.enabledProtocols", Mapped, "TLSv1.2 and TLSv1.3", When::Unless(has_tls12_and_13, "a list with TLSv1.2 and TLSv1.3"),
       "zkr enables TLSv1.2 and TLSv1.3; a narrower list is not supported"),
    kr("ssl.ciphersuites", Refused, "", When::Any, "zkr uses rustls' safe default cipher suites; remove the key"),
    kr("ssl.quorum.ciphersuites", Refused, "", When::Any, "zkr uses rustls' safe default cipher suites; remove the key"),
    kr("ssl.context.supplier.class", Refused, "", When::Any, "custom SSL contexts are not supported"),
    kr("ssl.quorum.context.supplier.class", Refused, "", When::Any, "custom SSL contexts are not supported"),
    kr("ssl.hostnameVerification", Mapped, "client certificates are checked against the CA, not the client's host name",
       When::True, "the secure client port does not check client host names; set ssl.hostnameVerification=false"),
    k("ssl.quorum.hostnameVerification", Honoured, "ensemble.tls.hostname_verification"),
    kr("ssl.crl", Refused, "", When::True, "certificate revocation lists are not supported"),
    kr("ssl.quorum.crl", Refused, "", When::True, "certificate revocation lists are not supported"),
    kr("ssl.ocsp", Refused, "", When::True, "OCSP is not supported"),
    kr("ssl.quorum.ocsp", Refused, "", When::True, "OCSP is not supported"),
    kr("ssl.clientAuth", Honoured, "tls.client_auth", When::Unless(is_client_auth, "need, want, none"), "must be need, want or none"),
    kr("ssl.quorum.clientAuth", Honoured, "need", When::Unless(is_need, "need"),
       "peer links always require a client certificate (need)"),
    k("ssl.handshakeDetectionTimeoutMillis", NoEffect, "TLS handshakes are bounded by the handshake deadline"),
    k("ssl.quorum.handshakeDetectionTimeoutMillis", NoEffect, "TLS handshakes are bounded by the handshake deadline"),
    k("ssl.sslProvider", NoEffect, "zkr's TLS is rustls"),
    k("sslQuorumReloadCertFiles", NoEffect, "certificates are read at start: restart to reload"),
    k("client.certReload", NoEffect, "certificates are read at start: restart to reload"),
    kr("client.portUnification", Refused, "", When::True,
       "plaintext and TLS on one port is not supported: use clientPort and secureClientPort"),
    kr("portUnification", Refused, "", When::True,
       "accepting unauthenticated peers beside TLS ones is not supported"),
    kr("authProvider.N", Mapped, "digest, ip, x509 and sasl are built in", When::Unless(is_known_auth_provider, "ZooKeeper's own providers"),
       "only ZooKeeper's own authentication providers are supported"),
    kr("kerberos.removeHostFromPrincipal", Refused, "", When::Any, "Kerberos is not supported"),
    kr("kerberos.removeRealmFromPrincipal", Refused, "", When::Any, "Kerberos is not supported"),
    kr("kerberos.canonicalizeHostNames", Refused, "", When::Any, "Kerberos is not supported"),
    kr("multiAddress.enabled", Refused, "", When::True, "several addresses per server are not supported"),
    k("multiAddress.reachabilityCheckTimeoutMs", NoEffect, "one address per server"),
    kr("fips-mode", Mapped, "rustls with ring", When::True,
       "zkr's TLS is not FIPS-validated; set fips-mode=false to run without FIPS mode"),
    // Experimental and unsafe options
    k("readonlymode.enabled", Honoured, "features.read_only_mode"),
    k("follower.skipLearnerRequestToNextProcessor", NoEffect, "zkr has no request processors"),
    k("forceSync", Honoured, "storage.force_sync"),
    k("jute.maxbuffer", Honoured, "node.jute_max_buffer_bytes"),
    k("jute.maxbuffer.extrasize", NoEffect, "zkr checks the frame length against jute.maxbuffer"),
    k("skipACL", Honoured, "auth.skip_acl"),
    k("quorumListenOnAllIPs", Honoured, "ensemble.listen_on_all_ips"),
    k("multiAddress.reachabilityCheckEnabled", NoEffect, "one address per server"),
    // Performance tuning
    k("nio.numSelectorThreads", NoEffect, "connections run on the event loop and node.client_threads threads"),
    k("nio.numWorkerThreads", NoEffect, "connections run on the event loop and node.client_threads threads"),
    k("commitProcessor.numWorkerThreads", NoEffect, "zkr has no commit processor"),
    k("commitProcessor.maxReadBatchSize", NoEffect, "zkr has no commit processor"),
    k("commitProcessor.maxCommitBatchSize", NoEffect, "zkr has no commit processor"),
    k("znode.container.checkIntervalMs", Honoured, "features.container_check_interval_ms"),
    k("znode.container.maxPerMinute", Honoured, "features.container_max_per_minute"),
    k("znode.container.maxNeverUsedIntervalMs", NoEffect, "zkr keeps never-used containers (ZooKeeper's default)"),
    k("messageTracker.BufferSize", NoEffect, "zkr logs peer traffic at debug level"),
    k("messageTracker.Enabled", NoEffect, "zkr logs peer traffic at debug level"),
    // AdminServer
    k("admin.rateLimiterIntervalInMS", NoEffect, "zkr's admin server has no rate limiter"),
    k("admin.snapshot.enabled", Issue15, "admin.snapshot_enabled"),
    k("admin.snapshot.intervalInMS", Issue15, "admin.snapshot_interval_ms"),
    k("admin.restore.enabled", NoEffect, "zkr's admin server has no restore command"),
    kr("admin.needClientAuth", Refused, "", When::True,
       "the admin server has no TLS client authentication; keep it on a private address"),
    kr("admin.forceHttps", Refused, "", When::True,
       "the admin server speaks plain HTTP; keep it on a private address"),
    kr("admin.portUnification", Refused, "", When::True,
       "the admin server speaks plain HTTP only"),
    k("admin.enableServer", Issue15, "admin.enabled"),
    k("admin.serverAddress", Issue15, "admin.address"),
    k("admin.serverPort", Issue15, "admin.port"),
    k("admin.idleTimeout", NoEffect, "zkr's admin server closes idle connections itself"),
    k("admin.commandURL", Issue15, "admin.command_url"),
    // Metrics
    kr("metricsProvider.className", Honoured, "Prometheus", When::Unless(is_prometheus, "PrometheusMetricsProvider"),
       "zkr exports Prometheus metrics only (PrometheusMetricsProvider)"),
    k("metricsProvider.httpHost", Honoured, "metrics.address"),
    k("metricsProvider.httpPort", Honoured, "metrics.port"),
    k("metricsProvider.exportJvmInfo", NoEffect, "there is no JVM"),
    k("metricsProvider.numWorkerThreads", NoEffect, "zkr's exporter has no worker pool"),
    k("metricsProvider.maxQueueSize", NoEffect, "zkr's exporter has no worker pool"),
    k("metricsProvider.workerShutdownTimeoutMs", NoEffect, "zkr's exporter has no worker pool"),
    // Keys QuorumPeerConfig reads that the guide documents elsewhere
    k("peerType", Honoured, "must agree with this server's server.N role"),
    k("dynamicConfigFile", Honoured, "read like zoo.cfg"),
    k("secureClientPortAddress", Honoured, "tls.secure_client_address"),
    kr("quorum.auth.enableSasl", Refused, "", When::True, NO_SASL_QUORUM),
    kr("quorum.auth.learnerRequireSasl", Refused, "", When::True, NO_SASL_QUORUM),
    kr("quorum.auth.serverRequireSasl", Refused, "", When::True, NO_SASL_QUORUM),
    kr("quorum.auth.learner.saslLoginContext", Refused, "", When::Any, NO_SASL_QUORUM),
    kr("quorum.auth.server.saslLoginContext", Refused, "", When::Any, NO_SASL_QUORUM),
    kr("quorum.auth.kerberos.servicePrincipal", Refused, "", When::Any, NO_SASL_QUORUM),
    k("quorum.cnxn.threads.size", NoEffect, "zkr's peer links need no thread pool"),
    k("jvm.pause.info-threshold.ms", NoEffect, "there is no JVM"),
    k("jvm.pause.warn-threshold.ms", NoEffect, "there is no JVM"),
    k("jvm.pause.sleep.time.ms", NoEffect, "there is no JVM"),
    k("jvm.pause.monitor", NoEffect, "there is no JVM"),
    kr("oraclePath", Refused, "", When::Any, "the quorum oracle (two-server ensembles) is not supported"),
    // zkr's own keys
    k("zkr.quorum.secretFile", Honoured, "ensemble.secret_file (zkr: a shared secret for peer links)"),
    k("myid", Honoured, "node.id (zkr: instead of dataDir/myid)"),
];

/// The table entry of `key` (a family member such as `server.3` finds `server.N`; a
/// `zookeeper.`-prefixed key finds its unprefixed entry).
pub fn lookup(key: &str) -> Option<&'static Key> {
    let key = key.strip_prefix("zookeeper.").unwrap_or(key);
    KEYS.iter().find(|k| match k.name.strip_suffix(".N") {
        Some(family) => key
            .strip_prefix(family)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|n| !n.is_empty()),
        None => k.name == key,
    })
}

/// The refusal message of `key = value`, if it is refused.
pub fn refusal(key: &str, value: &str) -> Option<String> {
    let Some(entry) = lookup(key) else {
        return Some(
            "not a ZooKeeper 3.9 setting zkr knows (ZooKeeper would pass it on as a Java system \
             property, which zkr cannot honour); remove it, and see docs/zoo-cfg.md"
                .to_string(),
        );
    };
    match entry.refused_if {
        Some(r) if r.when.refuses(value) => Some(match r.when {
            When::Any => r.message.to_string(),
            When::True | When::False => format!("{value:?}: {}", r.message),
            When::Unless(_, ok) => format!("{value:?}: {} (accepted: {ok})", r.message),
        }),
        _ => None,
    }
}

/// The markdown table of docs/zoo-cfg.md.
#[cfg(test)]
pub fn markdown() -> String {
    let mut s = String::from(
        "| zoo.cfg key | treatment | zkr equivalent, or why | refused values |\n| --- | --- | --- | --- |\n",
    );
    for k in KEYS {
        let refused = match k.refused_if {
            None => String::new(),
            Some(r) => format!("{}: {}", r.when.describe(), r.message),
        };
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.name,
            k.treatment.label(),
            k.note.replace('|', "\\|"),
            refused.replace('|', "\\|")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_listed_once() {
        let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a key is listed twice");
    }

    #[test]
    fn families_and_prefixed_names_are_found() {
        assert_eq!(lookup("server.12").map(|k| k.name), Some("server.N"));
        assert_eq!(lookup("server.").map(|k| k.name), None);
        assert_eq!(
            lookup("zookeeper.snapCount").map(|k| k.name),
            Some("snapCount")
        );
        assert!(lookup("sslQourum").is_none());
    }

    #[test]
    fn refused_keys_say_why() {
        for k in KEYS {
            if k.treatment == Treatment::Refused {
                let r = k.refused_if.expect("a refused key has a message");
                assert!(!r.message.is_empty(), "{}", k.name);
                assert!(r.when.refuses("true"), "{} is not refused", k.name);
            }
        }
    }
}
