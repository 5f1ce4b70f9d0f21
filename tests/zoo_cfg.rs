//! `zkr node --zoo-cfg`: every refused key stops the node with a message naming it (fed from
//! docs/zoo-cfg.md, the table of every zoo.cfg key), `secureClientPort` with PEM key and trust
//! stores serves TLS, and `dataLogDir` puts the txn log in its own directory.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::pki::Ca;
use common::raw::{connect_frame, create, exists};
use common::{free_port, kill_and_reap, read_frame, wait_serving, TempDir};
use zkr_actors::proto::records::ConnectResponse;
use zkr_actors::proto::Jute;

/// A zkr node started from a zoo.cfg.
struct ZooCfgNode {
    child: Option<Child>,
    cfg: PathBuf,
    port: u16,
    log: PathBuf,
}

impl ZooCfgNode {
    fn start(dir: &Path, body: &str) -> ZooCfgNode {
        let port = free_port();
        let cfg = dir.join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=2000\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 metricsProvider.httpPort=0\n4lw.commands.whitelist=*\n{body}"
            ),
        )
        .unwrap();
        let log = dir.join("node.log");
        let mut n = ZooCfgNode {
            child: None,
            cfg,
            port,
            log,
        };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        self.child = Some(
            Command::new(env!("CARGO_BIN_EXE_zkr"))
                .args(["node", "--zoo-cfg"])
                .arg(&self.cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        wait_serving(self.port, Duration::from_secs(30));
    }

    fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            common::terminate(c);
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ZooCfgNode {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            kill_and_reap(c);
        }
    }
}

/// Runs `zkr node --zoo-cfg` on `text`, expecting it to refuse to start; returns its output.
fn refused(dir: &Path, text: &str) -> String {
    let cfg = dir.join("refused.cfg");
    std::fs::write(&cfg, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkr"))
        .args(["node", "--zoo-cfg"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            kill_and_reap(child);
            panic!("the node started with:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(!status.success(), "exit status {status} for:\n{text}");
    out
}

/// The rows of docs/zoo-cfg.md whose last column names refused values: (key, a refused value).
fn refused_rows() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(common::repo_path("docs/zoo-cfg.md")).unwrap();
    let mut rows = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let key = cells[0].trim_start_matches("| `").trim_end_matches('`');
        let refused = cells.last().unwrap().trim_end_matches(" |").trim();
        let value = if refused.is_empty() {
            continue;
        } else if refused.starts_with("any value") || refused.starts_with("true") {
            "true"
        } else if refused.starts_with("false") {
            "false"
        } else {
            "not-an-accepted-value"
        };
        rows.push((key.replace(".N", ".1"), value.to_string()));
    }
    rows
}

#[test]
fn every_refused_zoo_cfg_key_stops_the_node_with_a_message_naming_it() {
    let dir = TempDir::new("refused-keys");
    let rows = refused_rows();
    assert!(
        rows.len() >= 50,
        "{} refused keys in docs/zoo-cfg.md",
        rows.len()
    );
    for (key, value) in rows {
        let text = format!(
            "tickTime=2000\ndataDir={}\nclientPort=0\n{key}={value}\n",
            dir.path().display()
        );
        let out = refused(dir.path(), &text);
        assert!(
            out.contains(&format!("key `{key}` is refused")),
            "{key}={value}: {out}"
        );
    }
    // An unknown key (a typo of sslQuorum) too.
    let out = refused(
        dir.path(),
        &format!(
            "dataDir={}\nclientPort=0\nsslQourum=true\n",
            dir.path().display()
        ),
    );
    assert!(out.contains("key `sslQourum` is refused"), "{out}");
}

#[test]
fn a_jks_key_store_is_refused_with_the_commands_that_convert_it() {
    let dir = TempDir::new("jks");
    let out = refused(
        dir.path(),
        &format!(
            "dataDir={}\nclientPort=0\nsecureClientPort=0\nssl.keyStore.location=keystore.jks\n\
             ssl.keyStore.password=apassword\nssl.trustStore.location=truststore.jks\n",
            dir.path().display()
        ),
    );
    assert!(
        out.contains("key `ssl.keyStore.location` is refused")
            && out.contains("keytool -importkeystore")
            && out.contains("openssl pkcs12"),
        "{out}"
    );
}

#[test]
fn secure_client_port_from_zoo_cfg_serves_tls_with_pem_key_and_trust_stores() {
    let dir = TempDir::new("zoo-tls");
    let ca = Ca::new(dir.path(), "ca");
    let server = ca.issue(dir.path(), "server", &["127.0.0.1", "localhost"]);
    let client = ca.issue(dir.path(), "client", &["client"]);
    let secure_port = free_port();
    let data = dir.path().join("data");
    let node = ZooCfgNode::start(
        dir.path(),
        &format!(
            "dataDir={}\nsecureClientPort={secure_port}\nsecureClientPortAddress=127.0.0.1\n\
             ssl.keyStore.location={}\nssl.keyStore.type=PEM\n\
             ssl.trustStore.location={}\nssl.trustStore.type=PEM\nssl.clientAuth=need\n",
            data.display(),
            server.combined_file.display(),
            ca.cert_file.display()
        ),
    );
    // A TLS client with a certificate from the CA opens a session on the secure port.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(&ca.cert_file).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from_pem_file(&client.cert_file).unwrap()],
            PrivateKeyDer::from_pem_file(&client.key_file).unwrap(),
        )
        .unwrap();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", secure_port))
            .await
            .unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
            .expect("TLS handshake with the secure client port");
        tls.write_all(&connect_frame()).await.unwrap();
        let mut len = [0u8; 4];
        tls.read_exact(&mut len).await.unwrap();
        let mut payload = vec![0u8; i32::from_be_bytes(len) as usize];
        tls.read_exact(&mut payload).await.unwrap();
        ConnectResponse::from_bytes(Bytes::from(payload)).unwrap()
    });
    assert!(
        answer.session_id != 0 && answer.time_out == 10_000,
        "{answer:?}"
    );
    // A plain client on the secure port gets no session.
    let mut plain = TcpStream::connect(("127.0.0.1", secure_port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = plain.write_all(&connect_frame());
    assert!(read_frame(&mut plain, 1 << 20).is_err());
    assert!(
        node.log().contains("TLS client port serving"),
        "{}",
        node.log()
    );
}

fn segments(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).count())
        .unwrap_or(0)
}

#[test]
fn data_log_dir_puts_the_txn_log_in_its_own_directory() {
    let dir = TempDir::new("data-log-dir");
    let (data, logs) = (dir.path().join("data"), dir.path().join("fastdisk"));
    let mut node = ZooCfgNode::start(
        dir.path(),
        &format!(
            "dataDir={}\ndataLogDir={}\npreAllocSize=64\n",
            data.display(),
            logs.display()
        ),
    );
    create(node.port, "/on-its-own-disk");
    assert!(
        segments(&logs.join("log")) > 0,
        "no log segment under dataLogDir"
    );
    assert_eq!(
        segments(&data.join("log")),
        0,
        "a log segment under dataDir"
    );
    node.stop();
    node.spawn();
    assert!(
        exists(node.port, "/on-its-own-disk"),
        "lost after a restart"
    );
    node.stop();
    // The log left under dataDir by a node started without dataLogDir is not silently skipped.
    let moved = data.join("log");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::rename(logs.join("log"), &moved).unwrap();
    let text = std::fs::read_to_string(&node.cfg).unwrap();
    let out = refused(dir.path(), &text);
    assert!(out.contains("holds a txn log"), "{out}");
}
