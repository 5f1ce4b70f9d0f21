//! Nodes of a fuzzy ZooKeeper snapshot that name an ACL its table lacks.
//!
//! ZooKeeper writes a snapshot's ACL table before its nodes while writes go on, so a txn between
//! the two can leave a node naming an ACL key the table does not hold: a setACL that gave an
//! existing node a new ACL list, or a create whose node (with a new list) was written after the
//! table. ZooKeeper loads such a snapshot (it ignores the key's use count) and the replay of the
//! logged txns after the snapshot's zxid sets the ACL again: the setACL replaces the node's ACL,
//! and the create, although its node already exists, enters its list in the table under the
//! same key the first server gave it.
//!
//! The import does what the replay amounts to, by path rather than by key numbering: a node with
//! a missing key holds an empty ACL (no permission at all; ZooKeeper never gives a node an empty
//! ACL, a create or setACL with one is refused as InvalidACL) until
//! * a replayed setACL of its path replaces it (the tree does that), or
//! * the replayed create of its path whose zxid is the node's czxid (the txn that made it) gives
//!   it that create's ACL, at [`UnresolvedAcls::resolve`];
//!
//! a delete of its path ends the question (a later create brings its own ACL). A node still
//! unresolved after the replay is damage: no txn explains the key, and ZooKeeper itself would
//! fail every read of that node's ACL.
//!
//! Invariant: only nodes read from the snapshot with a missing key, still holding the empty ACL
//! after the replay, are ever changed.

use std::collections::HashMap;
use std::sync::Arc;

use crate::proto::Acl;
use crate::tree::{AclList, Node};
use crate::txn::{TxnOp, Zxid};

/// A node whose ACL key the snapshot's table lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    key: i64,
    czxid: Zxid,
    /// The ACL of the replayed create that made the node, once seen.
    created_with: Option<Vec<Acl>>,
}

/// The nodes of a snapshot that name a missing ACL key, and what the replay said about them.
#[derive(Debug, Clone, Default)]
pub struct UnresolvedAcls {
    pending: HashMap<String, Pending>,
}

impl UnresolvedAcls {
    /// The ACL such a node holds until resolved (empty: no one may do anything).
    pub fn placeholder() -> AclList {
        Arc::new(Vec::new())
    }

    /// Notes that the snapshot's node `path`, created by `czxid`, names `key`, absent from the
    /// table.
    pub fn add(&mut self, path: String, key: i64, czxid: Zxid) {
        self.pending.insert(
            path,
            Pending {
                key,
                czxid,
                created_with: None,
            },
        );
    }

    /// How many nodes are noted.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Takes note of a replayed txn (`zxid`, `op`): applied ops only (a multi's ops all apply; a
    /// failed write changes nothing).
    pub fn observe(&mut self, zxid: Zxid, op: &TxnOp) {
        if self.pending.is_empty() {
            return;
        }
        match op {
            TxnOp::Create { path, acl, .. } => {
                if let Some(p) = self.pending.get_mut(path) {
                    if p.czxid == zxid {
                        p.created_with = Some(acl.clone());
                    }
                }
            }
            TxnOp::SetAcl { path, .. } | TxnOp::Delete { path } => {
                self.pending.remove(path);
            }
            TxnOp::CloseSession { ephemerals } => {
                for path in ephemerals {
                    self.pending.remove(path);
                }
            }
            TxnOp::Multi(ops) => {
                for (_, op) in ops {
                    self.observe(zxid, op);
                }
            }
            _ => {}
        }
    }

    /// Gives each noted node still holding the placeholder the ACL of the create that made it;
    /// returns the nodes nothing resolved (path and key), sorted by path.
    pub fn resolve(self, nodes: &mut [(String, Node)]) -> Vec<(String, i64)> {
        let mut pending = self.pending;
        let mut left = Vec::new();
        for (path, node) in nodes.iter_mut() {
            if pending.is_empty() {
                break;
            }
            let Some(p) = pending.remove(path.as_str()) else {
                continue;
            };
            if !node.acl.is_empty() {
                continue;
            }
            match p.created_with {
                Some(acl) => node.acl = Arc::new(acl),
                None => left.push((path.clone(), p.key)),
            }
        }
        left.sort();
        left
    }
}
