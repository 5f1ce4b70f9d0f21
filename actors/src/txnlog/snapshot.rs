//! Snapshots: `snapshot.<zxid, 16 hex>` files holding the whole tree and session table, and
//! the same records a leader streams to a learner (SNAP, [`super::stream`]).
//!
//! Written in the background while writes go on ("fuzzy", as ZooKeeper's; [`TreeScan`], the
//! one scanner of both): the zxid `S` in the
//! name is the last applied txn when the snapshot began. The tree is never copied: its node ids
//! are scanned in small chunks, each under a short read lock, and each chunk is encoded and
//! written before the next is taken, so applies are never blocked for long and the writer holds
//! one chunk at a time. Some nodes may already show txns after `S`, some created after `S` may
//! be missing, and a child may come before its parent (ids are reused); recovery replays every
//! logged txn after `S`, replaying a txn over state that already has it gives the same result,
//! and loading accepts nodes in any order, so the outcome is exact once the replay reaches the
//! last txn applied when the scan ended (`E`). A server may apply a txn before its own log has
//! it (a quorum of others had it durable), so `E` is recorded beside the snapshot
//! ([`super::stream::save_tail_end`], as for a snapshot installed from a leader) when it is
//! after `S`: a recovery whose log stops short of it holds the tree back until a sync.
//! Written to a `.tmp` file (paced, [`super::writeback`]), fsynced, `E` recorded, renamed,
//! directory fsynced.
//!
//! Loading streams the file one record at a time into the tree being built: the file is never
//! held whole in memory next to the tree.
//!
//! Records: `Sessions`, then `Acls` (as new ACL lists appear) and `Nodes` chunks, then `End`
//! with the counts. A snapshot without a valid `End` is incomplete and not used.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::format::{self, RecordRead, HEADER_LEN, SNAP_MAGIC};
use super::segment::sync_dir;
use super::writeback::Paced;
use crate::proto::Acl;
use crate::store::Store;
use crate::tree::DataTree;
use crate::txn::{SessionId, Zxid};

pub use super::scan::{ScanChunk, TreeScan};

/// Nodes per chunk (and per read-lock hold).
pub const CHUNK_NODES: usize = 2000;
/// Node ids looked at per read-lock hold at most (free ids are skipped).
pub(super) const CHUNK_IDS: usize = 4 * CHUNK_NODES;

/// One persisted node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapNode {
    /// Path.
    pub path: String,
    /// Data (`None` = null).
    pub data: Option<Bytes>,
    /// Index into the ACL table.
    pub acl: u32,
    /// Stat fields as stored.
    pub czxid: i64,
    /// See [`Node`].
    pub mzxid: i64,
    /// See [`Node`].
    pub ctime: i64,
    /// See [`Node`].
    pub mtime: i64,
    /// See [`Node`].
    pub version: i32,
    /// Stored child-creation counter.
    pub cversion: i32,
    /// See [`Node`].
    pub aversion: i32,
    /// Stored owner / marker.
    pub ephemeral_owner: i64,
    /// See [`Node`].
    pub pzxid: i64,
}

/// One snapshot record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapRecord {
    /// The session table: id, timeout, password.
    Sessions(Vec<(SessionId, i32, Bytes)>),
    /// New ACL lists and their indexes.
    Acls(Vec<(u32, Vec<Acl>)>),
    /// A chunk of nodes.
    Nodes(Vec<SnapNode>),
    /// The end, with counts.
    End {
        /// Nodes written.
        nodes: u64,
        /// Sessions written.
        sessions: u64,
    },
}

/// The file name of the snapshot covering `zxid`.
pub fn snapshot_name(zxid: Zxid) -> String {
    format!("snapshot.{:016x}", zxid as u64)
}

/// The floor of a log whose snapshots are in `dir`: the lowest zxid it can be cut back to, its
/// oldest snapshot's (0 without one).
pub fn floor(dir: &Path) -> io::Result<Zxid> {
    Ok(list(dir)?.first().map_or(0, |(z, _)| *z))
}

