//! Loading a snapshot on two threads: one reads the file, checks each record's CRC and decodes
//! it; the other builds the tree from the decoded records as they come ([`Restore`]). A snapshot
//! under [`PARALLEL_FROM_BYTES`] is loaded on the calling thread alone, by the same code: a
//! thread costs more than it saves there (the fuzzing of 1,000,000 small snapshots took 79 s
//! with a thread each, 10 s without).
//!
//! Invariants:
//! * the records are built in file order, each checked (framing, CRC, decoding) exactly as a
//!   one-thread load checks it, and a snapshot that fails a check is refused with the same error
//!   (the reader's error first, then a node the builder could not place, then the end record's
//!   counts against what was read, then a missing root);
//! * a decoded node batch carries its record's bytes (paths are spans of them) and each node's
//!   block, the one allocation the tree keeps per node, made on the reader's thread; at most [`QUEUE`] batches wait between the
//!   threads, and their buffers go back to the reader to be reused, so the file is never held
//!   whole in memory.

use std::collections::HashMap;
use std::io::Read;
use std::sync::mpsc::{channel, sync_channel};
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use super::snapshot::{read_payloads, SnapshotError};
use crate::proto::Acl;
use crate::tree::{path, AclList, Block, DataTree, Restore, SessionRecord, StoredStat};
use crate::txn::{SessionId, Zxid};

/// Decoded records waiting for the builder, at most.
pub const QUEUE: usize = 8;

/// Snapshots this long or longer are read and decoded on a thread of their own.
pub const PARALLEL_FROM_BYTES: usize = 1 << 20;

/// A [`super::snapshot::SnapRecord`] decoded in place: node paths and data borrow the record's
/// bytes. Same encoding (variants and fields in the same order; a test checks it).
#[derive(Debug, Deserialize)]
enum SnapRecordRef<'a> {
    Sessions(Vec<(SessionId, i32, Bytes)>),
    Acls(Vec<(u32, Vec<Acl>)>),
    #[serde(borrow)]
    Nodes(Vec<SnapNodeRef<'a>>),
    End {
        nodes: u64,
        sessions: u64,
    },
}

/// A [`super::snapshot::SnapNode`] decoded in place.
#[derive(Debug, Deserialize)]
struct SnapNodeRef<'a> {
    path: &'a str,
    #[serde(borrow)]
    data: Option<&'a [u8]>,
    acl: u32,
    czxid: i64,
    mzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
    ephemeral_owner: i64,
    pzxid: i64,
}

impl SnapNodeRef<'_> {
    fn stat(&self) -> StoredStat {
        StoredStat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            pzxid: self.pzxid,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            num_children: 0,
        }
    }
}

/// A node of a [`Decoded::Nodes`] batch: its path as a span of the batch's bytes, its name and
/// data in the block the tree keeps (made by the reader: the allocation and the copy are off the
/// builder's thread).
struct SpanNode {
    path: (u32, u32),
    block: Block,
    /// The data stands for null.
    null: bool,
    acl: u32,
    stat: StoredStat,
    owner: i64,
}

/// A record as the reader hands it to the builder.
enum Decoded {
    Sessions(Vec<(SessionId, i32, Bytes)>),
    Acls(Vec<(u32, Vec<Acl>)>),
    /// The record's payload and its nodes.
    Nodes(Vec<u8>, Vec<SpanNode>),
}

/// The span of `part` (a slice of `whole`) in `whole`.
fn span(whole: &[u8], part: &[u8]) -> (u32, u32) {
    let at = part.as_ptr() as usize - whole.as_ptr() as usize;
    debug_assert!(at + part.len() <= whole.len());
    (at as u32, part.len() as u32)
}

fn slice(whole: &[u8], (at, len): (u32, u32)) -> &[u8] {
    &whole[at as usize..(at + len) as usize]
}

