//! The data tree: znodes, their stats and ACLs, ephemeral owners and the session table.
//!
//! A pure core: [`DataTree::apply`] takes a committed [`Txn`] and changes the tree exactly as
//! ZooKeeper's `DataTree.processTxn` does, returning the [`Change`]s that fire watches. Reads
//! are plain methods. No IO, no clock, no locking (the store wraps it in a lock).
//!
//! Invariants:
//! * every node but `/` has its parent in the tree, and the parent lists it as a child;
//! * `last_zxid` is the zxid of the last applied txn, and txns are applied in increasing order;
//! * `ephemerals[s]` holds exactly the nodes whose stored owner is session `s`;
//! * a node's stored `cversion` counts child creations; the visible one is derived (§8.2);
//! * `quota_paths` holds exactly the paths `p` with a `/zookeeper/quota<p>/zookeeper_limits`
//!   node, and each one's stats node data counts the nodes and data bytes under `p`
//!   (kept up to date in place, as ZooKeeper does; see [`quota`]).

pub mod path;
pub mod quota;
pub mod watches;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use crate::proto::codes::{ephemeral_owner, event_type, opcode};
use crate::proto::{Acl, ErrorCode, Stat};
use crate::txn::{SessionId, Txn, TxnOp, Zxid};

/// An ACL list shared by every node that has it.
pub type AclList = Arc<Vec<Acl>>;

/// What kind of node an `ephemeralOwner` value marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// Plain persistent node.
    Persistent,
    /// Owned by a session.
    Ephemeral(SessionId),
    /// Container (reaped when empty after having had children).
    Container,
    /// TTL node, with its TTL in ms.
    Ttl(i64),
}

impl NodeKind {
    /// Decodes a stored `ephemeralOwner` (`EphemeralType.get`).
    pub fn from_owner(owner: i64) -> NodeKind {
        if owner == 0 {
            NodeKind::Persistent
        } else if owner == ephemeral_owner::CONTAINER {
            NodeKind::Container
        } else if (owner as u64) >> 56 == 0xff && (owner as u64 >> 40) & 0xffff == 0 {
            NodeKind::Ttl(owner & ephemeral_owner::TTL_MAX_MS)
        } else {
            NodeKind::Ephemeral(owner)
        }
    }

    /// The stored `ephemeralOwner` for a TTL node.
    pub fn ttl_owner(ttl_ms: i64) -> i64 {
        ephemeral_owner::TTL_MARKER | (ttl_ms & ephemeral_owner::TTL_MAX_MS)
    }
}

/// One znode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Data; `None` is null (distinct from empty).
    pub data: Option<Bytes>,
    /// ACL.
    pub acl: AclList,
    /// zxid of the create.
    pub czxid: Zxid,
    /// zxid of the last data change.
    pub mzxid: Zxid,
    /// Creation time, ms.
    pub ctime: i64,
    /// Last data change time, ms.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Stored child-creation counter (ZooKeeper's persisted cversion).
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Stored owner: 0, a session, or the container / TTL marker.
    pub ephemeral_owner: i64,
    /// zxid of the last child create/delete.
    pub pzxid: Zxid,
    /// Child names.
    pub children: BTreeSet<Box<str>>,
}

impl Node {
    fn new(acl: AclList) -> Node {
        Node {
            data: Some(Bytes::new()),
            acl,
            czxid: 0,
            mzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            pzxid: 0,
            children: BTreeSet::new(),
        }
    }