/// Snapshots in `dir`, by zxid (temp files excluded).
pub fn list(dir: &Path) -> io::Result<Vec<(Zxid, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(hex) = name.strip_prefix("snapshot.") {
            if let Ok(z) = u64::from_str_radix(hex, 16) {
                out.push((z as Zxid, e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What a finished snapshot is.
#[derive(Debug, Clone)]
pub struct Written {
    /// The zxid it covers (`S`: the last txn applied when its scan began).
    pub zxid: Zxid,
    /// The last txn applied when its scan ended (`E`): the tree it rebuilds is a state some
    /// server had once the log after `S` reaches `E`.
    pub end: Zxid,
    /// Its file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Nodes in it.
    pub nodes: u64,
}

/// Writes a snapshot of `store` into `dir` (blocking; run it off the actor threads). An
/// unfinished temp file is removed (a full disk must not keep it filled).
pub fn write(store: &Arc<Store>, dir: &Path) -> io::Result<Written> {
    write_lent(dir, CHUNK_NODES, |f| {
        f(&store.tree());
        true
    })
}

/// Writes a snapshot of the tree `with_tree` lends into `dir`: each loan is the tree as it is
/// then (under a short read lock on a node), the first begins the scan and each later one
/// gives a chunk of `chunk_nodes` nodes, while applies go on between loans.
pub fn write_lent(
    dir: &Path,
    chunk_nodes: usize,
    mut with_tree: impl FnMut(&mut dyn FnMut(&DataTree)) -> bool,
) -> io::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let scan = begin_lent(chunk_nodes, &mut with_tree)?;
    let zxid = scan.zxid();
    let final_path = dir.join(snapshot_name(zxid));
    let tmp = dir.join(format!("{}.tmp", snapshot_name(zxid)));
    // `E`: the last txn applied when the scan ended (the last loan sees the newest tree).
    let mut end = zxid;
    let scanned = write_tmp(&tmp, scan, |f| {
        with_tree(&mut |t| {
            end = end.max(t.last_zxid());
            f(t)
        })
    });
    let written = scanned.and_then(|(bytes, nodes)| {
        // A server applies a txn once a quorum of others has it durable, maybe before its own
        // write of it is: the scan may hold txns the log does not have yet. Where it ended is
        // recorded before the snapshot is in place, so that a recovery whose log stops short
        // of it knows the tree is no valid state until a sync replays the rest (as for a
        // snapshot installed from a leader); an exact snapshot gets no record and loses a stale
        // one.
        super::stream::save_tail_end(dir, zxid, end)?;
        std::fs::rename(&tmp, &final_path)?;
        sync_dir(dir)?;
        Ok((bytes, nodes))
    });
    let (bytes, nodes) = written.inspect_err(|_| remove_tmp(&tmp))?;
    Ok(Written {
        zxid,
        end,
        path: final_path,
        bytes,
        nodes,
    })
}

/// Begins a scan of the tree `with_tree` lends (its first loan).
pub(super) fn begin_lent(
    chunk_nodes: usize,
    with_tree: &mut impl FnMut(&mut dyn FnMut(&DataTree)) -> bool,
) -> io::Result<TreeScan> {
    let mut scan = None;
    if !with_tree(&mut |t| scan = Some(TreeScan::begin(t, chunk_nodes))) {
        return Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "no tree to scan",
        ));
    }
    scan.ok_or_else(|| io::Error::other("the tree was not lent"))
}

/// Removes an unfinished snapshot's temp file (a full disk must not keep it filled).
fn remove_tmp(tmp: &Path) {
    if let Err(e) = std::fs::remove_file(tmp) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(file = %tmp.display(), error = %e, "cannot remove an unfinished snapshot");
        }
    }
}

