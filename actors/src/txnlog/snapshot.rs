//! Snapshots: `snapshot.<zxid, 16 hex>` files holding the whole tree and session table.
//!
//! Written in the background while writes go on ("fuzzy", as ZooKeeper's): the zxid `S` in the
//! name is the last applied txn when the snapshot began; the node list is taken then, and nodes
//! are copied in small chunks, each under a short read lock, so applies are never blocked for
//! long. Some nodes may already show txns after `S`; recovery replays every logged txn after
//! `S`, and replaying a txn over state that already has it gives the same result, so the
//! outcome is exact. Written to a `.tmp` file, fsynced, renamed, directory fsynced.
//!
//! Records: `Sessions`, then `Acls` (as new ACL lists appear) and `Nodes` chunks, then `End`
//! with the counts. A snapshot without a valid `End` is incomplete and not used.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::format::{self, RecordRead, HEADER_LEN, SNAP_MAGIC};
use super::segment::sync_dir;
use crate::proto::Acl;
use crate::store::Store;
use crate::tree::{DataTree, Node, SessionRecord};
use crate::txn::{SessionId, Zxid};

/// Nodes per chunk (and per read-lock hold).
pub const CHUNK_NODES: usize = 2000;

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
    /// The zxid it covers.
    pub zxid: Zxid,
    /// Its file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Nodes in it.
    pub nodes: u64,
}

fn write_record(out: &mut impl Write, rec: &SnapRecord, buf: &mut Vec<u8>) -> io::Result<u64> {
    buf.clear();
    format::encode_record(rec, buf).map_err(io::Error::other)?;
    out.write_all(buf)?;
    Ok(buf.len() as u64)
}

/// Writes a snapshot of `store` into `dir` (blocking; run it off the actor threads).
pub fn write(store: &Arc<Store>, dir: &Path) -> io::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let (zxid, paths, sessions) = {
        let tree = store.tree();
        let paths: Vec<String> = tree.paths().map(|(p, _)| p.clone()).collect();
        let sessions: Vec<(SessionId, i32, Bytes)> = tree
            .sessions()
            .iter()
            .map(|(id, r)| (*id, r.timeout_ms, r.password.clone()))
            .collect();
        (tree.last_zxid(), paths, sessions)
    };
    let final_path = dir.join(snapshot_name(zxid));
    let tmp = dir.join(format!("{}.tmp", snapshot_name(zxid)));
    let written = write_tmp(store, &tmp, zxid, paths, sessions).and_then(|(bytes, nodes)| {
        std::fs::rename(&tmp, &final_path)?;
        sync_dir(dir)?;
        Ok((bytes, nodes))
    });
    let (bytes, node_count) = written.inspect_err(|_| remove_tmp(&tmp))?;
    Ok(Written {
        zxid,
        path: final_path,
        bytes,
        nodes: node_count,
    })
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
    store: &Arc<Store>,
    tmp: &Path,
    zxid: Zxid,
    paths: Vec<String>,
    sessions: Vec<(SessionId, i32, Bytes)>,
) -> io::Result<(u64, u64)> {
    let file = File::create(tmp)?;
    let mut out = io::BufWriter::with_capacity(1 << 20, file);
    out.write_all(&format::header(SNAP_MAGIC, zxid))?;
    let mut bytes = HEADER_LEN as u64;
    let mut buf = Vec::with_capacity(1 << 16);
    let session_count = sessions.len() as u64;
    bytes += write_record(&mut out, &SnapRecord::Sessions(sessions), &mut buf)?;
    let mut acl_ids: HashMap<usize, (u32, crate::tree::AclList)> = HashMap::new();
    let mut node_count = 0u64;
    for chunk in paths.chunks(CHUNK_NODES) {
        let mut new_acls = Vec::new();
        let mut nodes = Vec::with_capacity(chunk.len());
        {
            let tree = store.tree();
            for p in chunk {
                let Some(n) = tree.get(p) else { continue };
                let key = Arc::as_ptr(&n.acl) as usize;
                let next = acl_ids.len() as u32;
                let id = acl_ids
                    .entry(key)
                    .or_insert_with(|| {
                        new_acls.push((next, n.acl.as_ref().clone()));
                        (next, n.acl.clone())
                    })
                    .0;
                nodes.push(to_snap(p, n, id));
            }
        }
        if !new_acls.is_empty() {
            bytes += write_record(&mut out, &SnapRecord::Acls(new_acls), &mut buf)?;
        }
        node_count += nodes.len() as u64;
        bytes += write_record(&mut out, &SnapRecord::Nodes(nodes), &mut buf)?;
    }
    bytes += write_record(
        &mut out,
        &SnapRecord::End {
            nodes: node_count,
            sessions: session_count,
        },
        &mut buf,
    )?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok((bytes, node_count))
}