/// Decodes one checked payload for the builder (`spare`: a buffer to copy it into); the end
/// record's counts come back instead.
fn decode_record(payload: &[u8], spare: Vec<u8>) -> Result<Result<Decoded, (u64, u64)>, String> {
    let mut owned = spare;
    owned.clear();
    owned.extend_from_slice(payload);
    let rec: SnapRecordRef = rmp_serde::from_slice(&owned).map_err(|e| e.to_string())?;
    let nodes = match rec {
        SnapRecordRef::Sessions(s) => return Ok(Ok(Decoded::Sessions(s))),
        SnapRecordRef::Acls(a) => return Ok(Ok(Decoded::Acls(a))),
        SnapRecordRef::End { nodes, sessions } => return Ok(Err((nodes, sessions))),
        SnapRecordRef::Nodes(ns) => ns
            .iter()
            .map(|n| SpanNode {
                path: span(&owned, n.path.as_bytes()),
                block: Block::new(path::name(n.path), n.data.unwrap_or_default()),
                null: n.data.is_none(),
                acl: n.acl,
                stat: n.stat(),
                owner: n.ephemeral_owner,
            })
            .collect(),
    };
    Ok(Ok(Decoded::Nodes(owned, nodes)))
}

/// The tree being built from decoded records.
struct Build {
    acls: HashMap<u32, AclList>,
    /// The ACL of the last node (nodes in a row mostly share theirs).
    last_acl: Option<(u32, AclList)>,
    restore: Restore,
    nodes_read: u64,
    sessions_read: u64,
    /// The first node that could not be placed.
    bad: Option<String>,
    size_hint: usize,
}

impl Build {
    /// Adds a record; gives back a node batch's buffer for reuse.
    fn add(&mut self, d: Decoded) -> Option<Vec<u8>> {
        match d {
            Decoded::Sessions(s) => {
                for (id, timeout_ms, password) in s {
                    self.sessions_read += 1;
                    let rec = SessionRecord {
                        timeout_ms,
                        password,
                    };
                    self.restore.session(id, rec);
                }
            }
            Decoded::Acls(a) => {
                self.last_acl = None;
                for (id, list) in a {
                    self.acls.insert(id, Arc::new(list));
                }
            }
            Decoded::Nodes(payload, ns) => {
                if self.nodes_read == 0 {
                    // One chunk's bytes per node, roughly: room in the index for the rest.
                    let per_chunk = self.size_hint / payload.len().max(1);
                    self.restore.reserve(per_chunk * ns.len());
                }
                for n in ns {
                    self.node(&payload, n);
                }
                return Some(payload);
            }
        }
        None
    }