/// Writes the snapshot's temp file and syncs it; returns (bytes, nodes).
fn write_tmp(
    tmp: &Path,
    scan: TreeScan,
    with_tree: impl FnMut(&mut dyn FnMut(&DataTree)) -> bool,
) -> io::Result<(u64, u64)> {
    let file = File::create(tmp)?;
    // Paced: a snapshot's gigabytes are not left dirty for the fsync below to flush in one
    // burst in front of the log's own fsyncs (super::writeback).
    let mut out = io::BufWriter::with_capacity(1 << 20, Paced::new(file));
    let (bytes, nodes) = scan.run(&mut out, with_tree)?;
    let file = out.into_inner().map_err(|e| e.into_error())?.into_inner()?;
    file.sync_all()?;
    Ok((bytes, nodes))
}

/// Why a snapshot cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// IO.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// Not a valid snapshot.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

fn open(path: &Path) -> Result<io::BufReader<File>, SnapshotError> {
    File::open(path)
        .map(|f| io::BufReader::with_capacity(1 << 20, f))
        .map_err(|source| SnapshotError::Io {
            path: path.display().to_string(),
            source,
        })
}

/// Reads every record of a snapshot, checking CRCs and completeness; `visit` sees each.
pub fn read_records(
    path: &Path,
    visit: impl FnMut(&SnapRecord),
) -> Result<(Zxid, u64, u64), SnapshotError> {
    let mut visit = visit;
    read_records_from(open(path)?, &path.display().to_string(), |r| visit(&r))
}

/// Reads the records of snapshot bytes from `r`, one at a time, decoded as [`SnapRecord`]s.
fn read_records_from(
    r: impl Read,
    p: &str,
    mut visit: impl FnMut(SnapRecord),
) -> Result<(Zxid, u64, u64), SnapshotError> {
    read_payloads(r, p, |payload| {
        let rec: SnapRecord = rmp_serde::from_slice(payload).map_err(|e| e.to_string())?;
        let end = match &rec {
            SnapRecord::End { nodes, sessions } => Some((*nodes, *sessions)),
            _ => None,
        };
        visit(rec);
        Ok(end)
    })
}

/// Reads the records of snapshot bytes from `r`, one at a time (only one is in memory), and
/// hands each checked payload to `decode`, which returns the counts of the end record when it
/// is one, or why the payload is bad.
pub(super) fn read_payloads(
    mut r: impl Read,
    p: &str,
    mut decode: impl FnMut(&[u8]) -> Result<Option<(u64, u64)>, String>,
) -> Result<(Zxid, u64, u64), SnapshotError> {
    let invalid = |reason: String| SnapshotError::Invalid {
        path: p.to_string(),
        reason,
    };
    let io_err = |source| SnapshotError::Io {
        path: p.to_string(),
        source,
    };
    let mut head = [0u8; HEADER_LEN];
    let whole = format::read_header(&mut r, &mut head).map_err(io_err)?;
    let header = format::parse_header(whole, SNAP_MAGIC).map_err(|e| invalid(e.to_string()))?;
    let mut off = HEADER_LEN;
    let mut buf = Vec::with_capacity(format::READ_BUFFER_BYTES);
    loop {
        format::read_frame(&mut r, &mut buf).map_err(io_err)?;
        match format::check_record(&buf) {
            RecordRead::Record(payload, n) => {
                match decode(payload) {
                    Ok(Some((nodes, sessions))) => return Ok((header.zxid, nodes, sessions)),
                    Ok(None) => {}
                    Err(e) => {
                        return Err(invalid(format!("undecodable payload: {e} at offset {off}")))
                    }
                }
                off += n;
            }
            RecordRead::End => {
                return Err(invalid(format!("incomplete: no end record (offset {off})")))
            }
            RecordRead::Short { .. } => {
                return Err(invalid(format!("truncated record at offset {off}")))
            }
            RecordRead::Corrupt(r) => return Err(invalid(format!("{r} at offset {off}"))),
        }
    }
}