    /// The client-visible Stat (`DataNode.copyStat`).
    pub fn stat(&self) -> Stat {
        let num_children = self.children.len() as i32;
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion,
            ephemeral_owner: match NodeKind::from_owner(self.ephemeral_owner) {
                NodeKind::Ephemeral(s) => s,
                _ => 0,
            },
            data_length: self.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children,
            pzxid: self.pzxid,
        }
    }

    /// What kind of node this is.
    pub fn kind(&self) -> NodeKind {
        NodeKind::from_owner(self.ephemeral_owner)
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
    nodes: HashMap<String, Node>,
    ephemerals: HashMap<SessionId, BTreeSet<String>>,
    sessions: BTreeMap<SessionId, SessionRecord>,
    last_zxid: Zxid,
    acl_cache: HashMap<Vec<Acl>, AclList>,
    data_bytes: u64,
    /// Paths with a quota (ZooKeeper's `pTrie`).
    quota_paths: BTreeSet<String>,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`.
    pub fn new() -> DataTree {
        let mut t = DataTree {
            nodes: HashMap::new(),
            ephemerals: HashMap::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
            acl_cache: HashMap::new(),
            data_bytes: 0,
            quota_paths: BTreeSet::new(),
        };
        let open = t.intern_acl(Acl::open_unsafe());
        let mut root = Node::new(open.clone());
        root.children.insert("zookeeper".into());
        let mut zk = Node::new(open.clone());
        zk.children.insert("quota".into());
        zk.children.insert("config".into());
        let mut config = Node::new(t.intern_acl(Acl::read_unsafe()));
        config.aversion = -1;
        t.nodes.insert("/".into(), root);
        t.nodes.insert("/zookeeper".into(), zk);
        t.nodes.insert("/zookeeper/quota".into(), Node::new(open));
        t.nodes.insert("/zookeeper/config".into(), config);
        t.data_bytes = t.nodes.keys().map(|k| k.len() as u64).sum();
        t
    }

    /// Shares one allocation among identical ACL lists.
    pub fn intern_acl(&mut self, acl: Vec<Acl>) -> AclList {
        if let Some(a) = self.acl_cache.get(&acl) {
            return a.clone();
        }
        let a = Arc::new(acl.clone());
        self.acl_cache.insert(acl, a.clone());
        a
    }

    /// The node at `path`. ZooKeeper keys the root under both `""` and `"/"`
    /// (`DataTree.nodes`), so a read of the empty path finds the root; the writes validate
    /// their paths before looking anything up, so only reads can reach it with `""`.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(if path.is_empty() { "/" } else { path })
    }

    /// zxid of the last applied txn.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Number of nodes, as `srvr`/`mntr` count them (ZooKeeper counts the root twice).
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// Bytes of paths plus data (`zk_approximate_data_size`).
    pub fn approximate_data_size(&self) -> u64 {
        self.data_bytes
    }

    /// Every node path (for snapshots and tests), unordered.
    pub fn paths(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    /// The session table.
    pub fn sessions(&self) -> &BTreeMap<SessionId, SessionRecord> {
        &self.sessions
    }

    /// The ephemeral nodes owned by `session`.
    pub fn ephemerals_of(&self, session: SessionId) -> Option<&BTreeSet<String>> {
        self.ephemerals.get(&session)
    }

    /// Every session that owns ephemerals, with its nodes.
    pub fn all_ephemerals(&self) -> &HashMap<SessionId, BTreeSet<String>> {
        &self.ephemerals
    }

    /// Number of ephemeral nodes.
    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    /// Number of descendants of `path` (`getAllChildrenNumber`), not counting `path` itself.
    pub fn descendant_count(&self, path: &str) -> usize {
        let Some(node) = self.nodes.get(path) else {
            return 0;
        };
        let mut count = 0;
        let mut stack: Vec<String> = node.children.iter().map(|c| path::join(path, c)).collect();
        while let Some(p) = stack.pop() {
            count += 1;
            if let Some(n) = self.nodes.get(&p) {
                stack.extend(n.children.iter().map(|c| path::join(&p, c)));
            }
        }
        count
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
                        password: password.clone(),
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
                    for p in left {
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
                data,
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
            } => match self.nodes.get_mut(path) {
                None => OpResult::Error(ErrorCode::NoNode.code()),
                Some(n) => {
                    let old = n.data.as_ref().map_or(0, |d| d.len()) as u64;
                    let new = data.as_ref().map_or(0, |d| d.len()) as u64;
                    n.data = data.clone();
                    n.version = *version;
                    n.mzxid = txn.zxid;
                    n.mtime = txn.time_ms;
                    let stat = n.stat();
                    let acl = n.acl.clone();
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
            } => {
                let acl = self.intern_acl(acl.clone());
                match self.nodes.get_mut(path) {
                    None => OpResult::Error(ErrorCode::NoNode.code()),
                    Some(n) => {
                        n.acl = acl;
                        n.aversion = *aversion;
                        OpResult::Stat(n.stat())
                    }
                }
            }
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
            TxnOp::Reconfig { data, version } => match self.nodes.get_mut("/zookeeper/config") {
                None => OpResult::Error(ErrorCode::NoNode.code()),
                Some(n) => {
                    n.data = Some(data.clone());
                    n.version = -1;
                    n.mzxid = *version;
                    n.mtime = txn.time_ms;
                    let (stat, acl) = (n.stat(), n.acl.clone());
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

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        txn: &Txn,
        path: &str,
        data: &Option<Bytes>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        changes: &mut Vec<Change>,
    ) -> OpResult {
        let Some(parent_path) = path::parent(path) else {
            return OpResult::Error(ErrorCode::NoNode.code());
        };
        if self.nodes.contains_key(path) {
            // Replaying the log over a fuzzy snapshot that already has this node: the parent's
            // child counter and pzxid may still predate it (ZooKeeper does the same fix-up).
            if let Some(parent) = self.nodes.get_mut(parent_path) {
                if parent_cversion > parent.cversion {
                    parent.cversion = parent_cversion;
                    parent.pzxid = txn.zxid;
                }
            }
            return OpResult::Error(ErrorCode::NodeExists.code());
        }
        let acl = self.intern_acl(acl.to_vec());
        let Some(parent) = self.nodes.get_mut(parent_path) else {
            return OpResult::Error(ErrorCode::NoNode.code());
        };
        parent.children.insert(path::name(path).into());
        if parent_cversion > parent.cversion {
            parent.cversion = parent_cversion;
            parent.pzxid = txn.zxid;
        }
        let parent_acl = parent.acl.clone();
        let node = Node {
            data: data.clone(),
            acl: acl.clone(),
            czxid: txn.zxid,
            mzxid: txn.zxid,
            ctime: txn.time_ms,
            mtime: txn.time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: txn.zxid,
            children: BTreeSet::new(),
        };
        let stat = node.stat();
        self.data_bytes += path.len() as u64 + data.as_ref().map_or(0, |d| d.len()) as u64;
        if let NodeKind::Ephemeral(s) = node.kind() {
            self.ephemerals
                .entry(s)
                .or_default()
                .insert(path.to_string());
        }
        self.nodes.insert(path.to_string(), node);
        if let Some(quota_path) = quota::quota_path_of(parent_path) {
            match path::name(path) {
                quota::LIMIT_NODE => {
                    self.quota_paths.insert(quota_path.to_string());
                }
                quota::STAT_NODE => self.recount_quota(quota_path),
                _ => {}
            }
        }
        self.quota_update(path, data.as_ref().map_or(0, |d| d.len()) as i64, 1);
        changes.push(Change {
            path: path.to_string(),
            event: event_type::NODE_CREATED,
            acl,
        });
        changes.push(Change {
            path: parent_path.to_string(),
            event: event_type::NODE_CHILDREN_CHANGED,
            acl: parent_acl,
        });
        OpResult::Created(path.to_string(), stat)
    }

    /// Deletes `path` if present; returns whether it was.
    fn delete_node(&mut self, path: &str, zxid: Zxid, changes: &mut Vec<Change>) -> bool {
        let Some(node) = self.nodes.remove(path) else {
            return false;
        };
        self.data_bytes = self
            .data_bytes
            .saturating_sub(path.len() as u64 + node.data.as_ref().map_or(0, |d| d.len()) as u64);
        if let NodeKind::Ephemeral(s) = node.kind() {
            if let Some(set) = self.ephemerals.get_mut(&s) {
                set.remove(path);
                if set.is_empty() {
                    self.ephemerals.remove(&s);
                }
            }
        }
        let parent_path = path::parent(path).unwrap_or("/");
        if path::name(path) == quota::LIMIT_NODE {
            if let Some(quota_path) = quota::quota_path_of(parent_path) {
                self.quota_paths.remove(quota_path);
            }
        }
        self.quota_update(
            path,
            -(node.data.as_ref().map_or(0, |d| d.len()) as i64),
            -1,
        );
        let parent_acl = match self.nodes.get_mut(parent_path) {
            Some(parent) => {
                parent.children.remove(path::name(path));
                if zxid > parent.pzxid {
                    parent.pzxid = zxid;
                }
                Some(parent.acl.clone())
            }
            None => None,
        };
        changes.push(Change {
            path: path.to_string(),
            event: event_type::NODE_DELETED,
            acl: node.acl.clone(),
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

    /// Rebuilds a tree from persisted nodes and sessions (snapshot loading). Child lists and
    /// ephemeral sets are derived from the paths. Nodes whose parent is missing (possible in a
    /// fuzzy snapshot whose log replay will delete them) are kept aside and returned; call
    /// [`DataTree::drop_orphans`] after replay.
    pub fn restore(
        nodes: Vec<(String, Node)>,
        sessions: Vec<(SessionId, SessionRecord)>,
        last_zxid: Zxid,
    ) -> DataTree {
        let mut t = DataTree::empty();
        t.nodes.reserve(nodes.len());
        // Children sets, built per parent from sorted names (a bulk build, not one insert per
        // child in hash order).
        let mut children: HashMap<String, BTreeSet<Box<str>>> = {
            let mut groups: HashMap<&str, Vec<&str>> = HashMap::new();
            for (p, _) in nodes.iter().filter(|(p, _)| p.as_str() != "/") {
                if let Some(parent) = path::parent(p) {
                    groups.entry(parent).or_default().push(path::name(p));
                }
            }
            groups
                .into_iter()
                .map(|(parent, mut names)| {
                    names.sort_unstable();
                    (
                        parent.to_string(),
                        names.into_iter().map(Box::from).collect(),
                    )
                })
                .collect()
        };
        // Nodes read from one snapshot share one Arc per ACL list: intern each list once.
        let mut interned: HashMap<*const Vec<Acl>, AclList> = HashMap::new();
        for (path, mut node) in nodes {
            let key = Arc::as_ptr(&node.acl);
            node.acl = match interned.get(&key) {
                Some(a) => a.clone(),
                None => {
                    let a = t.intern_acl(node.acl.as_ref().clone());
                    interned.insert(key, a.clone());
                    a
                }
            };
            node.children = children.remove(&path).unwrap_or_default();
            t.data_bytes += path.len() as u64 + node.data.as_ref().map_or(0, |d| d.len()) as u64;
            if let NodeKind::Ephemeral(s) = node.kind() {
                t.ephemerals.entry(s).or_default().insert(path.clone());
            }
            t.nodes.insert(path, node);
        }
        for (id, rec) in sessions {
            t.sessions.insert(id, rec);
        }
        t.last_zxid = last_zxid;
        // ZooKeeper's setupQuota: every limits node names a quota; recount each one.
        let quotas: Vec<String> = t
            .nodes
            .keys()
            .filter(|p| path::name(p) == quota::LIMIT_NODE)
            .filter_map(|p| quota::quota_path_of(path::parent(p)?).map(str::to_string))
            .collect();
        for q in quotas {
            t.recount_quota(&q);
            t.quota_paths.insert(q);
        }
        t
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
        let Some(node) = self.nodes.get(&quota::stat_path(&q)) else {
            return;
        };
        // Unreadable stats (a client may write anything there): ZooKeeper fails the apply with
        // an exception; leave them as they are instead.
        let Some(mut track) = quota::StatsTrack::parse(node.data.as_deref().unwrap_or(&[])) else {
            return;
        };
        track.add(count_diff, bytes_diff);
        self.set_stats(&q, track);
    }

    /// Counts the nodes and data bytes at and under `path` into its stats node
    /// (`updateQuotaForPath`).
    fn recount_quota(&mut self, path: &str) {
        let (mut count, mut bytes) = (0i64, 0i64);
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            if let Some(n) = self.nodes.get(&p) {
                count += 1;
                bytes += n.data.as_ref().map_or(0, |d| d.len()) as i64;
                stack.extend(n.children.iter().map(|c| path::join(&p, c)));
            }
        }
        self.set_stats(path, quota::StatsTrack::new(count, bytes));
    }

    /// Rewrites a stats node's data in place: no version, zxid or watch changes.
    fn set_stats(&mut self, path: &str, track: quota::StatsTrack) {
        if let Some(node) = self.nodes.get_mut(&quota::stat_path(path)) {
            let text = Bytes::from(track.to_text());
            let old = node.data.as_ref().map_or(0, |d| d.len()) as u64;
            self.data_bytes = (self.data_bytes + text.len() as u64).saturating_sub(old);
            node.data = Some(text);
        }
    }

    /// Removes nodes whose parent does not exist (and their descendants); returns their paths.
    /// After a complete replay there are none: a non-empty result means damaged state.
    pub fn drop_orphans(&mut self) -> Vec<String> {
        let mut orphans: Vec<String> = self
            .nodes
            .keys()
            .filter(|p| {
                p.as_str() != "/" && path::parent(p).is_some_and(|pp| !self.nodes.contains_key(pp))
            })
            .cloned()
            .collect();
        orphans.sort();
        for p in &orphans {
            let mut changes = Vec::new();
            let doomed: Vec<String> = self
                .nodes
                .keys()
                .filter(|k| k.as_str() == p || k.starts_with(&format!("{p}/")))
                .cloned()
                .collect();
            for d in doomed {
                self.delete_node(&d, self.last_zxid, &mut changes);
            }
        }
        orphans
    }

    /// An empty tree with no nodes at all.
    fn empty() -> DataTree {
        DataTree {
            nodes: HashMap::new(),
            ephemerals: HashMap::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
            acl_cache: HashMap::new(),
            data_bytes: 0,
            quota_paths: BTreeSet::new(),
        }
    }
}

#[cfg(test)]
mod tests;