fn to_snap(path: &str, n: &Node, acl: u32) -> SnapNode {
    SnapNode {
        path: path.to_string(),
        data: n.data.clone(),
        acl,
        czxid: n.czxid,
        mzxid: n.mzxid,
        ctime: n.ctime,
        mtime: n.mtime,
        version: n.version,
        cversion: n.cversion,
        aversion: n.aversion,
        ephemeral_owner: n.ephemeral_owner,
        pzxid: n.pzxid,
    }
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

/// Reads every record of a snapshot, checking CRCs and completeness; `visit` sees each.
pub fn read_records(
    path: &Path,
    visit: impl FnMut(&SnapRecord),
) -> Result<(Zxid, u64, u64), SnapshotError> {
    let buf = format::read_file(path).map_err(|source| SnapshotError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut visit = visit;
    read_records_in(&buf, &path.display().to_string(), |r| visit(&r))
}

fn read_records_in(
    buf: &[u8],
    p: &str,
    mut visit: impl FnMut(SnapRecord),
) -> Result<(Zxid, u64, u64), SnapshotError> {
    let invalid = |reason: String| SnapshotError::Invalid {
        path: p.to_string(),
        reason,
    };
    let header = format::parse_header(buf, SNAP_MAGIC).map_err(|e| invalid(e.to_string()))?;
    let mut off = HEADER_LEN;
    loop {
        match format::decode_record::<SnapRecord>(&buf[off..]) {
            RecordRead::Record(rec, n) => {
                off += n;
                if let SnapRecord::End { nodes, sessions } = rec {
                    visit(rec);
                    return Ok((header.zxid, nodes, sessions));
                }
                visit(rec);
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

/// Encodes a whole tree (held still by the caller) as snapshot bytes: the form a leader sends
/// a learner with SNAP.
pub fn encode_tree(tree: &DataTree) -> Bytes {
    let mut out = Vec::with_capacity(1 << 16);
    out.extend_from_slice(&format::header(SNAP_MAGIC, tree.last_zxid()));
    let mut buf = Vec::new();
    let sessions: Vec<(SessionId, i32, Bytes)> = tree
        .sessions()
        .iter()
        .map(|(id, r)| (*id, r.timeout_ms, r.password.clone()))
        .collect();
    let session_count = sessions.len() as u64;
    let mut push = |rec: &SnapRecord, out: &mut Vec<u8>| {
        buf.clear();
        // Encoding our own records cannot fail (no maps with non-string keys, bounded sizes).
        if format::encode_record(rec, &mut buf).is_ok() {
            out.extend_from_slice(&buf);
        }
    };
    push(&SnapRecord::Sessions(sessions), &mut out);
    let mut acl_ids: HashMap<usize, u32> = HashMap::new();
    let mut nodes = Vec::new();
    let mut new_acls = Vec::new();
    let mut count = 0u64;
    for (p, n) in tree.paths() {
        let key = Arc::as_ptr(&n.acl) as usize;
        let next = acl_ids.len() as u32;
        let id = *acl_ids.entry(key).or_insert_with(|| {
            new_acls.push((next, n.acl.as_ref().clone()));
            next
        });
        nodes.push(to_snap(p, n, id));
        count += 1;
        if nodes.len() == CHUNK_NODES {
            if !new_acls.is_empty() {
                push(&SnapRecord::Acls(std::mem::take(&mut new_acls)), &mut out);
            }
            push(&SnapRecord::Nodes(std::mem::take(&mut nodes)), &mut out);
        }
    }
    if !new_acls.is_empty() {
        push(&SnapRecord::Acls(new_acls), &mut out);
    }
    if !nodes.is_empty() {
        push(&SnapRecord::Nodes(nodes), &mut out);
    }
    push(
        &SnapRecord::End {
            nodes: count,
            sessions: session_count,
        },
        &mut out,
    );
    Bytes::from(out)
}

/// Decodes snapshot bytes (from [`encode_tree`] or a file) into a tree.
pub fn decode_tree(bytes: &[u8]) -> Result<DataTree, SnapshotError> {
    decode(bytes, "<snapshot from the leader>")
}

/// Loads a snapshot into a tree (orphans kept for the replay to resolve).
pub fn load(path: &Path) -> Result<DataTree, SnapshotError> {
    let buf = format::read_file(path).map_err(|source| SnapshotError::Io {
        path: path.display().to_string(),
        source,
    })?;
    decode(&buf, &path.display().to_string())
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

fn decode(buf: &[u8], name: &str) -> Result<DataTree, SnapshotError> {
    let path = std::path::Path::new(name);
    let mut acls: HashMap<u32, Arc<Vec<Acl>>> = HashMap::new();
    let mut nodes: Vec<(String, Node)> = Vec::new();
    let mut sessions: Vec<(SessionId, SessionRecord)> = Vec::new();
    let mut bad: Option<String> = None;
    let (zxid, node_count, session_count) = read_records_in(buf, name, |rec| match rec {
        SnapRecord::Sessions(s) => sessions.extend(s.into_iter().map(|(id, t, pw)| {
            (
                id,
                SessionRecord {
                    timeout_ms: t,
                    password: pw,
                },
            )
        })),
        SnapRecord::Acls(a) => {
            for (id, list) in a {
                acls.insert(id, Arc::new(list));
            }
        }
        SnapRecord::Nodes(ns) => {
            for n in ns {
                let Some(acl) = acls.get(&n.acl) else {
                    bad.get_or_insert_with(|| {
                        format!("node {} names unknown ACL {}", n.path, n.acl)
                    });
                    continue;
                };
                nodes.push((
                    n.path,
                    Node {
                        data: n.data,
                        acl: acl.clone(),
                        czxid: n.czxid,
                        mzxid: n.mzxid,
                        ctime: n.ctime,
                        mtime: n.mtime,
                        version: n.version,
                        cversion: n.cversion,
                        aversion: n.aversion,
                        ephemeral_owner: n.ephemeral_owner,
                        pzxid: n.pzxid,
                        children: Default::default(),
                    },
                ));
            }
        }
        SnapRecord::End { .. } => {}
    })?;
    let invalid = |reason: String| SnapshotError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    if let Some(b) = bad {
        return Err(invalid(b));
    }
    if nodes.len() as u64 != node_count || sessions.len() as u64 != session_count {
        return Err(invalid(format!(
            "counts do not match: {} nodes and {} sessions read, end record says {node_count} and {session_count}",
            nodes.len(),
            sessions.len()
        )));
    }
    if !nodes.iter().any(|(p, _)| p == "/") {
        return Err(invalid("no root node".into()));
    }
    Ok(DataTree::restore(nodes, sessions, zxid))
}
