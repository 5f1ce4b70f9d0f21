//! The one scanner of every snapshot ([`TreeScan`]): the node's own, written in the background,
//! and the one a leader streams to a learner. It takes the zxid `S`, the session table and the
//! node-id bound at one instant, then copies the tree's nodes out a chunk at a time (the caller
//! holds the store's read lock only for that copy) and encodes each chunk with no lock held, so
//! applies are never blocked for long. The result is fuzzy and exact once every txn after `S`
//! is replayed over it (see [`super::snapshot`]).
//!
//! Invariants: the header and the session table come first, each ACL list is written once,
//! before the first node that uses it (ids follow the order they are first seen), and the end
//! record counts every node and session written.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;

use super::format::{self, HEADER_LEN, SNAP_MAGIC};
use super::snapshot::{SnapNode, SnapRecord, CHUNK_IDS, CHUNK_NODES};
use crate::proto::Acl;
use crate::tree::{AclList, DataTree, NodeId, NodeRef};
use crate::txn::{SessionId, Zxid};

fn write_record(out: &mut impl Write, rec: &SnapRecord, buf: &mut Vec<u8>) -> io::Result<u64> {
    buf.clear();
    format::encode_record(rec, buf).map_err(io::Error::other)?;
    out.write_all(buf)?;
    Ok(buf.len() as u64)
}

/// The ACL lists a snapshot has written so far, by the address of their shared list (each is
/// held, so no address is reused while the snapshot is written).
#[derive(Default)]
struct AclIds(HashMap<usize, (u32, AclList)>);

impl AclIds {
    /// The id of `acl`, noting a list seen for the first time in `new`.
    fn id(&mut self, acl: &AclList, new: &mut Vec<(u32, Vec<Acl>)>) -> u32 {
        let next = self.0.len() as u32;
        self.0
            .entry(Arc::as_ptr(acl) as usize)
            .or_insert_with(|| {
                new.push((next, acl.as_ref().clone()));
                (next, acl.clone())
            })
            .0
    }
}

/// The nodes with ids in `from..bound`, at most `chunk_nodes` of them and four times as many
/// ids looked at; returns them and the id to go on from.
fn next_chunk(
    tree: &DataTree,
    from: NodeId,
    bound: NodeId,
    chunk_nodes: usize,
    acl_ids: &mut AclIds,
    new_acls: &mut Vec<(u32, Vec<Acl>)>,
) -> (Vec<SnapNode>, NodeId) {
    let mut nodes = Vec::with_capacity(chunk_nodes);
    let ids = chunk_nodes.saturating_mul(CHUNK_IDS / CHUNK_NODES).max(1);
    let end = bound.min(from.saturating_add(ids as NodeId));
    let mut id = from;
    while id < end && nodes.len() < chunk_nodes {
        if let Some(n) = tree.node_by_id(id) {
            let acl = acl_ids.id(n.acl(), new_acls);
            nodes.push(to_snap(&n, acl));
        }
        id += 1;
    }
    (nodes, id)
}

fn session_list(tree: &DataTree) -> Vec<(SessionId, i32, Bytes)> {
    tree.sessions()
        .iter()
        .map(|(id, r)| (*id, r.timeout_ms, r.password.clone()))
        .collect()
}

/// A fuzzy snapshot being written: the one scanner of every snapshot (the node's own, in the
/// background, and the one a leader streams to a learner). [`TreeScan::begin`] takes, at one
/// instant, the zxid `S` (the tree's last applied txn), the session table and the id bound;
/// then each [`TreeScan::take`] copies the next chunk of nodes out of the tree as it is then
/// (the caller holds the read lock only for that), and [`TreeScan::write`] encodes it with no
/// lock held. Nodes may show txns after `S` and a child may come before its parent; replaying
/// every txn after `S` over the loaded snapshot gives the exact tree (see the module doc).
pub struct TreeScan {
    zxid: Zxid,
    sessions: Option<Vec<(SessionId, i32, Bytes)>>,
    session_count: u64,
    bound: NodeId,
    next: NodeId,
    chunk_nodes: usize,
    acl_ids: AclIds,
    node_count: u64,
    bytes: u64,
    buf: Vec<u8>,
}

/// The nodes (and the ACL lists first seen with them) of one chunk of a [`TreeScan`].
pub struct ScanChunk {
    acls: Vec<(u32, Vec<Acl>)>,
    nodes: Vec<SnapNode>,
}