    fn node(&mut self, payload: &[u8], n: SpanNode) {
        self.nodes_read += 1;
        // The reader decoded the path as a str: it is UTF-8.
        let path = std::str::from_utf8(slice(payload, n.path)).unwrap_or("");
        let acl = match &self.last_acl {
            Some((id, list)) if *id == n.acl => Some(list),
            _ => self.acls.get(&n.acl),
        };
        let Some(acl) = acl.cloned() else {
            self.bad
                .get_or_insert_with(|| format!("node {path} names unknown ACL {}", n.acl));
            return;
        };
        let r = self
            .restore
            .node_block(path, n.block, n.null, &acl, n.stat, n.owner);
        self.last_acl = Some((n.acl, acl));
        if let Err(e) = r {
            self.bad.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Builds the tree of the snapshot read from `r`, `size_hint` bytes long (to size the tree's
/// index once instead of growing it): read and decoded on a thread of its own from
/// [`PARALLEL_FROM_BYTES`], built here.
pub(super) fn decode(
    r: impl Read + Send,
    name: &str,
    size_hint: usize,
) -> Result<DataTree, SnapshotError> {
    decode_on(r, name, size_hint, size_hint >= PARALLEL_FROM_BYTES)
}

/// [`decode`], on two threads or on this one.
pub(super) fn decode_on(
    r: impl Read + Send,
    name: &str,
    size_hint: usize,
    two_threads: bool,
) -> Result<DataTree, SnapshotError> {
    let mut build = Build {
        acls: HashMap::new(),
        last_acl: None,
        restore: Restore::new(),
        nodes_read: 0,
        sessions_read: 0,
        bad: None,
        size_hint,
    };
    if !two_threads {
        // The buffer the builder hands back goes to the reader's next record.
        let spare = std::cell::Cell::new(None);
        let read = read_decoded(
            r,
            name,
            |d| {
                spare.set(build.add(d));
                true
            },
            || spare.take(),
        );
        return finish(build, read, name);
    }
    let read = std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<Decoded>(QUEUE);
        let (spare_tx, spare_rx) = channel::<Vec<u8>>();
        let reader = std::thread::Builder::new()
            .name("snapshot-read".into())
            .spawn_scoped(s, move || {
                read_decoded(r, name, |d| tx.send(d).is_ok(), || spare_rx.try_recv().ok())
            })
            .map_err(|source| SnapshotError::Io {
                path: name.to_string(),
                source,
            })?;
        for d in rx {
            if let Some(buf) = build.add(d) {
                let _ = spare_tx.send(buf);
            }
        }
        reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    finish(build, read, name)
}

fn finish(
    build: Build,
    read: Result<(Zxid, u64, u64), SnapshotError>,
    name: &str,
) -> Result<DataTree, SnapshotError> {
    let (zxid, node_count, session_count) = read?;
    let invalid = |reason: String| SnapshotError::Invalid {
        path: name.to_string(),
        reason,
    };
    if let Some(b) = build.bad {
        return Err(invalid(b));
    }
    if build.nodes_read != node_count || build.sessions_read != session_count {
        return Err(invalid(format!(
            "counts do not match: {} nodes and {} sessions read, end record says {node_count} and {session_count}",
            build.nodes_read, build.sessions_read
        )));
    }
    if !build.restore.has_root() {
        return Err(invalid("no root node".into()));
    }
    Ok(build.restore.finish(zxid))
}

/// The reader: every record of `r`, checked and decoded, handed to `send` (false: the builder
/// is gone, stop); returns the header's zxid and the end record's counts.
fn read_decoded(
    r: impl Read,
    name: &str,
    mut send: impl FnMut(Decoded) -> bool,
    mut spare: impl FnMut() -> Option<Vec<u8>>,
) -> Result<(Zxid, u64, u64), SnapshotError> {
    read_payloads(r, name, |payload| {
        let spare = spare().unwrap_or_default();
        match decode_record(payload, spare)? {
            Ok(d) => {
                if send(d) {
                    Ok(None)
                } else {
                    Err("the tree builder stopped".into())
                }
            }
            Err(counts) => Ok(Some(counts)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::snapshot::{SnapNode, SnapRecord};
    use super::*;

    #[test]
    fn records_decode_in_place_as_they_were_encoded() {
        let node = SnapNode {
            path: "/a/b".into(),
            data: Some(Bytes::from_static(b"data")),
            acl: 3,
            czxid: 1,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: 8,
            pzxid: 9,
        };
        let null = SnapNode {
            data: None,
            ..node.clone()
        };
        let bytes = rmp_serde::to_vec(&SnapRecord::Nodes(vec![node, null])).unwrap();
        let SnapRecordRef::Nodes(ns) = rmp_serde::from_slice(&bytes).unwrap() else {
            panic!("not a Nodes record");
        };
        assert_eq!(
            (ns[0].path, ns[0].data, ns[0].acl),
            ("/a/b", Some(&b"data"[..]), 3)
        );
        assert_eq!(ns[1].data, None);
        let s = ns[0].stat();
        assert_eq!(
            (s.czxid, s.mzxid, s.ctime, s.mtime, s.version, s.cversion, s.aversion, s.pzxid),
            (1, 2, 3, 4, 5, 6, 7, 9)
        );
        assert_eq!(ns[0].ephemeral_owner, 8);
        let end = rmp_serde::to_vec(&SnapRecord::End {
            nodes: 2,
            sessions: 1,
        })
        .unwrap();
        assert!(matches!(
            rmp_serde::from_slice(&end).unwrap(),
            SnapRecordRef::End {
                nodes: 2,
                sessions: 1
            }
        ));
        // Handed to the builder: the spans point at the same bytes, in a reused buffer.
        let Ok(Decoded::Nodes(owned, spans)) = decode_record(&bytes, vec![7u8; 3]).unwrap() else {
            panic!("a node batch");
        };
        assert_eq!(slice(&owned, spans[0].path), b"/a/b");
        assert_eq!(
            (spans[0].block.name(), spans[0].block.data()),
            (&b"b"[..], &b"data"[..])
        );
        assert!(!spans[0].null && spans[1].null);
        assert_eq!((spans[0].acl, spans[0].owner, spans[0].stat), (3, 8, s));
    }
}
