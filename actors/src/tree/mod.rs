//! The data tree: znodes, their stats and ACLs, ephemeral owners and the session table.
//!
//! A pure core: [`DataTree::apply`] takes a committed [`Txn`] and changes the tree exactly as
//! ZooKeeper's `DataTree.processTxn` does, returning the [`Change`]s that fire watches. Reads
//! are plain methods returning [`NodeRef`] views. No IO, no clock, no locking (the store wraps
//! it in a lock).
//!
//! Memory layout (figures in docs/benchmarks.md, "Memory model"): nodes live in an [`arena`]
//! of fixed-size slots with names stored once and children as intrusive lists (no path strings); ACL lists
//! are interned in a reference-counted table ([`acls`]); ephemeral owners, which few nodes
//! have, sit in a side table. Data is copied into the node's own block, never kept as a slice
//! of a request or peer frame (which would pin the whole receive buffer).
//!
//! A restore ([`Restore`]) takes a snapshot's nodes in any order: a node whose parent has not
//! come (yet) hangs under a *placeholder* for each missing ancestor. Placeholders are invisible
//! (no read, write or count sees them); one that the snapshot or the log replay later creates
//! becomes a real node with its children, and [`DataTree::drop_orphans`] removes those left
//! after the replay, with the real nodes below them (a fuzzy snapshot's leftovers).
//!
//! Invariants:
//! * every real node but `/` has a real parent, which lists it as a child; outside a restore
//!   and its replay there are no placeholders;
//! * `last_zxid` is the zxid of the last applied txn, and txns are applied in increasing order;
//! * `ephemerals[s]` holds exactly the nodes whose stored owner is session `s`, and `owners`
//!   the stored owner of every node with a non-zero one (and only those carry [`HAS_OWNER`]);
//! * a node's stored `cversion` counts child creations; the visible one is derived (§8.2);
//!   `num_children` counts its real children;
//! * `quota_paths` holds exactly the paths `p` with a `/zookeeper/quota<p>/zookeeper_limits`
//!   node, and each one's stats node data counts the nodes and data bytes under `p`
//!   (kept up to date in place, as ZooKeeper does; see [`quota`]).

mod acls;
mod arena;
mod node;
pub mod path;
pub mod quota;
mod restore;
pub mod watches;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;

use crate::proto::codes::{event_type, opcode};
use crate::proto::{Acl, ErrorCode, Stat};
use crate::txn::{SessionId, Txn, TxnOp, Zxid};
use acls::{AclTable, NO_ACL};
use arena::{Arena, ROOT};

pub use acls::AclList;
pub use arena::{Block, NodeId, StoredStat};
pub use node::{Node, NodeKind, NodeRef};
pub use restore::{BadNodePath, Restore};

/// Slot flag: the data is null (not empty).
const DATA_NULL: u32 = 1;
/// Slot flag: the node has a non-zero stored owner (in `owners`).
const HAS_OWNER: u32 = 1 << 1;
/// Slot flag: a restore's placeholder for a missing ancestor.
const PHANTOM: u32 = 1 << 2;

fn data_flag(data: Option<&[u8]>) -> u32 {
    if data.is_none() {
        DATA_NULL
    } else {
        0
    }
}

/// A session in the replicated session table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Negotiated timeout at creation, ms.
    pub timeout_ms: i32,
    /// Password.
    pub password: Bytes,
}

/// A change that may fire watches: `event` on `path`, whose ACL (before a delete) is `acl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The node the event is about.
    pub path: String,
    /// `event_type::*`.
    pub event: i32,
    /// The ACL that decides who may see the event.
    pub acl: AclList,
}

/// The outcome of one applied op, enough to build the client's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// A node was created: its path and Stat.
    Created(String, Stat),
    /// A node was deleted.
    Deleted,
    /// setData / setACL: the Stat after the change.
    Stat(Stat),
    /// A check passed.
    Checked,
    /// A multi: one result per op, with the op's opcode.
    Multi(Vec<(i32, OpResult)>),
    /// The op failed with this code (errors txns, failed multis).
    Error(i32),
    /// Session created / closed, reconfig applied.
    Done,
    /// reconfig: the new config data and the Stat of /zookeeper/config.
    Config(Option<Bytes>, Stat),
}

