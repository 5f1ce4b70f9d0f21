//! A node pointed at Apache ZooKeeper's data refuses to start and names the import command; the
//! import of a ZooKeeper data directory (here written with zkr's encoder of ZooKeeper's formats,
//! a snapshot plus a log after it) gives a node that serves the same nodes, stats, ACLs and
//! sessions. tests/migration does the same with files Apache ZooKeeper itself wrote.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::{TempDir, ZkrNode};
use zkr_actors::proto::codes::opcode;
use zkr_actors::proto::records::{ConnectRequest, ConnectResponse};
use zkr_actors::proto::Acl;
use zkr_actors::proto::Jute;
use zkr_actors::tree::DataTree;
use zkr_actors::zkfiles::records::{TxnDigest, TxnHeader, DIGEST_VERSION};
use zkr_actors::zkfiles::txnlog::{self, ZkTxn};
use zkr_actors::zkfiles::{convert, snapshot};
use zookeeper_client as zk;

/// Writes `dir/version-2/` as a ZooKeeper 3.8 server would leave it: a snapshot at zxid 0x3
/// (with a session and its ephemeral) and a log holding 0x1..=0x5; returns the tree as
/// ZooKeeper has it after 0x5.
fn write_zookeeper_dir(dir: &Path) -> DataTree {
    let v2 = dir.join("version-2");
    std::fs::create_dir_all(&v2).unwrap();
    let session = 0x1000_0000_abcd_0001_i64;
    let mut tree = DataTree::new();
    let mut log = Vec::new();
    txnlog::encode_header(&mut log);
    let txns = [
        (
            opcode::CREATE_SESSION,
            ZkTxn::CreateSession { timeout_ms: 30000 },
        ),
        (
            opcode::CREATE,
            ZkTxn::Create {
                path: "/app".into(),
                data: Some(Bytes::from_static(b"hello")),
                acl: vec![Acl::new(31, "digest", "u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=")],
                ephemeral: false,
                parent_cversion: 2,
            },
        ),
        (
            opcode::CREATE,
            ZkTxn::Create {
                path: "/app/lock".into(),
                data: None,
                acl: Acl::open_unsafe(),
                ephemeral: true,
                parent_cversion: 1,
            },
        ),
        (
            opcode::SET_DATA,
            ZkTxn::SetData {
                path: "/app".into(),
                data: Some(Bytes::from_static(b"world")),
                version: 1,
            },
        ),
        (
            opcode::SET_ACL,
            ZkTxn::SetAcl {
                path: "/app/lock".into(),
                acl: Acl::read_unsafe(),
                version: 1,
            },
        ),
    ];
    for (i, (typ, t)) in txns.iter().enumerate() {
        let header = TxnHeader {
            client_id: session,
            cxid: i as i32,
            zxid: i as i64 + 1,
            time: 1_700_000_000_000 + i as i64,
            typ: *typ,
        };
        let txn = convert::txn_from_zookeeper(&header, t, &tree).unwrap();
        tree.apply(&txn);
        let digest = TxnDigest {
            version: DIGEST_VERSION,
            tree_digest: convert::tree_digest(&tree),
        };
        txnlog::encode_entry(&txnlog::encode_txn(&header, t, Some(&digest)), &mut log);
        if header.zxid == 3 {
            let snap = snapshot::encode(&convert::snapshot_from_tree(&tree));
            std::fs::write(v2.join("snapshot.3"), snap).unwrap();
        }
    }
    log.extend_from_slice(&[0u8; 4096]);
    std::fs::write(v2.join("log.1"), log).unwrap();
    tree
}