impl TreeScan {
    /// Starts a scan of `tree` (read-locked by the caller for this call only), `chunk_nodes`
    /// nodes per chunk ([`CHUNK_NODES`] but in tests and the simulator).
    pub fn begin(tree: &DataTree, chunk_nodes: usize) -> TreeScan {
        let sessions = session_list(tree);
        TreeScan {
            zxid: tree.last_zxid(),
            session_count: sessions.len() as u64,
            sessions: Some(sessions),
            // Nodes created after `S` at ids from `bound` on are in the txns after `S`.
            bound: tree.id_bound(),
            next: 0,
            chunk_nodes: chunk_nodes.max(1),
            acl_ids: AclIds::default(),
            node_count: 0,
            bytes: 0,
            buf: Vec::with_capacity(1 << 16),
        }
    }

    /// The zxid `S` the snapshot covers: the last txn applied when it began.
    pub fn zxid(&self) -> Zxid {
        self.zxid
    }

    /// Has every node id been looked at?
    pub fn scanned(&self) -> bool {
        self.next >= self.bound
    }

    /// Copies the next chunk out of `tree` as it is now (the caller holds its read lock for
    /// this call only).
    pub fn take(&mut self, tree: &DataTree) -> ScanChunk {
        let mut acls = Vec::new();
        let (nodes, next) = next_chunk(
            tree,
            self.next,
            self.bound,
            self.chunk_nodes,
            &mut self.acl_ids,
            &mut acls,
        );
        self.next = next;
        ScanChunk { acls, nodes }
    }

    /// Writes the file header (with `S`), then the session table, if not written yet.
    fn write_head(&mut self, out: &mut impl Write, header: bool) -> io::Result<()> {
        if let Some(sessions) = self.sessions.take() {
            if header {
                out.write_all(&format::header(SNAP_MAGIC, self.zxid))?;
                self.bytes += HEADER_LEN as u64;
            }
            self.bytes += write_record(out, &SnapRecord::Sessions(sessions), &mut self.buf)?;
        }
        Ok(())
    }

    /// Encodes a chunk [`TreeScan::take`] copied out (no lock needed).
    pub fn write(&mut self, chunk: ScanChunk, out: &mut impl Write) -> io::Result<()> {
        self.write_head(out, true)?;
        if !chunk.acls.is_empty() {
            self.bytes += write_record(out, &SnapRecord::Acls(chunk.acls), &mut self.buf)?;
        }
        if !chunk.nodes.is_empty() {
            self.node_count += chunk.nodes.len() as u64;
            self.bytes += write_record(out, &SnapRecord::Nodes(chunk.nodes), &mut self.buf)?;
        }
        Ok(())
    }

    /// Writes the end record once every id was scanned; returns (bytes, nodes) written.
    pub fn finish(mut self, out: &mut impl Write) -> io::Result<(u64, u64)> {
        debug_assert!(self.scanned());
        self.write_head(out, true)?;
        let end = SnapRecord::End {
            nodes: self.node_count,
            sessions: self.session_count,
        };
        self.bytes += write_record(out, &end, &mut self.buf)?;
        Ok((self.bytes, self.node_count))
    }

    /// Writes the whole snapshot to `out`, each chunk taken from the tree `with_tree` lends
    /// (a read-locked store, or a tree held still) and written with no lock held. `with_tree`
    /// returns false to give up (the tree was replaced since the scan began): the result is
    /// then an error of kind `Interrupted`. Returns (bytes, nodes) written, header included.
    pub fn run(
        mut self,
        out: &mut impl Write,
        mut with_tree: impl FnMut(&mut dyn FnMut(&DataTree)) -> bool,
    ) -> io::Result<(u64, u64)> {
        self.write_head(out, true)?;
        while !self.scanned() {
            let mut chunk = None;
            if !with_tree(&mut |tree| chunk = Some(self.take(tree))) {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "the tree was replaced while its snapshot was written",
                ));
            }
            if let Some(chunk) = chunk {
                self.write(chunk, out)?;
            }
        }
        self.finish(out)
    }
}

fn to_snap(n: &NodeRef<'_>, acl: u32) -> SnapNode {
    SnapNode {
        path: n.path(),
        data: n.data().map(Bytes::copy_from_slice),
        acl,
        czxid: n.czxid,
        mzxid: n.mzxid,
        ctime: n.ctime,
        mtime: n.mtime,
        version: n.version,
        cversion: n.cversion,
        aversion: n.aversion,
        ephemeral_owner: n.ephemeral_owner(),
        pzxid: n.pzxid,
    }
}
