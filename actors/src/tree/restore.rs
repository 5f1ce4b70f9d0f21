//! Restoring a tree: [`Restore`] builds one from a snapshot's nodes as they are read, in any
//! order, and [`DataTree::drop_orphans`] removes what a fuzzy snapshot's replay left without a
//! parent.
//!
//! Invariants: a node whose parent has not come (yet) hangs under a *placeholder* (flag
//! `PHANTOM`) for each missing ancestor, and `phantoms` counts them; placeholders are invisible
//! to reads, writes and counts; one that the snapshot or the replay later creates becomes a real
//! node with its children. Each ACL list a snapshot shares is looked up once, and the cache's own
//! reference to it is dropped by [`Restore::finish`].

use std::collections::HashMap;

use super::acls::{AclTable, NO_ACL};
use super::arena::{self, Arena, Block, ROOT};
use super::{data_flag, path, AclList, DataTree, Node, NodeId, SessionRecord, StoredStat, PHANTOM};
use crate::txn::{SessionId, Zxid};

impl DataTree {
    /// Rebuilds a tree from persisted nodes and sessions (in any order; see [`Restore`]).
    /// Nodes whose parent is missing (possible in a fuzzy snapshot whose log replay will delete
    /// them) are kept under placeholders; call [`DataTree::drop_orphans`] after replay.
    pub fn restore(
        nodes: Vec<(String, Node)>,
        sessions: Vec<(SessionId, SessionRecord)>,
        last_zxid: Zxid,
    ) -> DataTree {
        let mut r = Restore::new();
        r.reserve(nodes.len());
        for (path, n) in &nodes {
            // The paths of an in-memory list are the caller's; a bad one is skipped.
            let _ = r.node(
                path,
                n.data.as_deref(),
                &n.acl,
                n.stored_stat(),
                n.ephemeral_owner,
            );
        }
        for (id, rec) in sessions {
            r.session(id, rec);
        }
        r.finish(last_zxid)
    }

    /// Removes the nodes left without a parent after a restore and its replay (and their
    /// descendants); returns their paths, sorted. After a complete replay of a consistent
    /// history there are none: a non-empty result means damaged state.
    pub fn drop_orphans(&mut self) -> Vec<String> {
        if self.phantoms == 0 {
            return Vec::new();
        }
        let placeholders: Vec<NodeId> = (0..self.arena.bound())
            .filter(|id| self.arena.slot(*id).is_some_and(|s| s.flags & PHANTOM != 0))
            .collect();
        let mut orphans: Vec<String> = placeholders
            .iter()
            .flat_map(|p| self.arena.children(*p))
            .filter(|c| !self.is_phantom(*c))
            .map(|c| self.arena.path(c))
            .collect();
        orphans.sort_unstable();
        // Remove each topmost placeholder's subtree, children before parents.
        for top in placeholders {
            let topmost = self.arena.slot(top).is_some_and(|s| s.flags & PHANTOM != 0)
                && (top == ROOT || !self.is_phantom(self.arena.get(top).parent()));
            if !topmost || top == ROOT {
                continue;
            }
            let mut order = vec![top];
            let mut i = 0;
            while i < order.len() {
                order.extend(self.arena.children(order[i]));
                i += 1;
            }
            for id in order.into_iter().rev() {
                if !self.is_phantom(id) {
                    let p = self.arena.path(id);
                    let (len, _) = self.forget(id, &p);
                    self.quota_update(&p, -(len as i64), -1);
                } else {
                    self.phantoms -= 1;
                }
                self.arena.remove(id);
            }
        }
        orphans
    }
}

impl DataTree {
    /// Ends the replay of the txns after a (fuzzy) snapshot, once every txn up to where the
    /// snapshot's scan ended is applied: drops what was left without a parent
    /// ([`DataTree::drop_orphans`]) and recounts the quotas. A restore counts only the nodes
    /// it can reach from the root; a replay that turns a placeholder into a real node brings
    /// in the nodes below it without counting them (their creates find them there), and the
    /// orphans dropped were never counted: only a recount of the final tree is exact (the
    /// leader's counts are kept up to date from the same tree). Returns the orphans' paths.
    pub fn finish_replay(&mut self) -> Vec<String> {
        let orphans = self.drop_orphans();
        if std::mem::take(&mut self.restored) {
            self.setup_quotas();
        }
        self.tail_pending = false;
        orphans
    }

