//! `zkr import --from-zookeeper <dataDir> [--zookeeper-log-dir <dataLogDir>] --data-dir <dir>`:
//! reads an Apache ZooKeeper server's snapshots and logs (3.4 to 3.9) and writes a zkr data
//! directory with the same state (see `zkr_actors::zkfiles` for the formats and the rules).
//!
//! Everything is read and checked before anything is written: damaged input is an error naming
//! the file and offset, and leaves the target untouched. The result is one zkr snapshot (through
//! zkr's own snapshot writer) and the epochs file; the snapshot is read back and compared before
//! the command reports success.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use zkr_actors::tree::{DataTree, NodeKind};
use zkr_actors::txnlog::epochs::{self, Epochs};
use zkr_actors::txnlog::recovery::Layout;
use zkr_actors::txnlog::{segment, snapshot as zkr_snapshot};
use zkr_actors::zkfiles::compression::{decompress, Compression, Decompressed};
use zkr_actors::zkfiles::fuzzy_acls::UnresolvedAcls;
use zkr_actors::zkfiles::replay::{Finished, Replay};
use zkr_actors::zkfiles::snapshot::{self as zk_snapshot, ZxidDigest};
use zkr_actors::zkfiles::txnlog::{self as zk_log, LogEnd};
use zkr_actors::zkfiles::{convert, layout};

/// What `zkr import` was asked to do.
pub struct ImportOptions {
    /// ZooKeeper's dataDir (or its version-2 directory).
    pub from: PathBuf,
    /// ZooKeeper's dataLogDir, when it has one.
    pub log_dir: Option<PathBuf>,
    /// The zkr data directory to write.
    pub data_dir: PathBuf,
    /// Read and check only.
    pub dry_run: bool,
    /// Write even when a ZooKeeper digest does not match the rebuilt tree.
    pub accept_digest_mismatch: bool,
}

fn hex(z: i64) -> String {
    format!("{z:#x}")
}

fn name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Does `data_dir` already hold zkr data (a snapshot or a log segment)?
pub fn holds_zkr_data(data_dir: &Path) -> Result<bool, String> {
    let l = Layout::new(data_dir);
    let snaps =
        zkr_snapshot::list(&l.snap_dir).map_err(|e| format!("{}: {e}", l.snap_dir.display()))?;
    let segs = segment::list(&l.log_dir).map_err(|e| format!("{}: {e}", l.log_dir.display()))?;
    Ok(!snaps.is_empty() || !segs.is_empty())
}

