//! Operator tools over a data directory: print log segments and snapshots in a readable form
//! (like ZooKeeper's LogFormatter and SnapshotFormatter), verify snapshot checksums, purge.

use std::path::Path;

use zkr_actors::txn::{Txn, TxnOp};
use zkr_actors::txnlog::purge;
use zkr_actors::txnlog::recovery::Layout;
use zkr_actors::txnlog::segment::{self, SegmentEnd};
use zkr_actors::txnlog::snapshot::{self, SnapRecord};

fn describe(op: &TxnOp) -> String {
    match op {
        TxnOp::CreateSession { timeout_ms, .. } => format!("createSession timeout={timeout_ms}"),
        TxnOp::CloseSession { ephemerals } => format!("closeSession ephemerals={ephemerals:?}"),
        TxnOp::Create {
            path,
            data,
            acl,
            ephemeral_owner,
            parent_cversion,
        } => format!(
            "create {path} data={} acl={} owner={ephemeral_owner:#x} parentCversion={parent_cversion}",
            show_data(data),
            acl.iter()
                .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, a.perms))
                .collect::<Vec<_>>()
                .join(",")
        ),
        TxnOp::Delete { path } => format!("delete {path}"),
        TxnOp::SetData {
            path,
            data,
            version,
        } => format!("setData {path} data={} version={version}", show_data(data)),
        TxnOp::SetAcl { path, aversion, .. } => format!("setACL {path} aversion={aversion}"),
        TxnOp::Check { path } => format!("check {path}"),
        TxnOp::Multi(ops) => format!(
            "multi [{}]",
            ops.iter()
                .map(|(_, o)| describe(o))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        TxnOp::MultiFailed(errs) => format!("multi failed {errs:?}"),
        TxnOp::Error(e) => format!("error {e}"),
        TxnOp::Reconfig { data, version } => format!(
            "reconfig version={version:#x} {}",
            String::from_utf8_lossy(data).replace('\n', " ")
        ),
    }
}

fn show_data(d: &Option<bytes::Bytes>) -> String {
    match d {
        None => "null".into(),
        Some(b) if b.len() <= 32 => format!("{:?}", String::from_utf8_lossy(b)),
        Some(b) => format!("<{} bytes>", b.len()),
    }
}

fn print_txn(t: &Txn) {
    println!(
        "zxid {:#x} time {} session {:#x} cxid {:#x} {}",
        t.zxid,
        t.time_ms,
        t.session_id,
        t.cxid,
        describe(&t.op)
    );
}

/// `zkr log dump <data dir | log dir | segment>`.
pub fn log_dump(path: &Path) -> Result<(), String> {
    let segments: Vec<std::path::PathBuf> = if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        let dir = if path.join("log").is_dir() {
            path.join("log")
        } else {
            path.to_path_buf()
        };
        segment::list(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    };
    if segments.is_empty() {
        return Err(format!("no log segments under {}", path.display()));
    }
    let mut total = 0u64;
    for seg in segments {
        let scan = segment::scan(&seg).map_err(|e| e.to_string())?;
        println!(
            "segment {} (first zxid {:#x})",
            seg.display(),
            scan.first_zxid
        );
        for (t, _) in &scan.txns {
            print_txn(t);
        }
        total += scan.txns.len() as u64;
        match scan.end {
            SegmentEnd::Clean(end) => println!("end of records at offset {end}"),
            SegmentEnd::Damaged {
                offset,
                reason,
                bytes_after,
                zxids_after,
            } => println!(
                "DAMAGED at offset {offset}: {reason}; {bytes_after} bytes follow; intact txns after it: {}",
                zxids_after.iter().map(|z| format!("{z:#x}")).collect::<Vec<_>>().join(",")
            ),
        }
    }
    println!("{total} txns");
    Ok(())
}

/// `zkr snapshot dump <file>`.
pub fn snapshot_dump(path: &Path) -> Result<(), String> {
    let (zxid, nodes, sessions) = snapshot::read_records(path, |rec| match rec {
        SnapRecord::Sessions(s) => {
            for (id, t, _) in s {
                println!("session {id:#x} timeout {t}");
            }
        }
        SnapRecord::Acls(a) => {
            for (id, list) in a {
                println!(
                    "acl #{id} = {}",
                    list.iter()
                        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, a.perms))
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
        }
        SnapRecord::Nodes(ns) => {
            for n in ns {
                println!(
                    "{} czxid={:#x} mzxid={:#x} pzxid={:#x} ctime={} mtime={} version={} cversion={} aversion={} owner={:#x} acl=#{} data={}",
                    n.path, n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime, n.version, n.cversion,
                    n.aversion, n.ephemeral_owner, n.acl, show_data(&n.data)
                );
            }
        }
        SnapRecord::End { .. } => {}
    })
    .map_err(|e| e.to_string())?;
    println!("snapshot zxid {zxid:#x}: {nodes} nodes, {sessions} sessions");
    Ok(())
}

/// `zkr snapshot verify <file>...`: checks every record's CRC and the end record.
pub fn snapshot_verify(paths: &[std::path::PathBuf]) -> Result<(), String> {
    let mut bad = 0;
    for p in paths {
        match snapshot::load(p) {
            Ok(t) => println!(
                "OK {} zxid {:#x} nodes {} sessions {}",
                p.display(),
                t.last_zxid(),
                t.node_count() - 1,
                t.sessions().len()
            ),
            Err(e) => {
                bad += 1;
                println!("BAD {e}");
            }
        }
    }
    if bad > 0 {
        Err(format!(
            "{bad} of {} snapshots failed verification",
            paths.len()
        ))
    } else {
        Ok(())
    }
}

/// `zkr purge <data dir> --keep N`.
pub fn purge(data_dir: &Path, data_log_dir: Option<&Path>, keep: usize) -> Result<(), String> {
    let p = purge::purge(&Layout::with_log_dir(data_dir, data_log_dir), keep)
        .map_err(|e| e.to_string())?;
    for s in &p.snapshots {
        println!("removed {s}");
    }
    for s in &p.segments {
        println!("removed {s}");
    }
    Ok(())
}