    /// This tree was installed from a leader's fuzzy snapshot: until the txns the leader sends
    /// behind it are applied and [`DataTree::finish_replay`] ends the replay, it is a mix of
    /// states no server had, and no client may read it (not even in read-only mode).
    pub fn expect_tail(&mut self) {
        self.tail_pending = true;
    }

    /// Is this tree a leader's snapshot still waiting for its tail ([`DataTree::expect_tail`])?
    pub fn tail_pending(&self) -> bool {
        self.tail_pending
    }

    /// Is this tree restored from a snapshot and not through [`DataTree::finish_replay`] yet?
    pub fn replaying(&self) -> bool {
        self.restored
    }
}

/// Builds a [`DataTree`] from a snapshot's nodes and sessions, as they are read: nodes may come
/// in any order (placeholders stand in for parents not seen yet; see the module doc).
pub struct Restore {
    tree: DataTree,
    /// The parent of the last node added (siblings tend to come together).
    last_parent: Option<(String, NodeId)>,
    /// ACL indexes by the address of the caller's shared list (a snapshot shares one list
    /// among all its nodes that have it: look each list up once). Each list is held, and each
    /// index counts one reference for the cache (so it stays that list's).
    acl_ids: HashMap<usize, (u32, AclList)>,
    /// The last entry of `acl_ids` used (nodes in a row mostly share their ACL).
    last_acl: Option<(usize, u32)>,
}

/// A node's name and data as [`Restore`] gets them.
enum Content<'a> {
    /// The data (`None`: null).
    Bytes(Option<&'a [u8]>),
    /// A block made already, and whether its data stands for null.
    Block(Block, bool),
}

impl Content<'_> {
    fn data(&self) -> Option<&[u8]> {
        match self {
            Content::Bytes(d) => *d,
            Content::Block(_, true) => None,
            Content::Block(b, false) => Some(b.data()),
        }
    }
}

/// A node a snapshot cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad node path {0:?}")]
pub struct BadNodePath(pub String);

impl Default for Restore {
    fn default() -> Self {
        Restore::new()
    }
}

impl Restore {
    /// An empty tree to fill: not even a root until the snapshot's root comes.
    pub fn new() -> Restore {
        let arena = Arena::new(StoredStat::default(), b"", NO_ACL, PHANTOM);
        let mut tree = DataTree::with_root(arena, AclTable::default());
        tree.phantoms = 1;
        Restore {
            tree,
            last_parent: None,
            acl_ids: HashMap::new(),
            last_acl: None,
        }
    }

    /// Makes room for `nodes` more nodes.
    pub fn reserve(&mut self, nodes: usize) {
        self.tree.arena.reserve(nodes);
    }

    /// The node at `path`, creating placeholders for the missing components.
    fn ensure(&mut self, path: &str) -> Result<NodeId, BadNodePath> {
        if let Some((p, id)) = &self.last_parent {
            if p == path {
                return Ok(*id);
            }
        }
        let bad = || BadNodePath(path.to_string());
        let rest = path.strip_prefix('/').ok_or_else(bad)?;
        let mut id = ROOT;
        if !rest.is_empty() {
            for name in rest.split('/') {
                if name.is_empty() {
                    return Err(bad());
                }
                let added = self.tree.arena.insert_if_absent(
                    id,
                    name,
                    b"",
                    StoredStat::default(),
                    NO_ACL,
                    PHANTOM,
                );
                if added.is_ok() {
                    self.tree.phantoms += 1;
                }
                id = added.unwrap_or_else(|existing| existing);
            }
        }
        self.last_parent = Some((path.to_string(), id));
        Ok(id)
    }