/// Encodes a whole tree (held still by the caller) as snapshot bytes.
pub fn encode_tree(tree: &DataTree) -> Bytes {
    let mut out = Vec::with_capacity(1 << 16);
    // Writing into memory cannot fail, and our own records always encode (no maps with
    // non-string keys, bounded sizes).
    let _ = encode_tree_into(tree, &mut out);
    Bytes::from(out)
}

/// Encodes a whole tree (held still by the caller) into `out`, record by record. Returns the
/// bytes written.
fn encode_tree_into(tree: &DataTree, out: &mut impl Write) -> io::Result<u64> {
    let (bytes, _) = TreeScan::begin(tree, CHUNK_NODES).run(out, |f| {
        f(tree);
        true
    })?;
    Ok(bytes)
}

/// Decodes the bytes of a snapshot of a tree held still ([`encode_tree`]) into a tree:
/// anything without a parent in it is dropped.
pub fn decode_tree(bytes: &[u8]) -> Result<DataTree, SnapshotError> {
    let mut tree = decode_fuzzy(bytes)?;
    tree.finish_replay();
    Ok(tree)
}

/// Decodes the bytes of a fuzzy snapshot into a tree, orphans kept for the replay of the txns
/// after it to resolve ([`DataTree::finish_replay`] ends it).
pub fn decode_fuzzy(bytes: &[u8]) -> Result<DataTree, SnapshotError> {
    super::snapload::decode(bytes, "<snapshot bytes>", bytes.len())
}

/// Loads a snapshot into a tree (orphans kept for the replay to resolve), streaming the file.
pub fn load(path: &Path) -> Result<DataTree, SnapshotError> {
    let size = std::fs::metadata(path).map_or(0, |m| m.len() as usize);
    super::snapload::decode(open(path)?, &path.display().to_string(), size)
}