fn zkr(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zkr"))
        .args(args)
        .output()
        .expect("run zkr");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Starts `zkr node <args>` and returns its output once it has exited with a failure (it must
/// not start).
fn refused_start(args: &[&str], out_dir: &Path) -> String {
    let log = out_dir.join("node.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkr"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(out_dir.join("node.err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            common::kill_and_reap(child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = std::fs::read_to_string(&log).unwrap_or_default()
        + &std::fs::read_to_string(out_dir.join("node.err")).unwrap_or_default();
    assert!(
        status.is_some_and(|s| !s.success()),
        "the node started on ZooKeeper's data:\n{out}"
    );
    out
}

#[test]
fn a_node_refuses_a_zookeeper_data_dir_and_names_the_import_command() {
    let tmp = TempDir::new("zkdata");
    let dir = tmp.path().join("zk");
    write_zookeeper_dir(&dir);
    let cfg = tmp.path().join("zkr.toml");
    std::fs::write(
        &cfg,
        format!(
            "[node]\nid = 0\ndata_dir = {:?}\nclient_port = {}\nclient_address = \"127.0.0.1\"\n\
             [metrics]\nport = 0\n",
            dir.display().to_string(),
            common::free_port()
        ),
    )
    .unwrap();
    let out = refused_start(&["node", "--config", cfg.to_str().unwrap()], tmp.path());
    let want = format!(
        "zkr import --from-zookeeper {} --data-dir {}",
        dir.display(),
        dir.display()
    );
    assert!(out.contains(&want), "no import command in:\n{out}");
    // Nothing was written there.
    assert!(!dir.join("snap").exists() && !dir.join("log").exists());
}

/// ZooKeeper with a `dataLogDir` keeps its snapshots under dataDir and its logs under
/// dataLogDir: a node started from that zoo.cfg refuses, and the import command it gives reads
/// the logs from dataLogDir (without them the import would lose every txn after the snapshot).
#[test]
fn a_zoo_cfg_with_data_log_dir_on_zookeeper_data_gets_an_import_command_naming_it() {
    let tmp = TempDir::new("zkdatalog");
    let data = tmp.path().join("data");
    let logs = tmp.path().join("logs");
    write_zookeeper_dir(&data);
    std::fs::create_dir_all(logs.join("version-2")).unwrap();
    std::fs::rename(data.join("version-2/log.1"), logs.join("version-2/log.1")).unwrap();
    let cfg = tmp.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            // No fixed ports: zoo.cfg's defaults would bind the exporter on 7000 and the
            // admin server on 8080, which parallel tests share.
            "tickTime=2000\ndataDir={}\ndataLogDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
             metricsProvider.httpPort=0\nadmin.enableServer=false\n",
            data.display(),
            logs.display(),
            common::free_port()
        ),
    )
    .unwrap();
    let out = refused_start(&["node", "--zoo-cfg", cfg.to_str().unwrap()], tmp.path());
    let want = format!(
        "zkr import --from-zookeeper {} --zookeeper-log-dir {} --data-dir {}",
        data.display(),
        logs.display(),
        data.display()
    );
    assert!(
        out.contains(&want),
        "no import command naming dataLogDir in:\n{out}"
    );
    // Nothing was written in either directory.
    for d in [&data, &logs] {
        assert!(
            !d.join("snap").exists() && !d.join("log").exists(),
            "{}",
            d.display()
        );
    }
    // The command it names works and brings the logged txns too.
    let (ok, report) = zkr(&[
        "import",
        "--from-zookeeper",
        data.to_str().unwrap(),
        "--zookeeper-log-dir",
        logs.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(ok, "{report}");
    assert!(report.contains("last txn 0x5"), "{report}");
}

/// Resumes `session` with `password` on a raw connection; the negotiated timeout (0: refused).
fn resume(addr: &str, session: i64, password: &[u8], last_zxid: i64) -> i32 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: last_zxid,
        time_out: 30_000,
        session_id: session,
        passwd: Bytes::copy_from_slice(password),
        read_only: None,
    }
    .to_bytes();
    s.write_all(&(req.len() as i32).to_be_bytes()).unwrap();
    s.write_all(&req).unwrap();
    let frame = common::read_frame(&mut s, 1 << 20).unwrap();
    let rsp = ConnectResponse::from_bytes(Bytes::from(frame)).unwrap();
    if rsp.time_out > 0 {
        assert_eq!(rsp.session_id, session);
    }
    rsp.time_out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_zookeeper_dir_serves_the_same_tree_and_sessions() {
    let tmp = TempDir::new("zkimport");
    let zkdir = tmp.path().join("zk");
    let want = write_zookeeper_dir(&zkdir);
    // A torn last entry (a write never acknowledged) is dropped, as ZooKeeper drops it.
    let log = zkdir.join("version-2/log.1");
    let mut bytes = std::fs::read(&log).unwrap();
    // Cut 0x5's entry short: the zeros after it and its last 3 bytes go.
    bytes.truncate(bytes.len() - 4096 - 3);
    std::fs::write(&log, bytes).unwrap();
    let data = tmp.path().join("zkr");
    let (ok, report) = zkr(&[
        "import",
        "--from-zookeeper",
        zkdir.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(ok, "{report}");
    assert!(report.contains("torn tail at offset"), "{report}");
    assert!(report.contains("matches the rebuilt tree"), "{report}");
    // Importing again over zkr data is refused and changes nothing.
    let (again, msg) = zkr(&[
        "import",
        "--from-zookeeper",
        zkdir.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!again && msg.contains("already holds zkr data"), "{msg}");

    let node = ZkrNode::start_with_data_dir(&data, "");
    let session = *want.sessions().keys().next().unwrap();
    // The ZooKeeper client's session resumes on zkr with the password ZooKeeper gave it, and a
    // client that saw the last zxid is not refused as ahead of the server.
    let password = convert::zookeeper_password(session);
    assert!(resume(&node.addr(), session, &password, 4) > 0);
    assert_eq!(resume(&node.addr(), session, &[0u8; 16], 4), 0);
    let client = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(&node.addr())
        .await
        .expect("connect");
    client.auth("digest", b"u:p").await.unwrap();
    for path in ["/", "/app"] {
        let (data, stat) = client.get_data(path).await.unwrap();
        let n = want.get(path).unwrap();
        assert_eq!(
            Some(Bytes::from(data)),
            Some(Bytes::copy_from_slice(n.data().unwrap_or_default()))
        );
        let s = n.stat();
        assert_eq!(
            (stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime),
            (s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime)
        );
        assert_eq!(
            (stat.version, stat.cversion, stat.aversion),
            (s.version, s.cversion, s.aversion)
        );
        assert_eq!(stat.ephemeral_owner, s.ephemeral_owner);
        let (acl, _) = client.get_acl(path).await.unwrap();
        assert_eq!(acl.len(), n.acl().len());
    }
    // The torn txn 0x5 was dropped: /app/lock keeps its first ACL.
    assert_eq!(client.get_acl("/app/lock").await.unwrap().1.aversion, 0);
}