fn read(path: &Path) -> Result<Bytes, String> {
    std::fs::read(path)
        .map(Bytes::from)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A snapshot read and converted.
struct LoadedSnapshot {
    file: PathBuf,
    tree: DataTree,
    digest: Option<ZxidDigest>,
    unresolved_acls: UnresolvedAcls,
}

/// The newest usable snapshot: its zxid, tree, digest. Incomplete ones are skipped (as
/// ZooKeeper skips them); a complete one that is damaged is an error.
fn load_snapshot(snap_dir: &Path) -> Result<Option<LoadedSnapshot>, String> {
    let snaps =
        layout::list(snap_dir, "snapshot").map_err(|e| format!("{}: {e}", snap_dir.display()))?;
    for (zxid, path) in snaps.into_iter().rev() {
        let Some(how) = Compression::of(&name(&path)) else {
            println!("  ignored {}: not a name ZooKeeper writes", name(&path));
            continue;
        };
        let buf = match decompress(how, &read(&path)?) {
            Ok(Decompressed::Whole(b)) => Bytes::from(b),
            Ok(Decompressed::Incomplete) => Bytes::new(),
            Err(e) => {
                return Err(format!(
                    "{}: damaged compressed snapshot {e}. ZooKeeper would fall back to the \
                     previous snapshot: move this one aside to import that way",
                    path.display()
                ))
            }
        };
        if !zk_snapshot::looks_complete(&buf) {
            println!(
                "  skipped {}: incomplete (its write never finished; ZooKeeper skips it too)",
                name(&path)
            );
            continue;
        }
        let snap = zk_snapshot::decode(buf).map_err(|e| {
            format!(
                "{}: damaged snapshot {e}. ZooKeeper would fall back to the previous snapshot: \
                 move this one aside to import that way",
                path.display()
            )
        })?;
        let (sessions, acls, digest) = (snap.sessions.len(), snap.acls.len(), snap.digest);
        let from = convert::tree_from_snapshot(snap, zxid);
        println!(
            "  {} (zxid {}): {} nodes, {sessions} sessions, {acls} ACL lists{}",
            name(&path),
            hex(zxid),
            from.nodes,
            digest.map_or(String::new(), |d| format!(", digest at {}", hex(d.zxid)))
        );
        if !from.unresolved_acls.is_empty() {
            println!(
                "  {} node(s) name an ACL the snapshot's table lacks (the snapshot is fuzzy: its \
                 table is written before its nodes); the txns after it set their ACLs",
                from.unresolved_acls.len()
            );
        }
        return Ok(Some(LoadedSnapshot {
            file: path.clone(),
            tree: from.tree,
            digest,
            unresolved_acls: from.unresolved_acls,
        }));
    }
    Ok(None)
}

fn replay_logs(log_dir: &Path, replay: &mut Replay, start: i64) -> Result<(), String> {
    let logs = layout::list(log_dir, "log").map_err(|e| format!("{}: {e}", log_dir.display()))?;
    // The last log starting at or before the snapshot's next txn, and every later one.
    let first = logs.iter().rposition(|(z, _)| *z <= start + 1).unwrap_or(0);
    let logs = &logs[first.min(logs.len())..];
    if logs.is_empty() {
        println!("  no logs after the snapshot");
    }
    for (i, (_, path)) in logs.iter().enumerate() {
        let file = zk_log::decode(read(path)?)
            .map_err(|e| format!("{}: damaged log {e}", path.display()))?;
        let r = replay
            .feed(&file.entries)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut line = format!("  {}: {} txns", name(path), file.entries.len());
        if r.skipped > 0 {
            line += &format!(", {} already in the snapshot", r.skipped);
        }
        if let Some((a, b)) = r.range {
            line += &format!(", {} replayed ({}..={})", r.applied, hex(a), hex(b));
        }
        if let LogEnd::Torn {
            offset,
            bytes,
            reason,
        } = &file.end
        {
            let last = i + 1 == logs.len();
            line += &format!(
                "; torn tail at offset {offset} ({bytes} bytes, {reason}): {}",
                if last {
                    "a write that never completed, so never acknowledged; dropped, as ZooKeeper drops it"
                } else {
                    "ZooKeeper goes on with the next log; so does the import if no txn is missing"
                }
            );
        }
        println!("{line}");
    }
    Ok(())
}

fn describe(tree: &DataTree) -> String {
    let (mut eph, mut cont, mut ttl) = (0, 0, 0);
    for (_, n) in tree.paths() {
        match n.kind() {
            NodeKind::Ephemeral(_) => eph += 1,
            NodeKind::Container => cont += 1,
            NodeKind::Ttl(_) => ttl += 1,
            NodeKind::Persistent => {}
        }
    }
    let quotas = tree
        .get("/zookeeper/quota")
        .map_or(0, |_| tree.descendant_count("/zookeeper/quota"));
    format!(
        "{} nodes ({eph} ephemeral, {cont} container, {ttl} TTL; {quotas} under /zookeeper/quota), {} sessions",
        tree.node_count() - 1,
        tree.sessions().len()
    )
}

/// Runs the import.
pub fn run(o: &ImportOptions) -> Result<(), String> {
    let snap_dir = layout::version_dir(&o.from);
    let log_dir = layout::version_dir(o.log_dir.as_deref().unwrap_or(&o.from));
    if !snap_dir.is_dir() {
        return Err(format!("{}: no such directory", snap_dir.display()));
    }
    if !o.dry_run && holds_zkr_data(&o.data_dir)? {
        return Err(format!(
            "{} already holds zkr data (snap/ or log/): import into an empty directory, or into \
             ZooKeeper's own dataDir before zkr ever ran there",
            o.data_dir.display()
        ));
    }
    println!(
        "zkr import: ZooKeeper snapshots in {}, logs in {}",
        snap_dir.display(),
        log_dir.display()
    );
    let (tree, digest, unresolved, snapshot_file) = match load_snapshot(&snap_dir)? {
        Some(s) => (s.tree, s.digest, s.unresolved_acls, Some(s.file)),
        None => {
            let logs =
                layout::list(&log_dir, "log").map_err(|e| format!("{}: {e}", log_dir.display()))?;
            match logs.first() {
                None => {
                    return Err(format!(
                        "no ZooKeeper snapshot or log under {} and {}",
                        snap_dir.display(),
                        log_dir.display()
                    ))
                }
                Some((z, p)) if *z > 1 => {
                    return Err(format!(
                        "no usable snapshot, and the oldest log ({}) starts at {}: the txns before it are gone",
                        p.display(),
                        hex(*z)
                    ))
                }
                Some(_) => {
                    println!("  no snapshot: starting from an empty tree");
                    (DataTree::new(), None, UnresolvedAcls::default(), None)
                }
            }
        }
    };
    let start = tree.last_zxid();
    let mut replay = Replay::new(tree, digest).with_unresolved_acls(unresolved);
    replay_logs(&log_dir, &mut replay, start)?;
    let last_txn = replay.tree().last_zxid();
    let accepted =
        layout::read_epoch(&snap_dir, layout::ACCEPTED_EPOCH).map_err(|e| e.to_string())?;
    let current =
        layout::read_epoch(&snap_dir, layout::CURRENT_EPOCH).map_err(|e| e.to_string())?;
    let zxid_epoch = (last_txn as u64) >> 32;
    let current_epoch = current.unwrap_or(zxid_epoch).max(zxid_epoch);
    let accepted_epoch = accepted.unwrap_or(current_epoch).max(current_epoch);
    let Finished {
        tree,
        checks,
        dead_ephemerals,
        config_dropped,
        snapshot_digest_not_compared,
        unresolved_acls,
    } = replay.finish((current_epoch << 32) as i64);
    if let Some((path, key)) = unresolved_acls.first() {
        return Err(format!(
            "{}: damaged snapshot: node {path:?} names ACL {key} that its table lacks, and no txn \
             after the snapshot sets that node's ACL ({} such node(s)); nothing written",
            snapshot_file
                .as_deref()
                .map_or("?".into(), |f| f.display().to_string()),
            unresolved_acls.len()
        ));
    }
    if let Some(z) = snapshot_digest_not_compared {
        println!(
            "  the snapshot's digest at {}: not compared (the snapshot is fuzzy and txns after \
             it were replayed; the last txn's digest is what vouches for the rebuilt tree)",
            hex(z)
        );
    }
    let mut mismatch = false;
    for c in &checks {
        if c.matches() {
            println!("  {} at {}: matches the rebuilt tree", c.what, hex(c.zxid));
        } else {
            mismatch = true;
            println!(
                "  MISMATCH: {} at {} is {}, the rebuilt tree gives {}",
                c.what,
                hex(c.zxid),
                hex(c.recorded),
                hex(c.computed)
            );
        }
    }
    println!(
        "  epochs: acceptedEpoch {accepted_epoch}, currentEpoch {current_epoch} ({})",
        if accepted.is_some() || current.is_some() {
            "from ZooKeeper's acceptedEpoch/currentEpoch files"
        } else {
            "from the last zxid: a standalone server keeps no epoch files"
        }
    );
    if !dead_ephemerals.is_empty() {
        println!(
            "  deleted {} ephemeral node(s) whose session is gone, as ZooKeeper does at start-up: {}",
            dead_ephemerals.len(),
            dead_ephemerals.join(", ")
        );
    }
    if let Some(cfg) = &config_dropped {
        println!(
            "  not imported: ZooKeeper's ensemble configuration in /zookeeper/config ({} bytes); a zkr ensemble writes its own there",
            cfg.len()
        );
    }
    let zxid = tree.last_zxid();
    println!(
        "result: {}, last txn {}, continuing from zxid {}",
        describe(&tree),
        hex(last_txn),
        hex(zxid)
    );
    if mismatch && !o.accept_digest_mismatch {
        return Err(
            "a digest ZooKeeper recorded does not match the rebuilt tree: nothing written \
             (--accept-digest-mismatch writes anyway)"
                .into(),
        );
    }
    if o.dry_run {
        println!("dry run: nothing written");
        return Ok(());
    }
    let l = Layout::new(&o.data_dir);
    std::fs::create_dir_all(&o.data_dir).map_err(|e| format!("{}: {e}", o.data_dir.display()))?;
    epochs::save(
        &o.data_dir,
        Epochs {
            accepted: accepted_epoch,
            current: current_epoch,
        },
    )
    .map_err(|e| format!("{}: {e}", o.data_dir.display()))?;
    let bytes = zkr_snapshot::encode_tree(&tree);
    let path = zkr_snapshot::save_bytes(&l.snap_dir, zxid, &bytes)
        .map_err(|e| format!("{}: {e}", l.snap_dir.display()))?;
    // Read it back as the node will.
    let back = zkr_snapshot::load(&path).map_err(|e| e.to_string())?;
    if convert::tree_digest(&back) != convert::tree_digest(&tree)
        || back.sessions() != tree.sessions()
        || back.node_count() != tree.node_count()
    {
        return Err(format!(
            "{}: the written snapshot does not read back as the imported tree",
            path.display()
        ));
    }
    println!(
        "wrote {} ({} bytes, read back and checked) and {} (acceptedEpoch {accepted_epoch}, currentEpoch {current_epoch})",
        path.display(),
        bytes.len(),
        o.data_dir.join("epochs").display()
    );
    Ok(())
}