/// Writes snapshot bytes received from a leader as a snapshot file, durably.
pub fn save_bytes(dir: &Path, zxid: Zxid, bytes: &[u8]) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let final_path = dir.join(snapshot_name(zxid));
    let tmp = dir.join(format!("{}.tmp", snapshot_name(zxid)));
    let saved = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|_| std::fs::rename(&tmp, &final_path))
        .and_then(|_| sync_dir(dir));
    saved.inspect_err(|_| remove_tmp(&tmp))?;
    Ok(final_path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::tests::digest;
    use crate::txn::{Txn, TxnOp};
    use std::collections::HashMap;

    fn create(path: &str) -> TxnOp {
        TxnOp::Create {
            path: path.into(),
            data: Some(Bytes::copy_from_slice(path.as_bytes())),
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: 0,
        }
    }

    struct Log {
        zxid: Zxid,
        txns: Vec<Txn>,
    }

    impl Log {
        fn apply(&mut self, tree: &mut DataTree, op: TxnOp) {
            // The parent's counter is what prep would give it: one more than now.
            let op = match op {
                TxnOp::Create {
                    path, data, acl, ..
                } => {
                    let parent = crate::tree::path::parent(&path).unwrap();
                    let cversion = tree.get(parent).map_or(0, |n| n.cversion) + 1;
                    TxnOp::Create {
                        path,
                        data,
                        acl,
                        ephemeral_owner: 0,
                        parent_cversion: cversion,
                    }
                }
                other => other,
            };
            self.zxid += 1;
            let t = Txn {
                zxid: self.zxid,
                time_ms: 1000 + self.zxid,
                session_id: 0,
                cxid: 0,
                op,
            };
            tree.apply(&t);
            self.txns.push(t);
        }
    }

    #[test]
    fn a_snapshot_taken_while_the_tree_changes_replays_to_the_same_tree() {
        let mut tree = DataTree::new();
        let mut log = Log {
            zxid: 0,
            txns: Vec::new(),
        };
        for p in 0..4 {
            log.apply(&mut tree, create(&format!("/p{p}")));
            for c in 0..1500 {
                log.apply(&mut tree, create(&format!("/p{p}/c{c}")));
            }
        }
        let scan = TreeScan::begin(&tree, CHUNK_NODES);
        let start = scan.zxid();
        let mut out = Vec::new();
        let mut chunk = 0;
        // Between chunks: delete a whole subtree (its ids freed, then reused by creates of a
        // new subtree, so children can come before their parents), change data on both sides
        // of the scan position.
        scan.run(&mut out, |f| {
            f(&tree);
            chunk += 1;
            match chunk {
                1 => {
                    for c in 0..1500 {
                        let path = format!("/p3/c{c}");
                        log.apply(&mut tree, TxnOp::Delete { path });
                    }
                    log.apply(&mut tree, TxnOp::Delete { path: "/p3".into() });
                    for c in (0..800).rev() {
                        let q = format!("/q{}", c % 7);
                        if tree.get(&q).is_none() {
                            log.apply(&mut tree, create(&q));
                        }
                        log.apply(&mut tree, create(&format!("{q}/n{c}")));
                    }
                }
                2 => {
                    for p in ["/p0/c1", "/p2/c1499"] {
                        log.apply(
                            &mut tree,
                            TxnOp::SetData {
                                path: p.into(),
                                data: Some(Bytes::from_static(b"changed")),
                                version: 1,
                            },
                        );
                    }
                    log.apply(
                        &mut tree,
                        TxnOp::Delete {
                            path: "/p0/c0".into(),
                        },
                    );
                }
                _ => {}
            }
            true
        })
        .unwrap();
        // Freed ids were reused in LIFO order: some child was written before its parent.
        let mut order: HashMap<String, usize> = HashMap::new();
        read_records_from(&out[..], "test", |r| {
            if let SnapRecord::Nodes(ns) = r {
                for n in ns {
                    let i = order.len();
                    order.insert(n.path, i);
                }
            }
        })
        .unwrap();
        assert!(order.iter().any(|(p, i)| {
            crate::tree::path::parent(p)
                .and_then(|pp| order.get(pp))
                .is_some_and(|pi| pi > i)
        }));
        for two_threads in [false, true] {
            let mut loaded =
                super::super::snapload::decode_on(&out[..], "test", out.len(), two_threads)
                    .expect("loads");
            for t in log.txns.iter().filter(|t| t.zxid > start) {
                loaded.apply(t);
            }
            assert!(loaded.drop_orphans().is_empty());
            assert_eq!(digest(&loaded), digest(&tree), "two threads: {two_threads}");
            assert_eq!(loaded.node_count(), tree.node_count());
        }
    }

    #[test]
    fn a_leader_snapshot_round_trips_and_a_damaged_one_is_refused() {
        let mut tree = DataTree::new();
        let mut log = Log {
            zxid: 0,
            txns: Vec::new(),
        };
        log.apply(&mut tree, create("/a"));
        log.apply(
            &mut tree,
            TxnOp::CreateSession {
                timeout_ms: 4000,
                password: Bytes::from_static(b"pw"),
            },
        );
        log.apply(&mut tree, create("/a/b"));
        let bytes = encode_tree(&tree);
        let back = decode_tree(&bytes).unwrap();
        assert_eq!(digest(&back), digest(&tree));
        assert_eq!(back.sessions(), tree.sessions());
        assert_eq!(back.last_zxid(), tree.last_zxid());
        let mut cut = bytes.to_vec();
        cut.truncate(bytes.len() - 3);
        assert!(matches!(
            decode_tree(&cut),
            Err(SnapshotError::Invalid { .. })
        ));
        let mut flipped = bytes.to_vec();
        let at = flipped.len() / 2;
        flipped[at] ^= 1;
        assert!(decode_tree(&flipped).is_err());
        // The same on two threads (what a snapshot of a megabyte or more loads with).
        let on_two = |b: &[u8]| super::super::snapload::decode_on(b, "test", b.len(), true);
        assert_eq!(digest(&on_two(&bytes).unwrap()), digest(&tree));
        assert!(matches!(on_two(&cut), Err(SnapshotError::Invalid { .. })));
        assert!(on_two(&flipped).is_err());
    }
}