/// The data tree.
#[derive(Debug, Clone)]
pub struct DataTree {
    arena: Arena,
    acls: AclTable,
    owners: HashMap<NodeId, i64>,
    ephemerals: HashMap<SessionId, HashSet<NodeId>>,
    sessions: BTreeMap<SessionId, SessionRecord>,
    last_zxid: Zxid,
    data_bytes: u64,
    /// Paths with a quota (ZooKeeper's `pTrie`).
    quota_paths: BTreeSet<String>,
    /// Placeholders in the arena (0 but during a restore and its replay).
    phantoms: usize,
    /// Restored from a snapshot and not yet through [`DataTree::finish_replay`].
    restored: bool,
    /// Installed from a leader's (fuzzy) snapshot whose tail is not applied yet: a mix of
    /// states no server had, until [`DataTree::finish_replay`].
    tail_pending: bool,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`.
    pub fn new() -> DataTree {
        let mut acls = AclTable::default();
        let open = acls.acquire(&Acl::open_unsafe());
        let mut t = DataTree::with_root(Arena::new(StoredStat::default(), b"", open, 0), acls);
        let zk = t.add_fresh(ROOT, "zookeeper", &Acl::open_unsafe());
        t.add_fresh(zk, "quota", &Acl::open_unsafe());
        let config = t.add_fresh(zk, "config", &Acl::read_unsafe());
        t.arena.get_mut(config).stat.aversion = -1;
        t.data_bytes = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"]
            .iter()
            .map(|p| p.len() as u64)
            .sum();
        t
    }

    fn with_root(arena: Arena, acls: AclTable) -> DataTree {
        DataTree {
            arena,
            acls,
            owners: HashMap::new(),
            ephemerals: HashMap::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
            data_bytes: 0,
            quota_paths: BTreeSet::new(),
            phantoms: 0,
            restored: false,
            tail_pending: false,
        }
    }

    /// A built-in node: empty data, zero stat, holding a reference to `acl`.
    fn add_fresh(&mut self, parent: NodeId, name: &str, acl: &[Acl]) -> NodeId {
        let acl = self.acls.acquire(acl);
        let id = self
            .arena
            .insert_if_absent(parent, name, b"", StoredStat::default(), acl, 0)
            .unwrap_or_else(|existing| existing);
        self.arena.get_mut(parent).stat.num_children += 1;
        id
    }

    /// The node `id` if it is a real node.
    pub fn node_by_id(&self, id: NodeId) -> Option<NodeRef<'_>> {
        let slot = self.arena.slot(id)?;
        (slot.flags & PHANTOM == 0).then_some(NodeRef {
            tree: self,
            id,
            slot,
        })
    }

    /// Every node id is below this (for scans in chunks: ids of nodes that exist stay put).
    pub fn id_bound(&self) -> NodeId {
        self.arena.bound()
    }

    /// The node at `path`. ZooKeeper keys the root under both `""` and `"/"`
    /// (`DataTree.nodes`), so a read of the empty path finds the root; the writes validate
    /// their paths before looking anything up, so only reads can reach it with `""`.
    pub fn get(&self, path: &str) -> Option<NodeRef<'_>> {
        let path = if path.is_empty() { "/" } else { path };
        self.node_by_id(self.arena.lookup(path)?)
    }

    fn real(&self, path: &str) -> Option<NodeId> {
        self.get(path).map(|n| n.id)
    }

    fn is_phantom(&self, id: NodeId) -> bool {
        self.arena.get(id).flags & PHANTOM != 0
    }

    /// zxid of the last applied txn.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Number of nodes, as `srvr`/`mntr` count them (ZooKeeper counts the root twice).
    pub fn node_count(&self) -> usize {
        self.arena.len() - self.phantoms + 1
    }

    /// Bytes of paths plus data (`zk_approximate_data_size`).
    pub fn approximate_data_size(&self) -> u64 {
        self.data_bytes
    }

    /// Heap bytes the nodes take (slots, names and data, the index), for the memory model.
    pub fn node_heap_bytes(&self) -> usize {
        self.arena.heap_bytes()
    }

    /// Distinct ACL lists in use.
    pub fn acl_list_count(&self) -> usize {
        self.acls.len()
    }

    /// Every node with its path, unordered (snapshots scan by id instead: see [`Self::id_bound`]).
    pub fn paths(&self) -> impl Iterator<Item = (String, NodeRef<'_>)> {
        (0..self.arena.bound())
            .filter_map(|id| self.node_by_id(id))
            .map(|n| (n.path(), n))
    }

    /// The nodes with a non-zero stored owner: ephemerals, containers and TTL nodes.
    pub fn nodes_with_owner(&self) -> impl Iterator<Item = NodeRef<'_>> {
        self.owners.keys().filter_map(|id| self.node_by_id(*id))
    }

    /// The session table.
    pub fn sessions(&self) -> &BTreeMap<SessionId, SessionRecord> {
        &self.sessions
    }

    /// The paths of the ephemeral nodes owned by `session`, sorted.
    pub fn ephemerals_of(&self, session: SessionId) -> Vec<String> {
        let mut paths: Vec<String> = self
            .ephemerals
            .get(&session)
            .into_iter()
            .flatten()
            .map(|id| self.arena.path(*id))
            .collect();
        paths.sort_unstable();
        paths
    }

    /// Every session that owns ephemerals, with their paths, sorted by session.
    pub fn all_ephemerals(&self) -> Vec<(SessionId, Vec<String>)> {
        let mut all: Vec<(SessionId, Vec<String>)> = self
            .ephemerals
            .keys()
            .map(|s| (*s, self.ephemerals_of(*s)))
            .collect();
        all.sort_unstable_by_key(|(s, _)| *s);
        all
    }

    /// Number of ephemeral nodes.
    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    /// Real nodes at and under `id`, depth first (`id` first).
    fn subtree(&self, id: NodeId) -> impl Iterator<Item = NodeRef<'_>> {
        let mut stack = vec![id];
        std::iter::from_fn(move || loop {
            let id = stack.pop()?;
            if let Some(n) = self.node_by_id(id) {
                stack.extend(self.arena.children(id));
                return Some(n);
            }
        })
    }

    /// Number of descendants of `path` (`getAllChildrenNumber`), not counting `path` itself.
    pub fn descendant_count(&self, path: &str) -> usize {
        self.real(path)
            .map_or(0, |id| self.subtree(id).count().saturating_sub(1))
    }

    /// Applies one committed txn. Returns the op's result and the watch-firing changes in the
    /// order ZooKeeper triggers them.
    pub fn apply(&mut self, txn: &Txn) -> (OpResult, Vec<Change>) {
        assert!(
            txn.zxid > self.last_zxid || txn.zxid == 0,
            "txn zxid {:#x} applied after {:#x}",
            txn.zxid,
            self.last_zxid
        );
        let mut changes = Vec::new();
        let result = self.apply_op(txn, &txn.op, &mut changes);
        if txn.zxid != 0 {
            self.last_zxid = txn.zxid;
        }
        (result, changes)
    }

    /// Sets the last applied zxid without a txn (recovery, and followers synced by snapshot).
    pub fn set_last_zxid(&mut self, zxid: Zxid) {
        self.last_zxid = zxid;
    }

    fn apply_op(&mut self, txn: &Txn, op: &TxnOp, changes: &mut Vec<Change>) -> OpResult {
        match op {
            TxnOp::CreateSession {
                timeout_ms,
                password,
            } => {
                self.sessions.insert(
                    txn.session_id,
                    SessionRecord {
                        timeout_ms: *timeout_ms,
                        // A copy: the txn's bytes may be a slice of a whole receive buffer.
                        password: Bytes::copy_from_slice(password),
                    },
                );
                OpResult::Done
            }
            TxnOp::CloseSession { ephemerals } => {
                for p in ephemerals {
                    // Deleting what is already gone is harmless (ZooKeeper logs and goes on).
                    self.delete_node(p, txn.zxid, changes);
                }
                // Anything the list missed (it cannot, but never leave an orphan behind).
                if let Some(left) = self.ephemerals.remove(&txn.session_id) {
                    for id in left {
                        let p = self.arena.path(id);
                        self.delete_node(&p, txn.zxid, changes);
                    }
                }
                self.sessions.remove(&txn.session_id);
                OpResult::Done
            }
            TxnOp::Create {
                path,
                data,
                acl,
                ephemeral_owner,
                parent_cversion,
            } => self.create_node(
                txn,
                path,
                data.as_deref(),
                acl,
                *ephemeral_owner,
                *parent_cversion,
                changes,
            ),
            TxnOp::Delete { path } => {
                if self.delete_node(path, txn.zxid, changes) {
                    OpResult::Deleted
                } else {
                    OpResult::Error(ErrorCode::NoNode.code())
                }
            }
            TxnOp::SetData {
                path,
                data,
                version,
            } => match self.real(path) {
                None => OpResult::Error(ErrorCode::NoNode.code()),
                Some(id) => {
                    let old = self.node_by_id(id).map_or(0, |n| n.data_len()) as u64;
                    let new = data.as_ref().map_or(0, |d| d.len()) as u64;
                    let s = self.arena.get_mut(id);
                    s.set_data(data.as_deref().unwrap_or_default());
                    s.flags = (s.flags & !DATA_NULL) | data_flag(data.as_deref());
                    s.stat.version = *version;
                    s.stat.mzxid = txn.zxid;
                    s.stat.mtime = txn.time_ms;
                    let acl = self.acls.get(s.acl).clone();
                    let stat = self.node_by_id(id).map(|n| n.stat()).unwrap_or_default();
                    self.data_bytes = self.data_bytes + new - old.min(self.data_bytes);
                    self.quota_update(path, new as i64 - old as i64, 0);
                    changes.push(Change {
                        path: path.clone(),
                        event: event_type::NODE_DATA_CHANGED,
                        acl,
                    });
                    OpResult::Stat(stat)
                }
            },
            TxnOp::SetAcl {
                path,
                acl,
                aversion,
            } => match self.real(path) {
                None => OpResult::Error(ErrorCode::NoNode.code()),
                Some(id) => {
                    let new = self.acls.acquire(acl);
                    let old = std::mem::replace(&mut self.arena.get_mut(id).acl, new);
                    self.acls.release(old);
                    self.arena.get_mut(id).stat.aversion = *aversion;
                    OpResult::Stat(self.node_by_id(id).map(|n| n.stat()).unwrap_or_default())
                }
            },
            TxnOp::Check { .. } => OpResult::Checked,
            TxnOp::Multi(ops) => {
                let mut results = Vec::with_capacity(ops.len());
                for (code, op) in ops {
                    let r = self.apply_op(txn, op, changes);
                    let code = match *code {
                        opcode::CREATE => opcode::CREATE,
                        opcode::CREATE2 | opcode::CREATE_TTL | opcode::CREATE_CONTAINER => {
                            opcode::CREATE2
                        }
                        other => other,
                    };
                    results.push((code, r));
                }
                OpResult::Multi(results)
            }
            TxnOp::MultiFailed(errs) => OpResult::Multi(
                errs.iter()
                    .map(|e| (opcode::ERROR, OpResult::Error(*e)))
                    .collect(),
            ),
            TxnOp::Error(e) => OpResult::Error(e.code()),
            TxnOp::Reconfig { data, version } => match self.real("/zookeeper/config") {
                None => OpResult::Error(ErrorCode::NoNode.code()),
                Some(id) => {
                    let old = self.node_by_id(id).map_or(0, |n| n.data_len()) as u64;
                    let s = self.arena.get_mut(id);
                    s.set_data(data);
                    s.flags &= !DATA_NULL;
                    s.stat.version = -1;
                    s.stat.mzxid = *version;
                    s.stat.mtime = txn.time_ms;
                    let acl = self.acls.get(s.acl).clone();
                    let stat = self.node_by_id(id).map(|n| n.stat()).unwrap_or_default();
                    self.data_bytes = (self.data_bytes + data.len() as u64).saturating_sub(old);
                    changes.push(Change {
                        path: "/zookeeper/config".into(),
                        event: event_type::NODE_DATA_CHANGED,
                        acl,
                    });
                    OpResult::Config(Some(data.clone()), stat)
                }
            },
        }
    }

    /// Records a non-zero stored owner of `id` (and the session's ephemeral set).
    fn set_owner(&mut self, id: NodeId, owner: i64) {
        self.clear_owner(id);
        if owner == 0 {
            return;
        }
        self.arena.get_mut(id).flags |= HAS_OWNER;
        self.owners.insert(id, owner);
        if let NodeKind::Ephemeral(s) = NodeKind::from_owner(owner) {
            self.ephemerals.entry(s).or_default().insert(id);
        }
    }

    /// Forgets the stored owner of `id`, if any.
    fn clear_owner(&mut self, id: NodeId) {
        let s = self.arena.get_mut(id);
        if s.flags & HAS_OWNER == 0 {
            return;
        }
        s.flags &= !HAS_OWNER;
        let Some(owner) = self.owners.remove(&id) else {
            return;
        };
        if let NodeKind::Ephemeral(s) = NodeKind::from_owner(owner) {
            if let Some(set) = self.ephemerals.get_mut(&s) {
                set.remove(&id);
                if set.is_empty() {
                    self.ephemerals.remove(&s);
                }
            }
        }
    }

    /// Turns placeholder `id` into a real node (it keeps its children).
    fn fill(&mut self, id: NodeId, stat: StoredStat, data: Option<&[u8]>, acl: u32) {
        let was_phantom = self.is_phantom(id);
        let s = self.arena.get_mut(id);
        s.stat = StoredStat {
            num_children: s.stat.num_children,
            ..stat
        };
        s.set_data(data.unwrap_or_default());
        s.flags = (s.flags & HAS_OWNER) | data_flag(data);
        let old_acl = std::mem::replace(&mut s.acl, acl);
        let parent = s.parent();
        if old_acl != NO_ACL {
            self.acls.release(old_acl);
        }
        if was_phantom {
            self.phantoms -= 1;
            if parent != arena::NONE {
                self.arena.get_mut(parent).stat.num_children += 1;
            }
        }
    }

    /// Removes `id` from the arena, or, if it still has children (placeholders or nodes of a
    /// fuzzy snapshot), turns it into a placeholder. Its parent's count is the caller's.
    fn unlink(&mut self, id: NodeId) {
        if self.arena.has_children(id) {
            self.make_placeholder(id);
        } else {
            self.arena.remove(id);
        }
    }

    /// Turns real node `id` (already forgotten) into a placeholder.
    fn make_placeholder(&mut self, id: NodeId) {
        let s = self.arena.get_mut(id);
        s.set_data(b"");
        s.flags = PHANTOM;
        s.acl = NO_ACL;
        self.phantoms += 1;
    }

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        txn: &Txn,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        changes: &mut Vec<Change>,
    ) -> OpResult {
        let Some(parent_path) = path::parent(path) else {
            return OpResult::Error(ErrorCode::NoNode.code());
        };
        let Some(parent) = self.arena.lookup(parent_path) else {
            return OpResult::Error(ErrorCode::NoNode.code());
        };
        let name = path::name(path);
        if path == "/" || self.is_phantom(parent) {
            // The root, or a child of a placeholder: only an existing node makes it NodeExists.
            let existing = if path == "/" {
                Some(ROOT)
            } else {
                self.arena.child(parent, name)
            };
            return match existing {
                Some(e) if !self.is_phantom(e) => {
                    self.node_exists_fixup(parent, parent_cversion, txn.zxid)
                }
                _ => OpResult::Error(ErrorCode::NoNode.code()),
            };
        }
        let acl = self.acls.acquire(acl);
        let stat = StoredStat {
            czxid: txn.zxid,
            mzxid: txn.zxid,
            ctime: txn.time_ms,
            mtime: txn.time_ms,
            pzxid: txn.zxid,
            ..StoredStat::default()
        };
        let bytes = data.unwrap_or_default();
        let id = match self
            .arena
            .insert_if_absent(parent, name, bytes, stat, acl, data_flag(data))
        {
            Ok(id) => {
                self.arena.get_mut(parent).stat.num_children += 1;
                id
            }
            Err(existing) if !self.is_phantom(existing) => {
                self.acls.release(acl);
                return self.node_exists_fixup(parent, parent_cversion, txn.zxid);
            }
            Err(placeholder) => {
                self.fill(placeholder, stat, data, acl);
                placeholder
            }
        };
        let ps = &mut self.arena.get_mut(parent).stat;
        if parent_cversion > ps.cversion {
            ps.cversion = parent_cversion;
            ps.pzxid = txn.zxid;
        }
        let parent_acl = self.acls.get(self.arena.get(parent).acl).clone();
        self.set_owner(id, owner);
        let stat = self.node_by_id(id).map(|n| n.stat()).unwrap_or_default();
        let data_len = data.map_or(0, <[u8]>::len);
        self.data_bytes += (path.len() + data_len) as u64;
        if let Some(quota_path) = quota::quota_path_of(parent_path) {
            match path::name(path) {
                quota::LIMIT_NODE => {
                    self.quota_paths.insert(quota_path.to_string());
                }
                quota::STAT_NODE => self.recount_quota(quota_path),
                _ => {}
            }
        }
        self.quota_update(path, data_len as i64, 1);
        changes.push(Change {
            path: path.to_string(),
            event: event_type::NODE_CREATED,
            acl: self.acls.get(acl).clone(),
        });
        changes.push(Change {
            path: parent_path.to_string(),
            event: event_type::NODE_CHILDREN_CHANGED,
            acl: parent_acl,
        });
        OpResult::Created(path.to_string(), stat)
    }

    /// A create of a node that exists: NodeExists. Replaying the log over a fuzzy snapshot that
    /// already has the node, the parent's child counter and pzxid may still predate it
    /// (ZooKeeper does the same fix-up).
    fn node_exists_fixup(&mut self, parent: NodeId, parent_cversion: i32, zxid: Zxid) -> OpResult {
        if !self.is_phantom(parent) {
            let ps = &mut self.arena.get_mut(parent).stat;
            if parent_cversion > ps.cversion {
                ps.cversion = parent_cversion;
                ps.pzxid = zxid;
            }
        }
        OpResult::Error(ErrorCode::NodeExists.code())
    }

    /// Drops what the tree keeps about real node `id` besides its slot: its owner, its ACL
    /// reference and its share of the data size. Returns its data length and its ACL.
    fn forget(&mut self, id: NodeId, path: &str) -> (usize, AclList) {
        let (len, acl_idx) = match self.node_by_id(id) {
            Some(n) => (n.data_len(), n.slot.acl),
            None => return (0, self.acls.get(NO_ACL).clone()),
        };
        self.data_bytes = self.data_bytes.saturating_sub((path.len() + len) as u64);
        self.clear_owner(id);
        let acl = self.acls.get(acl_idx).clone();
        self.acls.release(acl_idx);
        (len, acl)
    }

    /// Deletes `path` if present; returns whether it was.
    fn delete_node(&mut self, path: &str, zxid: Zxid, changes: &mut Vec<Change>) -> bool {
        let Some(id) = self.real(path).filter(|id| *id != ROOT) else {
            // Replaying the txns after a fuzzy snapshot, the node may be gone already while its
            // parent still predates the delete: the parent's pzxid moves all the same (as
            // ZooKeeper's `deleteNode` does).
            if let Some(parent) = path::parent(path).and_then(|p| self.real(p)) {
                let ps = &mut self.arena.get_mut(parent).stat;
                ps.pzxid = ps.pzxid.max(zxid);
            }
            return false;
        };
        let parent = self.arena.get(id).parent();
        let (len, acl) = self.forget(id, path);
        self.unlink(id);
        let parent_path = path::parent(path).unwrap_or("/");
        if path::name(path) == quota::LIMIT_NODE {
            if let Some(quota_path) = quota::quota_path_of(parent_path) {
                self.quota_paths.remove(quota_path);
            }
        }
        self.quota_update(path, -(len as i64), -1);
        let parent_acl = if self.is_phantom(parent) {
            None
        } else {
            let ps = self.arena.get_mut(parent);
            ps.stat.num_children = ps.stat.num_children.saturating_sub(1);
            if zxid > ps.stat.pzxid {
                ps.stat.pzxid = zxid;
            }
            let a = ps.acl;
            Some(self.acls.get(a).clone())
        };
        changes.push(Change {
            path: path.to_string(),
            event: event_type::NODE_DELETED,
            acl,
        });
        if let Some(acl) = parent_acl {
            changes.push(Change {
                path: parent_path.to_string(),
                event: event_type::NODE_CHILDREN_CHANGED,
                acl,
            });
        }
        true
    }

    /// The quota a change to `path` counts against: the nearest of `path` and its ancestors
    /// with a quota (`getMaxPrefixWithQuota`; never `/`).
    fn quota_of(&self, path: &str) -> Option<String> {
        if self.quota_paths.is_empty() {
            return None;
        }
        std::iter::once(path)
            .chain(path::ancestors(path))
            .take_while(|p| *p != "/")
            .find(|p| self.quota_paths.contains(*p))
            .map(str::to_string)
    }

    /// Adds to the usage of the quota `path` falls under, if any (`updateQuotaStat`).
    fn quota_update(&mut self, path: &str, bytes_diff: i64, count_diff: i64) {
        let Some(q) = self.quota_of(path) else {
            return;
        };
        let Some(node) = self.get(&quota::stat_path(&q)) else {
            return;
        };
        // Unreadable stats (a client may write anything there): ZooKeeper fails the apply with
        // an exception; leave them as they are instead.
        let Some(mut track) = quota::StatsTrack::parse(node.data().unwrap_or_default()) else {
            return;
        };
        track.add(count_diff, bytes_diff);
        self.set_stats(&q, track);
    }

    /// Counts the nodes and data bytes at and under `path` into its stats node
    /// (`updateQuotaForPath`).
    fn recount_quota(&mut self, path: &str) {
        let (count, bytes) = match self.real(path) {
            Some(id) => self
                .subtree(id)
                .fold((0i64, 0i64), |(c, b), n| (c + 1, b + n.data_len() as i64)),
            None => (0, 0),
        };
        self.set_stats(path, quota::StatsTrack::new(count, bytes));
    }

    /// Rewrites a stats node's data in place: no version, zxid or watch changes.
    fn set_stats(&mut self, path: &str, track: quota::StatsTrack) {
        if let Some(id) = self.real(&quota::stat_path(path)) {
            let text = track.to_text();
            let old = self.node_by_id(id).map_or(0, |n| n.data_len()) as u64;
            self.data_bytes = (self.data_bytes + text.len() as u64).saturating_sub(old);
            let s = self.arena.get_mut(id);
            s.set_data(text.as_bytes());
            s.flags &= !DATA_NULL;
        }
    }

    /// Recounts every quota from its limits node (ZooKeeper's `setupQuota`, after a restore).
    fn setup_quotas(&mut self) {
        let Some(root) = self.real(quota::ROOT) else {
            return;
        };
        let quotas: Vec<String> = self
            .subtree(root)
            .filter(|n| n.name() == quota::LIMIT_NODE)
            .filter_map(|n| {
                let p = n.path();
                quota::quota_path_of(path::parent(&p)?).map(str::to_string)
            })
            .collect();
        for q in quotas {
            self.recount_quota(&q);
            self.quota_paths.insert(q);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
