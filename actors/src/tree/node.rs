//! How callers see a znode: [`NodeRef`], a borrowed view of a node in the tree (it derefs to the
//! node's [`StoredStat`]), and [`Node`], a detached owned copy (what a snapshot restores and
//! tests compare).

use std::ops::Deref;

use bytes::Bytes;

use super::acls::AclList;
use super::arena::{NodeId, Slot, StoredStat};
use super::DataTree;
use crate::proto::codes::ephemeral_owner;
use crate::proto::Stat;

use crate::txn::SessionId;

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

/// A znode detached from the tree: its data, ACL and stored stat fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Data; `None` is null (distinct from empty).
    pub data: Option<Bytes>,
    /// ACL.
    pub acl: AclList,
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last data change.
    pub mzxid: i64,
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
    pub pzxid: i64,
}

impl Node {
    /// What its stored owner makes it.
    pub fn kind(&self) -> NodeKind {
        NodeKind::from_owner(self.ephemeral_owner)
    }

    /// The stored stat fields, with no children.
    pub(super) fn stored_stat(&self) -> StoredStat {
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

/// A node in the tree, borrowed. Derefs to its stored stat (`n.mzxid`, `n.num_children`).
#[derive(Clone, Copy)]
pub struct NodeRef<'a> {
    pub(super) tree: &'a DataTree,
    pub(super) id: NodeId,
    pub(super) slot: &'a Slot,
}

impl std::fmt::Debug for NodeRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRef")
            .field("id", &self.id)
            .field("name", &self.name())
            .field("stat", &self.slot.stat)
            .finish()
    }
}

impl Deref for NodeRef<'_> {
    type Target = StoredStat;
    fn deref(&self) -> &StoredStat {
        &self.slot.stat
    }
}

impl<'a> NodeRef<'a> {
    /// Its id in the tree (stable while the node exists).
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Its name (the last path segment; empty for the root).
    pub fn name(&self) -> &'a str {
        self.slot.name()
    }

    /// Its absolute path, rebuilt from the parent links.
    pub fn path(&self) -> String {
        self.tree.arena.path(self.id)
    }

    /// Its data; `None` is null.
    pub fn data(&self) -> Option<&'a [u8]> {
        (self.slot.flags & super::DATA_NULL == 0).then(|| self.slot.data())
    }

    /// Length of its data (0 for null).
    pub fn data_len(&self) -> usize {
        self.data().map_or(0, <[u8]>::len)
    }

    /// Its ACL.
    pub fn acl(&self) -> &'a AclList {
        self.tree.acls.get(self.slot.acl)
    }

    /// The stored owner: 0, a session, or the container / TTL marker.
    pub fn ephemeral_owner(&self) -> i64 {
        if self.slot.flags & super::HAS_OWNER == 0 {
            0
        } else {
            self.tree.owners.get(&self.id).copied().unwrap_or(0)
        }
    }

    /// What kind of node this is.
    pub fn kind(&self) -> NodeKind {
        NodeKind::from_owner(self.ephemeral_owner())
    }

    /// The names of its children, in no particular order.
    pub fn children(&self) -> impl Iterator<Item = &'a str> + 'a {
        let arena = &self.tree.arena;
        arena
            .children(self.id)
            .map(|c| arena.get(c))
            .filter(|s| s.flags & super::PHANTOM == 0)
            .map(Slot::name)
    }

    /// The names of its children, sorted (what getChildren answers).
    pub fn child_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.children().map(str::to_string).collect();
        names.sort_unstable();
        names
    }

    /// The client-visible Stat (`DataNode.copyStat`).
    pub fn stat(&self) -> Stat {
        let s = &self.slot.stat;
        let num_children = s.num_children as i32;
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner: match self.kind() {
                NodeKind::Ephemeral(s) => s,
                _ => 0,
            },
            data_length: self.data_len() as i32,
            num_children,
            pzxid: s.pzxid,
        }
    }

    /// A detached copy.
    pub fn to_node(&self) -> Node {
        let s = &self.slot.stat;
        Node {
            data: self.data().map(Bytes::copy_from_slice),
            acl: self.acl().clone(),
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: self.ephemeral_owner(),
            pzxid: s.pzxid,
        }
    }
}