    /// Adds the node at `path` (a later one with the same path replaces it): its data, ACL,
    /// stored stat (`num_children` is ignored: children are counted as they come) and owner.
    pub fn node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &AclList,
        stat: StoredStat,
        ephemeral_owner: i64,
    ) -> Result<(), BadNodePath> {
        self.add(path, Content::Bytes(data), acl, stat, ephemeral_owner)
    }

    /// [`Restore::node`] with the node's name and data in a block made already (`null`: the
    /// data stands for null), so that another thread can make the blocks.
    pub fn node_block(
        &mut self,
        path: &str,
        block: Block,
        null: bool,
        acl: &AclList,
        stat: StoredStat,
        ephemeral_owner: i64,
    ) -> Result<(), BadNodePath> {
        self.add(
            path,
            Content::Block(block, null),
            acl,
            stat,
            ephemeral_owner,
        )
    }

    fn add(
        &mut self,
        path: &str,
        mut content: Content<'_>,
        acl: &AclList,
        stat: StoredStat,
        ephemeral_owner: i64,
    ) -> Result<(), BadNodePath> {
        let acl = self.acl_index(acl);
        let existing = if path == "/" {
            ROOT
        } else {
            let parent_path = path::parent(path).ok_or_else(|| BadNodePath(path.into()))?;
            let name = path::name(path);
            if name.is_empty() {
                return Err(BadNodePath(path.into()));
            }
            let parent = self.ensure(parent_path)?;
            let t = &mut self.tree;
            let (len, flags) = (
                content.data().map_or(0, <[u8]>::len),
                data_flag(content.data()),
            );
            let inserted = match content {
                Content::Bytes(data) => t
                    .arena
                    .insert_if_absent(parent, name, data.unwrap_or_default(), stat, acl, flags)
                    .map_err(|existing| (existing, Content::Bytes(data))),
                Content::Block(block, null) => t
                    .arena
                    .insert_block_if_absent(parent, name, block, stat, acl, flags)
                    .map_err(|(existing, block)| (existing, Content::Block(block, null))),
            };
            match inserted {
                Ok(id) => {
                    t.arena.get_mut(parent).stat.num_children += 1;
                    t.set_owner(id, ephemeral_owner);
                    t.data_bytes += (path.len() + len) as u64;
                    return Ok(());
                }
                Err((existing, back)) => {
                    content = back;
                    existing
                }
            }
        };
        let t = &mut self.tree;
        if !t.is_phantom(existing) {
            // The same path again: the later record replaces the earlier one.
            t.forget(existing, path);
            t.make_placeholder(existing);
            let parent = t.arena.get(existing).parent();
            if parent != arena::NONE {
                let ps = &mut t.arena.get_mut(parent).stat;
                ps.num_children = ps.num_children.saturating_sub(1);
            }
        }
        let data = content.data();
        t.fill(existing, stat, data, acl);
        let id = existing;
        t.set_owner(id, ephemeral_owner);
        t.data_bytes += (path.len() + data.map_or(0, <[u8]>::len)) as u64;
        Ok(())
    }

    /// The table index of `acl`, counting one more reference.
    fn acl_index(&mut self, acl: &AclList) -> u32 {
        let key = std::sync::Arc::as_ptr(acl) as usize;
        let acls = &mut self.tree.acls;
        let i = match self.last_acl {
            Some((k, i)) if k == key => i,
            _ => match self.acl_ids.get(&key) {
                Some((i, _)) => *i,
                None => {
                    let i = acls.acquire(acl); // the cache's own reference, dropped by `finish`
                    self.acl_ids.insert(key, (i, acl.clone()));
                    i
                }
            },
        };
        self.last_acl = Some((key, i));
        acls.retain(i);
        i
    }

    /// Adds a session.
    pub fn session(&mut self, id: SessionId, rec: SessionRecord) {
        self.tree.sessions.insert(id, rec);
    }

    /// Does the tree have its root yet?
    pub fn has_root(&self) -> bool {
        !self.tree.is_phantom(ROOT)
    }

    /// Nodes added so far (placeholders not counted).
    pub fn nodes(&self) -> usize {
        self.tree.arena.len() - self.tree.phantoms
    }

    /// The tree as of `last_zxid`, its quotas recounted; placeholders stay for the replay.
    pub fn finish(mut self, last_zxid: Zxid) -> DataTree {
        for (i, _) in self.acl_ids.into_values() {
            self.tree.acls.release(i);
        }
        self.tree.last_zxid = last_zxid;
        self.tree.setup_quotas();
        self.tree.restored = true;
        self.tree
    }
}
